/**
 * An in-memory IAM directory for one account: users, groups, roles, managed
 * and inline policies, permissions boundaries and access keys, with AWS's
 * names, ids, ARNs, quotas and error texts. Every policy is validated when it
 * is saved, so evaluation only ever sees valid documents.
 *
 * Persistence belongs to the owner: `snapshot()` gives plain JSON (secrets
 * revealed in `secretAccessKey` fields, for the owner to seal) and
 * `onChange` / `changes` say when to write it.
 */
import { z } from 'zod';
import { IamdbError } from '../errors/index.js';
import { Secret, constantTimeEqualStrings, systemClock, type Clock } from '../util/index.js';
import {
  IAM_LIMITS,
  ID_PREFIX,
  checkAccountId,
  checkImportedKey,
  checkName,
  checkPath,
  newAccessKeyId,
  newEntityId,
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
import { awsManagedPolicies, type AwsManagedPolicy } from './aws-managed-policies/index.js';
import type { PolicyInput } from './evaluate.js';
import { parsePolicyOrThrow, policySize } from './policy/parse.js';
import type { Policy, PolicyKind } from './policy/types.js';

export interface IamDirectoryOptions {
  /** 12 digits. */
  readonly accountId: string;
  /** ARN partition of every entity, and of the AWS managed policies served. */
  readonly partition?: Partition;
  readonly clock?: Clock;
  /** Source of randomness for ids and secrets; tests may pin it. */
  readonly random?: (n: number) => Buffer;
}

export type Partition = 'aws' | 'aws-cn' | 'aws-us-gov';

/** What `onChange` listeners receive. */
export interface DirectoryChange {
  /** The method that changed the directory, e.g. `createUser`. */
  readonly operation: string;
  /** The `changes` counter after this change. */
  readonly changes: number;
}

/** The principal whose policies `policiesFor` collects. For a role session pass the role. */
export type PolicyOwnerRef = { readonly userName: string } | { readonly roleName: string } | { readonly groupName: string };

/** Identity policies and boundary of a user or role, ready for `evaluate`. */
export interface PrincipalPolicies {
  readonly identity: readonly PolicyInput[];
  /** Present only when a permissions boundary is set. */
  readonly boundary?: readonly PolicyInput[];
}

// ---- internal records ------------------------------------------------------

interface InlinePolicy {
  name: string;
  document: string;
  policy: Policy;
}

interface AccessKeyRecord {
  accessKeyId: string;
  secret: Secret<string>;
  status: AccessKeyStatus;
  createDate: string;
}

interface PolicyHolder {
  inline: Map<string, InlinePolicy>;
  attached: string[];
}

interface UserRecord extends PolicyHolder {
  userName: string;
  userId: string;
  path: string;
  arn: string;
  createDate: string;
  tags: Record<string, string>;
  permissionsBoundary?: string;
  groups: string[];
  accessKeys: AccessKeyRecord[];
}

interface GroupRecord extends PolicyHolder {
  groupName: string;
  groupId: string;
  path: string;
  arn: string;
  createDate: string;
}

interface RoleRecord extends PolicyHolder {
  roleName: string;
  roleId: string;
  path: string;
  arn: string;
  createDate: string;
  trustDocument: string;
  trust: Policy;
  maxSessionDuration: number;
  description?: string;
  tags: Record<string, string>;
  permissionsBoundary?: string;
}

interface VersionRecord {
  versionId: string;
  document: string;
  policy: Policy;
  createDate: string;
}

interface ManagedPolicyRecord {
  policyName: string;
  policyId: string;
  path: string;
  arn: string;
  createDate: string;
  description?: string;
  defaultVersionId: string;
  nextVersion: number;
  versions: VersionRecord[];
  /** Set on AWS managed policies only. */
  awsManaged?: true;
}

// ---- snapshot format -------------------------------------------------------

const inlineSchema = z.object({ policyName: z.string(), policyDocument: z.string() });
const tagsSchema = z.record(z.string(), z.string());
const stateSchema = z.object({
  format: z.literal(1),
  accountId: z.string(),
  partition: z.enum(['aws', 'aws-cn', 'aws-us-gov']),
  users: z.array(
    z.object({
      userName: z.string(),
      userId: z.string(),
      path: z.string(),
      createDate: z.string(),
      tags: tagsSchema,
      permissionsBoundary: z.string().optional(),
      groups: z.array(z.string()),
      inlinePolicies: z.array(inlineSchema),
      attachedPolicies: z.array(z.string()),
      accessKeys: z.array(
        z.object({
          accessKeyId: z.string(),
          secretAccessKey: z.string(),
          status: z.enum(['Active', 'Inactive']),
          createDate: z.string(),
        }),
      ),
    }),
  ),
  groups: z.array(
    z.object({
      groupName: z.string(),
      groupId: z.string(),
      path: z.string(),
      createDate: z.string(),
      inlinePolicies: z.array(inlineSchema),
      attachedPolicies: z.array(z.string()),
    }),
  ),
  roles: z.array(
    z.object({
      roleName: z.string(),
      roleId: z.string(),
      path: z.string(),
      createDate: z.string(),
      assumeRolePolicyDocument: z.string(),
      maxSessionDuration: z.number().int(),
      description: z.string().optional(),
      tags: tagsSchema,
      permissionsBoundary: z.string().optional(),
      inlinePolicies: z.array(inlineSchema),
      attachedPolicies: z.array(z.string()),
    }),
  ),
  policies: z.array(
    z.object({
      policyName: z.string(),
      policyId: z.string(),
      path: z.string(),
      createDate: z.string(),
      description: z.string().optional(),
      defaultVersionId: z.string(),
      nextVersion: z.number().int(),
      versions: z.array(z.object({ versionId: z.string(), document: z.string(), createDate: z.string() })),
    }),
  ),
});

/** The plain, JSON-serialisable state of a directory. Holds secrets in clear: seal before storing. */
export type IamDirectoryState = z.infer<typeof stateSchema>;

const key = (name: string): string => name.toLowerCase();

/**
 * The IAM directory of one account.
 *
 * @example
 *   const iam = new IamDirectory({ accountId: '123456789012' });
 *   iam.createUser({ userName: 'alice' });
 *   iam.putUserPolicy('alice', 'db', JSON.stringify({ Version: '2012-10-17', Statement: [...] }));
 *   const { accessKeyId, secretAccessKey } = iam.createAccessKey('alice');
 */
export class IamDirectory {
  readonly accountId: string;
  readonly partition: Partition;
  readonly #clock: Clock;
  readonly #random: ((n: number) => Buffer) | undefined;
  readonly #users = new Map<string, UserRecord>();
  readonly #groups = new Map<string, GroupRecord>();
  readonly #roles = new Map<string, RoleRecord>();
  readonly #policies = new Map<string, ManagedPolicyRecord>(); // by ARN
  /** AWS managed policies: shared, read-only, never part of the state. */
  readonly #awsPolicies: ReadonlyMap<string, ManagedPolicyRecord>;
  readonly #keys = new Map<string, { user: UserRecord; key: AccessKeyRecord }>();
  readonly #listeners = new Set<(change: DirectoryChange) => void>();
  #changes = 0;

  constructor(options: IamDirectoryOptions) {
    checkAccountId(options.accountId);
    this.accountId = options.accountId;
    this.partition = options.partition ?? 'aws';
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random;
    this.#awsPolicies = new Map([...awsManagedPolicies(this.partition).values()].map((p) => [p.arn, awsRecord(p)]));
  }

  /** Counts mutations since construction; compare to decide whether to persist. */
  get changes(): number {
    return this.#changes;
  }

  /** Calls `listener` after every mutation. Returns an unsubscribe function. */
  onChange(listener: (change: DirectoryChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #changed(operation: string): void {
    this.#changes++;
    for (const l of this.#listeners) l({ operation, changes: this.#changes });
  }

  #now(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  #arn(kind: 'user' | 'group' | 'role' | 'policy', path: string, name: string): string {
    return `arn:${this.partition}:iam::${this.accountId}:${kind}${path}${name}`;
  }

  #uniqueId(prefix: string, taken: (id: string) => boolean): string {
    for (;;) {
      const id = newEntityId(prefix, this.#random);
      if (!taken(id)) return id;
    }
  }

  // ---- users -----------------------------------------------------------

  /** CreateUser. Names are unique case-insensitively. */
  createUser(input: { userName: string; path?: string; tags?: Tags; permissionsBoundary?: string }): IamUser {
    checkName(input.userName, 'userName', 64);
    const path = input.path ?? '/';
    checkPath(path);
    if (this.#users.has(key(input.userName))) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'User', name: input.userName });
    if (input.permissionsBoundary !== undefined) this.#policy(input.permissionsBoundary);
    const user: UserRecord = {
      userName: input.userName,
      userId: this.#uniqueId(ID_PREFIX.user, (id) => [...this.#users.values()].some((u) => u.userId === id)),
      path,
      arn: this.#arn('user', path, input.userName),
      createDate: this.#now(),
      tags: { ...input.tags },
      groups: [],
      accessKeys: [],
      inline: new Map(),
      attached: [],
    };
    if (input.permissionsBoundary !== undefined) user.permissionsBoundary = input.permissionsBoundary;
    this.#users.set(key(user.userName), user);
    this.#changed('createUser');
    return userView(user);
  }

  #user(userName: string): UserRecord {
    const u = this.#users.get(key(userName));
    if (!u) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity: 'user', name: userName });
    return u;
  }

  getUser(userName: string): IamUser {
    return userView(this.#user(userName));
  }

  listUsers(): IamUser[] {
    return [...this.#users.values()].map(userView);
  }

  /** DeleteUser. Like AWS, refuses while the user still has keys, policies or groups. */
  deleteUser(userName: string): void {
    const u = this.#user(userName);
    if (u.accessKeys.length > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'delete access keys' });
    if (u.inline.size > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'delete policies' });
    if (u.attached.length > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'detach all policies' });
    if (u.groups.length > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'remove user from all groups' });
    this.#users.delete(key(userName));
    this.#changed('deleteUser');
  }

  // ---- tags ------------------------------------------------------------

  /** TagUser: adds or replaces tags; at most 50 per user, as AWS. */
  tagUser(userName: string, tags: Tags): void {
    applyTags(this.#user(userName).tags, tags);
    this.#changed('tagUser');
  }

  untagUser(userName: string, keys: readonly string[]): void {
    const u = this.#user(userName);
    for (const k of keys) delete u.tags[k];
    this.#changed('untagUser');
  }

  tagRole(roleName: string, tags: Tags): void {
    applyTags(this.#role(roleName).tags, tags);
    this.#changed('tagRole');
  }

  untagRole(roleName: string, keys: readonly string[]): void {
    const r = this.#role(roleName);
    for (const k of keys) delete r.tags[k];
    this.#changed('untagRole');
  }

  // ---- groups ----------------------------------------------------------

  createGroup(input: { groupName: string; path?: string }): IamGroup {
    checkName(input.groupName, 'groupName', 128);
    const path = input.path ?? '/';
    checkPath(path);
    if (this.#groups.has(key(input.groupName))) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'Group', name: input.groupName });
    const group: GroupRecord = {
      groupName: input.groupName,
      groupId: this.#uniqueId(ID_PREFIX.group, (id) => [...this.#groups.values()].some((g) => g.groupId === id)),
      path,
      arn: this.#arn('group', path, input.groupName),
      createDate: this.#now(),
      inline: new Map(),
      attached: [],
    };
    this.#groups.set(key(group.groupName), group);
    this.#changed('createGroup');
    return groupView(group);
  }

  #group(groupName: string): GroupRecord {
    const g = this.#groups.get(key(groupName));
    if (!g) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity: 'group', name: groupName });
    return g;
  }

  getGroup(groupName: string): IamGroup & { readonly users: readonly string[] } {
    const g = this.#group(groupName);
    const users = [...this.#users.values()].filter((u) => u.groups.includes(g.groupName)).map((u) => u.userName);
    return { ...groupView(g), users };
  }

  listGroups(): IamGroup[] {
    return [...this.#groups.values()].map(groupView);
  }

  deleteGroup(groupName: string): void {
    const g = this.#group(groupName);
    if ([...this.#users.values()].some((u) => u.groups.includes(g.groupName))) {
      throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'remove users from group' });
    }
    if (g.inline.size > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'delete policies' });
    if (g.attached.length > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'detach all policies' });
    this.#groups.delete(key(groupName));
    this.#changed('deleteGroup');
  }

  addUserToGroup(groupName: string, userName: string): void {
    const g = this.#group(groupName);
    const u = this.#user(userName);
    if (u.groups.includes(g.groupName)) return;
    if (u.groups.length >= IAM_LIMITS.groupsPerUser) {
      throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota: 'GroupsPerUser', limit: IAM_LIMITS.groupsPerUser });
    }
    u.groups.push(g.groupName);
    this.#changed('addUserToGroup');
  }

  removeUserFromGroup(groupName: string, userName: string): void {
    const g = this.#group(groupName);
    const u = this.#user(userName);
    const i = u.groups.indexOf(g.groupName);
    if (i < 0) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity: 'user', name: userName });
    u.groups.splice(i, 1);
    this.#changed('removeUserFromGroup');
  }

  // ---- roles -----------------------------------------------------------

  /** CreateRole. The trust policy is validated as a trust policy and capped at 2,048 characters. */
  createRole(input: {
    roleName: string;
    assumeRolePolicyDocument: string;
    path?: string;
    maxSessionDuration?: number;
    description?: string;
    tags?: Tags;
    permissionsBoundary?: string;
  }): IamRole {
    checkName(input.roleName, 'roleName', 64);
    const path = input.path ?? '/';
    checkPath(path);
    if (this.#roles.has(key(input.roleName))) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'Role', name: input.roleName });
    const trust = this.#checkTrust(input.assumeRolePolicyDocument);
    const maxSessionDuration = input.maxSessionDuration ?? IAM_LIMITS.minSessionDuration;
    checkSessionDuration(maxSessionDuration);
    if (input.permissionsBoundary !== undefined) this.#policy(input.permissionsBoundary);
    const role: RoleRecord = {
      roleName: input.roleName,
      roleId: this.#uniqueId(ID_PREFIX.role, (id) => [...this.#roles.values()].some((r) => r.roleId === id)),
      path,
      arn: this.#arn('role', path, input.roleName),
      createDate: this.#now(),
      trustDocument: input.assumeRolePolicyDocument,
      trust,
      maxSessionDuration,
      tags: { ...input.tags },
      inline: new Map(),
      attached: [],
    };
    if (input.description !== undefined) role.description = input.description;
    if (input.permissionsBoundary !== undefined) role.permissionsBoundary = input.permissionsBoundary;
    this.#roles.set(key(role.roleName), role);
    this.#changed('createRole');
    return roleView(role);
  }

  #role(roleName: string): RoleRecord {
    const r = this.#roles.get(key(roleName));
    if (!r) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity: 'role', name: roleName });
    return r;
  }

  getRole(roleName: string): IamRole {
    return roleView(this.#role(roleName));
  }

  listRoles(): IamRole[] {
    return [...this.#roles.values()].map(roleView);
  }

  /** The role's parsed trust policy, for AssumeRole. */
  trustPolicyOf(roleName: string): Policy {
    return this.#role(roleName).trust;
  }

  updateAssumeRolePolicy(roleName: string, document: string): void {
    const r = this.#role(roleName);
    r.trust = this.#checkTrust(document);
    r.trustDocument = document;
    this.#changed('updateAssumeRolePolicy');
  }

  updateRole(roleName: string, input: { maxSessionDuration?: number; description?: string }): void {
    const r = this.#role(roleName);
    if (input.maxSessionDuration !== undefined) {
      checkSessionDuration(input.maxSessionDuration);
      r.maxSessionDuration = input.maxSessionDuration;
    }
    if (input.description !== undefined) r.description = input.description;
    this.#changed('updateRole');
  }

  deleteRole(roleName: string): void {
    const r = this.#role(roleName);
    if (r.inline.size > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'delete policies' });
    if (r.attached.length > 0) throw new IamdbError('IAM_DELETE_CONFLICT', { what: 'detach all policies' });
    this.#roles.delete(key(roleName));
    this.#changed('deleteRole');
  }

  #checkTrust(document: string): Policy {
    const policy = parseDocument(document, 'trust');
    if (policySize(document) > IAM_LIMITS.trustPolicySize) {
      throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota: 'ACLSizePerRole', limit: IAM_LIMITS.trustPolicySize });
    }
    return policy;
  }

  // ---- inline policies -------------------------------------------------

  putUserPolicy(userName: string, policyName: string, document: string): void {
    const u = this.#user(userName);
    this.#putInline(u, 'user', u.userName, IAM_LIMITS.userInlinePolicySize, policyName, document);
    this.#changed('putUserPolicy');
  }

  putGroupPolicy(groupName: string, policyName: string, document: string): void {
    const g = this.#group(groupName);
    this.#putInline(g, 'group', g.groupName, IAM_LIMITS.groupInlinePolicySize, policyName, document);
    this.#changed('putGroupPolicy');
  }

  putRolePolicy(roleName: string, policyName: string, document: string): void {
    const r = this.#role(roleName);
    this.#putInline(r, 'role', r.roleName, IAM_LIMITS.roleInlinePolicySize, policyName, document);
    this.#changed('putRolePolicy');
  }

  #putInline(holder: PolicyHolder, entity: string, name: string, limit: number, policyName: string, document: string): void {
    checkName(policyName, 'policyName', 128);
    const policy = parseDocument(document, 'identity');
    let total = policySize(document);
    for (const [k, p] of holder.inline) if (k !== key(policyName)) total += policySize(p.document);
    if (total > limit) throw new IamdbError('IAM_INLINE_POLICY_SIZE_EXCEEDED', { limit, entity, name });
    const existing = holder.inline.get(key(policyName));
    holder.inline.set(key(policyName), { name: existing?.name ?? policyName, document, policy });
  }

  getUserPolicy(userName: string, policyName: string): { policyName: string; policyDocument: string } {
    return inlineGet(this.#user(userName), 'user policy', policyName);
  }

  getGroupPolicy(groupName: string, policyName: string): { policyName: string; policyDocument: string } {
    return inlineGet(this.#group(groupName), 'group policy', policyName);
  }

  getRolePolicy(roleName: string, policyName: string): { policyName: string; policyDocument: string } {
    return inlineGet(this.#role(roleName), 'role policy', policyName);
  }

  listUserPolicies(userName: string): string[] {
    return [...this.#user(userName).inline.values()].map((p) => p.name);
  }

  listGroupPolicies(groupName: string): string[] {
    return [...this.#group(groupName).inline.values()].map((p) => p.name);
  }

  listRolePolicies(roleName: string): string[] {
    return [...this.#role(roleName).inline.values()].map((p) => p.name);
  }

  deleteUserPolicy(userName: string, policyName: string): void {
    inlineDelete(this.#user(userName), 'user policy', policyName);
    this.#changed('deleteUserPolicy');
  }

  deleteGroupPolicy(groupName: string, policyName: string): void {
    inlineDelete(this.#group(groupName), 'group policy', policyName);
    this.#changed('deleteGroupPolicy');
  }

  deleteRolePolicy(roleName: string, policyName: string): void {
    inlineDelete(this.#role(roleName), 'role policy', policyName);
    this.#changed('deleteRolePolicy');
  }

  // ---- managed policies ------------------------------------------------

  /** CreatePolicy: version v1 becomes the default. */
  createPolicy(input: { policyName: string; policyDocument: string; path?: string; description?: string }): IamManagedPolicy {
    checkName(input.policyName, 'policyName', 128);
    const path = input.path ?? '/';
    checkPath(path);
    const arn = this.#arn('policy', path, input.policyName);
    // Like other entity names, policy names are unique in the account whatever their case or path.
    if ([...this.#policies.values()].some((p) => key(p.policyName) === key(input.policyName))) {
      throw new IamdbError('IAM_POLICY_ALREADY_EXISTS', { name: input.policyName });
    }
    const policy = this.#checkManaged(input.policyDocument);
    const now = this.#now();
    const record: ManagedPolicyRecord = {
      policyName: input.policyName,
      policyId: this.#uniqueId(ID_PREFIX.policy, (id) => [...this.#policies.values()].some((p) => p.policyId === id)),
      path,
      arn,
      createDate: now,
      defaultVersionId: 'v1',
      nextVersion: 2,
      versions: [{ versionId: 'v1', document: input.policyDocument, policy, createDate: now }],
    };
    if (input.description !== undefined) record.description = input.description;
    this.#policies.set(arn, record);
    this.#changed('createPolicy');
    return this.#policyView(record);
  }

  #policy(arn: string): ManagedPolicyRecord {
    const p = this.#policies.get(arn) ?? this.#awsPolicies.get(arn);
    if (!p) throw new IamdbError('IAM_NO_SUCH_POLICY', { arn });
    return p;
  }

  #checkManaged(document: string): Policy {
    const policy = parseDocument(document, 'identity');
    if (policySize(document) > IAM_LIMITS.managedPolicySize) {
      throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota: 'PolicySize', limit: IAM_LIMITS.managedPolicySize });
    }
    return policy;
  }

  getPolicy(arn: string): IamManagedPolicy {
    return this.#policyView(this.#policy(arn));
  }

  /** ListPolicies: the account's own (`Local`, the default), the AWS managed ones (`AWS`) or both (`All`). */
  listPolicies(scope: 'All' | 'AWS' | 'Local' = 'Local'): IamManagedPolicy[] {
    const aws = scope === 'Local' ? [] : [...this.#awsPolicies.values()];
    const local = scope === 'AWS' ? [] : [...this.#policies.values()];
    return [...aws, ...local].map((p) => this.#policyView(p));
  }

  /** True when `arn` names one of the AWS managed policies this directory serves. */
  isAwsManagedPolicy(arn: string): boolean {
    return this.#awsPolicies.has(arn);
  }

  /** Versions, defaults and the policy itself of an AWS managed policy belong to AWS. */
  #changeable(arn: string, operation: string): ManagedPolicyRecord {
    const p = this.#policy(arn);
    if (p.awsManaged) throw new IamdbError('IAM_AWS_MANAGED_POLICY', { arn, operation });
    return p;
  }

  /** CreatePolicyVersion: at most five versions; `setAsDefault` makes it the one in force. */
  createPolicyVersion(arn: string, document: string, setAsDefault = false): IamPolicyVersion {
    const p = this.#changeable(arn, 'CreatePolicyVersion');
    const policy = this.#checkManaged(document);
    if (p.versions.length >= IAM_LIMITS.policyVersions) throw new IamdbError('IAM_POLICY_VERSION_LIMIT', { limit: IAM_LIMITS.policyVersions });
    const version: VersionRecord = { versionId: `v${p.nextVersion}`, document, policy, createDate: this.#now() };
    p.nextVersion++;
    p.versions.push(version);
    if (setAsDefault) p.defaultVersionId = version.versionId;
    this.#changed('createPolicyVersion');
    return versionView(p, version);
  }

  getPolicyVersion(arn: string, versionId: string): IamPolicyVersion {
    const p = this.#policy(arn);
    return versionView(p, this.#version(p, versionId));
  }

  listPolicyVersions(arn: string): IamPolicyVersion[] {
    const p = this.#policy(arn);
    return p.versions.map((v) => versionView(p, v));
  }

  #version(p: ManagedPolicyRecord, versionId: string): VersionRecord {
    const v = p.versions.find((x) => x.versionId === versionId);
    if (!v) throw new IamdbError('IAM_NO_SUCH_POLICY_VERSION', { arn: p.arn, versionId });
    return v;
  }

  setDefaultPolicyVersion(arn: string, versionId: string): void {
    const p = this.#changeable(arn, 'SetDefaultPolicyVersion');
    this.#version(p, versionId);
    p.defaultVersionId = versionId;
    this.#changed('setDefaultPolicyVersion');
  }

  deletePolicyVersion(arn: string, versionId: string): void {
    const p = this.#changeable(arn, 'DeletePolicyVersion');
    this.#version(p, versionId);
    if (p.defaultVersionId === versionId) throw new IamdbError('IAM_DEFAULT_VERSION_DELETE');
    p.versions = p.versions.filter((v) => v.versionId !== versionId);
    this.#changed('deletePolicyVersion');
  }

  /** DeletePolicy: refused while attached or used as a boundary; all versions go with it. */
  deletePolicy(arn: string): void {
    const p = this.#changeable(arn, 'DeletePolicy');
    const view = this.#policyView(p);
    if (view.attachmentCount > 0 || view.permissionsBoundaryUsageCount > 0) throw new IamdbError('IAM_POLICY_ATTACHED');
    this.#policies.delete(arn);
    this.#changed('deletePolicy');
  }

  attachUserPolicy(userName: string, arn: string): void {
    this.#attach(this.#user(userName), 'PoliciesPerUser', arn);
    this.#changed('attachUserPolicy');
  }

  attachGroupPolicy(groupName: string, arn: string): void {
    this.#attach(this.#group(groupName), 'PoliciesPerGroup', arn);
    this.#changed('attachGroupPolicy');
  }

  attachRolePolicy(roleName: string, arn: string): void {
    this.#attach(this.#role(roleName), 'PoliciesPerRole', arn);
    this.#changed('attachRolePolicy');
  }

  detachUserPolicy(userName: string, arn: string): void {
    detach(this.#user(userName), arn);
    this.#changed('detachUserPolicy');
  }

  detachGroupPolicy(groupName: string, arn: string): void {
    detach(this.#group(groupName), arn);
    this.#changed('detachGroupPolicy');
  }

  detachRolePolicy(roleName: string, arn: string): void {
    detach(this.#role(roleName), arn);
    this.#changed('detachRolePolicy');
  }

  listAttachedUserPolicies(userName: string): string[] {
    return [...this.#user(userName).attached];
  }

  listAttachedGroupPolicies(groupName: string): string[] {
    return [...this.#group(groupName).attached];
  }

  listAttachedRolePolicies(roleName: string): string[] {
    return [...this.#role(roleName).attached];
  }

  #attach(holder: PolicyHolder, quota: string, arn: string): void {
    this.#policy(arn);
    if (holder.attached.includes(arn)) return;
    if (holder.attached.length >= IAM_LIMITS.attachedPoliciesPerEntity) {
      throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota, limit: IAM_LIMITS.attachedPoliciesPerEntity });
    }
    holder.attached.push(arn);
  }

  putUserPermissionsBoundary(userName: string, arn: string): void {
    const u = this.#user(userName);
    this.#policy(arn);
    u.permissionsBoundary = arn;
    this.#changed('putUserPermissionsBoundary');
  }

  putRolePermissionsBoundary(roleName: string, arn: string): void {
    const r = this.#role(roleName);
    this.#policy(arn);
    r.permissionsBoundary = arn;
    this.#changed('putRolePermissionsBoundary');
  }

  deleteUserPermissionsBoundary(userName: string): void {
    delete this.#user(userName).permissionsBoundary;
    this.#changed('deleteUserPermissionsBoundary');
  }

  deleteRolePermissionsBoundary(roleName: string): void {
    delete this.#role(roleName).permissionsBoundary;
    this.#changed('deleteRolePermissionsBoundary');
  }

  #policyView(p: ManagedPolicyRecord): IamManagedPolicy {
    const holders: PolicyHolder[] = [...this.#users.values(), ...this.#groups.values(), ...this.#roles.values()];
    const bounded = [...this.#users.values(), ...this.#roles.values()];
    const view: { -readonly [K in keyof IamManagedPolicy]: IamManagedPolicy[K] } = {
      policyName: p.policyName,
      policyId: p.policyId,
      path: p.path,
      arn: p.arn,
      createDate: p.createDate,
      defaultVersionId: p.defaultVersionId,
      attachmentCount: holders.filter((h) => h.attached.includes(p.arn)).length,
      permissionsBoundaryUsageCount: bounded.filter((b) => b.permissionsBoundary === p.arn).length,
      awsManaged: p.awsManaged === true,
      // AWS: the creation of the most recent version (of the policy itself while it has one).
      updateDate: p.versions.map((v) => v.createDate).sort().at(-1) ?? p.createDate,
    };
    if (p.description !== undefined) view.description = p.description;
    return view;
  }

  // ---- access keys -----------------------------------------------------

  /**
   * CreateAccessKey: at most two per user. Pass `imported` to install a key
   * id and secret from configuration instead of generating them.
   */
  createAccessKey(
    userName: string,
    imported?: { accessKeyId: string; secretAccessKey: string | Secret<string>; status?: AccessKeyStatus },
  ): AccessKeyWithSecret {
    const u = this.#user(userName);
    if (u.accessKeys.length >= IAM_LIMITS.accessKeysPerUser) {
      throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota: 'AccessKeysPerUser', limit: IAM_LIMITS.accessKeysPerUser });
    }
    let accessKeyId: string;
    let secret: Secret<string>;
    if (imported) {
      secret = typeof imported.secretAccessKey === 'string' ? new Secret(imported.secretAccessKey) : imported.secretAccessKey;
      checkImportedKey(imported.accessKeyId, secret.reveal());
      accessKeyId = imported.accessKeyId;
      if (this.#keys.has(accessKeyId)) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'Access key', name: accessKeyId });
    } else {
      do accessKeyId = newAccessKeyId(this.#random);
      while (this.#keys.has(accessKeyId));
      secret = new Secret(newSecretAccessKey(this.#random));
    }
    const record: AccessKeyRecord = { accessKeyId, secret, status: imported?.status ?? 'Active', createDate: this.#now() };
    u.accessKeys.push(record);
    this.#keys.set(accessKeyId, { user: u, key: record });
    this.#changed('createAccessKey');
    return { ...keyView(u, record), secretAccessKey: secret };
  }

  #key(accessKeyId: string, userName?: string): { user: UserRecord; key: AccessKeyRecord } {
    const found = this.#keys.get(accessKeyId);
    if (!found || (userName !== undefined && key(found.user.userName) !== key(userName))) {
      throw new IamdbError('IAM_NO_SUCH_ACCESS_KEY', { accessKeyId });
    }
    return found;
  }

  /** UpdateAccessKey: Active or Inactive. */
  updateAccessKey(accessKeyId: string, status: AccessKeyStatus, userName?: string): void {
    if (status !== 'Active' && status !== 'Inactive') {
      throw new IamdbError('IAM_INVALID_INPUT', {
        message: `1 validation error detected: Value '${String(status)}' at 'status' failed to satisfy constraint: Member must satisfy enum value set: [Active, Inactive]`,
      });
    }
    this.#key(accessKeyId, userName).key.status = status;
    this.#changed('updateAccessKey');
  }

  deleteAccessKey(accessKeyId: string, userName?: string): void {
    const { user } = this.#key(accessKeyId, userName);
    user.accessKeys = user.accessKeys.filter((k) => k.accessKeyId !== accessKeyId);
    this.#keys.delete(accessKeyId);
    this.#changed('deleteAccessKey');
  }

  listAccessKeys(userName: string): AccessKeyInfo[] {
    const u = this.#user(userName);
    return u.accessKeys.map((k) => keyView(u, k));
  }

  /**
   * Looks an access key up by id (whatever its status: callers must check
   * `status`). The secret stays wrapped in a `Secret`.
   */
  findAccessKey(accessKeyId: string): { key: AccessKeyWithSecret; user: IamUser } | undefined {
    const found = this.#keys.get(accessKeyId);
    if (!found) return undefined;
    return { key: { ...keyView(found.user, found.key), secretAccessKey: found.key.secret }, user: userView(found.user) };
  }

  /** True when `secret` is the secret of an active key `accessKeyId` (constant-time). */
  checkAccessKeySecret(accessKeyId: string, secret: string): boolean {
    const found = this.#keys.get(accessKeyId);
    const expected = found?.key.secret.reveal() ?? '';
    const same = constantTimeEqualStrings(expected, secret);
    return found !== undefined && found.key.status === 'Active' && same;
  }

  // ---- evaluation support ---------------------------------------------

  /**
   * The identity policies (inline, attached, and the groups' for a user) and
   * the permissions boundary of a user or role. For an assumed-role session,
   * pass the role.
   */
  policiesFor(ref: PolicyOwnerRef): PrincipalPolicies {
    const identity: PolicyInput[] = [];
    const add = (holder: PolicyHolder, label: string): void => {
      for (const p of holder.inline.values()) identity.push({ label: `${label}/inline/${p.name}`, policy: p.policy, document: p.document });
      for (const arn of holder.attached) identity.push(this.#managedInput(arn));
    };
    let boundaryArn: string | undefined;
    if ('userName' in ref) {
      const u = this.#user(ref.userName);
      add(u, `user/${u.userName}`);
      for (const g of u.groups) add(this.#group(g), `group/${g}`);
      boundaryArn = u.permissionsBoundary;
    } else if ('roleName' in ref) {
      const r = this.#role(ref.roleName);
      add(r, `role/${r.roleName}`);
      boundaryArn = r.permissionsBoundary;
    } else {
      // Groups are not principals; the policy simulator evaluates their policies alone.
      const g = this.#group(ref.groupName);
      add(g, `group/${g.groupName}`);
    }
    return boundaryArn === undefined ? { identity } : { identity, boundary: [this.#managedInput(boundaryArn)] };
  }

  #managedInput(arn: string): PolicyInput {
    const p = this.#policy(arn);
    const v = this.#version(p, p.defaultVersionId);
    return { label: `${arn}#${v.versionId}`, policy: v.policy, document: v.document };
  }

  // ---- persistence -----------------------------------------------------

  /** Plain JSON state. Secrets are revealed in `secretAccessKey`: seal them before storing. */
  snapshot(): IamDirectoryState {
    const inline = (h: PolicyHolder): { policyName: string; policyDocument: string }[] =>
      [...h.inline.values()].map((p) => ({ policyName: p.name, policyDocument: p.document }));
    return {
      format: 1,
      accountId: this.accountId,
      partition: this.partition,
      users: [...this.#users.values()].map((u) => ({
        userName: u.userName,
        userId: u.userId,
        path: u.path,
        createDate: u.createDate,
        tags: { ...u.tags },
        ...(u.permissionsBoundary !== undefined ? { permissionsBoundary: u.permissionsBoundary } : {}),
        groups: [...u.groups],
        inlinePolicies: inline(u),
        attachedPolicies: [...u.attached],
        accessKeys: u.accessKeys.map((k) => ({
          accessKeyId: k.accessKeyId,
          secretAccessKey: k.secret.reveal(),
          status: k.status,
          createDate: k.createDate,
        })),
      })),
      groups: [...this.#groups.values()].map((g) => ({
        groupName: g.groupName,
        groupId: g.groupId,
        path: g.path,
        createDate: g.createDate,
        inlinePolicies: inline(g),
        attachedPolicies: [...g.attached],
      })),
      roles: [...this.#roles.values()].map((r) => ({
        roleName: r.roleName,
        roleId: r.roleId,
        path: r.path,
        createDate: r.createDate,
        assumeRolePolicyDocument: r.trustDocument,
        maxSessionDuration: r.maxSessionDuration,
        ...(r.description !== undefined ? { description: r.description } : {}),
        tags: { ...r.tags },
        ...(r.permissionsBoundary !== undefined ? { permissionsBoundary: r.permissionsBoundary } : {}),
        inlinePolicies: inline(r),
        attachedPolicies: [...r.attached],
      })),
      policies: [...this.#policies.values()].map((p) => ({
        policyName: p.policyName,
        policyId: p.policyId,
        path: p.path,
        createDate: p.createDate,
        ...(p.description !== undefined ? { description: p.description } : {}),
        defaultVersionId: p.defaultVersionId,
        nextVersion: p.nextVersion,
        versions: p.versions.map((v) => ({ versionId: v.versionId, document: v.document, createDate: v.createDate })),
      })),
    };
  }

  /**
   * Rebuilds a directory from `snapshot()` output. The shape is checked and
   * every document re-validated; references (groups, attachments,
   * boundaries) must resolve. Throws IamdbError on any inconsistency.
   */
  static fromState(state: unknown, options: Omit<IamDirectoryOptions, 'accountId' | 'partition'> = {}): IamDirectory {
    const parsed = stateSchema.safeParse(state);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new IamdbError('IAM_INVALID_INPUT', {
        message: `invalid IAM directory state at ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'unknown'}`,
      });
    }
    const s = parsed.data;
    const dir = new IamDirectory({ ...options, accountId: s.accountId, partition: s.partition });
    const inline = (list: { policyName: string; policyDocument: string }[]): Map<string, InlinePolicy> =>
      new Map(list.map((p) => [key(p.policyName), { name: p.policyName, document: p.policyDocument, policy: parseDocument(p.policyDocument, 'identity') }]));
    for (const p of s.policies) {
      const record: ManagedPolicyRecord = {
        policyName: p.policyName,
        policyId: p.policyId,
        path: p.path,
        arn: dir.#arn('policy', p.path, p.policyName),
        createDate: p.createDate,
        defaultVersionId: p.defaultVersionId,
        nextVersion: p.nextVersion,
        versions: p.versions.map((v) => ({ ...v, policy: parseDocument(v.document, 'identity') })),
      };
      if (p.description !== undefined) record.description = p.description;
      dir.#version(record, record.defaultVersionId);
      dir.#policies.set(record.arn, record);
    }
    for (const g of s.groups) {
      checkName(g.groupName, 'groupName', 128);
      const attached = [...g.attachedPolicies];
      attached.forEach((a) => dir.#policy(a));
      dir.#groups.set(key(g.groupName), {
        groupName: g.groupName,
        groupId: g.groupId,
        path: g.path,
        arn: dir.#arn('group', g.path, g.groupName),
        createDate: g.createDate,
        inline: inline(g.inlinePolicies),
        attached,
      });
    }
    for (const r of s.roles) {
      checkName(r.roleName, 'roleName', 64);
      r.attachedPolicies.forEach((a) => dir.#policy(a));
      if (r.permissionsBoundary !== undefined) dir.#policy(r.permissionsBoundary);
      const role: RoleRecord = {
        roleName: r.roleName,
        roleId: r.roleId,
        path: r.path,
        arn: dir.#arn('role', r.path, r.roleName),
        createDate: r.createDate,
        trustDocument: r.assumeRolePolicyDocument,
        trust: parseDocument(r.assumeRolePolicyDocument, 'trust'),
        maxSessionDuration: r.maxSessionDuration,
        tags: { ...r.tags },
        inline: inline(r.inlinePolicies),
        attached: [...r.attachedPolicies],
      };
      if (r.description !== undefined) role.description = r.description;
      if (r.permissionsBoundary !== undefined) role.permissionsBoundary = r.permissionsBoundary;
      dir.#roles.set(key(role.roleName), role);
    }
    for (const u of s.users) {
      checkName(u.userName, 'userName', 64);
      u.attachedPolicies.forEach((a) => dir.#policy(a));
      if (u.permissionsBoundary !== undefined) dir.#policy(u.permissionsBoundary);
      const user: UserRecord = {
        userName: u.userName,
        userId: u.userId,
        path: u.path,
        arn: dir.#arn('user', u.path, u.userName),
        createDate: u.createDate,
        tags: { ...u.tags },
        groups: u.groups.map((g) => dir.#group(g).groupName),
        inline: inline(u.inlinePolicies),
        attached: [...u.attachedPolicies],
        accessKeys: [],
      };
      if (u.permissionsBoundary !== undefined) user.permissionsBoundary = u.permissionsBoundary;
      for (const k of u.accessKeys) {
        checkImportedKey(k.accessKeyId, k.secretAccessKey);
        if (dir.#keys.has(k.accessKeyId)) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'Access key', name: k.accessKeyId });
        const record: AccessKeyRecord = { accessKeyId: k.accessKeyId, secret: new Secret(k.secretAccessKey), status: k.status, createDate: k.createDate };
        user.accessKeys.push(record);
        dir.#keys.set(k.accessKeyId, { user, key: record });
      }
      if (dir.#users.has(key(user.userName))) throw new IamdbError('IAM_ENTITY_ALREADY_EXISTS', { entity: 'User', name: user.userName });
      dir.#users.set(key(user.userName), user);
    }
    return dir;
  }
}

// ---- helpers -----------------------------------------------------------------

function awsRecord(p: AwsManagedPolicy): ManagedPolicyRecord {
  return {
    policyName: p.policyName,
    policyId: p.policyId,
    path: p.path,
    arn: p.arn,
    createDate: p.createDate,
    description: p.description,
    defaultVersionId: p.versionId,
    nextVersion: Number(p.versionId.slice(1)) + 1,
    versions: [{ versionId: p.versionId, document: p.document, policy: p.policy, createDate: p.updateDate }],
    awsManaged: true,
  };
}

function parseDocument(document: string, kind: PolicyKind): Policy {
  if (typeof document !== 'string' || document.length > IAM_LIMITS.policyDocumentLength) {
    throw new IamdbError('IAM_INVALID_INPUT', {
      message: `1 validation error detected: Value at 'policyDocument' failed to satisfy constraint: Member must have length less than or equal to ${IAM_LIMITS.policyDocumentLength}`,
    });
  }
  return parsePolicyOrThrow(document, kind);
}

function checkSessionDuration(seconds: number): void {
  if (!Number.isInteger(seconds) || seconds < IAM_LIMITS.minSessionDuration || seconds > IAM_LIMITS.maxSessionDuration) {
    throw new IamdbError('IAM_INVALID_INPUT', {
      message: `1 validation error detected: Value '${seconds}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between ${IAM_LIMITS.minSessionDuration} and ${IAM_LIMITS.maxSessionDuration}`,
    });
  }
}

function inlineGet(holder: PolicyHolder, entity: string, policyName: string): { policyName: string; policyDocument: string } {
  const p = holder.inline.get(key(policyName));
  if (!p) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity, name: policyName });
  return { policyName: p.name, policyDocument: p.document };
}

function inlineDelete(holder: PolicyHolder, entity: string, policyName: string): void {
  if (!holder.inline.delete(key(policyName))) throw new IamdbError('IAM_NO_SUCH_ENTITY', { entity, name: policyName });
}

function detach(holder: PolicyHolder, arn: string): void {
  const i = holder.attached.indexOf(arn);
  if (i < 0) throw new IamdbError('IAM_NO_SUCH_POLICY', { arn });
  holder.attached.splice(i, 1);
}

const MAX_TAGS = 50;

/** Checks and merges tags the way IAM does: keys 1-128 characters, values up to 256, at most 50. */
function applyTags(target: Record<string, string>, tags: Tags): void {
  for (const [k, v] of Object.entries(tags)) {
    if (k.length < 1 || k.length > 128 || !/^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$/u.test(k)) {
      throw new IamdbError('IAM_INVALID_INPUT', { message: `1 validation error detected: Value '${k.slice(0, 128)}' at 'tags.member.key' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+` });
    }
    if (v.length > 256) throw new IamdbError('IAM_INVALID_INPUT', { message: `1 validation error detected: Value at 'tags.member.value' failed to satisfy constraint: Member must have length less than or equal to 256` });
  }
  const merged = { ...target, ...tags };
  if (Object.keys(merged).length > MAX_TAGS) throw new IamdbError('IAM_LIMIT_EXCEEDED', { quota: 'TagsPerEntity', limit: MAX_TAGS });
  Object.assign(target, tags);
}

function userView(u: UserRecord): IamUser {
  const view: { -readonly [K in keyof IamUser]: IamUser[K] } = {
    userName: u.userName,
    userId: u.userId,
    path: u.path,
    arn: u.arn,
    createDate: u.createDate,
    tags: { ...u.tags },
    groups: [...u.groups],
  };
  if (u.permissionsBoundary !== undefined) view.permissionsBoundary = u.permissionsBoundary;
  return view;
}

function groupView(g: GroupRecord): IamGroup {
  return { groupName: g.groupName, groupId: g.groupId, path: g.path, arn: g.arn, createDate: g.createDate };
}

function roleView(r: RoleRecord): IamRole {
  const view: { -readonly [K in keyof IamRole]: IamRole[K] } = {
    roleName: r.roleName,
    roleId: r.roleId,
    path: r.path,
    arn: r.arn,
    createDate: r.createDate,
    assumeRolePolicyDocument: r.trustDocument,
    maxSessionDuration: r.maxSessionDuration,
    tags: { ...r.tags },
  };
  if (r.description !== undefined) view.description = r.description;
  if (r.permissionsBoundary !== undefined) view.permissionsBoundary = r.permissionsBoundary;
  return view;
}

function versionView(p: ManagedPolicyRecord, v: VersionRecord): IamPolicyVersion {
  return { versionId: v.versionId, document: v.document, isDefaultVersion: p.defaultVersionId === v.versionId, createDate: v.createDate };
}

function keyView(u: UserRecord, k: AccessKeyRecord): AccessKeyInfo {
  return { accessKeyId: k.accessKeyId, userName: u.userName, status: k.status, createDate: k.createDate };
}
