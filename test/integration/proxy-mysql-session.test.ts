/**
 * MySQL proxy endpoints end to end (session pooling): a proxy with
 * EngineFamily MYSQL made through the RDS API (the role trusting
 * rds.amazonaws.com, one secret per user, the MariaDB target), clients
 * logging in with IAM tokens (mysql2 and the real `mariadb` client) and with
 * the secrets' passwords (mysql_native_password, caching_sha2_password), and
 * the server connections they borrow: one per session, from a pool bounded
 * by MaxConnectionsPercent, cleaned (COM_RESET_CONNECTION) before the next
 * client gets them, with RDS Proxy's texts for what is refused.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as IAM from '@aws-sdk/client-iam';
import * as RDS from '@aws-sdk/client-rds';
import * as SM from '@aws-sdk/client-secrets-manager';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { sdkClient } from '../support/aws-sdk.js';
import { runMariadb } from '../support/clients.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const nativeUser = `pxn_${suffix}`;
const shaUser = `pxs_${suffix}`;
const iamUser = `pxi_${suffix}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
const database = `pxdb_${suffix}`;
/** Another database the users may USE. */
const other = `pxdb2_${suffix}`;
const proxyName = `mypool-${suffix}`;
const aliceKey = newAccessKey();
/** max_connections is 300 on the test server: 1 % is a pool of three. */
const MAX_SERVERS = 3;

let iamdb: TestIamdb;
let port = 0;
let iamdbCa = '';
let serverCa = '';

function admin(): Promise<mysql.Connection> {
  return mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password, ssl: { ca: serverCa } });
}

function connect(user: string, opts: { password?: string; ssl?: boolean; database?: string } = {}): Promise<mysql.Connection> {
  return mysql.createConnection({
    host: '127.0.0.1',
    port,
    user,
    password: opts.password ?? password,
    ...(opts.database !== undefined ? { database: opts.database } : { database }),
    ...(opts.ssl === false ? {} : { ssl: { ca: iamdbCa } }),
  });
}

function token(user: string): string {
  return presignDbAuthToken({ hostname: '127.0.0.1', port, username: user, region: REGION, date: new Date(), credentials: { accessKeyId: aliceKey.id, secretAccessKey: new Secret(aliceKey.secret) } }).reveal();
}

async function one<T>(c: mysql.Connection, sql: string): Promise<T> {
  const [rows] = await c.query(sql);
  return Object.values((rows as Record<string, unknown>[])[0]!)[0] as T;
}

/** Server connections of `user` in the test's database (its pool's) as the server counts them. */
async function serverConnections(user: string): Promise<number> {
  const a = await admin();
  try {
    return Number(await one(a, `SELECT COUNT(*) FROM information_schema.processlist WHERE user = '${user}' AND db = '${database}'`));
  } finally {
    await a.end();
  }
}

/** The db.session.end record of the next session of `user` to end after event index `from`. */
function sessionEnd(user: string, from: number): Promise<AuditEvent> {
  return iamdb.audit.until((e) => e.event === 'db.session.end' && (e as { dbUser?: string }).dbUser === user, from);
}

