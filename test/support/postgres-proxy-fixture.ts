/**
 * One PostgreSQL proxy made the way a user makes it, through the RDS API:
 * two secrets (a password user and an IAM user), the role trusting
 * rds.amazonaws.com, CreateDBProxy with `iamdb:listen`, the target
 * registered, a pool of two server connections. Test files that exercise
 * the pooled relay share this setup instead of each writing it again.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as IAM from '@aws-sdk/client-iam';
import * as RDS from '@aws-sdk/client-rds';
import * as SM from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { expect, inject } from 'vitest';
import type { PoolStats } from '../../src/gateway/proxy/postgres-pool.js';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { sdkClient } from './aws-sdk.js';
import { runPsql } from './clients.js';
import { getFreePort } from './free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from './iamdb.js';

export interface PostgresProxyFixture {
  readonly iamdb: TestIamdb;
  readonly server: ReturnType<typeof inject<'iamdbPostgres'>>;
  /** The proxy endpoint's port on 127.0.0.1. */
  readonly port: number;
  readonly proxyName: string;
  /** The password user (IAMAuth DISABLED, SCRAM) and its password. */
  readonly user: string;
  readonly password: string;
  /** The IAM user (IAMAuth REQUIRED); alice may connect as it. */
  readonly iamUser: string;
  readonly aliceKey: { id: string; secret: string };
  readonly database: string;
  /** PEM of the test server's CA and of iamdb's. */
  readonly serverCa: string;
  readonly iamdbCa: string;
  readonly iamdbCaPath: string;
  /** A superuser connection straight to the server, in the fixture's database. */
  admin(): pg.Client;
  /** A pg client of the password user through the proxy. */
  client(): pg.Client;
  /** A fresh IAM token for `iamUser` at the proxy endpoint. */
  token(): string;
  /** The counters of `dbUser`'s pool (there is one per user here). */
  poolStats(dbUser?: string): PoolStats;
  /** Server connections `dbUser` has open, as the server sees them. */
  serverBackends(dbUser?: string): Promise<number>;
  stop(): Promise<void>;
}

/** max_connections is 300 on the test server, 3 reserved for superusers: 1 % is a pool of two. */
export const FIXTURE_POOL_SIZE = 2;

export interface FixtureOptions {
  /** proxyEndpoints.idleServerSeconds (default: the config's). */
  readonly idleServerSeconds?: number;
  /** The target's targetTls (default: the config's, `prefer`: pooled server connections are TLS). */
  readonly targetTls?: Record<string, unknown>;
  /** Another server than the shared one (e.g. one without TLS). */
  readonly server?: ReturnType<typeof inject<'iamdbPostgres'>>;
}

export async function startPostgresProxyFixture(prefix: string, opts: FixtureOptions = {}): Promise<PostgresProxyFixture> {
  const server = opts.server ?? inject('iamdbPostgres');
  const suffix = randomBytes(3).toString('hex');
  const user = `${prefix}_${suffix}`;
  const iamUser = `${prefix}iam_${suffix}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const database = `${prefix}db_${suffix}`;
  const proxyName = `${prefix}-${suffix}`;
  const aliceKey = newAccessKey();
  const serverCa = await readFile(server.caCertPath, 'utf8');
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=${opts.server ? 'prefer' : 'require'}`;
  expect((await runPsql(master, `CREATE USER ${user} PASSWORD '${password}'; CREATE USER ${iamUser} PASSWORD '${password}x'`)).stderr).toBe('');
  expect((await runPsql(master, `CREATE DATABASE ${database} OWNER ${user}`)).stderr).toBe('');
  const iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        {
          name: 'alice',
          accessKeys: [aliceKey],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-*/${iamUser}` }] } }],
        },
      ],
    },
    instances: [{ id: `${prefix}target-${suffix}`, engine: 'postgres', listen: 'auto', target: `${server.host}:${server.port}`, ...(opts.targetTls ? { targetTls: opts.targetTls } : {}), master: { username: server.user, password: server.password } }],
    ...(opts.idleServerSeconds !== undefined ? { proxyEndpoints: { idleServerSeconds: opts.idleServerSeconds } } : {}),
  });
  const iamdbCa = await readFile(iamdb.caPath, 'utf8');
  const port = await getFreePort();
  await createProxy(iamdb, { proxyName, port, suffix, target: `${prefix}target-${suffix}`, secrets: [{ username: user, password, iam: false }, { username: iamUser, password: `${password}x`, iam: true }] });
  const admin = (): pg.Client => new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database, ssl: { ca: serverCa } });
  return {
    iamdb,
    server,
    port,
    proxyName,
    user,
    password,
    iamUser,
    aliceKey,
    database,
    serverCa,
    iamdbCa,
    iamdbCaPath: iamdb.caPath,
    admin,
    client: () => new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: { ca: iamdbCa, servername: 'localhost' } }),
    token: () =>
      presignDbAuthToken({ hostname: '127.0.0.1', port, username: iamUser, region: REGION, date: new Date(), credentials: { accessKeyId: aliceKey.id, secretAccessKey: new Secret(aliceKey.secret) } }).reveal(),
    poolStats(dbUser = user) {
      const pools = [...iamdb.app.proxyPools().entries()].filter(([k]) => k.endsWith(`/${dbUser}/${database}`));
      expect(pools).toHaveLength(1);
      return pools[0]![1].snapshot();
    },
    async serverBackends(dbUser = user) {
      const a = admin();
      await a.connect();
      try {
        return (await a.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [dbUser])).rows[0].n as number;
      } finally {
        await a.end();
      }
    },
    stop: () => iamdb.stop(),
  };
}

/** The secrets, the role and the proxy, through the SDK as a user would. */
async function createProxy(
  iamdb: TestIamdb,
  p: { proxyName: string; port: number; suffix: string; target: string; secrets: { username: string; password: string; iam: boolean }[] },
): Promise<void> {
  const key = iamdb.admin;
  const sm = sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, key);
  const iam = sdkClient(IAM.IAMClient, iamdb.apiUrl, key);
  const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, key);
  const auth: RDS.UserAuthConfig[] = [];
  for (const s of p.secrets) {
    const arn = (await sm.send(new SM.CreateSecretCommand({ Name: `proxy/${p.proxyName}/${s.username}`, SecretString: JSON.stringify({ username: s.username, password: s.password }) }))).ARN!;
    auth.push(s.iam ? { AuthScheme: 'SECRETS', SecretArn: arn, IAMAuth: 'REQUIRED' } : { AuthScheme: 'SECRETS', SecretArn: arn, IAMAuth: 'DISABLED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' });
  }
  const roleName = `proxy-${p.suffix}`;
  const roleArn = (
    await iam.send(
      new IAM.CreateRoleCommand({
        RoleName: roleName,
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
      }),
    )
  ).Role!.Arn!;
  await iam.send(
    new IAM.PutRolePolicyCommand({
      RoleName: roleName,
      PolicyName: 'secrets',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] }),
    }),
  );
  await rds.send(
    new RDS.CreateDBProxyCommand({
      DBProxyName: p.proxyName,
      EngineFamily: 'POSTGRESQL',
      RoleArn: roleArn,
      VpcSubnetIds: ['subnet-1'],
      RequireTLS: true,
      Auth: auth,
      Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${p.port}` }],
    }),
  );
  await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: p.proxyName, DBInstanceIdentifiers: [p.target] }));
  await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: p.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 20 } }));
}
