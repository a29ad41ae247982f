/**
 * IAM through the control plane: the entity lifecycle with AWS's errors,
 * policies (inline, managed with versions, boundaries), access keys whose
 * status takes effect at once, authorization of every call with AWS's
 * message, account details and the simulator. Driven by the SDK v3 IAM
 * client; the Debian AWS CLI creates a user (shorthand tags, JSON output),
 * prints a refusal and reads a policy document back (which it URL-decodes).
 */
import * as IAM from '@aws-sdk/client-iam';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, policyDocument, sdkClient } from '../support/aws-sdk.js';
import { runAwsCli } from '../support/clients.js';
import { ACCOUNT, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
const bob = newAccessKey();

beforeAll(async () => {
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        {
          name: 'bob',
          accessKeys: [bob],
          policies: [{ name: 'read-iam', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['iam:Get*', 'iam:List*'], Resource: '*' }] } }],
        },
      ],
    },
  });
});
afterAll(() => iamdb.stop());

type Key = { id: string; secret: string };

/** The AWS CLI, for the calls where the CLI itself is the point. */
async function cli(args: string[], key: Key = iamdb.admin): Promise<{ code: number | null; json: any; stderr: string }> {
  const out = await runAwsCli([...args, '--endpoint-url', iamdb.apiUrl, '--region', 'us-east-1', '--output', 'json'], {
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_MAX_ATTEMPTS: '1',
  });
  return { code: out.code, json: out.stdout.trim() ? JSON.parse(out.stdout) : undefined, stderr: out.stderr };
}

/** `operation` (CreateUser, …) through the SDK's IAM client as `key`. */
function send(operation: string, input: object, key: Key): Promise<any> {
  const Command = (IAM as unknown as Record<string, new (input: object) => IAM.CreateUserCommand>)[`${operation}Command`];
  if (Command === undefined) throw new Error(`no IAM operation ${operation}`);
  return sdkClient(IAM.IAMClient, iamdb.apiUrl, key).send(new Command(input) as never);
}
const ok = (operation: string, input: object = {}, key: Key = iamdb.admin): Promise<any> => send(operation, input, key);
/** `(Code): message` of a call that must fail. */
const fails = (operation: string, input: object = {}, key: Key = iamdb.admin): Promise<string> => failure(send(operation, input, key));

const doc = (statement: object): string => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });

