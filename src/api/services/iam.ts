/**
 * IAM over the Query protocol: users, groups, roles, access keys, inline
 * and managed policies with versions, permissions boundaries, tags,
 * GetAccountAuthorizationDetails and the policy simulator. The directory
 * does the work and raises AWS's errors; this module parses parameters,
 * authorizes each call on the ARN AWS would name, and shapes the XML.
 *
 * Policy documents leave in URL-encoded form, as IAM sends them; the SDKs
 * decode them.
 */
import { IamdbError } from '../../errors/index.js';
import type { IamRuntime } from '../../iam-runtime.js';
import {
  ContextLookup,
  evaluate,
  missingContextKeys,
  parsePolicyOrThrow,
  principalContext,
  statementPositions,
  type StatementSpan,
  type AccessKeyInfo,
  type Analysis,
  type IamDirectory,
  type IamGroup,
  type IamManagedPolicy,
  type IamPolicyVersion,
  type IamRole,
  type IamUser,
  type PolicyInput,
  type RequestContext,
  type RequestPrincipal,
} from '../../iam/index.js';
import type { QueryParams } from '../query-params.js';
import { requestTagContext } from '../request-tags.js';
import type { ApiRequestContext, QueryHandler, QueryService } from '../service.js';
import { members, type XmlContent, type XmlElements } from '../xml.js';

type Kind = 'user' | 'group' | 'role';

/** Most action × resource pairs one simulator request may ask for. */
const MAX_SIMULATIONS = 1000;

function validation(message: string): IamdbError {
  return new IamdbError('API_VALIDATION', { message });
}

