/**
 * RDS Proxy's credentials and target health against the real parts: an
 * iamdb whose control plane (driven by the AWS SDK) holds the proxy's role,
 * policies, KMS key and secret; ProxyCredentials reading them through the
 * same IAM engine; and TargetHealthChecker logging in to the test
 * PostgreSQL 15 and MariaDB 10.11 with the secret's user. Each cause of
 * seed 003 that happens on this side is made for real, shows in the
 * target's health with a description naming it, and is fixed again; the
 * target then becomes AVAILABLE on its own (the checker runs every 200 ms;
 * the test waits for its change event, never for time).
 */
import { randomBytes } from 'node:crypto';
import * as IAM from '@aws-sdk/client-iam';
import * as KMS from '@aws-sdk/client-kms';
import * as SM from '@aws-sdk/client-secrets-manager';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IamLogin } from '../../src/gateway/iam-login.js';
import { NO_CREDENTIALS_DESCRIPTION, TargetHealthChecker, proxyDbUserArn, type HealthProxy, type TargetHealth } from '../../src/gateway/proxy/index.js';
import { ProxyCredentials, type DbInstance, type ProxyAuthEntry } from '../../src/rds/index.js';
import { presignDbAuthToken } from '../../src/sigv4/presign.js';
import { Secret } from '../../src/util/index.js';
import { sdkClient } from '../support/aws-sdk.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { getMariaDb, getPostgres } from '../support/servers.js';

const suffix = randomBytes(4).toString('hex');
const dbUser = `proxy_app_${suffix}`;
const dbPassword = `pw-${randomBytes(12).toString('hex')}`;
const roleName = `proxy-role-${suffix}`;
const roleArn = `arn:aws:iam::${ACCOUNT}:role/${roleName}`;
const trustRds = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
const noConnect = newAccessKey();
const canConnect = newAccessKey();

let iamdb: TestIamdb;
let keyArn: string;
let secretArn: string;
let credentials: ProxyCredentials;
const iam = (): IAM.IAMClient => sdkClient(IAM.IAMClient, iamdb.apiUrl, iamdb.admin);
const kms = (): KMS.KMSClient => sdkClient(KMS.KMSClient, iamdb.apiUrl, iamdb.admin);
const sm = (): SM.SecretsManagerClient => sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, iamdb.admin);

/** The role's permissions: GetSecretValue on the secret, kms:Decrypt through Secrets Manager, each removable. */
function rolePolicy(opts: { getSecret?: boolean; decrypt?: boolean } = {}): string {
  const statements: object[] = [];
  if (opts.getSecret ?? true) statements.push({ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: secretArn });
  if (opts.decrypt ?? true) statements.push({ Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } });
  if (statements.length === 0) statements.push({ Effect: 'Allow', Action: 'rds:DescribeDBInstances', Resource: '*' });
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}
const putRolePolicy = (opts?: { getSecret?: boolean; decrypt?: boolean }): Promise<unknown> =>
  iam().send(new IAM.PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'proxy-secrets', PolicyDocument: rolePolicy(opts) }));
const putSecret = (value: string): Promise<unknown> => sm().send(new SM.PutSecretValueCommand({ SecretId: secretArn, SecretString: value }));
const goodValue = (): string => JSON.stringify({ username: dbUser, password: dbPassword, engine: 'postgres', host: 'ignored' });

function instanceOf(engine: 'postgres' | 'mariadb', port?: number): DbInstance {
  const db = engine === 'postgres' ? getPostgres() : getMariaDb();
  return {
    id: `${engine}-target`,
    engine: engine === 'postgres' ? 'postgres' : 'mysql',
    engineName: engine,
    resourceId: `db-${suffix.toUpperCase()}`,
    listen: { host: '127.0.0.1', port: 1 },
    endpoints: [],
    target: { host: db.host, port: port ?? db.port },
    targetTls: { mode: 'verify-full', ca: db.caCertPath, serverName: 'localhost' },
    master: { username: db.user, password: new Secret(db.password) },
    accountAdmins: [],
    iamDatabaseAuthentication: true,
    tags: {},
    createdAt: Date.now(),
    engineVersion: undefined,
  };
}

