/**
 * KMS keys: symmetric AES-256 keys whose material lives in the state store
 * sealed by the master key (which never lives there), with aliases, key
 * policies and states. Ciphertexts are self-describing, as AWS's are, so
 * Decrypt finds the key without being told:
 *
 *   0x01 | key id (36 ASCII bytes) | nonce (12) | AES-256-GCM ciphertext | tag (16)
 *
 * The encryption context and the key id are the GCM additional data, so a
 * ciphertext opens only under the key and context it was made with.
 *
 * Records are read from the store on every use (no cache): several gateway
 * nodes sharing one store see each other's keys and state changes at once.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { Sealer } from '../crypto/index.js';
import { IamdbError } from '../errors/index.js';
import { parsePolicyOrThrow, type Policy } from '../iam/index.js';
import type { StateStore } from '../store/state-store.js';
import type { Clock } from '../util/index.js';

export type KeyState = 'Enabled' | 'Disabled' | 'PendingDeletion';

export interface KmsKey {
  readonly keyId: string;
  readonly arn: string;
  readonly description: string;
  readonly keyState: KeyState;
  readonly creationDate: number;
  readonly deletionDate?: number;
  /** CUSTOMER, or AWS for the keys services create for themselves (aws/secretsmanager). */
  readonly keyManager: 'CUSTOMER' | 'AWS';
  readonly policy: string;
  readonly tags: Readonly<Record<string, string>>;
}

export interface KmsAlias {
  readonly aliasName: string;
  readonly aliasArn: string;
  readonly targetKeyId: string;
  readonly creationDate: number;
}

interface KeyRecord extends Omit<KmsKey, 'arn'> {
  readonly sealedMaterial: string;
}

const KEY_KIND = 'kms-key';
const ALIAS_KIND = 'kms-alias';
const VERSION = 1;
const HEADER = 1 + 36 + 12;
/** AWS's limit on Encrypt's plaintext. */
export const MAX_PLAINTEXT_BYTES = 4096;
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]{1,250}$/;
const KEY_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Context pairs in a fixed order, so the same context always authenticates the same way. */
function contextBytes(keyId: string, context: Readonly<Record<string, string>>): Buffer {
  const pairs = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(JSON.stringify([keyId, pairs]), 'utf8');
}

export class Keyring {
  constructor(
    private readonly store: StateStore,
    private readonly sealer: Sealer,
    private readonly clock: Clock,
    private readonly where: { partition: string; region: string; account: string },
  ) {}

  keyArn(keyId: string): string {
    return `arn:${this.where.partition}:kms:${this.where.region}:${this.where.account}:key/${keyId}`;
  }

  aliasArn(aliasName: string): string {
    return `arn:${this.where.partition}:kms:${this.where.region}:${this.where.account}:${aliasName}`;
  }

  /** The policy a key gets when CreateKey names none: the account's IAM policies decide, as in AWS. */
  defaultPolicy(): string {
    return JSON.stringify({
      Version: '2012-10-17',
      Id: 'key-default-1',
      Statement: [{ Sid: 'Enable IAM User Permissions', Effect: 'Allow', Principal: { AWS: `arn:${this.where.partition}:iam::${this.where.account}:root` }, Action: 'kms:*', Resource: '*' }],
    });
  }

  /** Key policies are resource policies; they are checked when saved so evaluation only sees valid ones. */
  parseKeyPolicy(doc: string): Policy {
    if (doc.length > 32768) throw new IamdbError('IAM_MALFORMED_POLICY', { message: 'Key policies are limited to 32768 characters.' });
    return parsePolicyOrThrow(doc, 'resource');
  }

  /** A fresh key id, for callers that must know the ARN before the key exists (the lockout check). */
  newKeyId(): string {
    return randomUUID();
  }

