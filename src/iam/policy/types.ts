/**
 * The parsed, normalised form of an IAM policy document. Parsing turns every
 * "string or list" element into a list, keeps statement indexes for reports,
 * and leaves values as written: variables are expanded only at evaluation
 * time because they depend on the request.
 */

/** Where a policy is used; it decides which elements are required or forbidden. */
export type PolicyKind = 'identity' | 'resource' | 'trust' | 'boundary' | 'session';

/** The two grammar versions AWS accepts. Only 2012-10-17 expands `${...}` variables. */
export const POLICY_VERSIONS = ['2012-10-17', '2008-10-17'] as const;
export type PolicyVersion = (typeof POLICY_VERSIONS)[number];

export type Effect = 'Allow' | 'Deny';

/** A validation problem: where it is and AWS's wording of what is wrong. */
export interface PolicyProblem {
  /** Path into the document, e.g. `Statement[1].Action[0]`; `''` for the whole document. */
  readonly path: string;
  readonly message: string;
}

/** The principals named by a Principal or NotPrincipal element. */
export interface PrincipalSet {
  /** `"Principal": "*"` or `{"AWS": "*"}`: everyone. */
  readonly all: boolean;
  readonly aws: readonly string[];
  readonly service: readonly string[];
  readonly federated: readonly string[];
  readonly canonicalUser: readonly string[];
}

/** One `operator -> key -> values` entry of a Condition block. */
export interface ConditionEntry {
  /** As written, e.g. `ForAnyValue:StringLikeIfExists`. */
  readonly operator: string;
  /** As written; lookups are case-insensitive. */
  readonly key: string;
  /** Scalars are turned into strings (`true`, `42`) as AWS does. */
  readonly values: readonly string[];
}

export interface Statement {
  /** Position in the document, used in reports (`Statement[index]`). */
  readonly index: number;
  readonly sid?: string;
  readonly effect: Effect;
  readonly action?: readonly string[];
  readonly notAction?: readonly string[];
  readonly resource?: readonly string[];
  readonly notResource?: readonly string[];
  readonly principal?: PrincipalSet;
  readonly notPrincipal?: PrincipalSet;
  readonly conditions: readonly ConditionEntry[];
}

/** A validated policy. Build one with `parsePolicy`. */
export interface Policy {
  readonly kind: PolicyKind;
  /** `undefined` when the document has no Version (AWS then applies 2008-10-17 rules). */
  readonly version?: PolicyVersion;
  readonly id?: string;
  readonly statements: readonly Statement[];
}
