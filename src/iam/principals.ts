/**
 * Matching a request principal against a Principal element of a resource or
 * trust policy. The result says *how* it matched, because AWS treats the
 * grants differently: naming the account delegates to the account's identity
 * policies, naming a user or session ARN grants directly.
 */
import type { PrincipalSet } from './policy/types.js';
import type { RequestPrincipal } from './request.js';

/**
 * - `direct`: the exact user ARN or role-session ARN.
 * - `role`: the role ARN of an assumed-role session.
 * - `account`: the account id or `arn:…:iam::ACCT:root`.
 * - `wildcard`: `*`, or anyone not excluded by NotPrincipal.
 */
export type PrincipalMatch = 'direct' | 'role' | 'account' | 'wildcard' | 'service';

const ROOT = /^arn:aws[a-z-]*:iam::(\d{12}):root$/;

/** How `set` names `p`, or `undefined` when it does not. */
export function matchPrincipalSet(set: PrincipalSet, p: RequestPrincipal): PrincipalMatch | undefined {
  if (set.all) return 'wildcard';
  let best: PrincipalMatch | undefined;
  for (const entry of set.aws) {
    if (entry === p.arn) return 'direct';
    if (p.roleArn !== undefined && entry === p.roleArn) best = 'role';
    else if (best === undefined && (entry === p.accountId || ROOT.exec(entry)?.[1] === p.accountId)) best = 'account';
  }
  if (best) return best;
  if (p.type === 'service' && set.service.includes(p.arn)) return 'service';
  if (set.federated.includes(p.arn)) return 'direct';
  return undefined;
}
