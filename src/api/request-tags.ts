/**
 * The condition keys a request that sets tags carries, for every service
 * that tags (IAM, KMS, Secrets Manager, RDS): `aws:RequestTag/KEY` for each
 * tag and `aws:TagKeys` for the set of keys.
 */
import type { RequestContext } from '../iam/index.js';

/**
 * aws:RequestTag/* and aws:TagKeys for the tags a request sets; none when it
 * sets none, so that a condition on them stays absent rather than empty.
 *
 * @example requestTagContext({ team: 'db' }) // { 'aws:RequestTag/team': 'db', 'aws:TagKeys': ['team'] }
 */
export function requestTagContext(tags: Readonly<Record<string, string>> | undefined): RequestContext {
  if (tags === undefined || Object.keys(tags).length === 0) return {};
  return { ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])), 'aws:TagKeys': Object.keys(tags) };
}