/** A proxy with one target and settable auth entries and target, watched by a checker every 200 ms. */
function watch(engine: 'postgres' | 'mariadb'): { checker: TargetHealthChecker; proxy: HealthProxy & { auth: ProxyAuthEntry[] }; target: { instance: DbInstance }; next: (pred: (h: TargetHealth) => boolean) => Promise<TargetHealth> } {
  const proxy = {
    id: `prx-${engine}-${suffix}`,
    proxyName: `proxy-${engine}-${suffix}`,
    proxyArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db-proxy:prx-${suffix}`,
    roleArn,
    region: REGION,
    account: ACCOUNT,
    partition: 'aws',
    auth: [{ secretArn, iamAuth: 'DISABLED' as const }] as ProxyAuthEntry[],
  };
  const target = { instance: instanceOf(engine) };
  const checker = new TargetHealthChecker({
    source: { targets: () => [{ proxy, instanceIds: [target.instance.id] }], instance: (id) => (id === target.instance.id ? target.instance : undefined) },
    credentials,
    intervalMs: 200,
    timeoutMs: 5_000,
  });
  /** The first health of the target that `pred` accepts, now or at a later change. */
  const next = (pred: (h: TargetHealth) => boolean): Promise<TargetHealth> =>
    new Promise((resolve) => {
      const now = checker.healthOf(proxy.id, target.instance.id);
      if (pred(now)) return resolve(now);
      const off = checker.onChange((c) => {
        if (c.instanceId === target.instance.id && pred(c.health)) {
          off();
          resolve(c.health);
        }
      });
    });
  return { checker, proxy, target, next };
}

/** Runs `body` while the checker checks every interval, and stops it after. */
async function running(checker: TargetHealthChecker, body: () => Promise<void>): Promise<void> {
  checker.start();
  try {
    await body();
  } finally {
    await checker.stop();
  }
}

const available = (h: TargetHealth): boolean => h.State === 'AVAILABLE';
const unavailable = (h: TargetHealth): boolean => h.State === 'UNAVAILABLE';

beforeAll(async () => {
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        { name: `no-connect-${suffix}`, accessKeys: [noConnect] },
        {
          name: `connect-${suffix}`,
          accessKeys: [canConnect],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-${suffix.toUpperCase()}/${dbUser}` }] } }],
        },
      ],
    },
  });
  credentials = new ProxyCredentials({ iam: iamdb.app.iam, keyring: iamdb.app.keyring, secrets: iamdb.app.secrets });
  keyArn = (await kms().send(new KMS.CreateKeyCommand({ Description: 'proxy secrets' }))).KeyMetadata!.Arn!;
  secretArn = (await sm().send(new SM.CreateSecretCommand({ Name: `proxy/${dbUser}`, KmsKeyId: keyArn, SecretString: goodValue() }))).ARN!;
  await iam().send(new IAM.CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(trustRds) }));
  await putRolePolicy();
  const pgDb = getPostgres();
  const pgc = new pg.Client({ host: pgDb.host, port: pgDb.port, user: pgDb.user, password: pgDb.password, database: pgDb.database, ssl: { ca: readFileSync(pgDb.caCertPath, 'utf8') } });
  await pgc.connect();
  await pgc.query(`CREATE ROLE ${dbUser} LOGIN PASSWORD '${dbPassword}'`);
  await pgc.end();
  const my = getMariaDb();
  const conn = await mysql.createConnection({ host: my.host, port: my.port, user: my.user, password: my.password, ssl: { ca: readFileSync(my.caCertPath, 'utf8') } });
  await conn.query(`CREATE USER '${dbUser}'@'%' IDENTIFIED BY '${dbPassword}'`);
  await conn.end();
});

afterAll(async () => {
  await iamdb?.stop();
});

