/**
 * The policy evaluator: a pure function from policies and a request to an
 * analysis. It follows AWS's documented logic for one account:
 *
 * 1. Every statement of every policy is evaluated; order never matters.
 * 2. A matching Deny anywhere (identity, resource, boundary, session) wins.
 * 3. Within the account, an Allow from identity policies or from a resource
 *    policy naming the principal grants; boundary and session policies are
 *    ceilings that must also allow.
 * 4. A resource policy that names the user ARN or the role-session ARN
 *    itself is not limited by the ceilings (AWS's guide; see README).
 * 5. Across accounts both the identity side and a resource policy must allow;
 *    with no resource policy a resource in another account is never allowed.
 */
import { evaluateCondition, type ConditionResult } from './conditions/index.js';
import { ContextLookup } from './context.js';
import { actionListMatches } from './match.js';
import { arnMatches } from './conditions/arn.js';
import { matchPrincipalSet, type PrincipalMatch } from './principals.js';
import type { Effect, Policy, Statement } from './policy/types.js';
import { principalContext, type AuthorizationRequest } from './request.js';
import { expandValue } from './variables.js';

/** Which role a policy plays in a decision. */
export type PolicyType = 'identity' | 'resource' | 'boundary' | 'session';

/** A policy with a label that reports use (`user/alice:inline/db`, a managed policy ARN, …). */
export interface PolicyInput {
  readonly label: string;
  readonly policy: Policy;
  /** The text the policy was parsed from, when known (the simulator reports statement positions in it). */
  readonly document?: string;
}

export interface EvaluationInput {
  readonly request: AuthorizationRequest;
  /** Identity-based policies: inline and attached, of the principal and its groups. */
  readonly identity: readonly PolicyInput[];
  /** Resource-based policies attached to the resource (kind 'resource' or 'trust'). */
  readonly resource?: readonly PolicyInput[];
  /** The permissions boundary. `undefined`: no boundary. An array (even empty) is a ceiling. */
  readonly boundary?: readonly PolicyInput[];
  /** Session policies. `undefined`: none. An array (even empty) is a ceiling. */
  readonly session?: readonly PolicyInput[];
  readonly options?: EvaluationOptions;
}

export interface EvaluationOptions {
  /**
   * When true (default, AWS's guide), a resource-policy Allow naming the user
   * ARN or the role-session ARN itself is not limited by an implicit deny in
   * the boundary or the session policies. Set false for strict ceilings.
   */
  readonly namedPrincipalBypassesCeilings?: boolean;
  /**
   * When true, `request.context` is the whole context: the evaluator derives
   * no principal keys (aws:username, aws:PrincipalArn, …) and so lets nothing
   * override the caller's values. For the policy simulator only, whose
   * context entries are, as AWS documents, the values a simulation uses;
   * never for real requests, where a caller must not impersonate.
   */
  readonly contextAsGiven?: boolean;
}

export type Decision = 'allowed' | 'explicitDeny' | 'implicitDeny';

/** A statement that applied to the request. */
export interface MatchedStatement {
  readonly source: string;
  readonly policyType: PolicyType;
  readonly sid?: string;
  readonly effect: Effect;
  readonly index: number;
  /** For resource policies: how the Principal element named the caller. */
  readonly principalMatch?: PrincipalMatch;
}

/** The result of an evaluation: the decision and why. */
export interface Analysis {
  readonly decision: Decision;
  readonly matchedStatements: readonly MatchedStatement[];
  /** For denials: which policy type denied (explicit) or failed to allow (implicit). */
  readonly deniedBy?: PolicyType;
  /** Notes for people: unknown operators met, unresolved variables, the rule that decided. */
  readonly notes: readonly string[];
  readonly request: { readonly principal: string; readonly action: string; readonly resource: string };
}

const TYPE_ORDER: readonly PolicyType[] = ['identity', 'resource', 'boundary', 'session'];

/** What one evaluation carries through its statements. */
interface Scope {
  readonly request: AuthorizationRequest;
  readonly ctx: ContextLookup;
  readonly notes: string[];
}

