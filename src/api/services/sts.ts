/**
 * STS over the Query protocol: GetCallerIdentity, AssumeRole and
 * GetSessionToken. Temporary credentials come from SessionCredentialIssuer,
 * so the gateway verifies tokens signed with them exactly as the API does.
 */
import { IamdbError } from '../../errors/index.js';
import type { IamRuntime } from '../../iam-runtime.js';
import { parsePolicyOrThrow, type PolicyInput } from '../../iam/index.js';
import { MAX_SESSION_TOKEN_CHARS, type SessionCredentialIssuer, type SessionIdentity } from '../../sts/index.js';
import type { QueryParams } from '../query-params.js';
import type { ApiRequestContext, QueryService } from '../service.js';
import type { XmlElements } from '../xml.js';

const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;
const SOURCE_IDENTITY = /^[\w+=,.@-]{2,64}$/;
/** How much session policy and tag text fits in a session token (AWS reports use as a percentage of its own budget). */
const PACKED_BUDGET = 4096;
const MAX_SESSION_TAGS = 50;

function validation(message: string): IamdbError {
  return new IamdbError('API_VALIDATION', { message });
}

function credentialsXml(c: ReturnType<SessionCredentialIssuer['issue']>): XmlElements {
  return {
    AccessKeyId: c.accessKeyId,
    SecretAccessKey: c.secretAccessKey.reveal(),
    SessionToken: c.sessionToken.reveal(),
    Expiration: c.expiration,
  };
}

