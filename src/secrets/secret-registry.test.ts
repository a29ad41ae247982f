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
import { keyringDataKeys } from '../../test/support/data-keys.js';

const where = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
let dir: string;
let store: StateStore;
let registry: SecretRegistry;
let keyring: Keyring;
let keyId: string;
const clock = { t: Date.parse('2026-11-23T12:00:00Z'), now(): number { return this.t; } };

const dataKeys = (): DataKeys => keyringDataKeys(keyring);


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

/** Creates a secret and returns its ARN, the handle every change takes. */
async function make(name: string): Promise<string> {
  return (await registry.create({ name, arn: await registry.newArn(name) })).arn;
}

async function value(name: string, stage?: string): Promise<string> {
  const rec = await registry.find(name);
  return (await registry.open(rec, registry.selectVersion(rec, stage ? { stage } : {}), dataKeys())).toString();
}

describe('SecretRegistry', () => {
  it('moves AWSCURRENT to the new version and AWSPREVIOUS to the one before', async () => {
    const s = await make('s');
    for (const v of ['one', 'two', 'three']) await registry.putValue(s, { value: Buffer.from(v), kind: 'string' }, dataKeys(), keyId);
    expect(await value('s')).toBe('three');
    expect(await value('s', 'AWSPREVIOUS')).toBe('two');
    const rec = await registry.find('s');
    expect(rec.versions.map((v) => v.stages)).toEqual([[], ['AWSPREVIOUS'], ['AWSCURRENT']]);
  });

  it('treats a retried token with the same value as the same version and refuses another value', async () => {
    const s = await make('s');
    const token = 'a'.repeat(32);
    const first = await registry.putValue(s, { value: Buffer.from('v'), kind: 'string', token }, dataKeys(), keyId);
    const again = await registry.putValue(s, { value: Buffer.from('v'), kind: 'string', token }, dataKeys(), keyId);
    expect(again.created).toBe(false);
    expect(again.version.versionId).toBe(first.version.versionId);
    expect(await code(registry.putValue(s, { value: Buffer.from('w'), kind: 'string', token }, dataKeys(), keyId))).toBe('SM_EXISTS');
  });

  it('keeps a deleted secret restorable until its window ends, then it is gone', async () => {
    const s = await make('s');
    await registry.putValue(s, { value: Buffer.from('v'), kind: 'string' }, dataKeys(), keyId);
    await registry.delete(s, { recoveryDays: 7 });
    expect(await code(value('s'))).toBe('SM_INVALID_REQUEST');
    expect(await code(make('s'))).toBe('SM_INVALID_REQUEST');
    clock.t += 6 * 86_400_000;
    await registry.restore(s);
    expect(await value('s')).toBe('v');
    await registry.delete(s, { recoveryDays: 7 });
    clock.t += 7 * 86_400_000;
    expect(await code(registry.find('s'))).toBe('SM_NOT_FOUND');
    expect(await registry.list(true)).toEqual([]);
    await make('s');
  });

  it('opens a value only for its own secret and version', async () => {
    const arnA = await make('a');
    const arnB = await make('b');
    await registry.putValue(arnA, { value: Buffer.from('secret-a'), kind: 'string' }, dataKeys(), keyId);
    await registry.putValue(arnB, { value: Buffer.from('secret-b'), kind: 'string' }, dataKeys(), keyId);
    const a = await registry.find('a');
    const b = await registry.find('b');
    // A's sealed value pasted into B's version fails to open (the encryption context names A).
    const forged = { ...b.versions[0]!, sealed: a.versions[0]!.sealed };
    expect(await code(registry.open(b, forged, dataKeys()))).toBe('KMS_INVALID_CIPHERTEXT');
  });

  it('finds a secret by name, full ARN and ARN without the suffix, and nothing else', async () => {
    const arn = await make('db/alice');
    expect((await registry.find(arn)).name).toBe('db/alice');
    expect((await registry.find(arn.slice(0, -7))).name).toBe('db/alice');
    expect(await code(registry.find(`${arn.slice(0, -6)}ZZZZZZ`))).toBe('SM_NOT_FOUND');
    expect(await code(registry.find(arn.replace('us-east-1', 'eu-west-1')))).toBe('SM_NOT_FOUND');
  });

  it('finds by full ARN only the secret with exactly that ARN, even when another secret is named like its tail', async () => {
    const victim = await make('app/db');
    const tail = victim.slice(victim.indexOf(':secret:') + ':secret:'.length);
    // A secret named like the victim's ARN tail, as one made before CreateSecret refused such names.
    const squatter = { ...(await registry.find(victim)), name: tail, arn: `${victim}-Zz9Zz9`, tags: {}, versions: [] };
    await store.put('secret', tail, squatter);
    expect((await registry.find(victim)).arn).toBe(victim);
    expect((await registry.find('app/db')).arn).toBe(victim);
    expect((await registry.find(victim.slice(0, -7))).arn).toBe(victim);
    expect((await registry.find(tail)).arn).toBe(squatter.arn);
    expect((await registry.find(squatter.arn)).arn).toBe(squatter.arn);
    // Writes that name the victim by its ARN land on the victim.
    await registry.putValue(victim, { value: Buffer.from('rotated'), kind: 'string' }, dataKeys(), keyId);
    await registry.tag(victim, { owner: 'db-team' });
    expect(await value(victim)).toBe('rotated');
    expect((await registry.find(tail)).versions).toEqual([]);
    expect((await registry.find(tail)).tags).toEqual({});
    // Once the victim is gone its ARN names nothing: it is never read as the squatter's partial ARN.
    await registry.delete(victim, { force: true });
    expect(await code(registry.find(victim))).toBe('SM_NOT_FOUND');
    expect(await code(registry.putValue(victim, { value: Buffer.from('x'), kind: 'string' }, dataKeys(), keyId))).toBe('SM_NOT_FOUND');
    expect((await registry.find(tail)).versions).toEqual([]);
  });

  it("refuses a name that is another secret's ARN tail, and allows it once that secret is gone", async () => {
    const other = await make('app/db');
    const tail = other.slice(other.indexOf(':secret:') + ':secret:'.length);
    expect(await code(make(tail))).toBe('SM_NAME_IS_ANOTHER_ARN');
    // A name that merely ends in a hyphen and six characters is AWS's to allow.
    await make('app/db-prod01');
    await registry.delete(other, { recoveryDays: 7 });
    expect(await code(make(tail))).toBe('SM_NAME_IS_ANOTHER_ARN');
    clock.t += 8 * 86_400_000;
    await make(tail);
  });

  it('changes only the secret with the ARN it is given: not one created again under the same name', async () => {
    const old = await make('s');
    await registry.delete(old, { force: true });
    const fresh = await make('s');
    expect(fresh).not.toBe(old);
    expect(await code(registry.tag(old, { k: 'v' }))).toBe('SM_NOT_FOUND');
    expect(await code(registry.setResourcePolicy(old, '{}'))).toBe('SM_NOT_FOUND');
    expect(await code(registry.delete(old, { force: true }))).toBe('SM_NOT_FOUND');
    expect(await code(registry.putValue(old, { value: Buffer.from('x'), kind: 'string' }, dataKeys(), keyId))).toBe('SM_NOT_FOUND');
    const rec = await registry.find('s');
    expect(rec).toMatchObject({ arn: fresh, tags: {}, versions: [] });
    expect(rec.resourcePolicy).toBeUndefined();
  });
});