/** IAM's URL encoding of policy documents (RFC 3986, as the SDKs expect to decode). */
function encodeDocument(doc: string): string {
  return encodeURIComponent(doc).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function tagList(tags: Readonly<Record<string, string>>): XmlContent {
  const entries = Object.entries(tags);
  return entries.length === 0 ? undefined : members(entries.map(([Key, Value]) => ({ Key, Value })));
}

function boundaryXml(arn: string | undefined): XmlContent {
  return arn === undefined ? undefined : { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: arn };
}

function userXml(u: IamUser, withTags = true): XmlElements {
  return {
    Path: u.path,
    UserName: u.userName,
    UserId: u.userId,
    Arn: u.arn,
    CreateDate: u.createDate,
    PermissionsBoundary: boundaryXml(u.permissionsBoundary),
    Tags: withTags ? tagList(u.tags) : undefined,
  };
}

function groupXml(g: IamGroup): XmlElements {
  return { Path: g.path, GroupName: g.groupName, GroupId: g.groupId, Arn: g.arn, CreateDate: g.createDate };
}

function roleXml(r: IamRole, withTags = true): XmlElements {
  return {
    Path: r.path,
    RoleName: r.roleName,
    RoleId: r.roleId,
    Arn: r.arn,
    CreateDate: r.createDate,
    AssumeRolePolicyDocument: encodeDocument(r.assumeRolePolicyDocument),
    Description: r.description,
    MaxSessionDuration: r.maxSessionDuration,
    PermissionsBoundary: boundaryXml(r.permissionsBoundary),
    Tags: withTags ? tagList(r.tags) : undefined,
  };
}

function policyXml(p: IamManagedPolicy): XmlElements {
  return {
    PolicyName: p.policyName,
    PolicyId: p.policyId,
    Arn: p.arn,
    Path: p.path,
    DefaultVersionId: p.defaultVersionId,
    AttachmentCount: p.attachmentCount,
    PermissionsBoundaryUsageCount: p.permissionsBoundaryUsageCount,
    IsAttachable: true,
    Description: p.description,
    CreateDate: p.createDate,
    UpdateDate: p.updateDate,
  };
}

function versionXml(v: IamPolicyVersion, withDocument: boolean): XmlElements {
  return {
    Document: withDocument ? encodeDocument(v.document) : undefined,
    VersionId: v.versionId,
    IsDefaultVersion: v.isDefaultVersion,
    CreateDate: v.createDate,
  };
}

function keyXml(k: AccessKeyInfo): XmlElements {
  return { UserName: k.userName, AccessKeyId: k.accessKeyId, Status: k.status, CreateDate: k.createDate };
}

/** Marker/MaxItems pagination: the marker is the index of the next item. */
function page<T>(items: readonly T[], q: QueryParams): { items: T[]; more: XmlElements } {
  const max = q.int('MaxItems', { min: 1, max: 1000 }) ?? 100;
  const marker = q.str('Marker');
  let start = 0;
  if (marker !== undefined) {
    const n = /^\d{1,9}$/.test(marker) ? Number(marker) : NaN;
    if (!Number.isInteger(n) || n > items.length) throw validation('Invalid Marker.');
    start = n;
  }
  const slice = items.slice(start, start + max);
  const next = start + slice.length;
  return { items: slice, more: next < items.length ? { IsTruncated: true, Marker: String(next) } : { IsTruncated: false } };
}

function pathPrefix(q: QueryParams): (path: string) => boolean {
  const prefix = q.str('PathPrefix') ?? '/';
  return (path) => path.startsWith(prefix);
}

/** The simulator's context entries: typed values, lists for the *List types. */
function contextEntries(q: QueryParams): RequestContext {
  const out: Record<string, string | string[]> = {};
  for (const entry of q.list('ContextEntries')) {
    const name = entry.str('ContextKeyName');
    if (name === undefined) throw validation("1 validation error detected: Value null at 'contextEntries.member.contextKeyName' failed to satisfy constraint: Member must not be null");
    const type = entry.str('ContextKeyType') ?? 'string';
    const values = entry.strings('ContextKeyValues');
    out[name] = type.endsWith('List') ? values : (values[0] ?? '');
  }
  return out;
}

export function iamService(deps: { iam: IamRuntime; partition: string }): QueryService {
  const { iam, partition } = deps;
  const dir: IamDirectory = iam.directory;
  const acct = dir.accountId;

  const exists = <T>(f: () => T): T | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };
  /** The ARN AWS authorizes on: the entity's own when it exists, else built from the name and path given. */
  const arnOf = (kind: Kind, name: string, path = '/'): string => {
    const found = kind === 'user' ? exists(() => dir.getUser(name)) : kind === 'role' ? exists(() => dir.getRole(name)) : exists(() => dir.getGroup(name));
    return found?.arn ?? `arn:${partition}:iam::${acct}:${kind}${path}${name}`;
  };
  const listArn = (kind: 'user' | 'group' | 'role' | 'policy'): string => `arn:${partition}:iam::${acct}:${kind}/`;

  /** UserName, defaulting to the calling user as AWS does for self-service actions. */
  const userNameOrCaller = (ctx: ApiRequestContext, q: QueryParams): string => {
    const given = q.str('UserName');
    if (given !== undefined) return given;
    const p = ctx.caller.principal;
    if (p.type !== 'user') throw validation('Must specify userName when calling with non-User credentials');
    return p.name;
  };

  const tagsParam = (q: QueryParams): Record<string, string> | undefined => {
    const t = q.tags('Tags');
    return Object.keys(t).length > 0 ? t : undefined;
  };

  const a: Record<string, QueryHandler> = {};

  // ---- users -------------------------------------------------------------
  a['CreateUser'] = (ctx, q) => {
    const name = q.required('UserName');
    const path = q.str('Path') ?? '/';
    const boundary = q.str('PermissionsBoundary');
    const tags = tagsParam(q);
    const arn = arnOf('user', name, path);
    ctx.authorize('iam:CreateUser', arn, { context: { ...(boundary ? { 'iam:PermissionsBoundary': boundary } : {}), ...requestTagContext(tags) } });
    authorizeAlsoOnCreate(ctx, arn, { tagAction: 'iam:TagUser', tags, boundaryAction: 'iam:PutUserPermissionsBoundary', boundary });
    const u = dir.createUser({ userName: name, path, ...(tags ? { tags } : {}), ...(boundary ? { permissionsBoundary: boundary } : {}) });
    return { User: userXml(u) };
  };
  a['GetUser'] = (ctx, q) => {
    const name = userNameOrCaller(ctx, q);
    ctx.authorize('iam:GetUser', arnOf('user', name));
    return { User: userXml(dir.getUser(name)) };
  };
  a['ListUsers'] = (ctx, q) => {
    ctx.authorize('iam:ListUsers', listArn('user'));
    const match = pathPrefix(q);
    const { items, more } = page(dir.listUsers().filter((u) => match(u.path)), q);
    return { Users: members(items.map((u) => userXml(u, false))), ...more };
  };
  a['DeleteUser'] = (ctx, q) => {
    const name = q.required('UserName');
    ctx.authorize('iam:DeleteUser', arnOf('user', name));
    dir.deleteUser(name);
    return undefined;
  };
  a['TagUser'] = (ctx, q) => {
    const name = q.required('UserName');
    const tags = q.tags('Tags');
    ctx.authorize('iam:TagUser', arnOf('user', name), { context: requestTagContext(tags) });
    dir.tagUser(name, tags);
    return undefined;
  };
  a['UntagUser'] = (ctx, q) => {
    const name = q.required('UserName');
    const keys = q.strings('TagKeys');
    ctx.authorize('iam:UntagUser', arnOf('user', name), { context: { 'aws:TagKeys': keys } });
    dir.untagUser(name, keys);
    return undefined;
  };
  a['ListUserTags'] = (ctx, q) => {
    const name = q.required('UserName');
    ctx.authorize('iam:ListUserTags', arnOf('user', name));
    const { items, more } = page(Object.entries(dir.getUser(name).tags), q);
    return { Tags: members(items.map(([Key, Value]) => ({ Key, Value }))), ...more };
  };

  // ---- groups ------------------------------------------------------------
  a['CreateGroup'] = (ctx, q) => {
    const name = q.required('GroupName');
    const path = q.str('Path') ?? '/';
    ctx.authorize('iam:CreateGroup', arnOf('group', name, path));
    return { Group: groupXml(dir.createGroup({ groupName: name, path })) };
  };
  a['GetGroup'] = (ctx, q) => {
    const name = q.required('GroupName');
    ctx.authorize('iam:GetGroup', arnOf('group', name));
    const g = dir.getGroup(name);
    const { items, more } = page(g.users.map((u) => dir.getUser(u)), q);
    return { Group: groupXml(g), Users: members(items.map((u) => userXml(u, false))), ...more };
  };
  a['ListGroups'] = (ctx, q) => {
    ctx.authorize('iam:ListGroups', listArn('group'));
    const match = pathPrefix(q);
    const { items, more } = page(dir.listGroups().filter((g) => match(g.path)), q);
    return { Groups: members(items.map(groupXml)), ...more };
  };
  a['ListGroupsForUser'] = (ctx, q) => {
    const name = q.required('UserName');
    ctx.authorize('iam:ListGroupsForUser', arnOf('user', name));
    const { items, more } = page(dir.getUser(name).groups.map((g) => dir.getGroup(g)), q);
    return { Groups: members(items.map(groupXml)), ...more };
  };
  a['DeleteGroup'] = (ctx, q) => {
    const name = q.required('GroupName');
    ctx.authorize('iam:DeleteGroup', arnOf('group', name));
    dir.deleteGroup(name);
    return undefined;
  };
  a['AddUserToGroup'] = (ctx, q) => {
    const group = q.required('GroupName');
    const user = q.required('UserName');
    ctx.authorize('iam:AddUserToGroup', arnOf('group', group));
    dir.addUserToGroup(group, user);
    return undefined;
  };
  a['RemoveUserFromGroup'] = (ctx, q) => {
    const group = q.required('GroupName');
    const user = q.required('UserName');
    ctx.authorize('iam:RemoveUserFromGroup', arnOf('group', group));
    dir.removeUserFromGroup(group, user);
    return undefined;
  };

  // ---- roles -------------------------------------------------------------
  a['CreateRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    const trust = q.required('AssumeRolePolicyDocument');
    const path = q.str('Path') ?? '/';
    const boundary = q.str('PermissionsBoundary');
    const tags = tagsParam(q);
    const maxSessionDuration = q.int('MaxSessionDuration', { min: 3600, max: 43200 });
    const description = q.str('Description');
    const arn = arnOf('role', name, path);
    ctx.authorize('iam:CreateRole', arn, { context: { ...(boundary ? { 'iam:PermissionsBoundary': boundary } : {}), ...requestTagContext(tags) } });
    authorizeAlsoOnCreate(ctx, arn, { tagAction: 'iam:TagRole', tags, boundaryAction: 'iam:PutRolePermissionsBoundary', boundary });
    const r = dir.createRole({
      roleName: name,
      assumeRolePolicyDocument: trust,
      path,
      ...(maxSessionDuration !== undefined ? { maxSessionDuration } : {}),
      ...(description !== undefined ? { description } : {}),
      ...(tags ? { tags } : {}),
      ...(boundary ? { permissionsBoundary: boundary } : {}),
    });
    return { Role: roleXml(r) };
  };
  a['GetRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    ctx.authorize('iam:GetRole', arnOf('role', name));
    return { Role: roleXml(dir.getRole(name)) };
  };
  a['ListRoles'] = (ctx, q) => {
    ctx.authorize('iam:ListRoles', listArn('role'));
    const match = pathPrefix(q);
    const { items, more } = page(dir.listRoles().filter((r) => match(r.path)), q);
    return { Roles: members(items.map((r) => roleXml(r, false))), ...more };
  };
  a['DeleteRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    ctx.authorize('iam:DeleteRole', arnOf('role', name));
    dir.deleteRole(name);
    return undefined;
  };
  a['UpdateAssumeRolePolicy'] = (ctx, q) => {
    const name = q.required('RoleName');
    const doc = q.required('PolicyDocument');
    ctx.authorize('iam:UpdateAssumeRolePolicy', arnOf('role', name));
    dir.updateAssumeRolePolicy(name, doc);
    return undefined;
  };
  a['UpdateRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    const maxSessionDuration = q.int('MaxSessionDuration', { min: 3600, max: 43200 });
    const description = q.str('Description');
    ctx.authorize('iam:UpdateRole', arnOf('role', name));
    dir.updateRole(name, { ...(maxSessionDuration !== undefined ? { maxSessionDuration } : {}), ...(description !== undefined ? { description } : {}) });
    return {};
  };
  a['TagRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    const tags = q.tags('Tags');
    ctx.authorize('iam:TagRole', arnOf('role', name), { context: requestTagContext(tags) });
    dir.tagRole(name, tags);
    return undefined;
  };
  a['UntagRole'] = (ctx, q) => {
    const name = q.required('RoleName');
    const keys = q.strings('TagKeys');
    ctx.authorize('iam:UntagRole', arnOf('role', name), { context: { 'aws:TagKeys': keys } });
    dir.untagRole(name, keys);
    return undefined;
  };
  a['ListRoleTags'] = (ctx, q) => {
    const name = q.required('RoleName');
    ctx.authorize('iam:ListRoleTags', arnOf('role', name));
    const { items, more } = page(Object.entries(dir.getRole(name).tags), q);
    return { Tags: members(items.map(([Key, Value]) => ({ Key, Value }))), ...more };
  };

  // ---- access keys -------------------------------------------------------
  a['CreateAccessKey'] = (ctx, q) => {
    const name = userNameOrCaller(ctx, q);
    ctx.authorize('iam:CreateAccessKey', arnOf('user', name));
    const k = dir.createAccessKey(name);
    return { AccessKey: { ...keyXml(k), SecretAccessKey: k.secretAccessKey.reveal() } };
  };
  a['ListAccessKeys'] = (ctx, q) => {
    const name = userNameOrCaller(ctx, q);
    ctx.authorize('iam:ListAccessKeys', arnOf('user', name));
    const { items, more } = page(dir.listAccessKeys(name), q);
    return { UserName: dir.getUser(name).userName, AccessKeyMetadata: members(items.map(keyXml)), ...more };
  };
  a['UpdateAccessKey'] = (ctx, q) => {
    const name = userNameOrCaller(ctx, q);
    const id = q.required('AccessKeyId');
    const status = q.required('Status');
    ctx.authorize('iam:UpdateAccessKey', arnOf('user', name));
    dir.updateAccessKey(id, status as 'Active' | 'Inactive', name);
    return undefined;
  };
  a['DeleteAccessKey'] = (ctx, q) => {
    const name = userNameOrCaller(ctx, q);
    const id = q.required('AccessKeyId');
    ctx.authorize('iam:DeleteAccessKey', arnOf('user', name));
    dir.deleteAccessKey(id, name);
    return undefined;
  };

  // ---- inline policies ---------------------------------------------------
  const inline = (kind: Kind, noun: 'User' | 'Group' | 'Role'): void => {
    const nameParam = `${noun}Name`;
    const ops = {
      put: { User: dir.putUserPolicy, Group: dir.putGroupPolicy, Role: dir.putRolePolicy }[noun].bind(dir),
      get: { User: dir.getUserPolicy, Group: dir.getGroupPolicy, Role: dir.getRolePolicy }[noun].bind(dir),
      list: { User: dir.listUserPolicies, Group: dir.listGroupPolicies, Role: dir.listRolePolicies }[noun].bind(dir),
      del: { User: dir.deleteUserPolicy, Group: dir.deleteGroupPolicy, Role: dir.deleteRolePolicy }[noun].bind(dir),
    };
    a[`Put${noun}Policy`] = (ctx, q) => {
      const owner = q.required(nameParam);
      const policyName = q.required('PolicyName');
      const doc = q.required('PolicyDocument');
      ctx.authorize(`iam:Put${noun}Policy`, arnOf(kind, owner));
      ops.put(owner, policyName, doc);
      return undefined;
    };
    a[`Get${noun}Policy`] = (ctx, q) => {
      const owner = q.required(nameParam);
      const policyName = q.required('PolicyName');
      ctx.authorize(`iam:Get${noun}Policy`, arnOf(kind, owner));
      const p = ops.get(owner, policyName);
      return { [nameParam]: owner, PolicyName: p.policyName, PolicyDocument: encodeDocument(p.policyDocument) };
    };
    a[`List${noun}Policies`] = (ctx, q) => {
      const owner = q.required(nameParam);
      ctx.authorize(`iam:List${noun}Policies`, arnOf(kind, owner));
      const { items, more } = page(ops.list(owner), q);
      return { PolicyNames: members(items), ...more };
    };
    a[`Delete${noun}Policy`] = (ctx, q) => {
      const owner = q.required(nameParam);
      const policyName = q.required('PolicyName');
      ctx.authorize(`iam:Delete${noun}Policy`, arnOf(kind, owner));
      ops.del(owner, policyName);
      return undefined;
    };
  };
  inline('user', 'User');
  inline('group', 'Group');
  inline('role', 'Role');

  // ---- managed policies --------------------------------------------------
  a['CreatePolicy'] = (ctx, q) => {
    const name = q.required('PolicyName');
    const doc = q.required('PolicyDocument');
    const path = q.str('Path') ?? '/';
    const description = q.str('Description');
    // iamdb keeps no tags on managed policies: refused rather than dropped, so that nothing a
    // policy on iam:TagPolicy would have judged is silently skipped.
    if (tagsParam(q) !== undefined) throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb keeps no tags on managed policies (TagPolicy is not supported); create the policy without Tags.' });
    ctx.authorize('iam:CreatePolicy', `arn:${partition}:iam::${acct}:policy${path}${name}`);
    const p = dir.createPolicy({ policyName: name, policyDocument: doc, path, ...(description !== undefined ? { description } : {}) });
    return { Policy: policyXml(p) };
  };
  a['GetPolicy'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    ctx.authorize('iam:GetPolicy', arn);
    return { Policy: policyXml(dir.getPolicy(arn)) };
  };
  a['ListPolicies'] = (ctx, q) => {
    ctx.authorize('iam:ListPolicies', listArn('policy'));
    const scope = q.str('Scope') ?? 'All';
    if (!['All', 'AWS', 'Local'].includes(scope)) throw validation(`1 validation error detected: Value '${scope.slice(0, 32)}' at 'scope' failed to satisfy constraint: Member must satisfy enum value set: [All, AWS, Local]`);
    const onlyAttached = q.bool('OnlyAttached') ?? false;
    const match = pathPrefix(q);
    const all = dir.listPolicies(scope as 'All' | 'AWS' | 'Local').filter((p) => match(p.path) && (!onlyAttached || p.attachmentCount > 0));
    const { items, more } = page(all, q);
    return { Policies: members(items.map((p) => policyXml(p))), ...more };
  };
  a['DeletePolicy'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    ctx.authorize('iam:DeletePolicy', arn);
    dir.deletePolicy(arn);
    return undefined;
  };
  a['CreatePolicyVersion'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    const doc = q.required('PolicyDocument');
    const setAsDefault = q.bool('SetAsDefault') ?? false;
    ctx.authorize('iam:CreatePolicyVersion', arn);
    return { PolicyVersion: versionXml(dir.createPolicyVersion(arn, doc, setAsDefault), false) };
  };
  a['GetPolicyVersion'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    const id = q.required('VersionId');
    ctx.authorize('iam:GetPolicyVersion', arn);
    return { PolicyVersion: versionXml(dir.getPolicyVersion(arn, id), true) };
  };
  a['ListPolicyVersions'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    ctx.authorize('iam:ListPolicyVersions', arn);
    const { items, more } = page(dir.listPolicyVersions(arn), q);
    return { Versions: members(items.map((v) => versionXml(v, false))), ...more };
  };
  a['DeletePolicyVersion'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    const id = q.required('VersionId');
    ctx.authorize('iam:DeletePolicyVersion', arn);
    dir.deletePolicyVersion(arn, id);
    return undefined;
  };
  a['SetDefaultPolicyVersion'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    const id = q.required('VersionId');
    ctx.authorize('iam:SetDefaultPolicyVersion', arn);
    dir.setDefaultPolicyVersion(arn, id);
    return undefined;
  };
  const attachment = (kind: Kind, noun: 'User' | 'Group' | 'Role'): void => {
    const nameParam = `${noun}Name`;
    const attach = { User: dir.attachUserPolicy, Group: dir.attachGroupPolicy, Role: dir.attachRolePolicy }[noun].bind(dir);
    const detach = { User: dir.detachUserPolicy, Group: dir.detachGroupPolicy, Role: dir.detachRolePolicy }[noun].bind(dir);
    const list = { User: dir.listAttachedUserPolicies, Group: dir.listAttachedGroupPolicies, Role: dir.listAttachedRolePolicies }[noun].bind(dir);
    a[`Attach${noun}Policy`] = (ctx, q) => {
      const owner = q.required(nameParam);
      const arn = q.required('PolicyArn');
      ctx.authorize(`iam:Attach${noun}Policy`, arnOf(kind, owner), { context: { 'iam:PolicyARN': arn } });
      attach(owner, arn);
      return undefined;
    };
    a[`Detach${noun}Policy`] = (ctx, q) => {
      const owner = q.required(nameParam);
      const arn = q.required('PolicyArn');
      ctx.authorize(`iam:Detach${noun}Policy`, arnOf(kind, owner), { context: { 'iam:PolicyARN': arn } });
      detach(owner, arn);
      return undefined;
    };
    a[`ListAttached${noun}Policies`] = (ctx, q) => {
      const owner = q.required(nameParam);
      ctx.authorize(`iam:ListAttached${noun}Policies`, arnOf(kind, owner));
      const { items, more } = page(list(owner), q);
      return { AttachedPolicies: members(items.map((arn) => ({ PolicyName: dir.getPolicy(arn).policyName, PolicyArn: arn }))), ...more };
    };
  };
  attachment('user', 'User');
  attachment('group', 'Group');
  attachment('role', 'Role');
  a['ListEntitiesForPolicy'] = (ctx, q) => {
    const arn = q.required('PolicyArn');
    ctx.authorize('iam:ListEntitiesForPolicy', arn);
    dir.getPolicy(arn);
    return {
      PolicyGroups: members(dir.listGroups().filter((g) => dir.listAttachedGroupPolicies(g.groupName).includes(arn)).map((g) => ({ GroupName: g.groupName, GroupId: g.groupId }))),
      PolicyUsers: members(dir.listUsers().filter((u) => dir.listAttachedUserPolicies(u.userName).includes(arn)).map((u) => ({ UserName: u.userName, UserId: u.userId }))),
      PolicyRoles: members(dir.listRoles().filter((r) => dir.listAttachedRolePolicies(r.roleName).includes(arn)).map((r) => ({ RoleName: r.roleName, RoleId: r.roleId }))),
      IsTruncated: false,
    };
  };

  // ---- permissions boundaries ----------------------------------------------
  a['PutUserPermissionsBoundary'] = (ctx, q) => {
    const name = q.required('UserName');
    const arn = q.required('PermissionsBoundary');
    ctx.authorize('iam:PutUserPermissionsBoundary', arnOf('user', name), { context: { 'iam:PermissionsBoundary': arn } });
    dir.putUserPermissionsBoundary(name, arn);
    return undefined;
  };
  a['DeleteUserPermissionsBoundary'] = (ctx, q) => {
    const name = q.required('UserName');
    ctx.authorize('iam:DeleteUserPermissionsBoundary', arnOf('user', name));
    dir.deleteUserPermissionsBoundary(name);
    return undefined;
  };
  a['PutRolePermissionsBoundary'] = (ctx, q) => {
    const name = q.required('RoleName');
    const arn = q.required('PermissionsBoundary');
    ctx.authorize('iam:PutRolePermissionsBoundary', arnOf('role', name), { context: { 'iam:PermissionsBoundary': arn } });
    dir.putRolePermissionsBoundary(name, arn);
    return undefined;
  };
  a['DeleteRolePermissionsBoundary'] = (ctx, q) => {
    const name = q.required('RoleName');
    ctx.authorize('iam:DeleteRolePermissionsBoundary', arnOf('role', name));
    dir.deleteRolePermissionsBoundary(name);
    return undefined;
  };

  // ---- account-wide view ---------------------------------------------------
  a['GetAccountAuthorizationDetails'] = (ctx, q) => {
    ctx.authorize('iam:GetAccountAuthorizationDetails', '*');
    const filter = new Set(q.strings('Filter'));
    const want = (f: string): boolean => filter.size === 0 || filter.has(f);
    const attached = (arns: readonly string[]): XmlContent => members(arns.map((arn) => ({ PolicyName: dir.getPolicy(arn).policyName, PolicyArn: arn })));
    const inlineList = (names: readonly string[], get: (policyName: string) => { policyName: string; policyDocument: string }): XmlContent =>
      members(names.map((n) => get(n)).map((p) => ({ PolicyName: p.policyName, PolicyDocument: encodeDocument(p.policyDocument) })));
    return {
      UserDetailList: members(
        want('User')
          ? dir.listUsers().map((u) => ({
              ...userXml(u),
              UserPolicyList: inlineList(dir.listUserPolicies(u.userName), (n) => dir.getUserPolicy(u.userName, n)),
              GroupList: members(u.groups),
              AttachedManagedPolicies: attached(dir.listAttachedUserPolicies(u.userName)),
            }))
          : [],
      ),
      GroupDetailList: members(
        want('Group')
          ? dir.listGroups().map((g) => ({
              ...groupXml(g),
              GroupPolicyList: inlineList(dir.listGroupPolicies(g.groupName), (n) => dir.getGroupPolicy(g.groupName, n)),
              AttachedManagedPolicies: attached(dir.listAttachedGroupPolicies(g.groupName)),
            }))
          : [],
      ),
      RoleDetailList: members(
        want('Role')
          ? dir.listRoles().map((r) => ({
              ...roleXml(r),
              InstanceProfileList: members([]),
              RolePolicyList: inlineList(dir.listRolePolicies(r.roleName), (n) => dir.getRolePolicy(r.roleName, n)),
              AttachedManagedPolicies: attached(dir.listAttachedRolePolicies(r.roleName)),
            }))
          : [],
      ),
      // AWS managed policies appear only when something uses them, as on AWS.
      Policies: members(
        [
          ...(want('AWSManagedPolicy') ? dir.listPolicies('AWS').filter((p) => p.attachmentCount > 0 || p.permissionsBoundaryUsageCount > 0) : []),
          ...(want('LocalManagedPolicy') ? dir.listPolicies('Local') : []),
        ].map((p) => ({ ...policyXml(p), PolicyVersionList: members(dir.listPolicyVersions(p.arn).map((v) => versionXml(v, true))) })),
      ),
      IsTruncated: false,
    };
  };

  // ---- the policy simulator ------------------------------------------------
  /**
   * One simulation. The context is what AWS documents: the caller's context
   * entries are the values used, laid over the keys derived from the
   * simulated principal (none when SimulateCustomPolicy names no caller).
   */
  const simulate = (q: QueryParams, source: { identity: PolicyInput[]; boundary?: PolicyInput[]; principal: RequestPrincipal; principalKeys: boolean }): XmlElements => {
    const actions = q.strings('ActionNames');
    if (actions.length === 0) throw validation("1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null");
    const resources = q.strings('ResourceArns');
    // Each pair is one evaluation and one result element: bound the answer before building it.
    if (actions.length * Math.max(resources.length, 1) > MAX_SIMULATIONS) {
      throw validation(`ActionNames times ResourceArns must not exceed ${MAX_SIMULATIONS} evaluations per request.`);
    }
    const entries = contextEntries(q);
    const context: RequestContext = source.principalKeys ? { ...principalContext(source.principal), ...entries } : entries;
    const lookup = new ContextLookup(context);
    const resourcePolicyText = q.str('ResourcePolicy');
    const resourcePolicy: PolicyInput[] | undefined =
      resourcePolicyText !== undefined ? [{ label: 'ResourcePolicy', policy: parsePolicyOrThrow(resourcePolicyText, 'resource'), document: resourcePolicyText }] : undefined;
    // A boundary list given, even empty (`PermissionsBoundaryPolicyInputList=`), replaces the principal's boundary: an empty one allows nothing.
    const boundary = q.has('PermissionsBoundaryPolicyInputList')
      ? q.strings('PermissionsBoundaryPolicyInputList').map((doc, i): PolicyInput => ({ label: `PermissionsBoundaryPolicyInputList.${i + 1}`, policy: parsePolicyOrThrow(doc, 'identity'), document: doc }))
      : source.boundary;
    const all = [...source.identity, ...(resourcePolicy ?? []), ...(boundary ?? [])];
    const positions = statementLocator(all);
    const results: XmlElements[] = [];
    for (const action of actions) {
      const missing = missingContextKeys(all, action, lookup);
      for (const resource of resources.length > 0 ? resources : ['*']) {
        const analysis = evaluate({
          request: { principal: source.principal, action, resource, context },
          identity: source.identity,
          ...(resourcePolicy ? { resource: resourcePolicy } : {}),
          ...(boundary ? { boundary } : {}),
          options: { contextAsGiven: true },
        });
        results.push(evaluationResultXml(analysis, { action, resource, hasBoundary: boundary !== undefined, missing, perResource: resources.length > 0, positions }));
      }
    }
    return { EvaluationResults: members(results), IsTruncated: false };
  };
  const inputList = (q: QueryParams): PolicyInput[] =>
    q.strings('PolicyInputList').map((doc, i) => ({ label: `PolicyInputList.${i + 1}`, policy: parsePolicyOrThrow(doc, 'identity'), document: doc }));
  const callerPrincipal = (q: QueryParams, fallback: RequestPrincipal): RequestPrincipal => {
    const callerArn = q.str('CallerArn');
    if (callerArn === undefined) return fallback;
    const m = /^arn:[\w-]+:iam::(\d{12}):user\/(?:.*\/)?([\w+=,.@-]+)$/.exec(callerArn);
    if (m === null) throw validation('CallerArn must be the ARN of an IAM user.');
    const u = exists(() => dir.getUser(m[2]!));
    return { arn: callerArn, accountId: m[1]!, type: 'user', userName: m[2]!, ...(u ? { userId: u.userId, tags: u.tags } : {}) };
  };
  a['SimulatePrincipalPolicy'] = (ctx, q) => {
    const sourceArn = q.required('PolicySourceArn');
    ctx.authorize('iam:SimulatePrincipalPolicy', sourceArn);
    const m = /^arn:[\w-]+:iam::(\d{12}):(user|group|role)\/(?:.*\/)?([\w+=,.@-]+)$/.exec(sourceArn);
    if (m === null || m[1] !== acct) throw new IamdbError('IAM_INVALID_INPUT', { message: `Invalid ARN: ${sourceArn.slice(0, 256)}` });
    const kind = m[2] as Kind;
    const name = m[3]!;
    const owned = dir.policiesFor(kind === 'user' ? { userName: name } : kind === 'role' ? { roleName: name } : { groupName: name });
    let principal: RequestPrincipal;
    if (kind === 'user') {
      const u = dir.getUser(name);
      principal = { arn: u.arn, accountId: acct, type: 'user', userName: u.userName, userId: u.userId, tags: u.tags };
    } else if (kind === 'role') {
      const r = dir.getRole(name);
      principal = { arn: `arn:${partition}:sts::${acct}:assumed-role/${r.roleName}/simulation`, accountId: acct, type: 'assumed-role', userId: `${r.roleId}:simulation`, roleArn: r.arn, sessionName: 'simulation', tags: r.tags };
    } else {
      principal = { arn: dir.getGroup(name).arn, accountId: acct, type: 'user' };
    }
    return simulate(q, {
      identity: [...owned.identity, ...inputList(q)],
      ...(owned.boundary ? { boundary: [...owned.boundary] } : {}),
      principal: callerPrincipal(q, principal),
      principalKeys: true,
    });
  };
  a['SimulateCustomPolicy'] = (ctx, q) => {
    ctx.authorize('iam:SimulateCustomPolicy', '*');
    const identity = inputList(q);
    // Required, but may be empty (the SDKs send `PolicyInputList=` for []).
    if (!q.has('PolicyInputList')) throw validation("1 validation error detected: Value null at 'policyInputList' failed to satisfy constraint: Member must not be null");
    // Without CallerArn nobody is simulated: principal keys come from ContextEntries alone (or are missing).
    const anonymous: RequestPrincipal = { arn: `arn:${partition}:iam::${acct}:user/simulated-caller`, accountId: acct, type: 'user', userName: 'simulated-caller' };
    return simulate(q, { identity, principal: callerPrincipal(q, anonymous), principalKeys: q.has('CallerArn') });
  };

  // As on AWS, credentials from GetSessionToken cannot call IAM without MFA (and iamdb has no MFA).
  const guarded: Record<string, QueryHandler> = {};
  for (const [name, handler] of Object.entries(a)) {
    guarded[name] = (ctx, q) => {
      const p = ctx.caller.principal;
      if (p.session?.via === 'GetSessionToken') {
        throw new IamdbError('API_ACCESS_DENIED', { message: `User: ${p.arn} is not authorized to perform: iam:${name} because credentials from GetSessionToken cannot call IAM without MFA` });
      }
      return handler(ctx, q);
    };
  }
  return { protocol: 'query', name: 'iam', xmlns: 'https://iam.amazonaws.com/doc/2010-05-08/', version: '2010-05-08', actions: guarded };
}