beforeAll(async () => {
  serverCa = await readFile(server.caCertPath, 'utf8');
  const a = await admin();
  await a.query(`CREATE DATABASE ${database}`);
  await a.query(`CREATE DATABASE ${other}`);
  for (const u of [nativeUser, shaUser, iamUser]) {
    await a.query(`CREATE USER '${u}'@'%' IDENTIFIED BY '${password}'`);
    await a.query(`GRANT ALL ON ${database}.* TO '${u}'@'%'`);
    await a.query(`GRANT ALL ON ${other}.* TO '${u}'@'%'`);
  }
  await a.query(`CREATE TABLE ${database}.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`);
  await a.end();
  iamdb = await startIamdb({
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
    instances: [{ id: `mytarget-${suffix}`, engine: 'mariadb', listen: 'auto', target: `${server.host}:${server.port}`, master: { username: server.user, password: server.password } }],
  });
  iamdbCa = await readFile(iamdb.caPath, 'utf8');
  const key = iamdb.admin;
  const sm = sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, key);
  const iam = sdkClient(IAM.IAMClient, iamdb.apiUrl, key);
  const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, key);
  const secret = async (u: string): Promise<string> => (await sm.send(new SM.CreateSecretCommand({ Name: `mypool/${u}`, SecretString: JSON.stringify({ username: u, password }) }))).ARN!;
  const roleArn = (
    await iam.send(
      new IAM.CreateRoleCommand({
        RoleName: `myproxy-${suffix}`,
        AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] }),
      }),
    )
  ).Role!.Arn!;
  await iam.send(
    new IAM.PutRolePolicyCommand({
      RoleName: `myproxy-${suffix}`,
      PolicyName: 'secrets',
      PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] }),
    }),
  );
  port = await getFreePort();
  await rds.send(
    new RDS.CreateDBProxyCommand({
      DBProxyName: proxyName,
      EngineFamily: 'MYSQL',
      RoleArn: roleArn,
      VpcSubnetIds: ['subnet-1'],
      RequireTLS: true,
      Auth: [
        { AuthScheme: 'SECRETS', SecretArn: await secret(nativeUser), IAMAuth: 'DISABLED', ClientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' },
        { AuthScheme: 'SECRETS', SecretArn: await secret(shaUser), IAMAuth: 'DISABLED', ClientPasswordAuthType: 'MYSQL_CACHING_SHA2_PASSWORD' },
        { AuthScheme: 'SECRETS', SecretArn: await secret(iamUser), IAMAuth: 'REQUIRED' },
      ],
      Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${port}` }],
    }),
  );
  await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: proxyName, DBInstanceIdentifiers: [`mytarget-${suffix}`] }));
  await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 2 } }));
});

afterAll(async () => {
  await iamdb?.stop();
});

describe('MySQL proxy logins', () => {
  it('logs in with an IAM token for the proxy endpoint (mysql_clear_password over TLS), audited with the proxy and the principal', async () => {
    const from = iamdb.audit.events.length;
    const c = await mysql.createConnection({ host: '127.0.0.1', port, user: iamUser, password: token(iamUser), database, ssl: { ca: iamdbCa }, authPlugins: { mysql_clear_password: () => () => Buffer.from(`${token(iamUser)}\0`) } });
    expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${iamUser}@%`);
    await c.end();
    const allowed = await iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === iamUser && (e as { decision?: string }).decision === 'allow', from);
    expect(allowed).toMatchObject({ proxy: proxyName, proxyEndpoint: proxyName, method: 'iam', tls: true, reason: 'Allowed', principal: `arn:aws:iam::${ACCOUNT}:user/alice`, resource: expect.stringMatching(new RegExp(`^arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-[0-9a-f]{17}/${iamUser}$`)) });
  });

  it('the real mariadb client logs in with a token (--ssl --enable-cleartext-plugin)', async () => {
    const r = await runMariadb(['-h', '127.0.0.1', '-P', String(port), '-u', iamUser, `-p${token(iamUser)}`, '--ssl', `--ssl-ca=${iamdb.caPath}`, '--enable-cleartext-plugin', database], 'SELECT CURRENT_USER(), DATABASE()');
    // The client warns that --enable-cleartext-plugin is obsolete (it needs no flag); the answer is the other line.
    expect(r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('WARNING:'))).toEqual([`${iamUser}@%\t${database}`]);
  });

  it('refuses a password where IAMAuth is REQUIRED with 1045', async () => {
    const from = iamdb.audit.events.length;
    const c = mysql.createConnection({ host: '127.0.0.1', port, user: iamUser, password, database, ssl: { ca: iamdbCa }, enableCleartextPlugin: true });
    await expect(c).rejects.toMatchObject({ errno: 1045, sqlState: '28000', message: `Access denied for user '${iamUser}'@'%' (using password: YES)` });
    const denied = await iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === iamUser && (e as { decision?: string }).decision === 'deny', from);
    expect(denied).toMatchObject({ proxy: proxyName, method: 'iam' });
  });

  it('logs in with the secret\'s password by mysql_native_password', async () => {
    const c = await connect(nativeUser);
    expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${nativeUser}@%`);
    await c.end();
    expect(iamdb.authEvents().filter((e) => e.dbUser === nativeUser && e.decision === 'allow').at(-1)).toMatchObject({ proxy: proxyName, method: 'password', reason: 'PasswordLogin' });
  });

  it('logs in with the secret\'s password by caching_sha2_password: full authentication over TLS, then the fast path', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await connect(shaUser);
      expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${shaUser}@%`);
      await c.end();
    }
  });

  it('answers a wrong password with RDS Proxy\'s text and the audit reason', async () => {
    const from = iamdb.audit.events.length;
    await expect(connect(nativeUser, { password: 'not-it' })).rejects.toMatchObject({ errno: 1045, sqlState: '28000', message: `Access denied for user '${nativeUser}'@'%' (using password: YES)` });
    await expect(connect(shaUser, { password: 'not-it' })).rejects.toMatchObject({ errno: 1045, message: `Access denied for user '${shaUser}'@'%' (using password: YES)` });
    const denied = await iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === nativeUser && (e as { decision?: string }).decision === 'deny', from);
    expect(denied).toMatchObject({ proxy: proxyName, reason: 'ProxyPasswordWrong' });
  });

  it('refuses a clear connection under RequireTLS with 3159', async () => {
    await expect(connect(nativeUser, { ssl: false })).rejects.toMatchObject({ errno: 3159, message: 'This RDS Proxy requires TLS connections.' });
    const r = await runMariadb(['-h', '127.0.0.1', '-P', String(port), '-u', nativeUser, `-p${password}`, '--skip-ssl'], 'SELECT 1');
    expect(r.stderr).toContain('ERROR 3159 (HY000)');
    expect(r.stderr).toContain('This RDS Proxy requires TLS connections.');
  });
});

