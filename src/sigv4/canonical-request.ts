import { EMPTY_PAYLOAD_SHA256, METHOD, PATH, SIGNED_HEADERS } from './constants.js';

/**
 * The canonical request of a presigned `GET /` whose only signed header is
 * `host`, the shape every RDS IAM token has:
 *
 * ```
 * GET\n/\n<canonical query>\nhost:<signed host>\n\nhost\n<hex sha256 of "">
 * ```
 *
 * `signedHost` is the host exactly as signed (`host:port`, case kept): the
 * signature covers those bytes, so it must not be normalised here.
 *
 * @example canonicalRequest('Action=connect', 'db:5432')
 */
export function canonicalRequest(canonicalQuery: string, signedHost: string): string {
  return `${METHOD}\n${PATH}\n${canonicalQuery}\n${SIGNED_HEADERS}:${signedHost}\n\n${SIGNED_HEADERS}\n${EMPTY_PAYLOAD_SHA256}`;
}
