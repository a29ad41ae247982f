/**
 * STS through the control plane: the bootstrap admin's identity and the
 * authentication failures AWS names, driven by the Debian AWS CLI with
 * --endpoint-url (and --ca-bundle over HTTPS); AssumeRole allowed and refused
 * by the trust policy (with and without ExternalId), session tags, and
 * GetSessionToken, driven by the SDK v3 STS and IAM clients.
 */
import { CreateAccessKeyCommand, CreateUserCommand, DeleteAccessKeyCommand, DeleteUserCommand, DeleteUserPolicyCommand, GetRoleCommand, GetUserCommand, IAMClient, PutUserPolicyCommand } from '@aws-sdk/client-iam';
import { AssumeRoleCommand, GetCallerIdentityCommand, GetSessionTokenCommand, STSClient, type AssumeRoleCommandInput } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failure, sdkClient, sessionKey, type AwsKey } from '../support/aws-sdk.js';
import { runAwsCli } from '../support/clients.js';
import { ACCOUNT, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
const bob = newAccessKey();
const carol = newAccessKey();

beforeAll(async () => {
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        { name: 'bob', accessKeys: [bob], policies: [{ name: 'assume', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] } }] },
        { name: 'carol', accessKeys: [carol] },
      ],
      roles: [
        {
          name: 'db-reader',
          assumeRolePolicy: {
            Version: '2012-10-17',
            Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: 'sts:AssumeRole', Condition: { StringEquals: { 'sts:ExternalId': 'ext-123' } } }],
          },
        },
        {
          name: 'tagged',
          assumeRolePolicy: {
            Version: '2012-10-17',
            Statement: [
              { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: ['sts:AssumeRole', 'sts:SetSourceIdentity'] },
              { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:user/bob` }, Action: 'sts:TagSession', Condition: { StringEquals: { 'aws:RequestTag/team': ['db', 'web'] } } },
            ],
          },
          // What the session may do depends on its tags.
          policies: [{ name: 'by-team', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:GetRole', Resource: '*', Condition: { StringEquals: { 'aws:PrincipalTag/team': 'db' } } }] } }],
        },
        {
          name: 'account-trust',
          assumeRolePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' }] },
        },
      ],
    },
  });
});
afterAll(() => iamdb.stop());

function aws(args: string[], key: { id: string; secret: string }, extra: Record<string, string> = {}) {
  return runAwsCli([...args, '--endpoint-url', iamdb.apiUrl, '--region', 'us-east-1', '--output', 'json'], {
    AWS_ACCESS_KEY_ID: key.id,
    AWS_SECRET_ACCESS_KEY: key.secret,
    AWS_MAX_ATTEMPTS: '1',
    ...extra,
  });
}

const sts = (key: AwsKey): STSClient => sdkClient(STSClient, iamdb.apiUrl, key);
const iam = (key: AwsKey): IAMClient => sdkClient(IAMClient, iamdb.apiUrl, key);
const assumeRole = (key: AwsKey, input: AssumeRoleCommandInput) => sts(key).send(new AssumeRoleCommand(input));
const callerIdentity = (key: AwsKey) => sts(key).send(new GetCallerIdentityCommand({}));

describe('STS through the control plane with the AWS CLI', () => {
  it('answers GetCallerIdentity for the bootstrap admin from the credentials file', async () => {
    const out = await aws(['sts', 'get-caller-identity'], iamdb.admin);
    expect(out.code, out.stderr).toBe(0);
    const id = JSON.parse(out.stdout) as { Arn: string; Account: string; UserId: string };
    expect(id).toMatchObject({ Arn: `arn:aws:iam::${ACCOUNT}:user/iamdb-admin`, Account: ACCOUNT });
    expect(id.UserId).toMatch(/^AIDA[A-Z0-9]{17}$/);
  });

  it('refuses an unknown key, a wrong secret and an unsigned request with AWS\'s codes', async () => {
    const unknown = await aws(['sts', 'get-caller-identity'], newAccessKey());
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('(InvalidClientTokenId)');
    expect(unknown.stderr).toContain('The security token included in the request is invalid.');
    const wrong = await aws(['sts', 'get-caller-identity'], { id: bob.id, secret: carol.secret });
    expect(wrong.stderr).toContain('(SignatureDoesNotMatch)');
    const unsigned = await runAwsCli(['sts', 'get-caller-identity', '--no-sign-request', '--endpoint-url', iamdb.apiUrl, '--region', 'us-east-1'], { AWS_MAX_ATTEMPTS: '1' });
    expect(unsigned.stderr).toContain('(MissingAuthenticationToken)');
    const denied = iamdb.apiEvents().filter((e) => e.decision === 'deny').map((e) => e.reason);
    expect(denied).toEqual(expect.arrayContaining(['GATEWAY_UNKNOWN_ACCESS_KEY', 'REQUEST_SIGNATURE_MISMATCH', 'REQUEST_AUTH_MISSING']));
  });
});

describe('STS through the control plane with the SDK', () => {

  it('assumes a role when the trust policy allows, with the ExternalId it demands', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/db-reader`;
    const r = await assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'test-trust-relationship', ExternalId: 'ext-123' });
    expect(r.Credentials!.AccessKeyId).toMatch(/^ASIA/);
    expect(r.AssumedRoleUser!.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/db-reader/test-trust-relationship`);
    expect(r.AssumedRoleUser!.AssumedRoleId).toMatch(/^AROA[A-Z0-9]{17}:test-trust-relationship$/);
    const exp = r.Credentials!.Expiration!.getTime() - Date.now();
    expect(exp).toBeGreaterThan(3500_000);
    expect(exp).toBeLessThanOrEqual(3600_000);

    // The temporary credentials work on the API: the caller is the role session.
    const session = sessionKey(r.Credentials);
    expect(await callerIdentity(session)).toMatchObject({ Arn: r.AssumedRoleUser!.Arn, UserId: r.AssumedRoleUser!.AssumedRoleId });

    // A forged session token is refused.
    const forged = await failure(callerIdentity({ ...session, sessionToken: `${session.sessionToken.slice(0, -4)}AAAA` }));
    expect(forged).toContain('(InvalidClientTokenId)');
  });

  it('refuses AssumeRole without the ExternalId, for a user the trust policy does not name, and for an unknown role', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/db-reader`;
    const noExt = await failure(assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'test-trust-relationship' }));
    expect(noExt).toContain('(AccessDenied)');
    expect(noExt).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    const wrongExt = await failure(assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 's1', ExternalId: 'ext-999' }));
    expect(wrongExt).toContain('(AccessDenied)');
    const carolTry = await failure(assumeRole(carol, { RoleArn: roleArn, RoleSessionName: 's1', ExternalId: 'ext-123' }));
    expect(carolTry).toContain(`User: arn:aws:iam::${ACCOUNT}:user/carol is not authorized to perform: sts:AssumeRole`);
    const unknown = await failure(assumeRole(bob, { RoleArn: `arn:aws:iam::${ACCOUNT}:role/nope`, RoleSessionName: 's1' }));
    expect(unknown).toContain('(AccessDenied)');
    const last = iamdb.apiEvents().filter((e) => e.action === 'AssumeRole' && e.decision === 'deny');
    expect(last.length).toBeGreaterThanOrEqual(4);
    expect(last[0]!.authorization).toMatchObject({ action: 'sts:AssumeRole', resource: roleArn });
  });

  it('needs an identity policy when the trust policy names only the account', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    await assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'acct' });
    const carolNo = await failure(assumeRole(carol, { RoleArn: roleArn, RoleSessionName: 'acct' }));
    expect(carolNo).toContain('(AccessDenied)');
  });

  it('carries session tags and the source identity into the session, as the trust policy allows', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/tagged`;
    const assume = (tag: string, session: string) =>
      assumeRole(bob, { RoleArn: roleArn, RoleSessionName: session, Tags: [{ Key: 'team', Value: tag }], SourceIdentity: 'bob-laptop' });
    const r = await assume('db', 'tagged-db');
    expect(r.SourceIdentity).toBe('bob-laptop');
    expect(r.PackedPolicySize).toBeGreaterThan(0);
    const dbSession = sessionKey(r.Credentials);
    await iam(dbSession).send(new GetRoleCommand({ RoleName: 'tagged' }));
    const web = sessionKey((await assume('web', 'tagged-web')).Credentials);
    const denied = await failure(iam(web).send(new GetRoleCommand({ RoleName: 'tagged' })));
    expect(denied).toContain('(AccessDenied)');
    // A tag the trust policy does not allow refuses the whole AssumeRole.
    const ops = await failure(assume('ops', 'tagged-ops'));
    expect(ops).toContain('is not authorized to perform: sts:TagSession');
    // The source identity follows a chained session and cannot be changed there.
    const chained = await failure(assumeRole(dbSession, { RoleArn: `arn:aws:iam::${ACCOUNT}:role/account-trust`, RoleSessionName: 'chained', SourceIdentity: 'someone-else' }));
    expect(chained).toContain('(ValidationError)');
  });

  it('checks DurationSeconds against the role\'s maximum and the session name pattern', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    const long = await failure(assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'x1', DurationSeconds: 7200 }));
    expect(long).toContain('(ValidationError)');
    expect(long).toContain('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    const badName = await failure(assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'bad name!' }));
    expect(badName).toContain('(ValidationError)');
  });

  it('issues session tokens for users, not for sessions', async () => {
    const session = sessionKey((await sts(carol).send(new GetSessionTokenCommand({ DurationSeconds: 900 }))).Credentials);
    expect(await callerIdentity(session)).toMatchObject({ Arn: `arn:aws:iam::${ACCOUNT}:user/carol` });
    const again = await failure(sts(session).send(new GetSessionTokenCommand({})));
    expect(again).toContain('(AccessDenied)');
  });

  it('keeps session-token credentials out of IAM, and away from a user created again under the same name', async () => {
    const admin = iam(iamdb.admin);
    await admin.send(new CreateUserCommand({ UserName: 'temp' }));
    await admin.send(new PutUserPolicyCommand({ UserName: 'temp', PolicyName: 'iam-read', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] }) }));
    const key = (await admin.send(new CreateAccessKeyCommand({ UserName: 'temp' }))).AccessKey!;
    const tempKey = { id: key.AccessKeyId!, secret: key.SecretAccessKey! };
    await iam(tempKey).send(new GetUserCommand({}));
    const session = sessionKey((await sts(tempKey).send(new GetSessionTokenCommand({}))).Credentials);
    const iamCall = await failure(iam(session).send(new GetUserCommand({})));
    expect(iamCall).toContain('(AccessDenied)');
    expect(iamCall).toContain('credentials from GetSessionToken cannot call IAM without MFA');
    await callerIdentity(session);
    await admin.send(new DeleteAccessKeyCommand({ UserName: 'temp', AccessKeyId: tempKey.id }));
    await admin.send(new DeleteUserPolicyCommand({ UserName: 'temp', PolicyName: 'iam-read' }));
    await admin.send(new DeleteUserCommand({ UserName: 'temp' }));
    await admin.send(new CreateUserCommand({ UserName: 'temp' }));
    expect(await failure(callerIdentity(session))).toContain('(InvalidClientTokenId)');
  });

  it('never issues a session token too large to read back', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    // About 4 KB of policy, most of it whitespace: packed it is small and must work.
    const airy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' }] }, null, 200);
    const r = await assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'airy', Policy: airy });
    await callerIdentity(sessionKey(r.Credentials));
    const dense = JSON.stringify({ Version: '2012-10-17', Statement: Array.from({ length: 60 }, (_, i) => ({ Sid: `S${i}`, Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/user_${i}` })) });
    expect(await failure(assumeRole(bob, { RoleArn: roleArn, RoleSessionName: 'dense', Policy: dense }))).toContain('(PackedPolicyTooLarge)');
  });

  it('never writes a secret or session token to the audit log', async () => {
    // Its own calls, so the check never reads an empty log: a session issued and used, then refused.
    const before = iamdb.audit.events.length;
    const session = sessionKey((await assumeRole(bob, { RoleArn: `arn:aws:iam::${ACCOUNT}:role/account-trust`, RoleSessionName: 'audit' })).Credentials);
    await callerIdentity(session);
    await failure(callerIdentity({ ...session, sessionToken: `${session.sessionToken.slice(0, -4)}AAAA` }));
    const events = iamdb.audit.events.slice(before);
    expect(events.map((e) => (e.event === 'api.call' ? [e.action, e.decision] : e.event))).toEqual([
      ['AssumeRole', 'allow'],
      ['GetCallerIdentity', 'allow'],
      ['GetCallerIdentity', 'deny'],
    ]);
    const text = JSON.stringify(iamdb.audit.events);
    for (const secret of [bob.secret, session.secret, session.sessionToken, session.sessionToken.slice(0, -4), iamdb.admin.secret]) expect(text).not.toContain(secret);
    expect(text).not.toContain('IQoJb3JpZ2luX2Vj');
  });
});