describe('ProxyCredentials', () => {
  it('reads {"username","password"} with the proxy role, ignoring other fields', async () => {
    const { proxy } = watch('postgres');
    const [c] = await credentials.resolveAll(proxy);
    expect(c).toMatchObject({ ok: true, username: dbUser, secretArn });
    expect(c!.ok && c!.password.reveal()).toBe(dbPassword);
  });

  it('names a role that does not exist', async () => {
    const { proxy } = watch('postgres');
    const [c] = await credentials.resolveAll({ ...proxy, roleArn: `arn:aws:iam::${ACCOUNT}:role/missing-${suffix}` });
    expect(c).toMatchObject({ ok: false, reason: 'RoleNotFound', description: expect.stringContaining(`role/missing-${suffix}" does not exist`) });
  });

  it('names a secret that does not exist', async () => {
    const { proxy } = watch('postgres');
    await iam().send(new IAM.PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'all-secrets', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: '*' }] }) }));
    try {
      const missing = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:nope-${suffix}-AbCdEf`;
      const [c] = await credentials.resolveAll({ ...proxy, auth: [{ secretArn: missing, iamAuth: 'DISABLED' }] });
      expect(c).toMatchObject({ ok: false, reason: 'SecretNotFound', description: expect.stringContaining(missing) });
    } finally {
      await iam().send(new IAM.DeleteRolePolicyCommand({ RoleName: roleName, PolicyName: 'all-secrets' }));
    }
  });

  it('finds the user of a login among the entries', async () => {
    const { proxy } = watch('postgres');
    expect(await credentials.forUser(proxy, dbUser)).toMatchObject({ ok: true, username: dbUser });
    expect(await credentials.forUser(proxy, 'someone_else')).toBeUndefined();
  });
});

describe('target health', () => {
  it('is REGISTERING until the first check, then AVAILABLE on PostgreSQL and MariaDB', async () => {
    for (const engine of ['postgres', 'mariadb'] as const) {
      const { checker, proxy, target } = watch(engine);
      expect(checker.healthOf(proxy.id, target.instance.id)).toEqual({ State: 'REGISTERING' });
      await checker.checkNow();
      expect(checker.healthOf(proxy.id, target.instance.id)).toEqual({ State: 'AVAILABLE' });
    }
  });

  it('says that the proxy has no credentials', async () => {
    const { checker, proxy, target } = watch('postgres');
    proxy.auth = [];
    await checker.checkNow();
    expect(checker.healthOf(proxy.id, target.instance.id)).toEqual({ State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE', Description: NO_CREDENTIALS_DESCRIPTION });
  });

  it('names a missing secretsmanager:GetSecretValue, and recovers when the policy allows it again', async () => {
    const { checker, next } = watch('postgres');
    await putRolePolicy({ getSecret: false });
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h).toMatchObject({ Reason: 'AUTH_FAILURE' });
      expect(h.Description).toContain(`The IAM role "${roleArn}" is not authorized to read the AWS Secrets Manager secret with the ARN "${secretArn}"`);
      expect(h.Description).toContain('allow secretsmanager:GetSecretValue on the secret');
      await putRolePolicy();
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });

  it('names a missing kms:Decrypt in the role\'s policy, and recovers', async () => {
    const { checker, next } = watch('mariadb');
    await putRolePolicy({ decrypt: false });
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h).toMatchObject({ Reason: 'AUTH_FAILURE' });
      expect(h.Description).toContain(`with the AWS KMS key "${keyArn}"`);
      expect(h.Description).toContain('allow kms:Decrypt on the key in the role\'s policies');
      expect(h.Description).toContain(`kms:ViaService = secretsmanager.${REGION}.amazonaws.com`);
      await putRolePolicy();
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });

  it('names a key policy that does not let the role decrypt, and recovers', async () => {
    const { checker, next } = watch('postgres');
    const me = (await iam().send(new IAM.GetUserCommand({}))).User!.Arn!;
    const onlyAdmin = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: me }, Action: 'kms:*', Resource: '*' }] });
    await kms().send(new KMS.PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: onlyAdmin }));
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h.Description).toContain('the key policy must allow kms:Decrypt to the role');
      const delegating = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: 'kms:*', Resource: '*' }] });
      await kms().send(new KMS.PutKeyPolicyCommand({ KeyId: keyArn, PolicyName: 'default', Policy: delegating }));
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });

  it('names a role that rds.amazonaws.com may not assume, and recovers', async () => {
    const { checker, next } = watch('postgres');
    const trustEc2 = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
    await iam().send(new IAM.UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify(trustEc2) }));
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h).toMatchObject({ Reason: 'AUTH_FAILURE' });
      expect(h.Description).toBe(`The IAM role "${roleArn}" can't be assumed by RDS Proxy: its trust policy must allow the service principal rds.amazonaws.com to perform sts:AssumeRole.`);
      await iam().send(new IAM.UpdateAssumeRolePolicyCommand({ RoleName: roleName, PolicyDocument: JSON.stringify(trustRds) }));
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });

  it('names the secret and user whose password the server refuses, and recovers when the secret is fixed', async () => {
    for (const engine of ['postgres', 'mariadb'] as const) {
      const { checker, next } = watch(engine);
      const wrong = `wrong-${randomBytes(8).toString('hex')}`;
      await putSecret(JSON.stringify({ username: dbUser, password: wrong }));
      await running(checker, async () => {
        const h = await next(unavailable);
        expect(h).toMatchObject({ State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE' });
        expect(h.Description).toContain(`refused the user "${dbUser}" with the password in the AWS Secrets Manager secret "${secretArn}"`);
        expect(h.Description).not.toContain(wrong);
        await putSecret(goodValue());
        expect(await next(available)).toEqual({ State: 'AVAILABLE' });
      });
    }
  });

  it('says the server does not answer, and recovers when it answers again', async () => {
    const { checker, target, next } = watch('postgres');
    const up = target.instance;
    const closed = await getFreePort();
    target.instance = instanceOf('postgres', closed);
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h).toMatchObject({ Reason: 'UNREACHABLE' });
      expect(h.Description).toContain(`The database server at 127.0.0.1:${closed} (DB instance postgres-target) does not answer: ECONNREFUSED`);
      target.instance = up;
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });

  it('says the secret does not hold JSON, without quoting it, and recovers', async () => {
    const { checker, next } = watch('mariadb');
    await putSecret(`password=${dbPassword}`);
    await running(checker, async () => {
      const h = await next(unavailable);
      expect(h.Description).toBe(`The AWS Secrets Manager secret "${secretArn}" does not hold JSON. RDS Proxy reads a JSON object with string fields "username" and "password" from its SecretString.`);
      await putSecret(JSON.stringify({ username: dbUser }));
      await checker.checkNow();
      expect((await next(unavailable)).Description).toContain('has no "password" string');
      await putSecret(goodValue());
      expect(await next(available)).toEqual({ State: 'AVAILABLE' });
    });
  });
});

