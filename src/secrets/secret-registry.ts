/**
 * Secrets as Secrets Manager keeps them: a name and ARN, versions with
 * staging labels (AWSCURRENT, AWSPREVIOUS, AWSPENDING, or the caller's own),
 * deletion with a recovery window, tags and a resource policy.
 *
 * Every value is envelope-encrypted: a fresh data key from KMS under the
 * secret's key, with the encryption context Secrets Manager uses
 * (SecretARN, SecretVersionId), encrypts the value with AES-256-GCM. The
 * registry never sees a KMS key itself; `DataKeys` supplies and opens data
 * keys, so the caller decides how that use of KMS is authorized.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import type { StateStore, StoredRecord } from '../store/state-store.js';
import { constantTimeEqualStrings, type Clock, type Secret } from '../util/index.js';

export interface DataKeys {
  /** A new data key under `keyId` (id, ARN or alias) for `context`: its plaintext and its KMS ciphertext. */
  generate(keyId: string, context: Readonly<Record<string, string>>): Promise<{ keyArn: string; plaintext: Buffer; encrypted: Buffer }>;
  /** Opens a data key made by `generate` with the same context. */
  open(encrypted: Buffer, context: Readonly<Record<string, string>>): Promise<Buffer>;
}

export interface SecretVersion {
  readonly versionId: string;
  readonly stages: readonly string[];
  readonly createdDate: number;
  readonly kind: 'string' | 'binary';
  /** Envelope: u16 length | data key ciphertext | nonce(12) | value ciphertext | tag(16), base64. */
  readonly sealed: string;
  /** HMAC of the value under an iamdb-held key: lets a retried request with the same token be recognised without decrypting. */
  readonly digest: string;
}

export interface SecretRecord {
  readonly arn: string;
  readonly name: string;
  readonly description?: string;
  /** As the caller gave it; absent means the account's default key, alias/aws/secretsmanager. */
  readonly kmsKeyId?: string;
  readonly createdDate: number;
  readonly lastChangedDate: number;
  readonly lastAccessedDate?: number;
  /** When DeleteSecret was called; the secret is unusable but restorable until `deletionDate`. */
  readonly deletedDate?: number;
  readonly deletionDate?: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly resourcePolicy?: string;
  readonly versions: readonly SecretVersion[];
}

const KIND = 'secret';
export const DEFAULT_KMS_ALIAS = 'alias/aws/secretsmanager';
export const MAX_SECRET_BYTES = 65536;
/** Versions without a label beyond this many are dropped, oldest first (AWS keeps about 100). */
const MAX_VERSIONS = 100;
const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** The tail of a full ARN: the name, a hyphen and the six-character random suffix. */
const FULL_TAIL = /^(.+)-[A-Za-z0-9]{6}$/;

/** The name in an ARN tail that ends like a full ARN (`name-XXXXXX`), or undefined for a partial ARN's tail. */
function nameOfTail(tail: string): string | undefined {
  return FULL_TAIL.exec(tail)?.[1];
}

function suffix(): string {
  let out = '';
  for (const b of randomBytes(6)) out += SUFFIX_ALPHABET[b % SUFFIX_ALPHABET.length];
  return out;
}

function invalidRequest(message: string): IamdbError {
  return new IamdbError('SM_INVALID_REQUEST', { message });
}

const MARKED_FOR_DELETION = "You can't perform this operation on the secret because it was marked for deletion.";

export class SecretRegistry {
  constructor(
    private readonly store: StateStore,
    private readonly digestKey: Secret<Buffer>,
    private readonly clock: Clock,
    private readonly where: { partition: string; region: string; account: string },
  ) {}

