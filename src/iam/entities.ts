/**
 * IAM entities as the directory hands them out (plain, read-only views), the
 * identifiers AWS uses for them, and the quotas with AWS's values.
 */
import { randomBytes } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import type { Secret } from '../util/index.js';

export type AccessKeyStatus = 'Active' | 'Inactive';
export type Tags = Readonly<Record<string, string>>;

/** A user as returned by the directory. */
export interface IamUser {
  readonly userName: string;
  readonly userId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
  readonly tags: Tags;
  readonly permissionsBoundary?: string;
  readonly groups: readonly string[];
}

export interface IamGroup {
  readonly groupName: string;
  readonly groupId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
}

export interface IamRole {
  readonly roleName: string;
  readonly roleId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
  readonly assumeRolePolicyDocument: string;
  readonly maxSessionDuration: number;
  readonly description?: string;
  readonly tags: Tags;
  readonly permissionsBoundary?: string;
}

export interface IamManagedPolicy {
  readonly policyName: string;
  readonly policyId: string;
  readonly path: string;
  readonly arn: string;
  readonly createDate: string;
  readonly description?: string;
  readonly defaultVersionId: string;
  readonly attachmentCount: number;
  readonly permissionsBoundaryUsageCount: number;
  /** True for AWS managed policies (`arn:…:iam::aws:policy/…`), which no account can change. */
  readonly awsManaged: boolean;
  /** When the most recent version was created (AWS managed policies: AWS's last edit). */
  readonly updateDate: string;
}

export interface IamPolicyVersion {
  readonly versionId: string;
  readonly document: string;
  readonly isDefaultVersion: boolean;
  readonly createDate: string;
}

/** An access key without its secret. */
export interface AccessKeyInfo {
  readonly accessKeyId: string;
  readonly userName: string;
  readonly status: AccessKeyStatus;
  readonly createDate: string;
}

/** An access key with its secret; only creation and `findAccessKey` return one. */
export interface AccessKeyWithSecret extends AccessKeyInfo {
  readonly secretAccessKey: Secret<string>;
}

/** AWS quotas the directory enforces, with the numbers AWS uses. */
export const IAM_LIMITS = {
  userInlinePolicySize: 2048,
  groupInlinePolicySize: 5120,
  roleInlinePolicySize: 10240,
  managedPolicySize: 6144,
  trustPolicySize: 2048,
  accessKeysPerUser: 2,
  policyVersions: 5,
  attachedPoliciesPerEntity: 10,
  groupsPerUser: 10,
  /** The PolicyDocument parameter's own length limit. */
  policyDocumentLength: 131072,
  minSessionDuration: 3600,
  maxSessionDuration: 43200,
} as const;

/** Entity id prefixes, as AWS prints them. */
export const ID_PREFIX = { user: 'AIDA', role: 'AROA', group: 'AGPA', policy: 'ANPA', accessKey: 'AKIA' } as const;

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A random entity id: prefix + 17 uppercase alphanumerics (rejection sampling keeps it unbiased). */
export function newEntityId(prefix: string, random: (n: number) => Buffer = randomBytes): string {
  let out = prefix;
  while (out.length < prefix.length + 17) {
    for (const b of random(32)) {
      if (b < 252 && out.length < prefix.length + 17) out += ALNUM[b % 36];
    }
  }
  return out;
}

/** A random access key id: `AKIA` + 16 base32 characters (80 random bits). */
export function newAccessKeyId(random: (n: number) => Buffer = randomBytes): string {
  const bytes = random(10);
  let bits = 0;
  let value = 0;
  let out = ID_PREFIX.accessKey;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** A random 40-character secret access key (30 random bytes in base64). */
export function newSecretAccessKey(random: (n: number) => Buffer = randomBytes): string {
  return random(30).toString('base64');
}

const NAME = /^[\w+=,.@-]+$/;
const PATH = /^\/([\u0021-\u007E]*\/)?$/;

function invalid(value: string, field: string, constraint: string): IamdbError {
  return new IamdbError('IAM_INVALID_INPUT', {
    message: `1 validation error detected: Value '${value}' at '${field}' failed to satisfy constraint: ${constraint}`,
  });
}

/** Checks an entity name against AWS's pattern and length. */
export function checkName(value: string, field: string, max: number): void {
  if (typeof value !== 'string' || value.length < 1) throw invalid(String(value), field, 'Member must have length greater than or equal to 1');
  if (value.length > max) throw invalid(value, field, `Member must have length less than or equal to ${max}`);
  if (!NAME.test(value)) throw invalid(value, field, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
}

/** Checks a path (`/` or `/a/b/`). */
export function checkPath(value: string): void {
  if (value.length > 512) throw invalid(value, 'path', 'Member must have length less than or equal to 512');
  if (!PATH.test(value)) throw invalid(value, 'path', 'Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)');
}

/** Checks an account id: 12 digits. */
export function checkAccountId(value: string): void {
  if (!/^\d{12}$/.test(value)) throw invalid(value, 'accountId', 'Member must satisfy regular expression pattern: \\d{12}');
}

/** Checks an imported access key id and secret (the formats AWS issues). */
export function checkImportedKey(accessKeyId: string, secret: string): void {
  if (!/^AKIA[A-Z0-9]{16}$/.test(accessKeyId)) throw invalid(accessKeyId, 'accessKeyId', 'Member must satisfy regular expression pattern: AKIA[A-Z0-9]{16}');
  // Never echo the secret: report its shape only.
  if (!/^[A-Za-z0-9/+=]{40}$/.test(secret)) {
    throw new IamdbError('IAM_INVALID_INPUT', { message: 'The secret access key must be 40 characters of [A-Za-z0-9/+=].' });
  }
}
