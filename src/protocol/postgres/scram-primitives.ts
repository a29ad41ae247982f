/**
 * What both halves of SCRAM-SHA-256 (RFC 5802, RFC 7677) compute and read:
 * the keys derived from SaltedPassword, the signatures over AuthMessage, and
 * the attribute syntax of SCRAM messages. The client half (`scram.ts`, the
 * gateway's logins to servers) and the server half (`scram-server.ts`, RDS
 * Proxy's client logins) share these so that both derive one thing one way.
 *
 * @module
 */
import { createHash, createHmac } from 'node:crypto';
import { IamdbError } from '../../errors/index.js';

/** A nonce: printable ASCII without commas (RFC 5802 `printable`). */
export const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function hmacSha256(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** a XOR b, both of the same length (a ClientProof and its ClientKey). */
export function xorBytes(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < out.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** ClientKey, StoredKey and ServerKey of a SaltedPassword. */
export function scramKeys(saltedPassword: Buffer): { clientKey: Buffer; storedKey: Buffer; serverKey: Buffer } {
  const clientKey = hmacSha256(saltedPassword, 'Client Key');
  return { clientKey, storedKey: sha256(clientKey), serverKey: hmacSha256(saltedPassword, 'Server Key') };
}

/** A user name as SCRAM writes it (`=` → `=3D`, `,` → `=2C`). */
export function saslName(name: string): string {
  return name.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/**
 * Reads a SCRAM message: at most `maxBytes`, printable ASCII, split into
 * `x=value` attributes. `bad(reason)` makes the error of the reading side.
 */
export function parseScramAttributes(data: Uint8Array, maxBytes: number, bad: (reason: string) => IamdbError): Array<[string, string]> {
  if (data.length === 0) throw bad('empty');
  if (data.length > maxBytes) throw bad(`longer than ${maxBytes} bytes`);
  for (const b of data) if (b < 0x20 || b > 0x7e) throw bad('not printable ASCII');
  const text = Buffer.from(data).toString('latin1');
  return text.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) throw bad('malformed attribute');
    return [part[0]!, part.slice(2)];
  });
}

/** Strict base64 of at most `maxBytes` decoded bytes; `bad` names what was wrong. */
export function decodeScramBase64(what: string, value: string, maxBytes: number, bad: (reason: string) => IamdbError): Buffer {
  if (value === '' || !BASE64.test(value) || value.length > Math.ceil(maxBytes / 3) * 4) throw bad(`bad ${what}`);
  return Buffer.from(value, 'base64');
}
