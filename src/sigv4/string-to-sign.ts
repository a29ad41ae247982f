import { ALGORITHM } from './constants.js';
import { sha256Hex } from './hash.js';

/**
 * `AWS4-HMAC-SHA256\n<X-Amz-Date>\n<scope>\n<hex sha256(canonical request)>`.
 *
 * @param amzDate the request time as `YYYYMMDDTHHMMSSZ`
 * @param scope the credential scope (see credentialScope)
 * @example stringToSign('20161107T173933Z', '20161107/us-east-1/rds-db/aws4_request', creq)
 */
export function stringToSign(amzDate: string, scope: string, canonicalRequestText: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonicalRequestText)}`;
}
