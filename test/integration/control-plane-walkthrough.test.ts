/**
 * The whole control plane in one walk, driven by the AWS SDK for JavaScript
 * v3 clients and the Debian AWS CLI against a real PostgreSQL behind iamdb:
 * the admin creates a user with a key and a policy and a role it may assume;
 * the user assumes the role and logs in to the database with a token signed
 * by the role's temporary credentials; the role's policy changes and the next
 * login is refused; the simulator shows both decisions; ModifyDBInstance
 * turns IAM authentication off and on without dropping the open session.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AttachUserPolicyCommand, CreateAccessKeyCommand, DeleteRolePolicyCommand, CreatePolicyCommand, CreateRoleCommand, CreateUserCommand, IAMClient, PutRolePolicyCommand, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { DescribeDBInstancesCommand, ListTagsForResourceCommand, RDSClient } from '@aws-sdk/client-rds';
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { Signer } from '@aws-sdk/rds-signer';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runAwsCli, runPsql } from '../support/clients.js';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const dbUser = `app_${randomBytes(3).toString('hex')}`;
let gw: TestIamdb;
let host: string;
let port: number;
let resourceId: string;
/** Real time plus an offset the tests move, so expiry needs no waiting. */
const clock = { offsetMs: 0, now(): number { return Date.now() + this.offsetMs; } };

/** A token signed at iamdb's (possibly moved) time. */
function tokenAt(creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }): string {
  return presignDbAuthToken({
    hostname: host,
    port,
    username: dbUser,
    region: REGION,
    credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: new Secret(creds.secretAccessKey), ...(creds.sessionToken ? { sessionToken: new Secret(creds.sessionToken) } : {}) },
    date: new Date(clock.now()),
  }).reveal();
}

