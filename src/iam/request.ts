/** The request an evaluation answers: who, what action, on what, with which context. */
import type { RequestContext } from './context.js';

export type PrincipalType = 'user' | 'assumed-role' | 'role' | 'root' | 'service';

/** The calling principal as the evaluator sees it. */
export interface RequestPrincipal {
  /** `arn:aws:iam::ACCT:user/PATH/NAME`, `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`, … */
  readonly arn: string;
  readonly accountId: string;
  readonly type: PrincipalType;
  readonly userName?: string;
  /** `AIDA…` for users, `AROA…:session` for role sessions. */
  readonly userId?: string;
  /** For role sessions: the role's IAM ARN, which resource policies may name. */
  readonly roleArn?: string;
  readonly sessionName?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface AuthorizationRequest {
  readonly principal: RequestPrincipal;
  /** `service:Action`, e.g. `rds-db:connect`. */
  readonly action: string;
  /** Resource ARN, e.g. `arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/alice`. */
  readonly resource: string;
  /** Condition keys; principal keys (aws:username, aws:userid, …) are added by the evaluator. */
  readonly context?: RequestContext;
}

/** The global condition keys AWS derives from the principal; these win over caller-supplied values. */
export function principalContext(p: RequestPrincipal): RequestContext {
  // A service principal (rds.amazonaws.com assuming a proxy's role) belongs to no account and has
  // no ARN: AWS gives a policy aws:PrincipalServiceName and aws:PrincipalIsAWSService instead.
  if (p.type === 'service') return { 'aws:PrincipalServiceName': p.arn, 'aws:PrincipalIsAWSService': 'true' };
  const ctx: Record<string, string> = {
    'aws:PrincipalArn': p.type === 'assumed-role' && p.roleArn ? p.roleArn : p.arn,
    'aws:PrincipalAccount': p.accountId,
    'aws:PrincipalType': { user: 'User', 'assumed-role': 'AssumedRole', role: 'AssumedRole', root: 'Account', service: 'Service' }[p.type],
  };
  if (p.userName !== undefined && p.type === 'user') ctx['aws:username'] = p.userName;
  if (p.userId !== undefined) ctx['aws:userid'] = p.userId;
  for (const [k, v] of Object.entries(p.tags ?? {})) ctx[`aws:PrincipalTag/${k}`] = v;
  return ctx;
}
