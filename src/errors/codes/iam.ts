import type { ErrorSpec } from '../types.js';

/**
 * Error codes of the iam domain. Messages reproduce AWS IAM's texts (the
 * `{name}` holes are filled from details) so the control plane can relay them
 * byte for byte; the AWS error code each maps to is noted beside it.
 */
export const iamCodes = {
  /** MalformedPolicyDocument: `message` is the first problem, `problems` lists all of them as `path: message` lines. */
  IAM_MALFORMED_POLICY: { kind: 'InvalidInput', message: '{message}' },
  /** NoSuchEntity for users, roles, groups and inline policies. */
  IAM_NO_SUCH_ENTITY: { kind: 'NotFound', message: 'The {entity} with name {name} cannot be found.' },
  /** NoSuchEntity for a managed policy ARN. */
  IAM_NO_SUCH_POLICY: { kind: 'NotFound', message: 'Policy {arn} does not exist or is not attachable.' },
  /** NoSuchEntity for a managed policy version. */
  IAM_NO_SUCH_POLICY_VERSION: { kind: 'NotFound', message: 'Policy {arn} version {versionId} does not exist or is not attachable.' },
  /** NoSuchEntity for an access key. */
  IAM_NO_SUCH_ACCESS_KEY: { kind: 'NotFound', message: 'The Access Key with id {accessKeyId} cannot be found.' },
  /** EntityAlreadyExists for users, roles, groups, access keys. */
  IAM_ENTITY_ALREADY_EXISTS: { kind: 'Conflict', message: '{entity} with name {name} already exists.' },
  /** EntityAlreadyExists for managed policies. */
  IAM_POLICY_ALREADY_EXISTS: { kind: 'Conflict', message: 'A policy called {name} already exists. Duplicate names are not allowed.' },
  /** LimitExceeded for account quotas (AccessKeysPerUser, PolicySize, ACLSizePerRole, ...). */
  IAM_LIMIT_EXCEEDED: { kind: 'LimitExceeded', message: 'Cannot exceed quota for {quota}: {limit}' },
  /** LimitExceeded for the aggregate inline policy size of a user, group or role. */
  IAM_INLINE_POLICY_SIZE_EXCEEDED: {
    kind: 'LimitExceeded',
    message: 'Maximum policy size of {limit} bytes exceeded for {entity} {name}',
  },
  /** LimitExceeded when a managed policy already has five versions. */
  IAM_POLICY_VERSION_LIMIT: {
    kind: 'LimitExceeded',
    message: 'A managed policy can have up to {limit} versions. Before you create a new version, you must delete an existing version.',
  },
  /** DeleteConflict: the entity still owns something. */
  IAM_DELETE_CONFLICT: { kind: 'Conflict', message: 'Cannot delete entity, must {what} first.' },
  /** DeleteConflict: a managed policy that is still attached. */
  IAM_POLICY_ATTACHED: { kind: 'Conflict', message: 'Cannot delete a policy attached to entities.' },
  /** DeleteConflict: the default version of a managed policy. */
  IAM_DEFAULT_VERSION_DELETE: { kind: 'Conflict', message: 'Cannot delete the default version of a policy.' },
  /** ValidationError / InvalidInput for names, paths, ids and other parameters. */
  IAM_INVALID_INPUT: { kind: 'InvalidInput', message: '{message}' },
  /** AccessDenied: versions, default version and deletion of an AWS managed policy belong to AWS. */
  IAM_AWS_MANAGED_POLICY: { kind: 'AccessDenied', message: '{operation} is not allowed on {arn}: it is an AWS managed policy, which no account can change.' },
  /** AccessDenied with AWS's text, built by `accessDeniedMessage`. */
  IAM_ACCESS_DENIED: { kind: 'AccessDenied', audit: 'AccessDenied', message: '{message}' },
} as const satisfies Record<string, ErrorSpec>;