  /** `arn:PARTITION:secretsmanager:REGION:ACCOUNT:secret:`, the part every ARN of this registry starts with. */
  get #arnPrefix(): string {
    return `arn:${this.where.partition}:secretsmanager:${this.where.region}:${this.where.account}:secret:`;
  }

  /**
   * The ARN a new secret gets: AWS appends a dash and six random characters
   * to the name. A suffix that would make the ARN's tail the name of another
   * secret is drawn again, so that no secret's name can be read as this
   * secret's ARN (see `find`).
   */
  async newArn(name: string): Promise<string> {
    for (let attempt = 0; attempt < 8; attempt++) {
      const tail = `${name}-${suffix()}`;
      if ((await this.store.get<SecretRecord>(KIND, tail)) === undefined) return `${this.#arnPrefix}${tail}`;
    }
    throw invalidRequest('Secrets Manager could not choose an unambiguous ARN for this secret; try again.');
  }

  checkName(name: string): void {
    if (!NAME.test(name)) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!' });
  }

  #digest(value: Buffer): string {
    return createHmac('sha256', this.digestKey.reveal()).update(value).digest('base64');
  }

  /**
   * Finds a secret by SecretId, with Secrets Manager's rules:
   *
   * - a name (anything not starting with `arn:`) matches the secret of that
   *   name only; a name with the random suffix added is just another name;
   * - a full ARN (its tail ends in a hyphen and six letters or digits, the
   *   form of the random suffix) matches only the secret whose ARN is exactly
   *   that, suffix included. As AWS documents, those six characters make it a
   *   full ARN: it is never retried as a partial ARN, so a secret named like
   *   another one's ARN tail (`app/db-Dl4RXQ`) cannot capture lookups of that
   *   ARN, nor of a deleted secret's ARN;
   * - a partial ARN (the ARN without `-XXXXXX`) matches the secret whose name
   *   is its tail, which names make unique.
   *
   * An ARN of another partition, region or account finds nothing. A secret
   * past its recovery window is purged on sight.
   *
   * @see https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_DescribeSecret.html (SecretId)
   */
  async find(secretId: string): Promise<SecretRecord> {
    const found = await this.#lookup(secretId);
    if (found === undefined) throw new IamdbError('SM_NOT_FOUND', {});
    if (found.data.deletionDate !== undefined && this.clock.now() >= found.data.deletionDate) {
      await this.store.delete(KIND, found.id, { expectVersion: found.version }).catch(() => undefined);
      throw new IamdbError('SM_NOT_FOUND', {});
    }
    return found.data;
  }

  async #lookup(secretId: string): Promise<StoredRecord<SecretRecord> | undefined> {
    if (!secretId.startsWith('arn:')) return this.store.get<SecretRecord>(KIND, secretId);
    if (!secretId.startsWith(this.#arnPrefix)) return undefined;
    const tail = secretId.slice(this.#arnPrefix.length);
    const name = nameOfTail(tail);
    if (name !== undefined) {
      const rec = await this.store.get<SecretRecord>(KIND, name);
      return rec?.data.arn === secretId ? rec : undefined;
    }
    const rec = await this.store.get<SecretRecord>(KIND, tail);
    return rec !== undefined && rec.data.arn.length === secretId.length + 7 && rec.data.arn.startsWith(`${secretId}-`) ? rec : undefined;
  }

  /** The store key (the name) of the secret an ARN of this registry names, or undefined. */
  #nameOfArn(arn: string): string | undefined {
    return arn.startsWith(this.#arnPrefix) ? nameOfTail(arn.slice(this.#arnPrefix.length)) : undefined;
  }

  async list(includePlannedDeletion: boolean): Promise<SecretRecord[]> {
    const now = this.clock.now();
    const out: SecretRecord[] = [];
    for (const r of await this.store.list<SecretRecord>(KIND)) {
      if (r.data.deletionDate !== undefined && now >= r.data.deletionDate) {
        await this.store.delete(KIND, r.id);
        continue;
      }
      if (r.data.deletedDate !== undefined && !includePlannedDeletion) continue;
      out.push(r.data);
    }
    return out;
  }

  /**
   * Changes the secret whose ARN is exactly `arn`, in one transaction. A
   * secret deleted and created again under the same name has another ARN and
   * is not touched: a change always lands on the secret the caller was
   * authorized for.
   */
  async #update(arn: string, change: (r: SecretRecord) => SecretRecord): Promise<SecretRecord> {
    const name = this.#nameOfArn(arn);
    if (name === undefined) throw new IamdbError('SM_NOT_FOUND', {});
    return this.store.transaction(async (tx) => {
      const rec = await tx.get<SecretRecord>(KIND, name);
      if (rec === undefined || rec.data.arn !== arn) throw new IamdbError('SM_NOT_FOUND', {});
      const next = change(rec.data);
      await tx.put(KIND, name, next, { expectVersion: rec.version });
      return next;
    });
  }

  /**
   * Stores a new secret (no value yet). Refused, besides AWS's own cases, when
   * the name is the tail of another secret's ARN (`app/db-Dl4RXQ` while
   * `app/db` has that ARN): such a secret could be mistaken for the other
   * one by anything that reads ARNs loosely, and iamdb keeps names and ARNs
   * unambiguous (docs/control-plane.md). `arn` comes from `newArn`.
   */
  async create(input: { name: string; arn: string; description?: string; kmsKeyId?: string; tags?: Readonly<Record<string, string>> }): Promise<SecretRecord> {
    this.checkName(input.name);
    if (this.#nameOfArn(input.arn) !== input.name) throw invalidRequest('The ARN does not belong to this secret name.');
    const now = this.clock.now();
    const existing = (await this.store.get<SecretRecord>(KIND, input.name))?.data;
    if (existing !== undefined) {
      if (existing.deletionDate !== undefined && now >= existing.deletionDate) await this.store.delete(KIND, input.name);
      else if (existing.deletedDate !== undefined) throw invalidRequest("You can't create this secret because a secret with this name is already scheduled for deletion.");
      else throw new IamdbError('SM_EXISTS', { name: input.name });
    }
    const owner = nameOfTail(input.name);
    if (owner !== undefined) {
      const other = (await this.store.get<SecretRecord>(KIND, owner))?.data;
      const live = other !== undefined && (other.deletionDate === undefined || now < other.deletionDate);
      if (live && other.arn === `${this.#arnPrefix}${input.name}`) throw new IamdbError('SM_NAME_IS_ANOTHER_ARN', { name: input.name });
    }
    // newArn drew a suffix no secret is named after; one created since would make this ARN ambiguous.
    if ((await this.store.get<SecretRecord>(KIND, input.arn.slice(this.#arnPrefix.length))) !== undefined) {
      throw invalidRequest('Secrets Manager could not choose an unambiguous ARN for this secret; try again.');
    }
    const record: SecretRecord = {
      arn: input.arn,
      name: input.name,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.kmsKeyId !== undefined ? { kmsKeyId: input.kmsKeyId } : {}),
      createdDate: now,
      lastChangedDate: now,
      tags: { ...(input.tags ?? {}) },
      versions: [],
    };
    try {
      await this.store.put(KIND, input.name, record, { expectVersion: 0 });
    } catch (err) {
      if (err instanceof IamdbError && err.code === 'STORE_VERSION_CONFLICT') throw new IamdbError('SM_EXISTS', { name: input.name });
      throw err;
    }
    return record;
  }

  /** Removes a secret that was just created when storing its first value failed: nothing half-made stays. */
  async discard(arn: string): Promise<void> {
    const name = this.#nameOfArn(arn);
    if (name === undefined) return;
    await this.store.transaction(async (tx) => {
      const rec = await tx.get<SecretRecord>(KIND, name);
      if (rec !== undefined && rec.data.arn === arn) await tx.delete(KIND, name, { expectVersion: rec.version });
    });
  }

  /**
   * Adds a version (PutSecretValue, CreateSecret and UpdateSecret with a
   * value). The value is encrypted here under the secret's key. A retry with
   * the same token and value returns the existing version; with another
   * value it is refused, as AWS does. `arn` is the ARN of the secret the
   * caller was authorized for: the version is written to that secret only.
   */
  async putValue(
    arn: string,
    input: { value: Buffer; kind: 'string' | 'binary'; token?: string; stages?: readonly string[]; /** UpdateSecret with a new KmsKeyId: the key for this value. */ keyId?: string },
    dataKeys: DataKeys,
    defaultKeyId: string,
  ): Promise<{ record: SecretRecord; version: SecretVersion; created: boolean }> {
    if (input.value.length > MAX_SECRET_BYTES) throw new IamdbError('SM_INVALID_PARAMETER', { message: `You can't store a secret value larger than ${MAX_SECRET_BYTES} bytes.` });
    const token = input.token ?? randomUUID();
    if (token.length < 32 || token.length > 64) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'ClientRequestToken must be 32-64 characters long.' });
    const stages = input.stages ?? ['AWSCURRENT'];
    if (stages.length > 20) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'A version can have at most 20 staging labels.' });
    const current = await this.find(arn);
    if (current.arn !== arn) throw new IamdbError('SM_NOT_FOUND', {});
    if (current.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
    const digest = this.#digest(input.value);
    const same = current.versions.find((v) => v.versionId === token);
    if (same !== undefined) {
      if (constantTimeEqualStrings(same.digest, digest) && same.kind === input.kind) return { record: current, version: same, created: false };
      throw new IamdbError('SM_EXISTS', { name: `version ${token}` });
    }
    const context = { SecretARN: current.arn, SecretVersionId: token };
    const dk = await dataKeys.generate(input.keyId ?? current.kmsKeyId ?? defaultKeyId, context);
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', dk.plaintext, nonce);
    cipher.setAAD(Buffer.from(`${current.arn}\n${token}`, 'utf8'));
    const body = Buffer.concat([cipher.update(input.value), cipher.final()]);
    dk.plaintext.fill(0);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(dk.encrypted.length);
    const version: SecretVersion = {
      versionId: token,
      stages: [...new Set(stages)],
      createdDate: this.clock.now(),
      kind: input.kind,
      sealed: Buffer.concat([len, dk.encrypted, nonce, body, cipher.getAuthTag()]).toString('base64'),
      digest,
    };
    const record = await this.#update(current.arn, (r) => {
      if (r.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
      if (r.versions.some((v) => v.versionId === token)) throw new IamdbError('SM_EXISTS', { name: `version ${token}` });
      return { ...r, versions: moveStages([...r.versions, version], token, version.stages), lastChangedDate: this.clock.now() };
    });
    return { record, version: record.versions.find((v) => v.versionId === token)!, created: true };
  }

  /** The version a GetSecretValue names: by id, by stage, or AWSCURRENT. */
  selectVersion(rec: SecretRecord, select: { versionId?: string; stage?: string }): SecretVersion {
    if (rec.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
    const byId = select.versionId !== undefined ? rec.versions.find((v) => v.versionId === select.versionId) : undefined;
    if (select.versionId !== undefined && byId === undefined) throw new IamdbError('SM_VERSION_NOT_FOUND', { what: `VersionId: ${select.versionId.slice(0, 64)}` });
    const stage = select.stage ?? (select.versionId === undefined ? 'AWSCURRENT' : undefined);
    if (byId !== undefined) {
      if (stage !== undefined && !byId.stages.includes(stage)) throw invalidRequest(`You provided a VersionStage that is not associated to the provided VersionId.`);
      return byId;
    }
    const byStage = rec.versions.find((v) => v.stages.includes(stage!));
    if (byStage === undefined) throw new IamdbError('SM_VERSION_NOT_FOUND', { what: `staging label: ${stage!.slice(0, 256)}` });
    return byStage;
  }

  /** Decrypts a version's value. */
  async open(rec: SecretRecord, version: SecretVersion, dataKeys: DataKeys): Promise<Buffer> {
    const raw = Buffer.from(version.sealed, 'base64');
    const n = raw.readUInt16BE(0);
    const encryptedKey = raw.subarray(2, 2 + n);
    const rest = raw.subarray(2 + n);
    const key = await dataKeys.open(encryptedKey, { SecretARN: rec.arn, SecretVersionId: version.versionId });
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, rest.subarray(0, 12));
      decipher.setAAD(Buffer.from(`${rec.arn}\n${version.versionId}`, 'utf8'));
      decipher.setAuthTag(rest.subarray(rest.length - 16));
      return Buffer.concat([decipher.update(rest.subarray(12, rest.length - 16)), decipher.final()]);
    } catch {
      throw new IamdbError('SM_DECRYPTION_FAILURE', {});
    } finally {
      key.fill(0);
    }
  }

  /** Records the day of last access of the secret whose ARN is `arn`. */
  async touch(arn: string): Promise<void> {
    // AWS records the day of last access only; so does iamdb, to keep reads from writing every time.
    const day = Math.floor(this.clock.now() / 86_400_000) * 86_400_000;
    const name = this.#nameOfArn(arn);
    if (name === undefined) return;
    const rec = await this.store.get<SecretRecord>(KIND, name);
    if (rec === undefined || rec.data.arn !== arn || rec.data.lastAccessedDate === day) return;
    // Read and write in one transaction: a version put meanwhile must never be written over.
    await this.store.transaction(async (tx) => {
      const current = await tx.get<SecretRecord>(KIND, name);
      if (current !== undefined && current.data.arn === arn && current.data.lastAccessedDate !== day) await tx.put(KIND, name, { ...current.data, lastAccessedDate: day }, { expectVersion: current.version });
    });
  }

  /** UpdateSecret's settings for the secret whose ARN is `arn`. */
  update(arn: string, change: { description?: string; kmsKeyId?: string }): Promise<SecretRecord> {
    return this.#update(arn, (r) => {
      if (r.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
      return { ...r, ...change, lastChangedDate: this.clock.now() };
    });
  }

  /** UpdateSecretVersionStage: moves one label to a version (or removes it). */
  moveStage(arn: string, stage: string, toVersionId: string | undefined, fromVersionId: string | undefined): Promise<SecretRecord> {
    return this.#update(arn, (r) => {
      if (r.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
      const holder = r.versions.find((v) => v.stages.includes(stage));
      if (holder !== undefined && holder.versionId !== fromVersionId && holder.versionId !== toVersionId) {
        throw new IamdbError('SM_INVALID_PARAMETER', { message: `The staging label ${stage} is currently attached to version ${holder.versionId}, so you must explicitly reference that version in RemoveFromVersionId.` });
      }
      if (toVersionId !== undefined && !r.versions.some((v) => v.versionId === toVersionId)) throw new IamdbError('SM_VERSION_NOT_FOUND', { what: `VersionId: ${toVersionId.slice(0, 64)}` });
      let versions: SecretVersion[] = r.versions.map((v) => ({ ...v, stages: v.stages.filter((s) => s !== stage) }));
      if (toVersionId !== undefined) versions = moveStages(versions, toVersionId, [stage]);
      return { ...r, versions, lastChangedDate: this.clock.now() };
    });
  }

  /** Adds and removes tags of the secret whose ARN is `arn`. */
  tag(arn: string, add: Readonly<Record<string, string>>, remove: readonly string[] = []): Promise<SecretRecord> {
    return this.#update(arn, (r) => {
      const tags = { ...r.tags, ...add };
      for (const k of remove) delete tags[k];
      if (Object.keys(tags).length > 50) throw new IamdbError('SM_INVALID_PARAMETER', { message: 'A secret can have at most 50 tags.' });
      return { ...r, tags };
    });
  }

  /** Sets (or, with `undefined`, removes) the resource policy of the secret whose ARN is `arn`. */
  setResourcePolicy(arn: string, policy: string | undefined): Promise<SecretRecord> {
    return this.#update(arn, (r) => {
      const { resourcePolicy: _old, ...rest } = r;
      return policy === undefined ? rest : { ...rest, resourcePolicy: policy };
    });
  }

  /** DeleteSecret on the secret whose ARN is `arn`: a recovery window of 7-30 days, or at once when forced. */
  async delete(arn: string, options: { recoveryDays?: number; force?: boolean }): Promise<{ record: SecretRecord; deletionDate: number }> {
    if (options.force && options.recoveryDays !== undefined) {
      throw new IamdbError('SM_INVALID_PARAMETER', { message: 'You can\'t use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.' });
    }
    const days = options.recoveryDays ?? 30;
    if (!options.force && (!Number.isInteger(days) || days < 7 || days > 30)) {
      throw new IamdbError('SM_INVALID_PARAMETER', { message: 'The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).' });
    }
    const now = this.clock.now();
    if (options.force) {
      const name = this.#nameOfArn(arn);
      if (name === undefined) throw new IamdbError('SM_NOT_FOUND', {});
      const record = await this.store.transaction(async (tx) => {
        const rec = await tx.get<SecretRecord>(KIND, name);
        if (rec === undefined || rec.data.arn !== arn) throw new IamdbError('SM_NOT_FOUND', {});
        await tx.delete(KIND, name, { expectVersion: rec.version });
        return rec.data;
      });
      return { record, deletionDate: now };
    }
    const record = await this.#update(arn, (r) => {
      if (r.deletedDate !== undefined) throw invalidRequest(MARKED_FOR_DELETION);
      return { ...r, deletedDate: now, deletionDate: now + days * 86_400_000 };
    });
    return { record, deletionDate: record.deletionDate! };
  }

  /** RestoreSecret on the secret whose ARN is `arn`. */
  restore(arn: string): Promise<SecretRecord> {
    return this.#update(arn, (r) => {
      const { deletedDate: _d, deletionDate: _dd, ...rest } = r;
      return rest;
    });
  }
}

