import { IamdbError } from '../errors/index.js';

/**
 * SigV4's RFC 3986 encoding: the unreserved characters `A–Z a–z 0–9 - _ . ~`
 * stay as they are; every other character becomes `%XX` (uppercase hex) of
 * each of its UTF-8 bytes, so a space is `%20` and `/` is `%2F`.
 *
 * encodeURIComponent does all of this except that it leaves `! ' ( ) *` raw,
 * which SigV4 encodes; those five are fixed up afterwards. A string with a
 * lone surrogate has no UTF-8 form and is refused rather than silently
 * replaced, so two different inputs never sign alike.
 *
 * @example uriEncode('a b/é') === 'a%20b%2F%C3%A9'
 */
export function uriEncode(value: string): string {
  let encoded: string;
  try {
    encoded = encodeURIComponent(value);
  } catch (cause) {
    throw new IamdbError('SIGV4_INVALID_INPUT', { reason: 'a value is not well-formed Unicode' }, { cause });
  }
  return encoded.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