/**
 * What a create also does, authorized as AWS authorizes it, on the new
 * entity's ARN and before anything is created (a refusal leaves nothing
 * half-made):
 * - Tags are also a TagUser / TagRole, with aws:RequestTag/* and
 *   aws:TagKeys (IAM User Guide, "IAM: Create new users only with specific
 *   tags", reference_policies_examples_iam-new-user-tag.html, allows
 *   iam:CreateUser and iam:TagUser together);
 * - PermissionsBoundary is also a PutUserPermissionsBoundary /
 *   PutRolePermissionsBoundary, with iam:PermissionsBoundary (the User
 *   Guide's delegation example, access_policies_boundaries.html, grants
 *   iam:CreateUser with iam:PutUserPermissionsBoundary under one
 *   iam:PermissionsBoundary condition).
 */
function authorizeAlsoOnCreate(
  ctx: ApiRequestContext,
  arn: string,
  also: { tagAction: string; tags: Readonly<Record<string, string>> | undefined; boundaryAction: string; boundary: string | undefined },
): void {
  if (also.tags !== undefined) ctx.authorize(also.tagAction, arn, { context: requestTagContext(also.tags) });
  if (also.boundary) ctx.authorize(also.boundaryAction, arn, { context: { 'iam:PermissionsBoundary': also.boundary } });
}

