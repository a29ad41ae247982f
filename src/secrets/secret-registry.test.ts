/**
 * The secret registry over a real SQLite store and a real keyring: stage
 * movement, idempotent versions, the recovery window on the clock, and that
 * a value opens only for its own secret and version.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSealer } from '../crypto/index.js';
import { errorCodeOfAsync as code } from '../../test/support/error-code.js';
import { Keyring } from '../kms/index.js';
import { openSqliteStore, type StateStore } from '../store/index.js';
import { Secret } from '../util/index.js';
import { SecretRegistry, type DataKeys } from './secret-registry.js';

const where = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
let dir: string;
let store: StateStore;
let registry: SecretRegistry;
let keyring: Keyring;
let keyId: string;
const clock = { t: Date.parse('2026-11-23T12:00:00Z'), now(): number { return this.t; } };

const dataKeys = (): DataKeys => ({
  async generate(id, context) {
    const plaintext = randomBytes(32);
    const out = await keyring.encrypt(id, plaintext, context);
    return { keyArn: out.key.arn, plaintext, encrypted: out.ciphertext };
  },
  async open(encrypted, context) {
    return (await keyring.decrypt(encrypted, context)).plaintext;
  },
});


beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iamdb-secrets-'));
  store = await openSqliteStore(join(dir, 'state.db'));
  const sealer = createSealer(new Secret(randomBytes(32)));
  keyring = new Keyring(store, sealer, clock, where);
  keyId = (await keyring.createKey({})).keyId;
  registry = new SecretRegistry(store, sealer.deriveKey('secrets/value-digest'), clock, where);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

async function value(name: string, stage?: string): Promise<string> {
  const rec = await registry.find(name);
  return (await registry.open(rec, registry.selectVersion(rec, stage ? { stage } : {}), dataKeys())).toString();
}

describe('SecretRegistry', () => {
  it('moves AWSCURRENT to the new version and AWSPREVIOUS to the one before', async () => {
    await registry.create({ name: 's', arn: registry.newArn('s') });
    for (const v of ['one', 'two', 'three']) await registry.putValue('s', { value: Buffer.from(v), kind: 'string' }, dataKeys(), keyId);
    expect(await value('s')).toBe('three');
    expect(await value('s', 'AWSPREVIOUS')).toBe('two');
    const rec = await registry.find('s');
    expect(rec.versions.map((v) => v.stages)).toEqual([[], ['AWSPREVIOUS'], ['AWSCURRENT']]);
  });

  it('treats a retried token with the same value as the same version and refuses another value', async () => {
    await registry.create({ name: 's', arn: registry.newArn('s') });
    const token = 'a'.repeat(32);
    const first = await registry.putValue('s', { value: Buffer.from('v'), kind: 'string', token }, dataKeys(), keyId);
    const again = await registry.putValue('s', { value: Buffer.from('v'), kind: 'string', token }, dataKeys(), keyId);
    expect(again.created).toBe(false);
    expect(again.version.versionId).toBe(first.version.versionId);
    expect(await code(registry.putValue('s', { value: Buffer.from('w'), kind: 'string', token }, dataKeys(), keyId))).toBe('SM_EXISTS');
  });

  it('keeps a deleted secret restorable until its window ends, then it is gone', async () => {
    await registry.create({ name: 's', arn: registry.newArn('s') });
    await registry.putValue('s', { value: Buffer.from('v'), kind: 'string' }, dataKeys(), keyId);
    await registry.delete('s', { recoveryDays: 7 });
    expect(await code(value('s'))).toBe('SM_INVALID_REQUEST');
    expect(await code(registry.create({ name: 's', arn: registry.newArn('s') }))).toBe('SM_INVALID_REQUEST');
    clock.t += 6 * 86_400_000;
    await registry.restore('s');
    expect(await value('s')).toBe('v');
    await registry.delete('s', { recoveryDays: 7 });
    clock.t += 7 * 86_400_000;
    expect(await code(registry.find('s'))).toBe('SM_NOT_FOUND');
    expect(await registry.list(true)).toEqual([]);
    await registry.create({ name: 's', arn: registry.newArn('s') });
  });

  it('opens a value only for its own secret and version', async () => {
    await registry.create({ name: 'a', arn: registry.newArn('a') });
    await registry.create({ name: 'b', arn: registry.newArn('b') });
    await registry.putValue('a', { value: Buffer.from('secret-a'), kind: 'string' }, dataKeys(), keyId);
    await registry.putValue('b', { value: Buffer.from('secret-b'), kind: 'string' }, dataKeys(), keyId);
    const a = await registry.find('a');
    const b = await registry.find('b');
    // A's sealed value pasted into B's version fails to open (the encryption context names A).
    const forged = { ...b.versions[0]!, sealed: a.versions[0]!.sealed };
    expect(await code(registry.open(b, forged, dataKeys()))).toBe('KMS_INVALID_CIPHERTEXT');
  });

  it('finds a secret by name, full ARN and ARN without the suffix, and nothing else', async () => {
    const arn = registry.newArn('db/alice');
    await registry.create({ name: 'db/alice', arn });
    expect((await registry.find(arn)).name).toBe('db/alice');
    expect((await registry.find(arn.slice(0, -7))).name).toBe('db/alice');
    expect(await code(registry.find(`${arn.slice(0, -6)}ZZZZZZ`))).toBe('SM_NOT_FOUND');
    expect(await code(registry.find(arn.replace('us-east-1', 'eu-west-1')))).toBe('SM_NOT_FOUND');
  });
});
