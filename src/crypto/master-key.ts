/**
 * The master key: 32 bytes that seal every secret in the state store. It
 * lives outside the state directory (env or a separate file), so a copy of
 * the state alone, a backup say, opens nothing. Env is passed in rather than
 * read here: only config/ reads process.env.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve, isAbsolute } from 'node:path';
import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';

/** Name of the environment variable holding the key. */
export const MASTER_KEY_ENV = 'IAMDB_MASTER_KEY';
/** Length of the master key in bytes (AES-256). */
export const MASTER_KEY_BYTES = 32;

/** Options of {@link loadOrCreateMasterKey}. */
export interface LoadMasterKeyOptions {
  /** The environment (config/ passes process.env); `IAMDB_MASTER_KEY` wins over the file. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Key file to read, or to create when `create` is set and it is missing. */
  readonly filePath?: string;
  /** Create a new key file at `filePath` (mode 0600) when there is none. */
  readonly create: boolean;
  /** When given, a key file inside this directory is refused. */
  readonly stateDir?: string;
}

/** A loaded master key and where it came from (for startup logs; never the key). */
export interface LoadedMasterKey {
  readonly key: Secret<Buffer>;
  readonly source: 'env' | 'file' | 'created';
  readonly path?: string;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^(?:[A-Za-z0-9+/]|[A-Za-z0-9_-])+={0,2}$/;

/**
 * Decodes a key written as 64 hex characters or as base64 (standard or URL
 * alphabet). Surrounding whitespace is ignored, since files end in newlines.
 * Errors never quote the text: it may be a nearly right key.
 *
 * @example parseMasterKey(process.env.IAMDB_MASTER_KEY!, 'IAMDB_MASTER_KEY')
 */
export function parseMasterKey(text: string, source: string): Secret<Buffer> {
  const trimmed = text.trim();
  let bytes: Buffer;
  if (HEX_KEY.test(trimmed)) {
    bytes = Buffer.from(trimmed, 'hex');
  } else if (BASE64_KEY.test(trimmed)) {
    bytes = Buffer.from(trimmed.replaceAll('-', '+').replaceAll('_', '/'), 'base64');
  } else {
    throw new IamdbError('CRYPTO_MASTER_KEY_INVALID', {
      source,
      reason: `expected ${MASTER_KEY_BYTES} bytes written as base64 or as 64 hex characters`,
    });
  }
  if (bytes.length !== MASTER_KEY_BYTES) {
    bytes.fill(0);
    throw new IamdbError('CRYPTO_MASTER_KEY_INVALID', {
      source,
      reason: `decodes to ${bytes.length} bytes, expected ${MASTER_KEY_BYTES}; generate one with \`openssl rand -base64 32\``,
    });
  }
  return new Secret(bytes);
}

/**
 * Loads the master key from `env.IAMDB_MASTER_KEY`, else from `filePath`,
 * else creates `filePath` (when `create`), else fails with
 * CRYPTO_MASTER_KEY_MISSING. A key file open to group or others is refused
 * rather than silently tightened: someone may already have read it.
 *
 * @example
 *   const { key, source } = await loadOrCreateMasterKey({ env: process.env, filePath: '/etc/iamdb/master.key', create: true });
 */
export async function loadOrCreateMasterKey(options: LoadMasterKeyOptions): Promise<LoadedMasterKey> {
  const fromEnv = options.env[MASTER_KEY_ENV];
  if (fromEnv !== undefined && fromEnv.trim() !== '') {
    return { key: parseMasterKey(fromEnv, MASTER_KEY_ENV), source: 'env' };
  }
  if (options.filePath === undefined) {
    throw new IamdbError('CRYPTO_MASTER_KEY_MISSING', { path: '(no key file configured)' });
  }
  const path = resolve(options.filePath);
  if (options.stateDir !== undefined && isInside(path, resolve(options.stateDir))) {
    throw new IamdbError('CRYPTO_MASTER_KEY_IN_STATE_DIR', { path, stateDir: resolve(options.stateDir) });
  }

  const existing = await readKeyFile(path);
  if (existing !== undefined) return { key: existing, source: 'file', path };
  if (!options.create) throw new IamdbError('CRYPTO_MASTER_KEY_MISSING', { path });

  const created = await createKeyFile(path);
  // Another process won the race to create it: use theirs.
  if (created === undefined) {
    const raced = await readKeyFile(path);
    if (raced !== undefined) return { key: raced, source: 'file', path };
    throw new IamdbError('CRYPTO_MASTER_KEY_UNREADABLE', { path, reason: 'file vanished while being created' });
  }
  return { key: created, source: 'created', path };
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

async function readKeyFile(path: string): Promise<Secret<Buffer> | undefined> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw unreadable(path, err);
  }
  if (!info.isFile()) {
    throw new IamdbError('CRYPTO_MASTER_KEY_UNREADABLE', { path, reason: 'not a regular file' });
  }
  // POSIX modes mean nothing on Windows; there, the directory ACL is the guard.
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new IamdbError('CRYPTO_MASTER_KEY_INSECURE', { path, mode: (info.mode & 0o777).toString(8).padStart(4, '0') });
  }
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err);
  }
  return parseMasterKey(text, `key file ${path}`);
}

/** Writes a fresh key with O_EXCL; undefined when the file appeared meanwhile. */
async function createKeyFile(path: string): Promise<Secret<Buffer> | undefined> {
  const key = randomBytes(MASTER_KEY_BYTES);
  try {
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const handle = await open(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL, 0o600);
    try {
      await handle.writeFile(`${key.toString('base64')}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (errno(err) === 'EEXIST') return undefined;
    throw unreadable(path, err);
  }
  return new Secret(key);
}

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function unreadable(path: string, err: unknown): IamdbError {
  return new IamdbError(
    'CRYPTO_MASTER_KEY_UNREADABLE',
    { path, reason: errno(err) ?? (err instanceof Error ? err.message : String(err)) },
    { cause: err },
  );
}