  async createKey(input: { keyId?: string; description?: string; policy?: string; tags?: Readonly<Record<string, string>>; keyManager?: 'CUSTOMER' | 'AWS' }): Promise<KmsKey> {
    const policy = input.policy ?? this.defaultPolicy();
    this.parseKeyPolicy(policy);
    const keyId = input.keyId ?? randomUUID();
    const record: KeyRecord = {
      keyId,
      description: input.description ?? '',
      keyState: 'Enabled',
      creationDate: this.clock.now(),
      keyManager: input.keyManager ?? 'CUSTOMER',
      policy,
      tags: { ...(input.tags ?? {}) },
      sealedMaterial: this.sealer.seal(randomBytes(32), `kms/key/${keyId}`),
    };
    await this.store.put(KEY_KIND, keyId, record, { expectVersion: 0 });
    return this.#view(record);
  }

  #view(r: KeyRecord): KmsKey {
    const { sealedMaterial: _sealed, ...rest } = r;
    return { ...rest, arn: this.keyArn(r.keyId) };
  }

  /**
   * The key a KeyId parameter names: a key id, key ARN, alias name or alias
   * ARN. Throws KMS_NOT_FOUND with AWS's texts.
   */
  async resolve(keyIdParam: string): Promise<KmsKey> {
    return this.#view(await this.#record(keyIdParam));
  }

  async #record(keyIdParam: string): Promise<KeyRecord> {
    let keyId = keyIdParam;
    const aliasMatch = /^(?:arn:[\w-]+:kms:[\w-]+:\d{12}:)?(alias\/.+)$/.exec(keyIdParam);
    if (aliasMatch) {
      const alias = await this.store.get<KmsAlias>(ALIAS_KIND, aliasMatch[1]!);
      if (alias === undefined) throw new IamdbError('KMS_NOT_FOUND', { message: `Alias ${this.aliasArn(aliasMatch[1]!)} is not found.` });
      keyId = alias.data.targetKeyId;
    } else {
      const arn = /^arn:[\w-]+:kms:([\w-]+):(\d{12}):key\/(.+)$/.exec(keyIdParam);
      if (arn) {
        if (arn[1] !== this.where.region || arn[2] !== this.where.account) throw new IamdbError('KMS_NOT_FOUND', { message: `Key '${keyIdParam.slice(0, 256)}' does not exist` });
        keyId = arn[3]!;
      }
    }
    if (!KEY_ID.test(keyId)) throw new IamdbError('KMS_NOT_FOUND', { message: `Invalid keyId ${keyIdParam.slice(0, 256)}` });
    const rec = await this.store.get<KeyRecord>(KEY_KIND, keyId);
    if (rec === undefined) throw new IamdbError('KMS_NOT_FOUND', { message: `Key '${this.keyArn(keyId)}' does not exist` });
    return this.#purgeIfDue(rec.data);
  }

  /** A key past its deletion date is gone: its material is destroyed on first sight. */
  async #purgeIfDue(r: KeyRecord): Promise<KeyRecord> {
    if (r.keyState === 'PendingDeletion' && r.deletionDate !== undefined && this.clock.now() >= r.deletionDate) {
      await this.store.delete(KEY_KIND, r.keyId);
      for (const a of await this.listAliases()) if (a.targetKeyId === r.keyId) await this.store.delete(ALIAS_KIND, a.aliasName);
      throw new IamdbError('KMS_NOT_FOUND', { message: `Key '${this.keyArn(r.keyId)}' does not exist` });
    }
    return r;
  }

  async listKeys(): Promise<KmsKey[]> {
    const out: KmsKey[] = [];
    for (const rec of await this.store.list<KeyRecord>(KEY_KIND)) {
      try {
        out.push(this.#view(await this.#purgeIfDue(rec.data)));
      } catch {
        // Deleted on sight.
      }
    }
    return out;
  }

  async #update(keyId: string, change: (r: KeyRecord) => KeyRecord): Promise<KmsKey> {
    return this.store.transaction(async (tx) => {
      const rec = await tx.get<KeyRecord>(KEY_KIND, keyId);
      if (rec === undefined) throw new IamdbError('KMS_NOT_FOUND', { message: `Key '${this.keyArn(keyId)}' does not exist` });
      const next = change(rec.data);
      await tx.put(KEY_KIND, keyId, next, { expectVersion: rec.version });
      return this.#view(next);
    });
  }

  setEnabled(keyId: string, enabled: boolean): Promise<KmsKey> {
    return this.#update(keyId, (r) => {
      if (r.keyState === 'PendingDeletion') throw new IamdbError('KMS_INVALID_STATE', { arn: this.keyArn(r.keyId) });
      return { ...r, keyState: enabled ? 'Enabled' : 'Disabled' };
    });
  }

  putPolicy(keyId: string, policy: string): Promise<KmsKey> {
    this.parseKeyPolicy(policy);
    return this.#update(keyId, (r) => ({ ...r, policy }));
  }

  updateDescription(keyId: string, description: string): Promise<KmsKey> {
    return this.#update(keyId, (r) => ({ ...r, description }));
  }

  tag(keyId: string, tags: Readonly<Record<string, string>>, remove: readonly string[] = []): Promise<KmsKey> {
    return this.#update(keyId, (r) => {
      const next = { ...r.tags, ...tags };
      for (const k of remove) delete next[k];
      if (Object.keys(next).length > 50) throw new IamdbError('KMS_INVALID_INPUT', { message: 'A KMS key can have at most 50 tags.' });
      return { ...r, tags: next };
    });
  }

  scheduleDeletion(keyId: string, days: number): Promise<KmsKey> {
    if (!Number.isInteger(days) || days < 7 || days > 30) {
      throw new IamdbError('KMS_INVALID_INPUT', { message: `1 validation error detected: Value '${days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must have value between 7 and 30` });
    }
    return this.#update(keyId, (r) => ({ ...r, keyState: 'PendingDeletion', deletionDate: this.clock.now() + days * 86_400_000 }));
  }

  cancelDeletion(keyId: string): Promise<KmsKey> {
    return this.#update(keyId, (r) => {
      if (r.keyState !== 'PendingDeletion') throw new IamdbError('KMS_INVALID_STATE', { arn: this.keyArn(r.keyId) });
      const { deletionDate: _gone, ...rest } = r;
      // AWS leaves a key whose deletion was cancelled disabled.
      return { ...rest, keyState: 'Disabled' };
    });
  }

  // ---- aliases -----------------------------------------------------------

  async createAlias(aliasName: string, targetKeyParam: string): Promise<KmsAlias> {
    if (!ALIAS_NAME.test(aliasName)) throw new IamdbError('KMS_INVALID_INPUT', { message: `Alias must start with the prefix "alias/". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html` });
    this.checkNotReserved(aliasName);
    const target = await this.#record(targetKeyParam);
    const alias: KmsAlias = { aliasName, aliasArn: this.aliasArn(aliasName), targetKeyId: target.keyId, creationDate: this.clock.now() };
    try {
      await this.store.put(ALIAS_KIND, aliasName, alias, { expectVersion: 0 });
    } catch (err) {
      if (err instanceof IamdbError && err.code === 'STORE_VERSION_CONFLICT') throw new IamdbError('KMS_ALREADY_EXISTS', { alias: this.aliasArn(aliasName) });
      throw err;
    }
    return alias;
  }

  /** Creates a reserved `alias/aws/…` alias for a service's own key. */
  async createServiceAlias(aliasName: string, keyId: string): Promise<void> {
    await this.store.put(ALIAS_KIND, aliasName, { aliasName, aliasArn: this.aliasArn(aliasName), targetKeyId: keyId, creationDate: this.clock.now() } satisfies KmsAlias);
  }

  /** `alias/aws/…` belongs to the services' own keys: callers may not create, move or delete one. */
  checkNotReserved(aliasName: string): void {
    if (aliasName.startsWith('alias/aws/')) throw new IamdbError('KMS_INVALID_INPUT', { message: 'Alias names that begin with alias/aws/ are reserved.' });
  }

  async updateAlias(aliasName: string, targetKeyParam: string): Promise<void> {
    this.checkNotReserved(aliasName);
    const target = await this.#record(targetKeyParam);
    const rec = await this.store.get<KmsAlias>(ALIAS_KIND, aliasName);
    if (rec === undefined) throw new IamdbError('KMS_NOT_FOUND', { message: `Alias ${this.aliasArn(aliasName)} is not found.` });
    await this.store.put(ALIAS_KIND, aliasName, { ...rec.data, targetKeyId: target.keyId }, { expectVersion: rec.version });
  }

  async deleteAlias(aliasName: string): Promise<void> {
    this.checkNotReserved(aliasName);
    if (!(await this.store.delete(ALIAS_KIND, aliasName))) throw new IamdbError('KMS_NOT_FOUND', { message: `Alias ${this.aliasArn(aliasName)} is not found.` });
  }

  async getAlias(aliasName: string): Promise<KmsAlias | undefined> {
    return (await this.store.get<KmsAlias>(ALIAS_KIND, aliasName))?.data;
  }

  async listAliases(): Promise<KmsAlias[]> {
    return (await this.store.list<KmsAlias>(ALIAS_KIND)).map((r) => r.data);
  }

  // ---- cryptography ------------------------------------------------------

  #usable(r: KeyRecord): void {
    if (r.keyState === 'Disabled') throw new IamdbError('KMS_DISABLED', { arn: this.keyArn(r.keyId) });
    if (r.keyState === 'PendingDeletion') throw new IamdbError('KMS_INVALID_STATE', { arn: this.keyArn(r.keyId) });
  }

  /** Encrypts up to 4 KiB under a key and an encryption context. */
  async encrypt(keyIdParam: string, plaintext: Buffer, context: Readonly<Record<string, string>> = {}): Promise<{ key: KmsKey; ciphertext: Buffer }> {
    if (plaintext.length < 1 || plaintext.length > MAX_PLAINTEXT_BYTES) {
      throw new IamdbError('KMS_INVALID_INPUT', { message: `1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and ${MAX_PLAINTEXT_BYTES}` });
    }
    const r = await this.#record(keyIdParam);
    this.#usable(r);
    const material = this.sealer.open(r.sealedMaterial, `kms/key/${r.keyId}`);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', material, nonce);
    cipher.setAAD(contextBytes(r.keyId, context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    material.fill(0);
    return { key: this.#view(r), ciphertext: Buffer.concat([Buffer.from([VERSION]), Buffer.from(r.keyId, 'latin1'), nonce, body, cipher.getAuthTag()]) };
  }

  /** The key a ciphertext was made under, without opening it (to authorize before decrypting). */
  async keyOfCiphertext(ciphertext: Buffer): Promise<KmsKey> {
    if (ciphertext.length < HEADER + 16 || ciphertext[0] !== VERSION) throw new IamdbError('KMS_INVALID_CIPHERTEXT', {});
    const keyId = ciphertext.subarray(1, 37).toString('latin1');
    if (!KEY_ID.test(keyId)) throw new IamdbError('KMS_INVALID_CIPHERTEXT', {});
    try {
      return this.#view(await this.#record(keyId));
    } catch (err) {
      // A ciphertext naming a key that never existed is just an invalid ciphertext.
      if (err instanceof IamdbError && err.code === 'KMS_NOT_FOUND') throw new IamdbError('KMS_INVALID_CIPHERTEXT', {});
      throw err;
    }
  }

  async decrypt(ciphertext: Buffer, context: Readonly<Record<string, string>> = {}, expectedKeyParam?: string): Promise<{ key: KmsKey; plaintext: Buffer }> {
    const key = await this.keyOfCiphertext(ciphertext);
    if (expectedKeyParam !== undefined) {
      const expected = await this.#record(expectedKeyParam);
      if (expected.keyId !== key.keyId) throw new IamdbError('KMS_INCORRECT_KEY', {});
    }
    const r = await this.#record(key.keyId);
    this.#usable(r);
    const material = this.sealer.open(r.sealedMaterial, `kms/key/${r.keyId}`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', material, ciphertext.subarray(37, HEADER));
      decipher.setAAD(contextBytes(r.keyId, context));
      decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
      const plaintext = Buffer.concat([decipher.update(ciphertext.subarray(HEADER, ciphertext.length - 16)), decipher.final()]);
      return { key, plaintext };
    } catch {
      throw new IamdbError('KMS_INVALID_CIPHERTEXT', {});
    } finally {
      material.fill(0);
    }
  }
}