describe('the control plane over HTTPS', () => {
  let secure: TestIamdb;
  beforeAll(async () => {
    secure = await startIamdb({ api: { listen: 'auto', tls: 'on' } });
  });
  afterAll(() => secure.stop());

  it('serves HTTPS with a certificate from iamdb\'s CA, and the CLI verifies it', async () => {
    expect(secure.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const env = { AWS_ACCESS_KEY_ID: secure.admin.id, AWS_SECRET_ACCESS_KEY: secure.admin.secret, AWS_MAX_ATTEMPTS: '1' };
    const verified = await runAwsCli(['sts', 'get-caller-identity', '--endpoint-url', secure.apiUrl, '--region', 'us-east-1', '--ca-bundle', secure.caPath, '--output', 'json'], env);
    expect(verified.code, verified.stderr).toBe(0);
    expect(JSON.parse(verified.stdout).Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/iamdb-admin`);
    const unverified = await runAwsCli(['sts', 'get-caller-identity', '--endpoint-url', secure.apiUrl, '--region', 'us-east-1'], env);
    expect(unverified.code).not.toBe(0);
    expect(unverified.stderr).toMatch(/SSL validation failed|CERTIFICATE_VERIFY_FAILED/);
    const plain = await runAwsCli(['sts', 'get-caller-identity', '--endpoint-url', secure.apiUrl.replace('https:', 'http:'), '--region', 'us-east-1'], env);
    expect(plain.code).not.toBe(0);
  });
});
