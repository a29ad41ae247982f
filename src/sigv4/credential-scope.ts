import { SCOPE_TERMINATOR } from './constants.js';

/**
 * The credential scope `<YYYYMMDD>/<region>/<service>/aws4_request`. The
 * service is a parameter so AWS's generic vectors (service `service`) can test
 * the same code that signs `rds-db` tokens.
 *
 * @example credentialScope('20161107', 'us-east-1', 'rds-db') === '20161107/us-east-1/rds-db/aws4_request'
 */
export function credentialScope(shortDate: string, region: string, service: string): string {
  return `${shortDate}/${region}/${service}/${SCOPE_TERMINATOR}`;
}
