import { uriEncode } from './uri-encode.js';

/**
 * SigV4's canonical query string from decoded parameters: each name and value
 * RFC 3986-encoded, pairs sorted by encoded name then encoded value (plain
 * code-unit order, which is byte order once everything is ASCII), joined by
 * `&`. Pass every parameter except `X-Amz-Signature`.
 *
 * Building from decoded values is what lets a verifier accept a token whose
 * keys come in any order or whose encoding differs but is equivalent.
 *
 * @example canonicalQueryString([['b', '2'], ['a', 'x y']]) === 'a=x%20y&b=2'
 */
export function canonicalQueryString(params: ReadonlyArray<readonly [name: string, value: string]>): string {
  const encoded = params.map(([k, v]) => [uriEncode(k), uriEncode(v)] as const);
  encoded.sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return encoded.map(([k, v]) => `${k}=${v}`).join('&');
}
