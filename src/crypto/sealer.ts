/**
 * Sealing secrets at rest: AES-256-GCM under a key derived from the master
 * key, with a random 96-bit nonce per value. The AAD names the record a value
 * belongs to, so a sealed value copied onto another record fails to open.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { MASTER_KEY_BYTES } from './master-key.js';

const VERSION = 'v1';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// Distinct HKDF info prefixes keep the sealing key apart from every key
// handed out by deriveKey, whatever purpose string a caller picks.
const SEAL_INFO = 'iamdb/seal/v1';
const DERIVE_INFO_PREFIX = 'iamdb/derive/';

/** Seals and opens values with keys derived from one master key. */
export interface Sealer {
  /**
   * Encrypts `plaintext` bound to `aad` (the record's identity, for example
   * `iam/access-key/AKIA...`). Returns `v1.<nonce>.<ciphertext+tag>` in
   * base64url, safe to store in JSON.
   */
  seal(plaintext: Buffer | string, aad: string): string;
  /**
   * Decrypts a value made by `seal` with the same key and `aad`; anything
   * else throws CRYPTO_UNSEAL_FAILED, whose message never holds plaintext.
   */
  open(sealed: string, aad: string): Buffer;
  /** An independent 32-byte HKDF-SHA256 subkey for `purpose` (e.g. 'sts/session-token'). */
  deriveKey(purpose: string): Secret<Buffer>;
}

/**
 * Builds a sealer over a 32-byte master key.
 *
 * @example
 *   const sealer = createSealer(masterKey);
 *   const stored = sealer.seal(secretAccessKey, `iam/access-key/${accessKeyId}`);
 *   const clear = sealer.open(stored, `iam/access-key/${accessKeyId}`);
 */
export function createSealer(masterKey: Secret<Buffer>): Sealer {
  const master = masterKey.reveal();
  if (master.length !== MASTER_KEY_BYTES) {
    throw new IamdbError('CRYPTO_MASTER_KEY_INVALID', {
      source: 'createSealer',
      reason: `expected ${MASTER_KEY_BYTES} bytes, got ${master.length}`,
    });
  }
  const derive = (info: string): Buffer => Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), info, 32));
  const sealKey = derive(SEAL_INFO);

  return {
    seal(plaintext, aad) {
      const nonce = randomBytes(NONCE_BYTES);
      const cipher = createCipheriv('aes-256-gcm', sealKey, nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(aadBytes(aad));
      const data = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
      const body = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
      return `${VERSION}.${nonce.toString('base64url')}.${body.toString('base64url')}`;
    },

    open(sealed, aad) {
      const fail = (reason: string): IamdbError => new IamdbError('CRYPTO_UNSEAL_FAILED', { aad, reason });
      const parts = sealed.split('.');
      if (parts.length !== 3) throw fail('not a sealed value');
      const [version, nonceText, bodyText] = parts as [string, string, string];
      if (version !== VERSION) throw fail('unsupported format version');
      if (!BASE64URL.test(nonceText) || !BASE64URL.test(bodyText)) throw fail('not a sealed value');
      const nonce = Buffer.from(nonceText, 'base64url');
      const body = Buffer.from(bodyText, 'base64url');
      if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw fail('not a sealed value');
      const decipher = createDecipheriv('aes-256-gcm', sealKey, nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(aadBytes(aad));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
      } catch {
        // No cause attached: nothing from inside the cipher should travel on.
        throw fail('authentication failed (wrong master key, wrong record, or altered data)');
      }
    },

    deriveKey(purpose) {
      if (purpose === '') {
        throw new IamdbError('CRYPTO_INVALID_INPUT', { reason: 'deriveKey needs a non-empty purpose' });
      }
      return new Secret(derive(DERIVE_INFO_PREFIX + purpose));
    },
  };
}

/** The version is bound too, so a future format cannot be confused with v1. */
function aadBytes(aad: string): Buffer {
  return Buffer.from(`${VERSION}\u0000${aad}`, 'utf8');
}
