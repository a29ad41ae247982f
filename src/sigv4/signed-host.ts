import { HTTPS_DEFAULT_PORT } from './constants.js';
import type { ParsedDbAuthToken } from './parse-token.js';

/**
 * ASCII-only lower-casing. Host names in tokens are ASCII, and Unicode case
 * folding would let e.g. U+212A KELVIN SIGN in a configured name match 'k'.
 *
 * @example asciiLower('DB.Example') === 'db.example'
 */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/**
 * The `host` header values a genuine SDK may have signed for this token, in
 * the order tried. The token's text does not say which spelling was signed:
 *
 * - the authority exactly as written (`Host:port`): the JS SDK (rds-signer)
 *   and most others keep the case they were given;
 * - the same lowercased: botocore / the AWS CLI sign urlsplit().hostname,
 *   which Python lowercases, while the URL keeps the caller's case;
 * - on port 443 only, the lowercased host without the port: botocore drops
 *   the HTTPS default port from the signed host but keeps it in the URL.
 *
 * Every candidate binds the same endpoint (host matching is case-insensitive
 * anyway), so trying them widens nothing an attacker could use.
 *
 * @example signedHostCandidates(parseDbAuthToken('DB:5432/?…')) // ['DB:5432', 'db:5432']
 */
export function signedHostCandidates(parsed: Pick<ParsedDbAuthToken, 'host' | 'port' | 'signedHost'>): string[] {
  const candidates = [parsed.signedHost];
  const lower = asciiLower(parsed.signedHost);
  if (lower !== parsed.signedHost) candidates.push(lower);
  if (parsed.port === HTTPS_DEFAULT_PORT) candidates.push(asciiLower(parsed.host));
  return candidates;
}