/**
 * Evaluates a request against all policies that apply to it.
 *
 * @example
 *   const a = evaluate({ request, identity: [{ label: 'inline/db', policy }] });
 *   a.decision; // 'allowed' | 'explicitDeny' | 'implicitDeny'
 */
export function evaluate(input: EvaluationInput): Analysis {
  const { request } = input;
  const scope: Scope = {
    request,
    ctx: input.options?.contextAsGiven ? new ContextLookup(request.context ?? {}) : new ContextLookup(request.context ?? {}, principalContext(request.principal)),
    notes: [],
  };
  const matched: Record<PolicyType, MatchedStatement[]> = { identity: [], resource: [], boundary: [], session: [] };
  const groups: Record<PolicyType, readonly PolicyInput[] | undefined> = {
    identity: input.identity,
    resource: input.resource,
    boundary: input.boundary,
    session: input.session,
  };
  for (const type of TYPE_ORDER) {
    for (const p of groups[type] ?? []) {
      for (const st of p.policy.statements) {
        const m = statementApplies(st, p, type, scope);
        if (m) matched[type].push(m);
      }
    }
  }
  const all = TYPE_ORDER.flatMap((t) => matched[t]);
  const result = (decision: Decision, deniedBy: PolicyType | undefined, note: string): Analysis => {
    scope.notes.push(note);
    const base = {
      decision,
      matchedStatements: all,
      notes: scope.notes,
      request: { principal: request.principal.arn, action: request.action, resource: request.resource },
    };
    return deniedBy ? { ...base, deniedBy } : base;
  };

  const denyIn = TYPE_ORDER.find((t) => matched[t].some((m) => m.effect === 'Deny'));
  if (denyIn) return result('explicitDeny', denyIn, `explicit deny in ${denyIn} policy`);

  const allows = (t: PolicyType): MatchedStatement[] => matched[t].filter((m) => m.effect === 'Allow');
  const identityAllow = allows('identity').length > 0;
  const resourceAllows = allows('resource');
  const boundaryOk = input.boundary === undefined || allows('boundary').length > 0;
  const sessionOk = input.session === undefined || allows('session').length > 0;
  const resourceAccount = request.resource.split(':')[4] ?? '';
  // A resource in another account is reachable only if that account's
  // resource policy lets us in: without one (rds-db users have none) the
  // answer is no, however broad the identity policy's Resource pattern.
  // `aws` owns the AWS managed policies (arn:aws:iam::aws:policy/…): every account reads
  // them with its identity policies alone, and no account may change them (the directory refuses).
  const crossAccount = resourceAccount !== '' && resourceAccount !== 'aws' && resourceAccount !== request.principal.accountId;

  if (crossAccount) {
    // Both sides must allow; naming the account is enough on the resource side.
    if (!identityAllow) return result('implicitDeny', 'identity', 'cross-account: no identity-based policy allows');
    if (!boundaryOk) return result('implicitDeny', 'boundary', 'cross-account: the permissions boundary does not allow');
    if (!sessionOk) return result('implicitDeny', 'session', 'cross-account: no session policy allows');
    if (resourceAllows.length === 0) return result('implicitDeny', 'resource', 'cross-account: no resource-based policy allows');
    return result('allowed', undefined, 'cross-account: identity and resource policies both allow');
  }

  const bypass = input.options?.namedPrincipalBypassesCeilings ?? true;
  if (bypass && resourceAllows.some((m) => m.principalMatch === 'direct')) {
    return result('allowed', undefined, 'a resource-based policy names the principal ARN directly');
  }
  // Naming the account delegates to identity policies, so it grants nothing alone.
  const resourceGrant = resourceAllows.some((m) => m.principalMatch !== 'account');
  if (!identityAllow && !resourceGrant) return result('implicitDeny', 'identity', 'no identity-based or resource-based policy allows');
  if (!boundaryOk) return result('implicitDeny', 'boundary', 'the permissions boundary does not allow');
  if (!sessionOk) return result('implicitDeny', 'session', 'no session policy allows');
  return result('allowed', undefined, identityAllow ? 'allowed by an identity-based policy' : 'allowed by a resource-based policy');
}

// Action lists are compiled once per parsed policy (see actionListMatches), not per request.
function actionMatches(patterns: readonly string[], scope: Scope): boolean {
  return actionListMatches(patterns, scope.request.action);
}

