/**
 * iam: policy grammar and validation, a faithful policy evaluator, and an
 * in-memory IAM directory. Pure: no I/O, no clock other than the one handed in.
 */
export type { Policy, PolicyKind, PolicyProblem, PolicyVersion, Statement, ConditionEntry, PrincipalSet, Effect } from './policy/types.js';
export { POLICY_VERSIONS } from './policy/types.js';
export { parsePolicy, parsePolicyOrThrow, malformedPolicyError, policySize, hasOnlyAllowedCharacters, type ParseResult } from './policy/parse.js';
export { validatePolicyDocument } from './policy/validate.js';
export { statementPositions, type StatementSpan, type TextPosition } from './policy/statement-positions.js';
export { missingContextKeys, contextKeysOf } from './context-keys.js';
export { awsManagedPolicies, isAwsManagedPolicyArn, AWS_MANAGED_POLICIES, type AwsManagedPolicy } from './aws-managed-policies/index.js';
export { policyMessages } from './policy/messages.js';
export {
  evaluate,
  accessDeniedMessage,
  resourcePolicyAllows,
  type Analysis,
  type Decision,
  type EvaluationInput,
  type EvaluationOptions,
  type MatchedStatement,
  type PolicyInput,
  type PolicyType,
} from './evaluate.js';
export { type AuthorizationRequest, type RequestPrincipal, type PrincipalType, principalContext } from './request.js';
export { ContextLookup, type RequestContext, type ContextValue, type ContextScalar } from './context.js';
export type { ResolvedPrincipal } from './resolved-principal.js';
export { conditionOperators, parseOperatorName, evaluateCondition, type ConditionOperator, type OperatorResult } from './conditions/index.js';
export { globMatch, compileGlob, matchPattern, type MatchCounter } from './match.js';
export { matchPrincipalSet, type PrincipalMatch } from './principals.js';
export {
  IamDirectory,
  type IamDirectoryOptions,
  type IamDirectoryState,
  type DirectoryChange,
  type PolicyOwnerRef,
  type PrincipalPolicies,
} from './directory.js';
export {
  IAM_LIMITS,
  newAccessKeyId,
  newSecretAccessKey,
  type AccessKeyInfo,
  type AccessKeyStatus,
  type AccessKeyWithSecret,
  type IamGroup,
  type IamManagedPolicy,
  type IamPolicyVersion,
  type IamRole,
  type IamUser,
  type Tags,
} from './entities.js';