describe('IAM through the control plane', () => {
  it('creates, tags, reads, lists and deletes users, with AWS\'s errors', async () => {
    // The CLI: shorthand tags in, JSON out, the refusal as it prints it.
    const out = await cli(['iam', 'create-user', '--user-name', 'carol', '--path', '/team/', '--tags', 'Key=team,Value=db ops']);
    expect(out.code, out.stderr).toBe(0);
    const created = out.json;
    expect(created.User).toMatchObject({ UserName: 'carol', Path: '/team/', Arn: `arn:aws:iam::${ACCOUNT}:user/team/carol`, Tags: [{ Key: 'team', Value: 'db ops' }] });
    expect(created.User.UserId).toMatch(/^AIDA/);
    const dup = await cli(['iam', 'create-user', '--user-name', 'CAROL']);
    expect(dup.stderr).toContain('(EntityAlreadyExists)');
    expect(dup.stderr).toContain('User with name CAROL already exists.');
    await ok('TagUser', { UserName: 'carol', Tags: [{ Key: 'tier', Value: 'gold' }] });
    expect((await ok('ListUserTags', { UserName: 'carol' })).Tags).toEqual([{ Key: 'team', Value: 'db ops' }, { Key: 'tier', Value: 'gold' }]);
    await ok('UntagUser', { UserName: 'carol', TagKeys: ['tier'] });
    expect((await ok('GetUser', { UserName: 'carol' })).User.Tags).toEqual([{ Key: 'team', Value: 'db ops' }]);
    const listed = await ok('ListUsers', { PathPrefix: '/team/' });
    expect(listed.Users.map((u: { UserName: string }) => u.UserName)).toEqual(['carol']);
    const missing = await fails('GetUser', { UserName: 'nobody' });
    expect(missing).toContain('(NoSuchEntity)');
    expect(missing).toContain('The user with name nobody cannot be found.');
    // GetUser without a name answers for the caller.
    expect((await ok('GetUser', {}, bob)).User.UserName).toBe('bob');
  });

  it('refuses what the caller\'s policies do not allow, with AWS\'s message, and audits the decision', async () => {
    const denied = await fails('CreateUser', { UserName: 'mallory' }, bob);
    expect(denied).toContain('(AccessDenied)');
    expect(denied).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::${ACCOUNT}:user/mallory`);
    const event = iamdb.apiEvents().filter((e) => e.action === 'CreateUser' && e.decision === 'deny').at(-1)!;
    expect(event).toMatchObject({ service: 'iam', principal: `arn:aws:iam::${ACCOUNT}:user/bob`, reason: 'API_ACCESS_DENIED', errorCode: 'AccessDenied', authorization: { action: 'iam:CreateUser', decision: 'implicitDeny' } });
    expect(await fails('GetUser', { UserName: 'mallory' })).toContain('(NoSuchEntity)');
  });

  it('manages access keys: two at most, Inactive refused at once, deleted gone', async () => {
    await ok('CreateUser', { UserName: 'dave' });
    await ok('PutUserPolicy', { UserName: 'dave', PolicyName: 'who', PolicyDocument: doc({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' }) });
    const k1 = (await ok('CreateAccessKey', { UserName: 'dave' })).AccessKey;
    expect(k1).toMatchObject({ UserName: 'dave', Status: 'Active' });
    expect(k1.AccessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(k1.SecretAccessKey).toHaveLength(40);
    const daveKey = { id: k1.AccessKeyId as string, secret: k1.SecretAccessKey as string };
    expect((await ok('GetUser', {}, daveKey)).User.UserName).toBe('dave');
    await ok('CreateAccessKey', { UserName: 'dave' });
    const third = await fails('CreateAccessKey', { UserName: 'dave' });
    expect(third).toContain('(LimitExceeded)');
    expect(third).toContain('Cannot exceed quota for AccessKeysPerUser: 2');
    expect((await ok('ListAccessKeys', { UserName: 'dave' })).AccessKeyMetadata).toHaveLength(2);
    await ok('UpdateAccessKey', { UserName: 'dave', AccessKeyId: daveKey.id, Status: 'Inactive' });
    expect(await fails('GetUser', {}, daveKey)).toContain('(InvalidClientTokenId)');
    await ok('UpdateAccessKey', { UserName: 'dave', AccessKeyId: daveKey.id, Status: 'Active' });
    expect((await ok('GetUser', {}, daveKey)).User.UserName).toBe('dave');
    await ok('DeleteAccessKey', { UserName: 'dave', AccessKeyId: daveKey.id });
    expect(await fails('GetUser', {}, daveKey)).toContain('(InvalidClientTokenId)');
    const conflict = await fails('DeleteUser', { UserName: 'dave' });
    expect(conflict).toContain('(DeleteConflict)');
  });

  it('keeps inline policies for users, groups and roles, and rejects malformed ones', async () => {
    const policy = doc({ Sid: 'Db', Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    await ok('PutUserPolicy', { UserName: 'carol', PolicyName: 'db', PolicyDocument: policy });
    // The CLI URL-decodes and parses the document IAM returns.
    const got = await cli(['iam', 'get-user-policy', '--user-name', 'carol', '--policy-name', 'db']);
    expect(got.code, got.stderr).toBe(0);
    expect(got.json.PolicyDocument).toEqual(JSON.parse(policy));
    expect((await ok('ListUserPolicies', { UserName: 'carol' })).PolicyNames).toEqual(['db']);
    const bad = await fails('PutUserPolicy', { UserName: 'carol', PolicyName: 'bad', PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}' });
    expect(bad).toContain('(MalformedPolicyDocument)');
    await ok('CreateGroup', { GroupName: 'dbas' });
    await ok('PutGroupPolicy', { GroupName: 'dbas', PolicyName: 'g', PolicyDocument: policy });
    expect((await ok('ListGroupPolicies', { GroupName: 'dbas' })).PolicyNames).toEqual(['g']);
    await ok('AddUserToGroup', { GroupName: 'dbas', UserName: 'carol' });
    expect((await ok('GetGroup', { GroupName: 'dbas' })).Users.map((u: { UserName: string }) => u.UserName)).toEqual(['carol']);
    expect((await ok('ListGroupsForUser', { UserName: 'carol' })).Groups.map((g: { GroupName: string }) => g.GroupName)).toEqual(['dbas']);
    await ok('DeleteGroupPolicy', { GroupName: 'dbas', PolicyName: 'g' });
    expect((await ok('ListGroupPolicies', { GroupName: 'dbas' })).PolicyNames).toEqual([]);
  });

  it('creates roles with trust policies and updates them', async () => {
    const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/carol` }, Action: 'sts:AssumeRole' });
    const role = (await ok('CreateRole', { RoleName: 'app', AssumeRolePolicyDocument: trust, MaxSessionDuration: 7200, Description: 'the app' })).Role;
    expect(role).toMatchObject({ RoleName: 'app', Arn: `arn:aws:iam::${ACCOUNT}:role/app`, MaxSessionDuration: 7200 });
    expect(policyDocument(role.AssumeRolePolicyDocument)).toEqual(JSON.parse(trust));
    const newTrust = doc({ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' });
    await ok('UpdateAssumeRolePolicy', { RoleName: 'app', PolicyDocument: newTrust });
    expect(policyDocument((await ok('GetRole', { RoleName: 'app' })).Role.AssumeRolePolicyDocument)).toEqual(JSON.parse(newTrust));
    await ok('PutRolePolicy', { RoleName: 'app', PolicyName: 'r', PolicyDocument: doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }) });
    expect((policyDocument((await ok('GetRolePolicy', { RoleName: 'app', PolicyName: 'r' })).PolicyDocument) as any).Statement[0].Action).toBe('s3:GetObject');
    await ok('TagRole', { RoleName: 'app', Tags: [{ Key: 'env', Value: 'dev' }] });
    expect((await ok('ListRoleTags', { RoleName: 'app' })).Tags).toEqual([{ Key: 'env', Value: 'dev' }]);
    const badTrust = await fails('CreateRole', { RoleName: 'bad', AssumeRolePolicyDocument: doc({ Effect: 'Allow', Action: 'sts:AssumeRole' }) });
    expect(badTrust).toContain('(MalformedPolicyDocument)');
    expect((await ok('ListRoles')).Roles.map((r: { RoleName: string }) => r.RoleName)).toContain('app');
  });

  it('versions managed policies and attaches them to users, groups and roles', async () => {
    const v1 = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' });
    const p = (await ok('CreatePolicy', { PolicyName: 'db-connect', PolicyDocument: v1, Description: 'connect anywhere' })).Policy;
    const arn = `arn:aws:iam::${ACCOUNT}:policy/db-connect`;
    expect(p).toMatchObject({ PolicyName: 'db-connect', Arn: arn, DefaultVersionId: 'v1', AttachmentCount: 0 });
    const v2 = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    expect((await ok('CreatePolicyVersion', { PolicyArn: arn, PolicyDocument: v2, SetAsDefault: true })).PolicyVersion).toMatchObject({ VersionId: 'v2', IsDefaultVersion: true });
    expect(policyDocument((await ok('GetPolicyVersion', { PolicyArn: arn, VersionId: 'v2' })).PolicyVersion.Document)).toEqual(JSON.parse(v2));
    expect((await ok('ListPolicyVersions', { PolicyArn: arn })).Versions.map((v: { VersionId: string }) => v.VersionId).sort()).toEqual(['v1', 'v2']);
    await ok('SetDefaultPolicyVersion', { PolicyArn: arn, VersionId: 'v1' });
    await ok('DeletePolicyVersion', { PolicyArn: arn, VersionId: 'v2' });
    const delDefault = await fails('DeletePolicyVersion', { PolicyArn: arn, VersionId: 'v1' });
    expect(delDefault).toContain('(DeleteConflict)');

    await ok('AttachUserPolicy', { UserName: 'carol', PolicyArn: arn });
    await ok('AttachGroupPolicy', { GroupName: 'dbas', PolicyArn: arn });
    await ok('AttachRolePolicy', { RoleName: 'app', PolicyArn: arn });
    expect((await ok('ListAttachedUserPolicies', { UserName: 'carol' })).AttachedPolicies).toEqual([{ PolicyName: 'db-connect', PolicyArn: arn }]);
    expect((await ok('ListAttachedRolePolicies', { RoleName: 'app' })).AttachedPolicies).toHaveLength(1);
    expect((await ok('GetPolicy', { PolicyArn: arn })).Policy.AttachmentCount).toBe(3);
    const entities = await ok('ListEntitiesForPolicy', { PolicyArn: arn });
    expect([entities.PolicyUsers.length, entities.PolicyGroups.length, entities.PolicyRoles.length]).toEqual([1, 1, 1]);
    const attachedDelete = await fails('DeletePolicy', { PolicyArn: arn });
    expect(attachedDelete).toContain('(DeleteConflict)');
    await ok('DetachGroupPolicy', { GroupName: 'dbas', PolicyArn: arn });
    expect((await ok('ListAttachedGroupPolicies', { GroupName: 'dbas' })).AttachedPolicies).toEqual([]);
    const nope = await fails('GetPolicy', { PolicyArn: `arn:aws:iam::${ACCOUNT}:policy/nope` });
    expect(nope).toContain('(NoSuchEntity)');
  });

  it('sets permissions boundaries and shows them in the entity and the simulator', async () => {
    const boundary = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    await ok('CreatePolicy', { PolicyName: 'carol-boundary', PolicyDocument: boundary });
    const arn = `arn:aws:iam::${ACCOUNT}:policy/carol-boundary`;
    await ok('PutUserPermissionsBoundary', { UserName: 'carol', PermissionsBoundary: arn });
    expect((await ok('GetUser', { UserName: 'carol' })).User.PermissionsBoundary).toEqual({ PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: arn });
    const sim = await ok('SimulatePrincipalPolicy', {
      PolicySourceArn: `arn:aws:iam::${ACCOUNT}:user/team/carol`,
      ActionNames: ['rds-db:connect'],
      ResourceArns: [`arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:db-ABC/carol`, `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:db-ABC/admin`],
    });
    expect(sim.EvaluationResults.map((r: { EvalDecision: string }) => r.EvalDecision)).toEqual(['allowed', 'implicitDeny']);
    expect(sim.EvaluationResults[0].PermissionsBoundaryDecisionDetail).toEqual({ AllowedByPermissionsBoundary: true });
    await ok('DeleteUserPermissionsBoundary', { UserName: 'carol' });
    expect((await ok('GetUser', { UserName: 'carol' })).User.PermissionsBoundary).toBeUndefined();
  });

  it('simulates custom policies with context entries: allowed, explicitDeny, implicitDeny and the matched statements', async () => {
    const policy = JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Sid: 'FromOffice', Effect: 'Allow', Action: 'rds-db:connect', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } },
        { Sid: 'NoAdmin', Effect: 'Deny', Action: 'rds-db:connect', Resource: 'arn:aws:rds-db:*:*:dbuser:*/admin' },
      ],
    });
    const run = async (resource: string, ip: string): Promise<any> =>
      (await ok('SimulateCustomPolicy', { PolicyInputList: [policy], ActionNames: ['rds-db:connect'], ResourceArns: [resource],
        ContextEntries: [{ ContextKeyName: 'aws:SourceIp', ContextKeyValues: [ip], ContextKeyType: 'ip' }] })).EvaluationResults[0];
    const allowed = await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/carol', '10.1.2.3');
    expect(allowed.EvalDecision).toBe('allowed');
    expect(allowed.MatchedStatements).toEqual([expect.objectContaining({ SourcePolicyId: 'PolicyInputList.1', SourcePolicyType: 'none' })]);
    expect((await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/admin', '10.1.2.3')).EvalDecision).toBe('explicitDeny');
    expect((await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/carol', '192.0.2.1')).EvalDecision).toBe('implicitDeny');
  });

  it('lists everything in GetAccountAuthorizationDetails', async () => {
    const all = await ok('GetAccountAuthorizationDetails');
    const carol = all.UserDetailList.find((u: { UserName: string }) => u.UserName === 'carol');
    expect(carol.UserPolicyList.map((p: { PolicyName: string }) => p.PolicyName)).toEqual(['db']);
    expect((policyDocument(carol.UserPolicyList[0].PolicyDocument) as any).Statement[0].Sid).toBe('Db');
    expect(carol.GroupList).toEqual(['dbas']);
    expect((policyDocument(all.RoleDetailList.find((r: { RoleName: string }) => r.RoleName === 'app').AssumeRolePolicyDocument) as any).Statement[0].Principal).toEqual({ AWS: ACCOUNT });
    expect(all.Policies.map((p: { PolicyName: string }) => p.PolicyName)).toEqual(expect.arrayContaining(['db-connect', 'carol-boundary']));
    const roles = await ok('GetAccountAuthorizationDetails', { Filter: ['Role'] });
    expect(roles.UserDetailList).toEqual([]);
    expect(roles.RoleDetailList.length).toBeGreaterThan(0);
  });
});
