import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isIamdbError, type ErrorCode } from '../errors/index.js';
import { loadOrCreateMasterKey, parseMasterKey } from './master-key.js';

const dir = mkdtempSync(join(tmpdir(), 'iamdb-key-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `k${++n}`, 'master.key');

async function failure(p: Promise<unknown>): Promise<{ code?: ErrorCode; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isIamdbError(err)) throw new Error(`expected an IamdbError, got ${String(err)}`);
  return err;
}

function writeKey(path: string, text: string, mode = 0o600): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text, { mode });
  chmodSync(path, mode);
}

describe('parseMasterKey', () => {
  const raw = randomBytes(32);
  it.each([
    ['hex', raw.toString('hex')],
    ['upper-case hex', raw.toString('hex').toUpperCase()],
    ['base64', raw.toString('base64')],
    ['base64url', raw.toString('base64url')],
    ['base64 with a trailing newline', `${raw.toString('base64')}\n`],
  ])('accepts %s', (_name, text) => {
    expect(parseMasterKey(text, 'test').reveal().equals(raw)).toBe(true);
  });

  it.each([
    ['too short', randomBytes(16).toString('base64')],
    ['too long', randomBytes(33).toString('hex')],
    ['not an encoding', 'this is not a key!'],
    ['empty', '   '],
  ])('rejects a key that is %s, without quoting it', (_name, text) => {
    let err: unknown;
    try {
      parseMasterKey(text, 'IAMDB_MASTER_KEY');
    } catch (e) {
      err = e;
    }
    expect(isIamdbError(err, 'CRYPTO_MASTER_KEY_INVALID')).toBe(true);
    if (text.trim() !== '') expect((err as Error).message).not.toContain(text.trim());
  });
});

describe('loadOrCreateMasterKey', () => {
  it('takes the key from IAMDB_MASTER_KEY first, ignoring the file', async () => {
    const raw = randomBytes(32);
    const path = fresh();
    writeKey(path, randomBytes(32).toString('base64'));
    const loaded = await loadOrCreateMasterKey({ env: { IAMDB_MASTER_KEY: raw.toString('hex') }, filePath: path, create: true });
    expect(loaded.source).toBe('env');
    expect(loaded.path).toBeUndefined();
    expect(loaded.key.reveal().equals(raw)).toBe(true);
  });

  it('reads a key file in base64 or hex', async () => {
    const raw = randomBytes(32);
    for (const text of [raw.toString('base64') + '\n', raw.toString('hex')]) {
      const path = fresh();
      writeKey(path, text);
      const loaded = await loadOrCreateMasterKey({ env: {}, filePath: path, create: false });
      expect(loaded).toMatchObject({ source: 'file', path });
      expect(loaded.key.reveal().equals(raw)).toBe(true);
    }
  });

  it.each([0o640, 0o604, 0o660, 0o620])('refuses a key file with mode %o and says how to fix it', async (mode) => {
    const path = fresh();
    writeKey(path, randomBytes(32).toString('base64'), mode);
    const err = await failure(loadOrCreateMasterKey({ env: {}, filePath: path, create: true }));
    expect(err.code).toBe('CRYPTO_MASTER_KEY_INSECURE');
    expect(err.message).toContain(`chmod 600 ${path}`);
  });

  it('reports a malformed key file as invalid', async () => {
    const path = fresh();
    writeKey(path, 'short');
    expect((await failure(loadOrCreateMasterKey({ env: {}, filePath: path, create: true }))).code).toBe(
      'CRYPTO_MASTER_KEY_INVALID',
    );
  });

  it('creates a 0600 key file in a 0700 directory, then reads the same key back', async () => {
    const path = fresh();
    const created = await loadOrCreateMasterKey({ env: {}, filePath: path, create: true });
    expect(created).toMatchObject({ source: 'created', path });
    expect(created.key.reveal().length).toBe(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, '..')).mode & 0o777).toBe(0o700);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64').equals(created.key.reveal())).toBe(true);
    const again = await loadOrCreateMasterKey({ env: {}, filePath: path, create: true });
    expect(again.source).toBe('file');
    expect(again.key.reveal().equals(created.key.reveal())).toBe(true);
  });

  it('gives every racing creator the same key', async () => {
    const path = fresh();
    const all = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateMasterKey({ env: {}, filePath: path, create: true })));
    expect(all.filter((k) => k.source === 'created')).toHaveLength(1);
    for (const k of all) expect(k.key.reveal().equals(all[0]!.key.reveal())).toBe(true);
  });

  it('fails with CRYPTO_MASTER_KEY_MISSING when there is no key and creation is off', async () => {
    const path = fresh();
    const err = await failure(loadOrCreateMasterKey({ env: { IAMDB_MASTER_KEY: '' }, filePath: path, create: false }));
    expect(err.code).toBe('CRYPTO_MASTER_KEY_MISSING');
    expect(err.message).toContain('IAMDB_MASTER_KEY');
    expect(err.message).toContain(path);
    expect((await failure(loadOrCreateMasterKey({ env: {}, create: true }))).code).toBe('CRYPTO_MASTER_KEY_MISSING');
  });

  it('refuses a key file inside the state directory', async () => {
    const stateDir = join(dir, 'state');
    const err = await failure(
      loadOrCreateMasterKey({ env: {}, filePath: join(stateDir, 'master.key'), create: true, stateDir }),
    );
    expect(err.code).toBe('CRYPTO_MASTER_KEY_IN_STATE_DIR');
  });

  it('never renders the key when the result is logged', async () => {
    const raw = randomBytes(32);
    const loaded = await loadOrCreateMasterKey({ env: { IAMDB_MASTER_KEY: raw.toString('base64') }, create: false });
    const { inspect } = await import('node:util');
    const rendered = `${JSON.stringify(loaded)} ${inspect(loaded)} ${String(loaded.key)}`;
    expect(rendered).not.toContain(raw.toString('base64'));
    expect(rendered).not.toContain(raw.toString('hex'));
  });
});