describe('MySQL session pooling', () => {
  it('never shows the next client of a server connection the last one\'s variables, database or temporary tables', async () => {
    const first = await connect(nativeUser);
    const thread = await one<number>(first, 'SELECT CONNECTION_ID()');
    await first.query("SET @secret = 'left-behind', @@session.sql_mode = 'ANSI_QUOTES'");
    await first.query(`CREATE TEMPORARY TABLE tmp_${suffix} (x INT)`);
    expect(await one(first, `SELECT GET_LOCK('lock_${suffix}', 0)`)).toBe(1);
    await first.query('SET NAMES latin1');
    await first.query(`USE ${other}`);
    expect(await one(first, 'SELECT DATABASE()')).toBe(other);
    const from = iamdb.audit.events.length;
    await first.end();
    expect(await sessionEnd(nativeUser, from)).toMatchObject({ proxy: proxyName, serverConnectionReused: true });

    const next = await connect(nativeUser);
    // The same server connection, cleaned.
    expect(await one(next, 'SELECT CONNECTION_ID()')).toBe(thread);
    expect(await one(next, 'SELECT @secret')).toBeNull();
    expect(await one(next, 'SELECT DATABASE()')).toBe(database);
    expect(await one<string>(next, 'SELECT @@session.sql_mode')).not.toContain('ANSI_QUOTES');
    await expect(next.query(`SELECT * FROM tmp_${suffix}`)).rejects.toMatchObject({ errno: 1146 });
    expect(await one(next, `SELECT IS_USED_LOCK('lock_${suffix}')`)).toBeNull();
    // The character set of the next client's own login, not the last one's SET NAMES.
    expect(await one(next, 'SELECT @@character_set_client')).toBe('utf8mb4');
    await next.end();
  });

  it('closes, rather than lends again, a connection whose client chose a database when its pool has none', async () => {
    const first = await connect(nativeUser, { database: '' });
    expect(await one(first, 'SELECT DATABASE()')).toBeNull();
    const thread = await one<number>(first, 'SELECT CONNECTION_ID()');
    await first.query(`USE ${other}`);
    const from = iamdb.audit.events.length;
    await first.end();
    await sessionEnd(nativeUser, from);
    const next = await connect(nativeUser, { database: '' });
    expect(await one(next, 'SELECT DATABASE()')).toBeNull();
    expect(await one(next, 'SELECT CONNECTION_ID()')).not.toBe(thread);
    await next.end();
  });

  it('answers a database the server refuses with RDS Proxy\'s error text around the server\'s message', async () => {
    const from = iamdb.audit.events.length;
    await expect(connect(nativeUser, { database: `nope_${suffix}` })).rejects.toMatchObject({ errno: 1105, sqlState: 'HY000', message: `Request returned an error: Access denied for user '${nativeUser}'@'%' to database 'nope_${suffix}'` });
    const denied = await iamdb.audit.until((e) => e.event === 'db.auth' && (e as { reason?: string }).reason === 'UpstreamRefused', from);
    expect(denied).toMatchObject({ proxy: proxyName, dbUser: nativeUser, database: `nope_${suffix}` });
  });

  it('does not lend a server connection the server has closed meanwhile', async () => {
    const c = await connect(nativeUser);
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    const from = iamdb.audit.events.length;
    await c.end();
    await sessionEnd(nativeUser, from);
    const a = await admin();
    await a.query(`KILL CONNECTION ${thread}`);
    await a.end();
    const next = await connect(nativeUser);
    expect(await one(next, 'SELECT 1 + 1')).toBe(2);
    expect(await one(next, 'SELECT CONNECTION_ID()')).not.toBe(thread);
    await next.end();
  });

  it('ends the client\'s connection when its server connection dies under it', async () => {
    const c = await connect(nativeUser);
    c.on('error', () => undefined);
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    const from = iamdb.audit.events.length;
    const a = await admin();
    await a.query(`KILL CONNECTION ${thread}`);
    await a.end();
    expect(await sessionEnd(nativeUser, from)).toMatchObject({ reason: 'server', serverConnectionReused: false });
    await expect(c.query('SELECT 1')).rejects.toThrow();
  });

  it('rolls back what a client leaves open mid-transaction', async () => {
    const c = await connect(nativeUser);
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    await c.query('BEGIN');
    await c.query("INSERT INTO t VALUES (1, 'uncommitted')");
    const from = iamdb.audit.events.length;
    c.destroy();
    await sessionEnd(nativeUser, from);

    // The next client gets the same server connection once it is clean.
    const next = await connect(nativeUser);
    expect(await one(next, 'SELECT CONNECTION_ID()')).toBe(thread);
    const a = await admin();
    expect(await one(a, `SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ${thread}`)).toBe(0);
    expect(await one(a, `SELECT COUNT(*) FROM ${database}.t`)).toBe(0);
    await a.end();
    await next.end();
  });

  it('keeps the pool within MaxConnectionsPercent, and a client that finds it full waits, then gets 9501', async () => {
    const held = await Promise.all(Array.from({ length: MAX_SERVERS }, () => connect(nativeUser)));
    const threads = new Set(await Promise.all(held.map((c) => one<number>(c, 'SELECT CONNECTION_ID()'))));
    expect(threads.size).toBe(MAX_SERVERS);
    expect(await serverConnections(nativeUser)).toBeLessThanOrEqual(MAX_SERVERS);

    const from = iamdb.audit.events.length;
    await expect(connect(nativeUser)).rejects.toMatchObject({ errno: 9501, sqlState: 'HY000', message: 'Timed-out waiting to acquire database connection' });
    const denied = await iamdb.audit.until((e) => e.event === 'db.auth' && (e as { reason?: string }).reason === 'BorrowTimeout', from);
    expect(denied).toMatchObject({ proxy: proxyName, dbUser: nativeUser, decision: 'deny' });

    // A waiting client gets the first connection given back.
    const waiting = connect(nativeUser);
    const leaving = iamdb.audit.events.length;
    await held[0]!.end();
    await sessionEnd(nativeUser, leaving);
    const late = await waiting;
    expect(threads.has(await one<number>(late, 'SELECT CONNECTION_ID()'))).toBe(true);
    expect(await serverConnections(nativeUser)).toBeLessThanOrEqual(MAX_SERVERS);
    await Promise.all([late, ...held.slice(1)].map((c) => c.end()));
  });

  it('lets a client go after IdleClientTimeout, and its server connection back to the pool', async () => {
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, IdleClientTimeout: 1 }));
    try {
      // A first login shows the proxy the server's own greeting (run alone, this test starts cold): clients greeted after it share a shape.
      const warm = iamdb.audit.events.length;
      await (await connect(nativeUser)).end();
      await sessionEnd(nativeUser, warm);
      const from = iamdb.audit.events.length;
      const c = await connect(nativeUser);
      const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
      c.on('error', () => undefined);
      expect(await sessionEnd(nativeUser, from)).toMatchObject({ idleClientTimeout: true, serverConnectionReused: true });
      // The proxy has closed the client's connection: whatever it sends now fails.
      await expect(c.query('SELECT 1')).rejects.toThrow();
      const next = await connect(nativeUser);
      expect(await one(next, 'SELECT CONNECTION_ID()')).toBe(thread);
      await next.end();
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, IdleClientTimeout: 1800 }));
    }
  });

  it('logs SQL text while DebugLogging is on, and only then', async () => {
    const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, iamdb.admin);
    const c = await connect(nativeUser);
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, DebugLogging: true }));
    try {
      await c.query('SELECT 4242 AS debugged');
      await c.execute('SELECT ? + 1 AS also_debugged', [1]);
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: proxyName, DebugLogging: false }));
    }
    await c.query('SELECT 4343 AS not_debugged');
    await c.end();
    const sql = iamdb.logLines().filter((l) => l['proxy'] === proxyName && typeof l['sql'] === 'string').map((l) => l['sql']);
    expect(sql).toContain('SELECT 4242 AS debugged');
    expect(sql).toContain('SELECT ? + 1 AS also_debugged');
    expect(sql).not.toContain('SELECT 4343 AS not_debugged');
  });
});