/**
 * Does a Resource/NotResource entry cover the resource? `undefined` when a
 * variable in it is unresolved.
 */
function resourceEntryMatches(entry: string, expand: boolean, scope: Scope): boolean | undefined {
  const parts = expandValue(entry, expand, scope.ctx);
  if (parts === undefined) return undefined;
  return arnMatches(parts, scope.request.resource);
}

function statementApplies(st: Statement, p: PolicyInput, type: PolicyType, scope: Scope): MatchedStatement | undefined {
  const where = `${p.label}#Statement[${st.index}]`;
  if (st.action && !actionMatches(st.action, scope)) return undefined;
  if (st.notAction && actionMatches(st.notAction, scope)) return undefined;

  const expand = p.policy.version === '2012-10-17';
  if (st.resource) {
    const results = st.resource.map((r) => resourceEntryMatches(r, expand, scope));
    if (results.includes(undefined)) scope.notes.push(`${where}: unresolved variable in Resource`);
    if (!results.includes(true)) return undefined;
  }
  if (st.notResource) {
    const results = st.notResource.map((r) => resourceEntryMatches(r, expand, scope));
    // An unresolved entry counts as covering the resource: the statement then
    // does not apply, so a missing variable never widens a NotResource grant.
    if (results.includes(undefined)) scope.notes.push(`${where}: unresolved variable in NotResource`);
    if (results.some((r) => r !== false)) return undefined;
  }

  let principalMatch: PrincipalMatch | undefined;
  if (st.principal) {
    principalMatch = matchPrincipalSet(st.principal, scope.request.principal);
    if (!principalMatch) return undefined;
  } else if (st.notPrincipal) {
    if (matchPrincipalSet(st.notPrincipal, scope.request.principal)) return undefined;
    principalMatch = 'wildcard';
  }

  for (const c of st.conditions) {
    const r: ConditionResult = evaluateCondition(c, scope.ctx, expand);
    if (r.unknownOperator) {
      scope.notes.push(`${where}: ${r.explanation}`);
      // Failing closed: an Allow with an unreadable condition grants nothing,
      // a Deny with one still denies.
      if (st.effect === 'Deny') continue;
      return undefined;
    }
    if (!r.match) return undefined;
  }
  const m: { -readonly [K in keyof MatchedStatement]: MatchedStatement[K] } = {
    source: p.label,
    policyType: type,
    effect: st.effect,
    index: st.index,
  };
  if (st.sid !== undefined) m.sid = st.sid;
  if (principalMatch !== undefined) m.principalMatch = principalMatch;
  return m;
}

/**
 * Whether a resource-based policy itself allowed the request. Trust policies
 * and key policies must (an identity policy alone never opens a role or a
 * KMS key), which `decision` alone does not tell.
 */
export function resourcePolicyAllows(a: Analysis): boolean {
  return a.matchedStatements.some((m) => m.policyType === 'resource' && m.effect === 'Allow');
}

/**
 * AWS's AccessDenied text for a denial, or `undefined` when allowed.
 *
 * @example
 *   accessDeniedMessage(a)
 *   // 'User: arn:aws:iam::123456789012:user/bob is not authorized to perform: rds-db:connect on resource: arn:… because no identity-based policy allows the rds-db:connect action'
 */
export function accessDeniedMessage(a: Analysis): string | undefined {
  if (a.decision === 'allowed') return undefined;
  const { principal, action, resource } = a.request;
  const head = `User: ${principal} is not authorized to perform: ${action} on resource: ${resource}`;
  const by = a.deniedBy ?? 'identity';
  if (a.decision === 'explicitDeny') {
    const where = {
      identity: 'an identity-based policy',
      resource: 'a resource-based policy',
      boundary: 'a permissions boundary',
      session: 'a session policy',
    }[by];
    return `${head} with an explicit deny in ${where}`;
  }
  const what = {
    identity: 'identity-based policy',
    resource: 'resource-based policy',
    boundary: 'permissions boundary',
    session: 'session policy',
  }[by];
  return `${head} because no ${what} allows the ${action} action`;
}
