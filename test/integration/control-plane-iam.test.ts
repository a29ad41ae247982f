/**
 * IAM through the control plane, driven by the Debian AWS CLI: the entity
 * lifecycle with AWS's errors, policies (inline, managed with versions,
 * boundaries), access keys whose status takes effect at once, authorization
 * of every call with AWS's message, account details and the simulator.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

async function aws(args: string[], key: Key = iamdb.admin, env: Record<string, string> = {}): Promise<{ code: number | null; json: any; stderr: string }> {
  const out = await runAwsCli([...args, '--endpoint-url', iamdb.apiUrl, '--region', 'us-east-1', '--output', 'json'], {
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_MAX_ATTEMPTS: '1',
    ...env,
  });
  return { code: out.code, json: out.stdout.trim() ? JSON.parse(out.stdout) : undefined, stderr: out.stderr };
}

async function ok(args: string[], key?: Key): Promise<any> {
  const r = await aws(args, key);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.json;
}

const doc = (statement: object): string => JSON.stringify({ Version: '2012-10-17', Statement: [statement] });

// Each test runs the AWS CLI (Python) 10-20 times: 1-3 s a call on a loaded 2-core machine.
describe('IAM through the control plane with the AWS CLI', { timeout: 180_000 }, () => {
  it('creates, tags, reads, lists and deletes users, with AWS\'s errors', async () => {
    const created = await ok(['iam', 'create-user', '--user-name', 'carol', '--path', '/team/', '--tags', 'Key=team,Value=db ops']);
    expect(created.User).toMatchObject({ UserName: 'carol', Path: '/team/', Arn: `arn:aws:iam::${ACCOUNT}:user/team/carol`, Tags: [{ Key: 'team', Value: 'db ops' }] });
    expect(created.User.UserId).toMatch(/^AIDA/);
    const dup = await aws(['iam', 'create-user', '--user-name', 'CAROL']);
    expect(dup.stderr).toContain('(EntityAlreadyExists)');
    expect(dup.stderr).toContain('User with name CAROL already exists.');
    await ok(['iam', 'tag-user', '--user-name', 'carol', '--tags', 'Key=tier,Value=gold']);
    expect((await ok(['iam', 'list-user-tags', '--user-name', 'carol'])).Tags).toEqual([{ Key: 'team', Value: 'db ops' }, { Key: 'tier', Value: 'gold' }]);
    await ok(['iam', 'untag-user', '--user-name', 'carol', '--tag-keys', 'tier']);
    expect((await ok(['iam', 'get-user', '--user-name', 'carol'])).User.Tags).toEqual([{ Key: 'team', Value: 'db ops' }]);
    const listed = await ok(['iam', 'list-users', '--path-prefix', '/team/']);
    expect(listed.Users.map((u: { UserName: string }) => u.UserName)).toEqual(['carol']);
    const missing = await aws(['iam', 'get-user', '--user-name', 'nobody']);
    expect(missing.stderr).toContain('(NoSuchEntity)');
    expect(missing.stderr).toContain('The user with name nobody cannot be found.');
    // GetUser without a name answers for the caller.
    expect((await ok(['iam', 'get-user'], bob)).User.UserName).toBe('bob');
  });

  it('refuses what the caller\'s policies do not allow, with AWS\'s message, and audits the decision', async () => {
    const denied = await aws(['iam', 'create-user', '--user-name', 'mallory'], bob);
    expect(denied.stderr).toContain('(AccessDenied)');
    expect(denied.stderr).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: iam:CreateUser on resource: arn:aws:iam::${ACCOUNT}:user/mallory`);
    const event = iamdb.apiEvents().filter((e) => e.action === 'CreateUser' && e.decision === 'deny').at(-1)!;
    expect(event).toMatchObject({ service: 'iam', principal: `arn:aws:iam::${ACCOUNT}:user/bob`, reason: 'API_ACCESS_DENIED', errorCode: 'AccessDenied', authorization: { action: 'iam:CreateUser', decision: 'implicitDeny' } });
    expect((await aws(['iam', 'get-user', '--user-name', 'mallory'])).stderr).toContain('(NoSuchEntity)');
  });

  it('manages access keys: two at most, Inactive refused at once, deleted gone', async () => {
    await ok(['iam', 'create-user', '--user-name', 'dave']);
    await ok(['iam', 'put-user-policy', '--user-name', 'dave', '--policy-name', 'who', '--policy-document', doc({ Effect: 'Allow', Action: 'iam:GetUser', Resource: '*' })]);
    const k1 = (await ok(['iam', 'create-access-key', '--user-name', 'dave'])).AccessKey;
    expect(k1).toMatchObject({ UserName: 'dave', Status: 'Active' });
    expect(k1.AccessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(k1.SecretAccessKey).toHaveLength(40);
    const daveKey = { id: k1.AccessKeyId as string, secret: k1.SecretAccessKey as string };
    expect((await ok(['iam', 'get-user'], daveKey)).User.UserName).toBe('dave');
    await ok(['iam', 'create-access-key', '--user-name', 'dave']);
    const third = await aws(['iam', 'create-access-key', '--user-name', 'dave']);
    expect(third.stderr).toContain('(LimitExceeded)');
    expect(third.stderr).toContain('Cannot exceed quota for AccessKeysPerUser: 2');
    expect((await ok(['iam', 'list-access-keys', '--user-name', 'dave'])).AccessKeyMetadata).toHaveLength(2);
    await ok(['iam', 'update-access-key', '--user-name', 'dave', '--access-key-id', daveKey.id, '--status', 'Inactive']);
    expect((await aws(['iam', 'get-user'], daveKey)).stderr).toContain('(InvalidClientTokenId)');
    await ok(['iam', 'update-access-key', '--user-name', 'dave', '--access-key-id', daveKey.id, '--status', 'Active']);
    expect((await ok(['iam', 'get-user'], daveKey)).User.UserName).toBe('dave');
    await ok(['iam', 'delete-access-key', '--user-name', 'dave', '--access-key-id', daveKey.id]);
    expect((await aws(['iam', 'get-user'], daveKey)).stderr).toContain('(InvalidClientTokenId)');
    const conflict = await aws(['iam', 'delete-user', '--user-name', 'dave']);
    expect(conflict.stderr).toContain('(DeleteConflict)');
  });

  it('keeps inline policies for users, groups and roles, and rejects malformed ones', async () => {
    const policy = doc({ Sid: 'Db', Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    await ok(['iam', 'put-user-policy', '--user-name', 'carol', '--policy-name', 'db', '--policy-document', policy]);
    const got = await ok(['iam', 'get-user-policy', '--user-name', 'carol', '--policy-name', 'db']);
    expect(got.PolicyDocument).toEqual(JSON.parse(policy));
    expect((await ok(['iam', 'list-user-policies', '--user-name', 'carol'])).PolicyNames).toEqual(['db']);
    const bad = await aws(['iam', 'put-user-policy', '--user-name', 'carol', '--policy-name', 'bad', '--policy-document', '{"Version":"2012-10-17","Statement":[{"Effect":"Maybe","Action":"*","Resource":"*"}]}']);
    expect(bad.stderr).toContain('(MalformedPolicyDocument)');
    await ok(['iam', 'create-group', '--group-name', 'dbas']);
    await ok(['iam', 'put-group-policy', '--group-name', 'dbas', '--policy-name', 'g', '--policy-document', policy]);
    expect((await ok(['iam', 'list-group-policies', '--group-name', 'dbas'])).PolicyNames).toEqual(['g']);
    await ok(['iam', 'add-user-to-group', '--group-name', 'dbas', '--user-name', 'carol']);
    expect((await ok(['iam', 'get-group', '--group-name', 'dbas'])).Users.map((u: { UserName: string }) => u.UserName)).toEqual(['carol']);
    expect((await ok(['iam', 'list-groups-for-user', '--user-name', 'carol'])).Groups.map((g: { GroupName: string }) => g.GroupName)).toEqual(['dbas']);
    await ok(['iam', 'delete-group-policy', '--group-name', 'dbas', '--policy-name', 'g']);
    expect((await ok(['iam', 'list-group-policies', '--group-name', 'dbas'])).PolicyNames).toEqual([]);
  });

  it('creates roles with trust policies and updates them', async () => {
    const trust = doc({ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/carol` }, Action: 'sts:AssumeRole' });
    const role = (await ok(['iam', 'create-role', '--role-name', 'app', '--assume-role-policy-document', trust, '--max-session-duration', '7200', '--description', 'the app'])).Role;
    expect(role).toMatchObject({ RoleName: 'app', Arn: `arn:aws:iam::${ACCOUNT}:role/app`, MaxSessionDuration: 7200, AssumeRolePolicyDocument: JSON.parse(trust) });
    const newTrust = doc({ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' });
    await ok(['iam', 'update-assume-role-policy', '--role-name', 'app', '--policy-document', newTrust]);
    expect((await ok(['iam', 'get-role', '--role-name', 'app'])).Role.AssumeRolePolicyDocument).toEqual(JSON.parse(newTrust));
    await ok(['iam', 'put-role-policy', '--role-name', 'app', '--policy-name', 'r', '--policy-document', doc({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' })]);
    expect((await ok(['iam', 'get-role-policy', '--role-name', 'app', '--policy-name', 'r'])).PolicyDocument.Statement[0].Action).toBe('s3:GetObject');
    await ok(['iam', 'tag-role', '--role-name', 'app', '--tags', 'Key=env,Value=dev']);
    expect((await ok(['iam', 'list-role-tags', '--role-name', 'app'])).Tags).toEqual([{ Key: 'env', Value: 'dev' }]);
    const badTrust = await aws(['iam', 'create-role', '--role-name', 'bad', '--assume-role-policy-document', doc({ Effect: 'Allow', Action: 'sts:AssumeRole' })]);
    expect(badTrust.stderr).toContain('(MalformedPolicyDocument)');
    expect((await ok(['iam', 'list-roles'])).Roles.map((r: { RoleName: string }) => r.RoleName)).toContain('app');
  });

  it('versions managed policies and attaches them to users, groups and roles', async () => {
    const v1 = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' });
    const p = (await ok(['iam', 'create-policy', '--policy-name', 'db-connect', '--policy-document', v1, '--description', 'connect anywhere'])).Policy;
    const arn = `arn:aws:iam::${ACCOUNT}:policy/db-connect`;
    expect(p).toMatchObject({ PolicyName: 'db-connect', Arn: arn, DefaultVersionId: 'v1', AttachmentCount: 0 });
    const v2 = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    expect((await ok(['iam', 'create-policy-version', '--policy-arn', arn, '--policy-document', v2, '--set-as-default'])).PolicyVersion).toMatchObject({ VersionId: 'v2', IsDefaultVersion: true });
    expect((await ok(['iam', 'get-policy-version', '--policy-arn', arn, '--version-id', 'v2'])).PolicyVersion.Document).toEqual(JSON.parse(v2));
    expect((await ok(['iam', 'list-policy-versions', '--policy-arn', arn])).Versions.map((v: { VersionId: string }) => v.VersionId).sort()).toEqual(['v1', 'v2']);
    await ok(['iam', 'set-default-policy-version', '--policy-arn', arn, '--version-id', 'v1']);
    await ok(['iam', 'delete-policy-version', '--policy-arn', arn, '--version-id', 'v2']);
    const delDefault = await aws(['iam', 'delete-policy-version', '--policy-arn', arn, '--version-id', 'v1']);
    expect(delDefault.stderr).toContain('(DeleteConflict)');

    await ok(['iam', 'attach-user-policy', '--user-name', 'carol', '--policy-arn', arn]);
    await ok(['iam', 'attach-group-policy', '--group-name', 'dbas', '--policy-arn', arn]);
    await ok(['iam', 'attach-role-policy', '--role-name', 'app', '--policy-arn', arn]);
    expect((await ok(['iam', 'list-attached-user-policies', '--user-name', 'carol'])).AttachedPolicies).toEqual([{ PolicyName: 'db-connect', PolicyArn: arn }]);
    expect((await ok(['iam', 'list-attached-role-policies', '--role-name', 'app'])).AttachedPolicies).toHaveLength(1);
    expect((await ok(['iam', 'get-policy', '--policy-arn', arn])).Policy.AttachmentCount).toBe(3);
    const entities = await ok(['iam', 'list-entities-for-policy', '--policy-arn', arn]);
    expect([entities.PolicyUsers.length, entities.PolicyGroups.length, entities.PolicyRoles.length]).toEqual([1, 1, 1]);
    const attachedDelete = await aws(['iam', 'delete-policy', '--policy-arn', arn]);
    expect(attachedDelete.stderr).toContain('(DeleteConflict)');
    await ok(['iam', 'detach-group-policy', '--group-name', 'dbas', '--policy-arn', arn]);
    expect((await ok(['iam', 'list-attached-group-policies', '--group-name', 'dbas'])).AttachedPolicies).toEqual([]);
    const nope = await aws(['iam', 'get-policy', '--policy-arn', `arn:aws:iam::${ACCOUNT}:policy/nope`]);
    expect(nope.stderr).toContain('(NoSuchEntity)');
  });

  it('sets permissions boundaries and shows them in the entity and the simulator', async () => {
    const boundary = doc({ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/carol` });
    await ok(['iam', 'create-policy', '--policy-name', 'carol-boundary', '--policy-document', boundary]);
    const arn = `arn:aws:iam::${ACCOUNT}:policy/carol-boundary`;
    await ok(['iam', 'put-user-permissions-boundary', '--user-name', 'carol', '--permissions-boundary', arn]);
    expect((await ok(['iam', 'get-user', '--user-name', 'carol'])).User.PermissionsBoundary).toEqual({ PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: arn });
    const sim = await ok([
      'iam', 'simulate-principal-policy', '--policy-source-arn', `arn:aws:iam::${ACCOUNT}:user/team/carol`,
      '--action-names', 'rds-db:connect',
      '--resource-arns', `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:db-ABC/carol`, `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:db-ABC/admin`,
    ]);
    expect(sim.EvaluationResults.map((r: { EvalDecision: string }) => r.EvalDecision)).toEqual(['allowed', 'implicitDeny']);
    expect(sim.EvaluationResults[0].PermissionsBoundaryDecisionDetail).toEqual({ AllowedByPermissionsBoundary: true });
    await ok(['iam', 'delete-user-permissions-boundary', '--user-name', 'carol']);
    expect((await ok(['iam', 'get-user', '--user-name', 'carol'])).User.PermissionsBoundary).toBeUndefined();
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
      (await ok(['iam', 'simulate-custom-policy', '--policy-input-list', policy, '--action-names', 'rds-db:connect', '--resource-arns', resource,
        '--context-entries', `ContextKeyName=aws:SourceIp,ContextKeyValues=${ip},ContextKeyType=ip`])).EvaluationResults[0];
    const allowed = await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/carol', '10.1.2.3');
    expect(allowed.EvalDecision).toBe('allowed');
    expect(allowed.MatchedStatements).toEqual([expect.objectContaining({ SourcePolicyId: 'PolicyInputList.1', SourcePolicyType: 'none' })]);
    expect((await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/admin', '10.1.2.3')).EvalDecision).toBe('explicitDeny');
    expect((await run('arn:aws:rds-db:us-east-1:123456789012:dbuser:db-A/carol', '192.0.2.1')).EvalDecision).toBe('implicitDeny');
  });

  it('lists everything in GetAccountAuthorizationDetails', async () => {
    const all = await ok(['iam', 'get-account-authorization-details']);
    const carol = all.UserDetailList.find((u: { UserName: string }) => u.UserName === 'carol');
    expect(carol.UserPolicyList.map((p: { PolicyName: string }) => p.PolicyName)).toEqual(['db']);
    expect(carol.UserPolicyList[0].PolicyDocument.Statement[0].Sid).toBe('Db');
    expect(carol.GroupList).toEqual(['dbas']);
    expect(all.RoleDetailList.find((r: { RoleName: string }) => r.RoleName === 'app').AssumeRolePolicyDocument.Statement[0].Principal).toEqual({ AWS: ACCOUNT });
    expect(all.Policies.map((p: { PolicyName: string }) => p.PolicyName)).toEqual(expect.arrayContaining(['db-connect', 'carol-boundary']));
    const roles = await ok(['iam', 'get-account-authorization-details', '--filter', 'Role']);
    expect(roles.UserDetailList).toEqual([]);
    expect(roles.RoleDetailList.length).toBeGreaterThan(0);
  });
});