type Creds = { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
const sdk = <T>(Client: new (c: object) => T, credentials: Creds): T => new Client({ endpoint: gw.apiUrl, region: REGION, credentials, maxAttempts: 1 });
const admin = (): Creds => ({ accessKeyId: gw.admin.id, secretAccessKey: gw.admin.secret });

async function login(user: string, password: string): Promise<pg.Client> {
  const client = new pg.Client({ host, port, user, password, database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
  await client.connect();
  return client;
}

async function loginError(user: string, password: string): Promise<string> {
  const client = new pg.Client({ host, port, user, password, database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
  const err = await client.connect().then(
    () => undefined,
    (e: Error) => e,
  );
  await client.end().catch(() => undefined);
  expect(err).toBeInstanceOf(Error);
  return err!.message;
}

function awsCli(args: string[], creds: Creds) {
  return runAwsCli([...args, '--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'], {
    AWS_ACCESS_KEY_ID: creds.accessKeyId,
    AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
    ...(creds.sessionToken ? { AWS_SESSION_TOKEN: creds.sessionToken } : {}),
    AWS_MAX_ATTEMPTS: '1',
  });
}

beforeAll(async () => {
  gw = await startIamdb({
    api: { listen: 'auto' },
    instances: [
      {
        id: 'orders-pg',
        engine: 'postgres',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
        tags: { team: 'orders' },
      },
    ],
  }, { clock });
  ({ host, port } = gw.endpoint('orders-pg'));
  const setup = await runPsql(
    `host=${host} port=${port} dbname=postgres user=${server.user} sslmode=verify-full sslrootcert=${gw.caPath} password=${server.password}`,
    `CREATE USER ${dbUser}; GRANT rds_iam TO ${dbUser};`,
  );
  expect(setup.stderr).toBe('');
});
afterAll(() => gw?.stop());

describe('a walk through the control plane to a database login', () => {
  let developer: Creds;
  let roleCreds: Creds;
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/orders-app`;

  it('finds the instance with DescribeDBInstances (SDK), as RDS shows it', async () => {
    const rds = sdk(RDSClient, admin());
    const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'orders-pg' }));
    const db = out.DBInstances![0]!;
    expect(db).toMatchObject({ DBInstanceIdentifier: 'orders-pg', Engine: 'postgres', IAMDatabaseAuthenticationEnabled: true, Endpoint: { Address: host, Port: port }, DBInstanceStatus: 'available' });
    expect(db.DbiResourceId).toMatch(/^db-[A-Z0-9]{26}$/);
    expect(db.TagList).toEqual([{ Key: 'team', Value: 'orders' }]);
    resourceId = db.DbiResourceId!;
    const tags = await rds.send(new ListTagsForResourceCommand({ ResourceName: db.DBInstanceArn! }));
    expect(tags.TagList).toEqual([{ Key: 'team', Value: 'orders' }]);
    await expect(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'nope' }))).rejects.toMatchObject({ name: 'DBInstanceNotFoundFault' });
  });

  it('creates a developer with a key and a policy that lets them assume the app role (SDK)', async () => {
    const iam = sdk(IAMClient, admin());
    await iam.send(new CreateUserCommand({ UserName: 'developer' }));
    const key = await iam.send(new CreateAccessKeyCommand({ UserName: 'developer' }));
    developer = { accessKeyId: key.AccessKey!.AccessKeyId!, secretAccessKey: key.AccessKey!.SecretAccessKey! };
    const policy = await iam.send(
      new CreatePolicyCommand({
        PolicyName: 'assume-orders-app',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: roleArn }] }),
      }),
    );
    await iam.send(new AttachUserPolicyCommand({ UserName: 'developer', PolicyArn: policy.Policy!.Arn! }));
    await iam.send(
      new CreateRoleCommand({
        RoleName: 'orders-app',
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' }] }),
      }),
    );
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'orders-app',
        PolicyName: 'connect',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${resourceId}/${dbUser}` }] }),
      }),
    );
    const who = await sdk(STSClient, developer).send(new GetCallerIdentityCommand({}));
    expect(who.Arn).toBe(`arn:aws:iam::${ACCOUNT}:user/developer`);
  });

  it('assumes the role (SDK) and logs in with a token signed by its temporary credentials', async () => {
    const out = await sdk(STSClient, developer).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'dev-laptop', DurationSeconds: 900 }));
    roleCreds = { accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken! };
    expect(out.AssumedRoleUser!.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/orders-app/dev-laptop`);
    const token = await new Signer({ hostname: host, port, username: dbUser, region: REGION, credentials: roleCreds }).getAuthToken();
    expect(token).toContain('X-Amz-Security-Token=');
    const client = await login(dbUser, token);
    expect((await client.query<{ u: string }>('select current_user as u')).rows[0]!.u).toBe(dbUser);
    await client.end();
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', principal: `arn:aws:sts::${ACCOUNT}:assumed-role/orders-app/dev-laptop`, accessKeyId: roleCreds.accessKeyId });

    // The same with the Debian AWS CLI's token and psql.
    const cliToken = await awsCli(['rds', 'generate-db-auth-token', '--hostname', host, '--port', String(port), '--username', dbUser], roleCreds);
    expect(cliToken.code, cliToken.stderr).toBe(0);
    const psql = await runPsql(`host=${host} port=${port} dbname=postgres user=${dbUser} sslmode=verify-full sslrootcert=${gw.caPath} password=${cliToken.stdout.trim()}`, 'select current_user');
    expect(psql.stdout.trim()).toBe(dbUser);
  });

  it('simulates the allowed decision for the role', async () => {
    const iam = sdk(IAMClient, admin());
    const sim = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['rds-db:connect'], ResourceArns: [`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${resourceId}/${dbUser}`] }));
    expect(sim.EvaluationResults![0]!.EvalDecision).toBe('allowed');
    expect(sim.EvaluationResults![0]!.MatchedStatements).toEqual([expect.objectContaining({ SourcePolicyId: 'connect', SourcePolicyType: 'role' })]);
  });

  it('refuses the next login once the role\'s policy no longer allows it, and the simulator agrees', async () => {
    const iam = sdk(IAMClient, admin());
    const openSession = await login(dbUser, await new Signer({ hostname: host, port, username: dbUser, region: REGION, credentials: roleCreds }).getAuthToken());
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'orders-app',
        PolicyName: 'connect',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${resourceId}/someone_else` }] }),
      }),
    );
    const token = await new Signer({ hostname: host, port, username: dbUser, region: REGION, credentials: roleCreds }).getAuthToken();
    expect(await loginError(dbUser, token)).toContain(`PAM authentication failed for user "${dbUser}"`);
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'NotAuthorized', principal: `arn:aws:sts::${ACCOUNT}:assumed-role/orders-app/dev-laptop` });
    const sim = await iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['rds-db:connect'], ResourceArns: [`arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${resourceId}/${dbUser}`] }));
    expect(sim.EvaluationResults![0]!.EvalDecision).toBe('implicitDeny');
    // Sessions already open are not cut by a policy change, as on RDS.
    expect((await openSession.query('select 1 as one')).rows[0].one).toBe(1);
    await openSession.end();
  });

  it('turns IAM authentication off and on with the AWS CLI without dropping an open session', async () => {
    const iam = sdk(IAMClient, admin());
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'orders-app',
        PolicyName: 'connect',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:${resourceId}/${dbUser}` }] }),
      }),
    );
    const sign = () => new Signer({ hostname: host, port, username: dbUser, region: REGION, credentials: roleCreds }).getAuthToken();
    const open = await login(dbUser, await sign());
    const off = await awsCli(['rds', 'modify-db-instance', '--db-instance-identifier', 'orders-pg', '--no-enable-iam-database-authentication', '--apply-immediately'], admin());
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse(off.stdout).DBInstance.IAMDatabaseAuthenticationEnabled).toBe(false);
    expect(await loginError(dbUser, await sign())).toContain('PAM authentication failed');
    expect(gw.lastAuth()?.reason).toBe('IamAuthDisabled');
    expect((await open.query('select 2 as two')).rows[0].two).toBe(2);
    const on = await awsCli(['rds', 'modify-db-instance', '--db-instance-identifier', 'orders-pg', '--enable-iam-database-authentication', '--apply-immediately'], admin());
    expect(JSON.parse(on.stdout).DBInstance.IAMDatabaseAuthenticationEnabled).toBe(true);
    const again = await login(dbUser, await sign());
    await again.end();
    await open.end();
    const listed = await awsCli(['rds', 'describe-db-instances'], admin());
    expect(JSON.parse(listed.stdout).DBInstances[0].IAMDatabaseAuthenticationEnabled).toBe(true);
  });

  it('applies a session policy from AssumeRole as a ceiling at the gateway', async () => {
    const sessionPolicy = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/someone_else` }] });
    const out = await sdk(STSClient, developer).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'narrowed', Policy: sessionPolicy }));
    const narrowed = { accessKeyId: out.Credentials!.AccessKeyId!, secretAccessKey: out.Credentials!.SecretAccessKey!, sessionToken: out.Credentials!.SessionToken! };
    expect(out.PackedPolicySize).toBeGreaterThan(0);
    expect(await loginError(dbUser, tokenAt(narrowed))).toContain('PAM authentication failed');
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'NotAuthorized', principal: `arn:aws:sts::${ACCOUNT}:assumed-role/orders-app/narrowed` });
    // The role's own session, without the ceiling, still gets in.
    (await login(dbUser, tokenAt(roleCreds))).end();
  });

  it('refuses revoked sessions (a deny on aws:TokenIssueTime) on the API and at the gateway', async () => {
    const iam = sdk(IAMClient, admin());
    const cutoff = new Date(clock.now() + 1000).toISOString();
    await iam.send(
      new PutRolePolicyCommand({
        RoleName: 'orders-app',
        PolicyName: 'AWSRevokeOlderSessions',
        PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: '*', Resource: '*', Condition: { DateLessThan: { 'aws:TokenIssueTime': cutoff } } }] }),
      }),
    );
    expect(await loginError(dbUser, tokenAt(roleCreds))).toContain('PAM authentication failed');
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'ExplicitDeny' });
    const api = await awsCli(['rds', 'describe-db-instances'], roleCreds);
    expect(api.stderr).toContain('(AccessDenied)');
    expect(api.stderr).toContain('with an explicit deny in an identity-based policy');
    // A session issued after the cut-off is not affected.
    clock.offsetMs += 2000;
    const fresh = await sdk(STSClient, developer).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 'after-revocation' }));
    clock.offsetMs -= 2000;
    const freshCreds = { accessKeyId: fresh.Credentials!.AccessKeyId!, secretAccessKey: fresh.Credentials!.SecretAccessKey!, sessionToken: fresh.Credentials!.SessionToken! };
    clock.offsetMs += 2000;
    (await login(dbUser, tokenAt(freshCreds))).end();
    clock.offsetMs -= 2000;
    await iam.send(new DeleteRolePolicyCommand({ RoleName: 'orders-app', PolicyName: 'AWSRevokeOlderSessions' }));
  });

  it('refuses expired temporary credentials on the API and at the gateway', async () => {
    clock.offsetMs = 16 * 60_000; // the 900 s session from AssumeRole has ended
    try {
      // The SDK signs at iamdb's moved time (systemClockOffset), so only the session's age is at stake.
      const sts = new STSClient({ endpoint: gw.apiUrl, region: REGION, credentials: roleCreds, maxAttempts: 1, systemClockOffset: clock.offsetMs });
      await expect(sts.send(new GetCallerIdentityCommand({}))).rejects.toMatchObject({ name: 'ExpiredToken', message: 'The security token included in the request is expired' });
      expect(await loginError(dbUser, tokenAt(roleCreds))).toContain('PAM authentication failed');
      expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'ExpiredSessionCredentials' });
    } finally {
      clock.offsetMs = 0;
    }
  });

  it('tags the instance with the AWS CLI and refuses RDS calls the caller may not make', async () => {
    const arn = `arn:aws:rds:${REGION}:${ACCOUNT}:db:orders-pg`;
    expect((await awsCli(['rds', 'add-tags-to-resource', '--resource-name', arn, '--tags', 'Key=env,Value=dev'], admin())).code).toBe(0);
    expect(JSON.parse((await awsCli(['rds', 'list-tags-for-resource', '--resource-name', arn], admin())).stdout).TagList).toEqual([{ Key: 'team', Value: 'orders' }, { Key: 'env', Value: 'dev' }]);
    expect((await awsCli(['rds', 'remove-tags-from-resource', '--resource-name', arn, '--tag-keys', 'team'], admin())).code).toBe(0);
    expect(gw.app.instances.get('orders-pg')!.tags).toEqual({ env: 'dev' });
    const denied = await awsCli(['rds', 'modify-db-instance', '--db-instance-identifier', 'orders-pg', '--no-enable-iam-database-authentication', '--apply-immediately'], developer);
    expect(denied.stderr).toContain('(AccessDenied)');
    expect(denied.stderr).toContain(`User: arn:aws:iam::${ACCOUNT}:user/developer is not authorized to perform: rds:ModifyDBInstance on resource: ${arn}`);
    expect(gw.app.instances.get('orders-pg')!.iamDatabaseAuthentication).toBe(true);
  });
});
