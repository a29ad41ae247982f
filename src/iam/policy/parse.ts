/**
 * From policy text (or an already decoded object) to a `Policy`. Text is
 * checked for the characters AWS allows, decoded, validated, and only then
 * normalised: a `Policy` value always comes from a document without problems.
 */
import { IamdbError } from '../../errors/index.js';
import { policyMessages as M } from './messages.js';
import { validatePolicyDocument } from './validate.js';
import type { ConditionEntry, Policy, PolicyKind, PolicyProblem, PolicyVersion, PrincipalSet, Statement } from './types.js';

/** Either a policy or every problem found in the document. */
export type ParseResult = { readonly ok: true; readonly policy: Policy } | { readonly ok: false; readonly problems: readonly PolicyProblem[] };

// TAB, LF, CR and U+0020..U+00FF: the pattern IAM applies to policy documents.
const ALLOWED = /^[\t\n\r\u0020-\u00FF]*$/;

/** Policy size as IAM counts it for quotas: characters other than whitespace. */
export function policySize(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) n++;
  }
  return n;
}

/** True when every character of `text` is one IAM accepts in a policy. */
export function hasOnlyAllowedCharacters(text: string): boolean {
  return ALLOWED.test(text);
}

/**
 * Parses and validates a policy for one kind.
 *
 * @example
 *   const r = parsePolicy('{"Version":"2012-10-17","Statement":[...]}', 'identity');
 *   if (!r.ok) console.log(r.problems); // [{ path: 'Statement[1].Action', message: '…' }]
 */
export function parsePolicy(input: string | object, kind: PolicyKind): ParseResult {
  let doc: unknown = input;
  if (typeof input === 'string') {
    if (!hasOnlyAllowedCharacters(input)) return { ok: false, problems: [{ path: '', message: M.invalidCharacters }] };
    try {
      doc = JSON.parse(input);
    } catch {
      return { ok: false, problems: [{ path: '', message: M.syntax }] };
    }
  }
  const problems = validatePolicyDocument(doc, kind);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, policy: normalise(doc as Record<string, unknown>, kind) };
}

/** Like `parsePolicy`, but throws `IAM_MALFORMED_POLICY` listing every problem. */
export function parsePolicyOrThrow(input: string | object, kind: PolicyKind): Policy {
  const r = parsePolicy(input, kind);
  if (r.ok) return r.policy;
  throw malformedPolicyError(r.problems);
}

/** The error for a rejected document: AWS's first message, all problems in `details.problems`. */
export function malformedPolicyError(problems: readonly PolicyProblem[]): IamdbError {
  return new IamdbError('IAM_MALFORMED_POLICY', {
    message: problems[0]?.message ?? M.syntax,
    problems: problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('\n'),
    count: problems.length,
  });
}

function list(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map((x) => String(x));
}

function principalSet(v: unknown): PrincipalSet | undefined {
  if (v === undefined) return undefined;
  if (v === '*') return { all: true, aws: [], service: [], federated: [], canonicalUser: [] };
  const o = v as Record<string, unknown>;
  const aws = list(o.AWS) ?? [];
  return {
    all: aws.includes('*'),
    aws,
    service: list(o.Service) ?? [],
    federated: list(o.Federated) ?? [],
    canonicalUser: list(o.CanonicalUser) ?? [],
  };
}

function conditions(v: unknown): ConditionEntry[] {
  if (v === undefined) return [];
  const out: ConditionEntry[] = [];
  const block = v as Record<string, Record<string, unknown>>;
  for (const operator of Object.keys(block)) {
    const keys = block[operator]!;
    for (const key of Object.keys(keys)) out.push({ operator, key, values: list(keys[key]) ?? [] });
  }
  return out;
}

function normalise(doc: Record<string, unknown>, kind: PolicyKind): Policy {
  const raw = doc.Statement;
  const statements = (Array.isArray(raw) ? raw : [raw]).map((s, index): Statement => {
    const st = s as Record<string, unknown>;
    const out: { -readonly [K in keyof Statement]: Statement[K] } = {
      index,
      effect: st.Effect as Statement['effect'],
      conditions: conditions(st.Condition),
    };
    if (typeof st.Sid === 'string') out.sid = st.Sid;
    const action = list(st.Action);
    if (action) out.action = action;
    const notAction = list(st.NotAction);
    if (notAction) out.notAction = notAction;
    const resource = list(st.Resource);
    if (resource) out.resource = resource;
    const notResource = list(st.NotResource);
    if (notResource) out.notResource = notResource;
    const principal = principalSet(st.Principal);
    if (principal) out.principal = principal;
    const notPrincipal = principalSet(st.NotPrincipal);
    if (notPrincipal) out.notPrincipal = notPrincipal;
    return out;
  });
  const policy: { -readonly [K in keyof Policy]: Policy[K] } = { kind, statements };
  if (typeof doc.Version === 'string') policy.version = doc.Version as PolicyVersion;
  if (typeof doc.Id === 'string') policy.id = doc.Id;
  return policy;
}
