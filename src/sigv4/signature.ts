import { hmacSha256 } from './hash.js';

/**
 * hex(HMAC(signingKey, stringToSign)): the value of `X-Amz-Signature`.
 *
 * @example signatureHex(deriveSigningKey(secret, d, r, s), sts)
 */
export function signatureHex(signingKey: Uint8Array, stringToSignText: string): string {
  return hmacSha256(signingKey, stringToSignText).toString('hex');
}
