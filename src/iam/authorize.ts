/**
 * The convenience the gateway uses: resolve a principal in the directory,
 * gather its policies, add the principal's context keys, and evaluate.
 * Typical call: `rds-db:connect` on
 * `arn:aws:rds-db:REGION:ACCOUNT:dbuser:RESOURCE_ID/DBUSER`.
 */
import { IamdbError } from '../errors/index.js';
import type { IamDirectory } from './directory.js';
import type { RequestContext } from './context.js';
import { accessDeniedMessage, evaluate, type Analysis, type EvaluationOptions, type PolicyInput } from './evaluate.js';
import { parsePolicyOrThrow } from './policy/parse.js';
import type { Policy } from './policy/types.js';
import type { RequestPrincipal } from './request.js';

/** A user by name, or a role session by role and session name. */
export type PrincipalRef = { readonly userName: string } | { readonly roleName: string; readonly sessionName: string };

export interface AuthorizeInput {
  readonly directory: IamDirectory;
  readonly principal: PrincipalRef;
  readonly action: string;
  readonly resource: string;
  readonly context?: RequestContext;
  /** Session policies of the caller's session: documents (validated as 'session') or parsed policies. */
  readonly sessionPolicies?: readonly (string | object | Policy)[];
  /** Resource-based policies of the target, if it has any. */
  readonly resourcePolicies?: readonly PolicyInput[];
  readonly options?: EvaluationOptions;
  /** Request time in ms since the epoch: fills aws:CurrentTime and aws:EpochTime unless the context has them. */
  readonly now?: number;
}

/** The analysis plus the principal it was computed for. */
export interface AuthorizeResult extends Analysis {
  readonly principal: RequestPrincipal;
}

/** Builds the request principal for a user or a role session from the directory. */
export function resolvePrincipal(directory: IamDirectory, ref: PrincipalRef): RequestPrincipal {
  const { accountId, partition } = directory;
  if ('userName' in ref) {
    const u = directory.getUser(ref.userName);
    return { arn: u.arn, accountId, type: 'user', userName: u.userName, userId: u.userId, tags: u.tags };
  }
  const r = directory.getRole(ref.roleName);
  return {
    // Session ARNs carry the role name without its path, as STS prints them.
    arn: `arn:${partition}:sts::${accountId}:assumed-role/${r.roleName}/${ref.sessionName}`,
    accountId,
    type: 'assumed-role',
    userId: `${r.roleId}:${ref.sessionName}`,
    roleArn: r.arn,
    sessionName: ref.sessionName,
    tags: r.tags,
  };
}

function isPolicy(p: unknown): p is Policy {
  return typeof p === 'object' && p !== null && 'statements' in p && 'kind' in p;
}

/**
 * Decides whether a directory principal may perform `action` on `resource`.
 * Throws IAM_NO_SUCH_ENTITY for an unknown principal and
 * IAM_MALFORMED_POLICY for an invalid session policy.
 *
 * @example
 *   const a = authorize({ directory, principal: { userName: 'alice' }, action: 'rds-db:connect',
 *     resource: 'arn:aws:rds-db:us-east-1:123456789012:dbuser:db-ABC/alice', context: { 'aws:SourceIp': ip } });
 *   if (a.decision !== 'allowed') audit(accessDeniedMessage(a));
 */
export function authorize(input: AuthorizeInput): AuthorizeResult {
  const principal = resolvePrincipal(input.directory, input.principal);
  const owner = 'userName' in input.principal ? { userName: input.principal.userName } : { roleName: input.principal.roleName };
  const { identity, boundary } = input.directory.policiesFor(owner);
  const session =
    input.sessionPolicies && input.sessionPolicies.length > 0
      ? input.sessionPolicies.map((p, i): PolicyInput => ({ label: `session[${i}]`, policy: isPolicy(p) ? p : parsePolicyOrThrow(p, 'session') }))
      : undefined;
  const context = { ...timeContext(input.now), ...input.context };
  const analysis = evaluate({
    request: { principal, action: input.action, resource: input.resource, context },
    identity,
    ...(input.resourcePolicies ? { resource: input.resourcePolicies } : {}),
    ...(boundary ? { boundary } : {}),
    ...(session ? { session } : {}),
    ...(input.options ? { options: input.options } : {}),
  });
  return { ...analysis, principal };
}

function timeContext(now: number | undefined): RequestContext {
  if (now === undefined) return {};
  return { 'aws:CurrentTime': new Date(now).toISOString(), 'aws:EpochTime': String(Math.floor(now / 1000)) };
}

/** The IAM_ACCESS_DENIED error for a denial (AWS's text), or `undefined` when allowed. */
export function accessDeniedError(analysis: Analysis): IamdbError | undefined {
  const message = accessDeniedMessage(analysis);
  return message === undefined ? undefined : new IamdbError('IAM_ACCESS_DENIED', { message });
}