export function stsService(deps: { iam: IamRuntime; sessions: SessionCredentialIssuer; partition: string }): QueryService {
  const { iam, sessions, partition } = deps;
  const dir = iam.directory;

  const getCallerIdentity = (ctx: ApiRequestContext): XmlElements => {
    const p = ctx.caller.principal;
    return { UserId: p.userId ?? '', Account: p.accountId, Arn: p.arn };
  };

  const assumeRole = (ctx: ApiRequestContext, q: QueryParams): XmlElements => {
    const roleArn = q.required('RoleArn');
    const sessionName = q.required('RoleSessionName');
    if (!SESSION_NAME.test(sessionName)) {
      throw validation(`1 validation error detected: Value '${sessionName.slice(0, 80)}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    }
    if (roleArn.length < 20 || roleArn.length > 2048) throw validation(`1 validation error detected: Value '${roleArn.slice(0, 80)}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20`);
    const duration = q.int('DurationSeconds', { min: 900, max: 43200 }) ?? 3600;
    const externalId = q.str('ExternalId');
    if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
      throw validation(`1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*`);
    }
    const sourceIdentity = q.str('SourceIdentity');
    if (sourceIdentity !== undefined && !SOURCE_IDENTITY.test(sourceIdentity)) {
      throw validation(`1 validation error detected: Value at 'sourceIdentity' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    }
    const tags = q.tags('Tags');
    if (Object.keys(tags).length > MAX_SESSION_TAGS) throw validation(`1 validation error detected: Value at 'tags' failed to satisfy constraint: Member must have length less than or equal to ${MAX_SESSION_TAGS}`);

    // Role chaining keeps AWS's one-hour ceiling; a session's source identity carries over.
    const caller = ctx.caller.principal;
    if (caller.session?.via === 'AssumeRole' && duration > 3600) {
      throw validation('The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.');
    }
    if (caller.session?.sourceIdentity !== undefined && sourceIdentity !== undefined && sourceIdentity !== caller.session.sourceIdentity) {
      throw validation('The source identity of the calling session cannot be changed.');
    }

    const m = new RegExp(`^arn:${partition}:iam::(\\d{12}):role/(?:.*/)?([\\w+=,.@-]{1,64})$`).exec(roleArn);
    const deny = (): IamdbError => new IamdbError('API_ACCESS_DENIED', { message: `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}` });
    // Unknown and foreign roles look the same to the caller as a refusing trust policy, as in AWS.
    if (m === null || m[1] !== dir.accountId) throw deny();
    let role;
    try {
      role = dir.getRole(m[2]!);
    } catch {
      throw deny();
    }
    if (role.arn !== roleArn) throw deny();
    if (duration > role.maxSessionDuration) throw validation('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');

    const trust: PolicyInput[] = [{ label: `${role.arn}:trust`, policy: dir.trustPolicyOf(role.roleName) }];
    const context = {
      'sts:RoleSessionName': sessionName,
      ...(externalId !== undefined ? { 'sts:ExternalId': externalId } : {}),
      ...(sourceIdentity !== undefined ? { 'sts:SourceIdentity': sourceIdentity } : {}),
      ...Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
      ...(Object.keys(tags).length > 0 ? { 'aws:TagKeys': Object.keys(tags) } : {}),
    };
    // The trust policy must itself allow: an identity policy alone never lets anyone into a role.
    const actions = ['sts:AssumeRole', ...(Object.keys(tags).length > 0 ? ['sts:TagSession'] : []), ...(sourceIdentity !== undefined ? ['sts:SetSourceIdentity'] : [])];
    for (const action of actions) {
      ctx.authorize(action, role.arn, { context, resourcePolicies: trust, requireResourceAllow: true, trustPolicy: true });
    }

    const sessionPolicies: string[] = [];
    const inline = q.str('Policy');
    if (inline !== undefined) {
      parsePolicyOrThrow(inline, 'session');
      // Kept compact: the session token carries it, and whitespace would only eat the budget.
      sessionPolicies.push(JSON.stringify(JSON.parse(inline)));
    }
    if (q.list('PolicyArns').length > 10) throw validation('Policy ARNs exceed the limit of 10.');
    for (const item of q.list('PolicyArns')) {
      const arn = item.str('arn');
      if (arn === undefined) throw validation("1 validation error detected: Value null at 'policyArns.member.arn' failed to satisfy constraint: Member must not be null");
      const policy = dir.getPolicy(arn);
      sessionPolicies.push(JSON.stringify(JSON.parse(dir.getPolicyVersion(arn, policy.defaultVersionId).document)));
    }
    const packed = sessionPolicies.reduce((n, d) => n + d.length, 0) + Object.entries(tags).reduce((n, [k, v]) => n + k.length + v.length, 0);
    const percent = Math.ceil((packed / PACKED_BUDGET) * 100);
    if (percent > 100) throw new IamdbError('STS_PACKED_POLICY_TOO_LARGE', { percent });

    const inheritedSource = caller.session?.sourceIdentity;
    const identity: SessionIdentity = {
      principalArn: `arn:${partition}:sts::${role.arn.split(':')[4]}:assumed-role/${role.roleName}/${sessionName}`,
      accountId: dir.accountId,
      type: 'assumed-role',
      roleName: role.roleName,
      roleArn: role.arn,
      roleId: role.roleId,
      sessionName,
      ...(sessionPolicies.length > 0 ? { sessionPolicies } : {}),
      ...((sourceIdentity ?? inheritedSource) !== undefined ? { sourceIdentity: (sourceIdentity ?? inheritedSource)! } : {}),
      ...(Object.keys(tags).length > 0 ? { tags } : {}),
    };
    const creds = sessions.issue(identity, duration);
    // Never hand out credentials whose token iamdb would refuse to read back.
    if (creds.sessionToken.reveal().length > MAX_SESSION_TOKEN_CHARS) throw new IamdbError('STS_PACKED_POLICY_TOO_LARGE', { percent: Math.max(percent, 101) });
    return {
      Credentials: credentialsXml(creds),
      AssumedRoleUser: { AssumedRoleId: `${role.roleId}:${sessionName}`, Arn: identity.principalArn },
      ...(sessionPolicies.length > 0 || Object.keys(tags).length > 0 ? { PackedPolicySize: percent } : {}),
      ...(identity.sourceIdentity !== undefined ? { SourceIdentity: identity.sourceIdentity } : {}),
    };
  };

  const getSessionToken = (ctx: ApiRequestContext, q: QueryParams): XmlElements => {
    const caller = ctx.caller.principal;
    if (caller.session !== undefined || caller.type !== 'user') {
      throw new IamdbError('API_ACCESS_DENIED', { message: 'Cannot call GetSessionToken with session credentials' });
    }
    const duration = q.int('DurationSeconds', { min: 900, max: 129600 }) ?? 43200;
    if (q.str('SerialNumber') !== undefined || q.str('TokenCode') !== undefined) {
      throw new IamdbError('API_NOT_SUPPORTED', { message: 'iamdb has no MFA devices; call GetSessionToken without SerialNumber and TokenCode' });
    }
    const creds = sessions.issue({ principalArn: caller.arn, accountId: caller.accountId, type: 'user', userName: caller.name, ...(caller.userId ? { userId: caller.userId } : {}) }, duration);
    return { Credentials: credentialsXml(creds) };
  };

  return {
    protocol: 'query',
    name: 'sts',
    xmlns: 'https://sts.amazonaws.com/doc/2011-06-15/',
    version: '2011-06-15',
    actions: {
      GetCallerIdentity: getCallerIdentity,
      AssumeRole: assumeRole,
      GetSessionToken: getSessionToken,
    },
  };
}