/** Where a matched statement came from, in the simulator's vocabulary. */
function sourceOf(label: string): { id: string; type: string } {
  const inline = /^(user|group|role)\/[^/]+\/inline\/(.+)$/.exec(label);
  if (inline) return { id: inline[2]!, type: inline[1]! };
  const managed = /^(arn:[^#]+)#v\d+$/.exec(label);
  if (managed) return { id: managed[1]!, type: managed[1]!.includes(':iam::aws:') ? 'aws-managed' : 'user-managed' };
  if (label === 'ResourcePolicy') return { id: label, type: 'resource' };
  return { id: label, type: 'none' };
}

/** Finds a matched statement's span in the text of the policy it came from (parsed once per policy). */
type StatementLocator = (label: string, index: number) => StatementSpan | undefined;

function statementLocator(policies: readonly PolicyInput[]): StatementLocator {
  const texts = new Map(policies.filter((p) => p.document !== undefined).map((p) => [p.label, p.document!]));
  const spans = new Map<string, StatementSpan[] | undefined>();
  return (label, index) => {
    if (!spans.has(label)) {
      const text = texts.get(label);
      spans.set(label, text === undefined ? undefined : statementPositions(text));
    }
    return spans.get(label)?.[index];
  };
}

function evaluationResultXml(
  analysis: Analysis,
  r: { action: string; resource: string; hasBoundary: boolean; missing: readonly string[]; perResource: boolean; positions: StatementLocator },
): XmlElements {
  const decisive = analysis.matchedStatements.filter((m) => (analysis.decision === 'explicitDeny' ? m.effect === 'Deny' : m.effect === 'Allow'));
  const matched = members(
    decisive.map((m) => {
      const src = sourceOf(m.source);
      const span = r.positions(m.source, m.index);
      return {
        SourcePolicyId: src.id,
        SourcePolicyType: src.type,
        ...(span ? { StartPosition: { Line: span.start.line, Column: span.start.column }, EndPosition: { Line: span.end.line, Column: span.end.column } } : {}),
      };
    }),
  );
  const boundaryDetail = r.hasBoundary
    ? { PermissionsBoundaryDecisionDetail: { AllowedByPermissionsBoundary: analysis.matchedStatements.some((m) => m.policyType === 'boundary' && m.effect === 'Allow') && analysis.deniedBy !== 'boundary' } }
    : {};
  // AWS: MissingContextValues sits in the result when the resource is "*" (no ResourceArns),
  // and in ResourceSpecificResults when resources were named.
  return {
    EvalActionName: r.action,
    EvalResourceName: r.resource,
    EvalDecision: analysis.decision,
    MatchedStatements: matched,
    MissingContextValues: members(r.perResource ? [] : [...r.missing]),
    ...boundaryDetail,
    ...(r.perResource
      ? {
          ResourceSpecificResults: members([
            { EvalResourceName: r.resource, EvalResourceDecision: analysis.decision, MatchedStatements: matched, MissingContextValues: members([...r.missing]), ...boundaryDetail },
          ]),
        }
      : {}),
  };
}
