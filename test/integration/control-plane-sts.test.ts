/**
 * STS through the control plane, driven by the Debian AWS CLI with
 * --endpoint-url: the bootstrap admin's identity, AssumeRole allowed and
 * refused by the trust policy (with and without ExternalId), the
 * authentication failures AWS names, and GetSessionToken.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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

  it('assumes a role when the trust policy allows, with the ExternalId it demands', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/db-reader`;
    const ok = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'test-trust-relationship', '--external-id', 'ext-123'], bob);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout) as { Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string; Expiration: string }; AssumedRoleUser: { Arn: string; AssumedRoleId: string } };
    expect(r.Credentials.AccessKeyId).toMatch(/^ASIA/);
    expect(r.AssumedRoleUser.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/db-reader/test-trust-relationship`);
    expect(r.AssumedRoleUser.AssumedRoleId).toMatch(/^AROA[A-Z0-9]{17}:test-trust-relationship$/);
    const exp = Date.parse(r.Credentials.Expiration) - Date.now();
    expect(exp).toBeGreaterThan(3500_000);
    expect(exp).toBeLessThanOrEqual(3600_000);

    // The temporary credentials work on the API: the caller is the role session.
    const who = await aws(['sts', 'get-caller-identity'], { id: r.Credentials.AccessKeyId, secret: r.Credentials.SecretAccessKey }, { AWS_SESSION_TOKEN: r.Credentials.SessionToken });
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ Arn: r.AssumedRoleUser.Arn, UserId: r.AssumedRoleUser.AssumedRoleId });

    // A forged session token is refused.
    const forged = await aws(['sts', 'get-caller-identity'], { id: r.Credentials.AccessKeyId, secret: r.Credentials.SecretAccessKey }, { AWS_SESSION_TOKEN: `${r.Credentials.SessionToken.slice(0, -4)}AAAA` });
    expect(forged.stderr).toContain('(InvalidClientTokenId)');
  });

  it('refuses AssumeRole without the ExternalId, for a user the trust policy does not name, and for an unknown role', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/db-reader`;
    const noExt = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'test-trust-relationship'], bob);
    expect(noExt.code).not.toBe(0);
    expect(noExt.stderr).toContain('(AccessDenied)');
    expect(noExt.stderr).toContain(`User: arn:aws:iam::${ACCOUNT}:user/bob is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    const wrongExt = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 's1', '--external-id', 'ext-999'], bob);
    expect(wrongExt.stderr).toContain('(AccessDenied)');
    const carolTry = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 's1', '--external-id', 'ext-123'], carol);
    expect(carolTry.stderr).toContain(`User: arn:aws:iam::${ACCOUNT}:user/carol is not authorized to perform: sts:AssumeRole`);
    const unknown = await aws(['sts', 'assume-role', '--role-arn', `arn:aws:iam::${ACCOUNT}:role/nope`, '--role-session-name', 's1'], bob);
    expect(unknown.stderr).toContain('(AccessDenied)');
    const last = iamdb.apiEvents().filter((e) => e.action === 'AssumeRole' && e.decision === 'deny');
    expect(last.length).toBeGreaterThanOrEqual(4);
    expect(last[0]!.authorization).toMatchObject({ action: 'sts:AssumeRole', resource: roleArn });
  });

  it('needs an identity policy when the trust policy names only the account', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    const bobOk = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'acct'], bob);
    expect(bobOk.code, bobOk.stderr).toBe(0);
    const carolNo = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'acct'], carol);
    expect(carolNo.stderr).toContain('(AccessDenied)');
  });

  it('carries session tags and the source identity into the session, as the trust policy allows', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/tagged`;
    const assume = (tag: string, session: string) =>
      aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', session, '--tags', `Key=team,Value=${tag}`, '--source-identity', 'bob-laptop'], bob);
    const db = await assume('db', 'tagged-db');
    expect(db.code, db.stderr).toBe(0);
    const r = JSON.parse(db.stdout);
    expect(r.SourceIdentity).toBe('bob-laptop');
    expect(r.PackedPolicySize).toBeGreaterThan(0);
    const dbCreds = { id: r.Credentials.AccessKeyId, secret: r.Credentials.SecretAccessKey };
    const dbToken = { AWS_SESSION_TOKEN: r.Credentials.SessionToken };
    expect((await aws(['iam', 'get-role', '--role-name', 'tagged'], dbCreds, dbToken)).code).toBe(0);
    const web = JSON.parse((await assume('web', 'tagged-web')).stdout);
    const denied = await aws(['iam', 'get-role', '--role-name', 'tagged'], { id: web.Credentials.AccessKeyId, secret: web.Credentials.SecretAccessKey }, { AWS_SESSION_TOKEN: web.Credentials.SessionToken });
    expect(denied.stderr).toContain('(AccessDenied)');
    // A tag the trust policy does not allow refuses the whole AssumeRole.
    const ops = await assume('ops', 'tagged-ops');
    expect(ops.stderr).toContain('is not authorized to perform: sts:TagSession');
    // The source identity follows a chained session and cannot be changed there.
    const chained = await aws(['sts', 'assume-role', '--role-arn', `arn:aws:iam::${ACCOUNT}:role/account-trust`, '--role-session-name', 'chained', '--source-identity', 'someone-else'], dbCreds, dbToken);
    expect(chained.stderr).toContain('(ValidationError)');
  });

  it('checks DurationSeconds against the role\'s maximum and the session name pattern', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    const long = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'x1', '--duration-seconds', '7200'], bob);
    expect(long.stderr).toContain('(ValidationError)');
    expect(long.stderr).toContain('The requested DurationSeconds exceeds the MaxSessionDuration set for this role.');
    const badName = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'bad name!'], bob);
    expect(badName.stderr).toContain('(ValidationError)');
  });

  it('issues session tokens for users, not for sessions', async () => {
    const out = await aws(['sts', 'get-session-token', '--duration-seconds', '900'], carol);
    expect(out.code, out.stderr).toBe(0);
    const c = (JSON.parse(out.stdout) as { Credentials: { AccessKeyId: string; SecretAccessKey: string; SessionToken: string } }).Credentials;
    const who = await aws(['sts', 'get-caller-identity'], { id: c.AccessKeyId, secret: c.SecretAccessKey }, { AWS_SESSION_TOKEN: c.SessionToken });
    expect(JSON.parse(who.stdout)).toMatchObject({ Arn: `arn:aws:iam::${ACCOUNT}:user/carol` });
    const again = await aws(['sts', 'get-session-token'], { id: c.AccessKeyId, secret: c.SecretAccessKey }, { AWS_SESSION_TOKEN: c.SessionToken });
    expect(again.stderr).toContain('(AccessDenied)');
  });

  it('keeps session-token credentials out of IAM, and away from a user created again under the same name', async () => {
    const admin = iamdb.admin;
    expect((await aws(['iam', 'create-user', '--user-name', 'temp'], admin)).code).toBe(0);
    await aws(['iam', 'put-user-policy', '--user-name', 'temp', '--policy-name', 'iam-read', '--policy-document', JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iam:*', Resource: '*' }] })], admin);
    const key = JSON.parse((await aws(['iam', 'create-access-key', '--user-name', 'temp'], admin)).stdout).AccessKey;
    const tempKey = { id: key.AccessKeyId as string, secret: key.SecretAccessKey as string };
    expect((await aws(['iam', 'get-user'], tempKey)).code).toBe(0);
    const c = JSON.parse((await aws(['sts', 'get-session-token'], tempKey)).stdout).Credentials;
    const session = { id: c.AccessKeyId as string, secret: c.SecretAccessKey as string };
    const token = { AWS_SESSION_TOKEN: c.SessionToken as string };
    const iamCall = await aws(['iam', 'get-user'], session, token);
    expect(iamCall.stderr).toContain('(AccessDenied)');
    expect(iamCall.stderr).toContain('credentials from GetSessionToken cannot call IAM without MFA');
    expect((await aws(['sts', 'get-caller-identity'], session, token)).code).toBe(0);
    await aws(['iam', 'delete-access-key', '--user-name', 'temp', '--access-key-id', tempKey.id], admin);
    await aws(['iam', 'delete-user-policy', '--user-name', 'temp', '--policy-name', 'iam-read'], admin);
    expect((await aws(['iam', 'delete-user', '--user-name', 'temp'], admin)).code).toBe(0);
    expect((await aws(['iam', 'create-user', '--user-name', 'temp'], admin)).code).toBe(0);
    expect((await aws(['sts', 'get-caller-identity'], session, token)).stderr).toContain('(InvalidClientTokenId)');
  });

  it('never issues a session token too large to read back', async () => {
    const roleArn = `arn:aws:iam::${ACCOUNT}:role/account-trust`;
    // About 4 KB of policy, most of it whitespace: packed it is small and must work.
    const airy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: '*' }] }, null, 200);
    const ok = await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'airy', '--policy', airy], bob);
    expect(ok.code, ok.stderr).toBe(0);
    const r = JSON.parse(ok.stdout);
    const who = await aws(['sts', 'get-caller-identity'], { id: r.Credentials.AccessKeyId, secret: r.Credentials.SecretAccessKey }, { AWS_SESSION_TOKEN: r.Credentials.SessionToken });
    expect(who.code, who.stderr).toBe(0);
    const dense = JSON.stringify({ Version: '2012-10-17', Statement: Array.from({ length: 60 }, (_, i) => ({ Sid: `S${i}`, Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:us-east-1:${ACCOUNT}:dbuser:*/user_${i}` })) });
    expect((await aws(['sts', 'assume-role', '--role-arn', roleArn, '--role-session-name', 'dense', '--policy', dense], bob)).stderr).toContain('(PackedPolicyTooLarge)');
  });

  it('never writes a secret or session token to the audit log', () => {
    const text = JSON.stringify(iamdb.audit.events);
    expect(text).not.toContain(bob.secret);
    expect(text).not.toContain('IQoJb3JpZ2luX2Vj');
    expect(text).not.toContain(iamdb.admin.secret);
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