describe('IAM logins to a proxy endpoint', () => {
  it('authorizes rds-db:connect on the proxy\'s dbuser ARN: refused without it, allowed with it', async () => {
    const app = iamdb.app;
    const login = new IamLogin({
      partition: 'aws',
      region: REGION,
      account: ACCOUNT,
      clock: { now: () => Date.now() },
      futureSkewMs: 300_000,
      verifier: app.iam.tokenVerifier,
      credentials: app.iam.credentialResolver,
      authorizer: app.iam.connectAuthorizer,
    });
    const endpoint = { host: `proxy-${suffix}.proxy.local`, port: 5432 };
    const proxyTarget = { resourceId: `prx-${suffix.toUpperCase()}`, endpoints: [endpoint], tags: {} };
    const tokenOf = (key: { id: string; secret: string }): Secret<string> =>
      presignDbAuthToken({ hostname: endpoint.host, port: endpoint.port, username: dbUser, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) }, date: new Date() });
    const resource = proxyDbUserArn({ partition: 'aws', region: REGION, account: ACCOUNT, proxyResourceId: proxyTarget.resourceId, dbUser });
    const denied = await login.authenticate({ instance: proxyTarget, token: tokenOf(noConnect), dbUser, sourceIp: '127.0.0.1' });
    expect(denied).toMatchObject({ ok: false, reason: 'NotAuthorized', resource });
    expect(denied.detail).toContain(`is not authorized to perform: rds-db:connect on resource: ${resource}`);
    expect(await login.authenticate({ instance: proxyTarget, token: tokenOf(canConnect), dbUser, sourceIp: '127.0.0.1' })).toMatchObject({ ok: true, reason: 'Allowed', resource });
  });
});