/**
 * Gives `stages` to version `to`, taking them from any other version. When
 * AWSCURRENT moves, the version that had it becomes AWSPREVIOUS, as in AWS.
 * Unlabelled versions beyond the limit are dropped, oldest first.
 */
function moveStages(versions: SecretVersion[], to: string, stages: readonly string[]): SecretVersion[] {
  const previousCurrent = stages.includes('AWSCURRENT') ? versions.find((v) => v.versionId !== to && v.stages.includes('AWSCURRENT')) : undefined;
  let out = versions.map((v) => {
    if (v.versionId === to) return { ...v, stages: [...new Set([...v.stages, ...stages])] };
    let s = v.stages.filter((x) => !stages.includes(x));
    if (previousCurrent !== undefined) s = s.filter((x) => x !== 'AWSPREVIOUS');
    if (previousCurrent !== undefined && v.versionId === previousCurrent.versionId) s = [...s, 'AWSPREVIOUS'];
    return { ...v, stages: s };
  });
  const unlabelled = out.filter((v) => v.stages.length === 0);
  if (out.length > MAX_VERSIONS) {
    const drop = new Set(unlabelled.slice(0, out.length - MAX_VERSIONS).map((v) => v.versionId));
    out = out.filter((v) => !drop.has(v.versionId));
  }
  return out;
}
