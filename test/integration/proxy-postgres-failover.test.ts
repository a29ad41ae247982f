/**
 * Failover behind a PostgreSQL proxy endpoint, with real servers: a primary
 * of its own and a synchronous streaming replica of it (pg_basebackup -R),
 * each an iamdb instance, both registered as the proxy's targets, and a
 * READ_ONLY endpoint beside the default one. Many clients sit idle, a few
 * write in a tight loop straight through the failover and record each
 * commit they were told of, two run long statements and one holds an open
 * transaction; then the primary crashes
 * (`pg_ctl stop -m immediate`) and the replica is promoted. With no API call:
 * every commit a client saw is on the new primary, idle clients are still
 * connected and their next query runs there, what was in flight failed with
 * an error (not a hang), and new transactions go to the new writer. Before
 * the failover, READ_ONLY sessions ran on the replica; after it, the
 * READ_ONLY pool's connections to the promoted replica are closed.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as IAM from '@aws-sdk/client-iam';
import * as RDS from '@aws-sdk/client-rds';
import * as SM from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../support/aws-sdk.js';
import { waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';
import { crashPostgres, promotePostgres, startPostgres, startPostgresReplica, type PgServer } from '../support/postgres-server.js';

const suffix = randomBytes(3).toString('hex');
const user = `fo_${suffix}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
const database = `fodb_${suffix}`;
const proxyName = `failover-${suffix}`;
const IDLE = 20;
const WRITERS = 3;

let primary: PgServer;
let replica: PgServer;
let iamdb: TestIamdb;
let rds: RDS.RDSClient;
let rwPort = 0;
let roPort = 0;
let iamdbCa = '';
let proxyRoleArn = '';
let proxySecretArn = '';

function direct(server: PgServer, db = database): pg.Client {
  return new pg.Client({ host: server.host, port: server.port, user: server.superuser, password: server.superuserPassword, database: db });
}

async function sql(server: PgServer, text: string, db = database): Promise<pg.QueryResult> {
  const c = direct(server, db);
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

/** A client of a proxy endpoint; every 'error' and 'end' it sees is recorded. */
function proxyClient(port: number): pg.Client & { events: string[] } {
  const c = Object.assign(new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: { ca: iamdbCa, servername: 'localhost' } }), { events: [] as string[] });
  c.on('error', (e) => c.events.push(`error: ${e.message}`));
  c.on('end', () => c.events.push('end'));
  return c;
}

beforeAll(async () => {
  primary = await startPostgres({ settings: { max_connections: 100, shared_buffers: '32MB' } });
  await sql(primary, `CREATE USER ${user} PASSWORD '${password}'`, 'postgres');
  await sql(primary, `CREATE DATABASE ${database} OWNER ${user}`, 'postgres');
  await sql(primary, `CREATE TABLE writes (client int, n int, PRIMARY KEY (client, n)); ALTER TABLE writes OWNER TO ${user}`);
  replica = await startPostgresReplica(primary);
  // Synchronous replication: a commit is acknowledged once the replica has it, so none can be lost by the failover.
  await sql(primary, "ALTER SYSTEM SET synchronous_standby_names = '*'", 'postgres');
  await sql(primary, "ALTER SYSTEM SET synchronous_commit = 'on'", 'postgres');
  await sql(primary, 'SELECT pg_reload_conf()', 'postgres');
  await waitFor('a synchronous standby', async () => {
    const r = await sql(primary, "SELECT count(*)::int AS n FROM pg_stat_replication WHERE sync_state = 'sync'", 'postgres');
    if (r.rows[0].n !== 1) throw new Error('replica not synchronous yet');
  }, 30_000);

  const instance = (id: string, s: PgServer): Record<string, unknown> => ({ id, engine: 'postgres', listen: 'auto', target: `${s.host}:${s.port}`, targetTls: { mode: 'disable' }, master: { username: s.superuser, password: s.superuserPassword } });
  iamdb = await startIamdb({ api: { listen: 'auto' }, instances: [instance(`fo-a-${suffix}`, primary), instance(`fo-b-${suffix}`, replica)] });
  iamdbCa = await readFile(iamdb.caPath, 'utf8');
  const key = iamdb.admin;
  const sm = sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, key);
  const iam = sdkClient(IAM.IAMClient, iamdb.apiUrl, key);
  rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, key);
  const secretArn = (await sm.send(new SM.CreateSecretCommand({ Name: `failover/${user}`, SecretString: JSON.stringify({ username: user, password }) }))).ARN!;
  const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
  const roleArn = (await iam.send(new IAM.CreateRoleCommand({ RoleName: `failover-${suffix}`, AssumeRolePolicyDocument: JSON.stringify(trust) }))).Role!.Arn!;
  const read = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] };
  await iam.send(new IAM.PutRolePolicyCommand({ RoleName: `failover-${suffix}`, PolicyName: 'secrets', PolicyDocument: JSON.stringify(read) }));
  proxyRoleArn = roleArn;
  proxySecretArn = secretArn;
  rwPort = await getFreePort();
  await rds.send(
    new RDS.CreateDBProxyCommand({
      DBProxyName: proxyName,
      EngineFamily: 'POSTGRESQL',
      RoleArn: roleArn,
      VpcSubnetIds: ['subnet-1'],
      Auth: [{ AuthScheme: 'SECRETS', SecretArn: secretArn, IAMAuth: 'DISABLED' }],
      Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${rwPort}` }],
    }),
  );
  await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: proxyName, DBInstanceIdentifiers: [`fo-a-${suffix}`, `fo-b-${suffix}`] }));
  await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 40, ConnectionBorrowTimeout: 90 } }));
  roPort = await getFreePort();
  await rds.send(new RDS.CreateDBProxyEndpointCommand({ DBProxyName: proxyName, DBProxyEndpointName: `ro-${suffix}`, VpcSubnetIds: ['subnet-1'], TargetRole: 'READ_ONLY', Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${roPort}` }] }));
}, 180_000);

afterAll(async () => {
  await iamdb?.stop();
  await replica?.stop();
  await primary?.stop();
});

/** One writer: autocommit INSERTs in a loop; what the server acknowledged, and what failed. */
function writeLoop(c: pg.Client, id: number, stop: { now: boolean }) {
  const state = { acked: [] as number[], errors: [] as string[], next: 0, done: Promise.resolve() };
  const waiters: Array<{ count: number; resolve: () => void }> = [];
  state.done = (async () => {
    while (!stop.now) {
      const n = state.next++;
      try {
        await c.query('INSERT INTO writes (client, n) VALUES ($1, $2)', [id, n]);
        state.acked.push(n);
        for (const w of waiters.splice(0)) if (state.acked.length >= w.count) w.resolve();
        else waiters.push(w);
      } catch (e) {
        state.errors.push((e as Error).message);
      }
    }
  })();
  /** Resolves once `count` writes have been acknowledged in all. */
  const acked = (count: number): Promise<void> => (state.acked.length >= count ? Promise.resolve() : new Promise((resolve) => waiters.push({ count, resolve })));
  return { state, acked };
}

describe('a PostgreSQL proxy over a primary and its replica', () => {
  it('routes READ_ONLY sessions to the replica and the default endpoint to the primary', async () => {
    const ro = proxyClient(roPort);
    await ro.connect();
    const r = await ro.query('SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port');
    expect(r.rows[0]).toEqual({ standby: true, port: replica.port });
    await expect(ro.query('INSERT INTO writes VALUES (-1, -1)')).rejects.toThrow(/read-only transaction/);
    await ro.end();
    const rw = proxyClient(rwPort);
    await rw.connect();
    expect((await rw.query('SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port')).rows[0]).toEqual({ standby: false, port: primary.port });
    await rw.end();
    const targets = (await rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: proxyName }))).Targets!;
    expect(targets.map((t) => [t.RdsResourceId, t.Role, t.TargetHealth?.State])).toEqual([
      [`fo-a-${suffix}`, 'READ_WRITE', 'AVAILABLE'],
      [`fo-b-${suffix}`, 'READ_ONLY', 'AVAILABLE'],
    ]);
  });

  it('fails a READ_ONLY endpoint at once when its target group has no replica, as RDS Proxy does', async () => {
    const soloPort = await getFreePort();
    const solo = `solo-${suffix}`;
    await rds.send(new RDS.CreateDBProxyCommand({ DBProxyName: solo, EngineFamily: 'POSTGRESQL', RoleArn: proxyRoleArn, VpcSubnetIds: ['subnet-1'], Auth: [{ AuthScheme: 'SECRETS', SecretArn: proxySecretArn, IAMAuth: 'DISABLED' }] }));
    await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: solo, DBInstanceIdentifiers: [`fo-a-${suffix}`] }));
    await rds.send(new RDS.CreateDBProxyEndpointCommand({ DBProxyName: solo, DBProxyEndpointName: `solo-ro-${suffix}`, VpcSubnetIds: ['subnet-1'], TargetRole: 'READ_ONLY', Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${soloPort}` }] }));
    const ro = proxyClient(soloPort);
    const started = Date.now();
    await expect(ro.connect()).rejects.toThrow('Request returned an error: the read-only endpoint has no reader DB instance in its target group.');
    // At once: not after ConnectionBorrowTimeout (120 s by default).
    expect(Date.now() - started).toBeLessThan(10_000);
    await rds.send(new RDS.DeleteDBProxyCommand({ DBProxyName: solo }));
  });

  it('fails over to the promoted replica: commits kept, idle clients kept, in-flight work failed, new work on the new writer', async () => {
    const idle = Array.from({ length: IDLE }, () => proxyClient(rwPort));
    await Promise.all(idle.map((c) => c.connect()));
    for (const c of idle) expect((await c.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(primary.port);

    // Writers keep writing in a tight loop straight through the crash and the promotion.
    const stop = { now: false };
    const writerClients = Array.from({ length: WRITERS }, () => proxyClient(rwPort));
    await Promise.all(writerClients.map((c) => c.connect()));
    const writers = writerClients.map((c, i) => writeLoop(c, i, stop));
    await Promise.all(writers.map((w) => w.acked(5)));

    // In flight when the primary dies: two long statements, and one transaction left open.
    const sleepers = Array.from({ length: 2 }, () => proxyClient(rwPort));
    await Promise.all(sleepers.map((c) => c.connect()));
    const sleeping = sleepers.map((c) => c.query('SELECT pg_sleep(300)').then(() => 'finished', (e: Error) => `failed: ${e.message}`));
    const inTx = proxyClient(rwPort);
    await inTx.connect();
    await inTx.query('BEGIN');
    await inTx.query('INSERT INTO writes (client, n) VALUES (99, 1)');
    await waitFor('the long statements running on the primary', async () => {
      const r = await sql(primary, "SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(300)' AND state = 'active'", 'postgres');
      if (r.rows[0].n !== 2) throw new Error(`${r.rows[0].n} running`);
    }, 20_000);

    // The READ_ONLY pool keeps the connection to the replica the first test used.
    const readOnlyPool = [...iamdb.app.proxyPools().entries()].find(([k]) => k.includes('/READ_ONLY/'))![1];
    expect(readOnlyPool.snapshot().servers).toBe(1);

    await crashPostgres(primary);
    // The statements in flight fail at once; nothing waits for the promotion.
    for (const outcome of await Promise.all(sleeping)) expect(outcome).toMatch(/^failed: Request returned an error: the connection to the database was lost/);
    await expect(inTx.query('COMMIT')).rejects.toThrow();
    expect(inTx.events.join('\n')).toMatch(/lost inside a transaction/);

    // New work while there is no writer queues (up to ConnectionBorrowTimeout) instead of failing.
    const queued = idle.slice(0, 3).map((c, i) => c.query('INSERT INTO writes (client, n) VALUES ($1, 1) RETURNING inet_server_port() AS port', [100 + i]));
    await promotePostgres(replica);
    for (const r of await Promise.all(queued)) expect(r.rows[0].port).toBe(replica.port);
    // The READ_ONLY pool's connection to the replica (left idle by the first test) now reaches the
    // writer: it is closed once health checks see the promotion, not kept until it closes by itself.
    await waitFor('the READ_ONLY pool letting go of the promoted replica', async () => {
      if (readOnlyPool.snapshot().servers !== 0) throw new Error(`${readOnlyPool.snapshot().servers} server connections`);
    }, 20_000);
    const before = writers.map((w) => w.state.acked.length);
    await Promise.all(writers.map((w, i) => w.acked(before[i]! + 5)));
    stop.now = true;
    await Promise.all(writers.map((w) => w.state.done));

    // Only what was in flight failed: at most one statement per writer.
    for (const w of writers) expect(w.state.errors.length).toBeLessThanOrEqual(1);
    for (const w of writers) for (const e of w.state.errors) expect(e).toMatch(/connection to the database was lost/);
    // Every commit a client saw is on the new primary; the open transaction is not.
    const rows = (await sql(replica, 'SELECT client, n FROM writes')).rows as Array<{ client: number; n: number }>;
    const present = new Set(rows.map((r) => `${r.client}/${r.n}`));
    writers.forEach((w, i) => {
      expect(w.state.acked.length).toBeGreaterThanOrEqual(10);
      const missing = w.state.acked.filter((n) => !present.has(`${i}/${n}`));
      expect(missing).toEqual([]);
    });
    expect(present.has('99/1')).toBe(false);

    // Idle clients never noticed: same connections, next query on the new writer.
    for (const c of idle) {
      expect((await c.query('SELECT pg_is_in_recovery() AS standby, inet_server_port() AS port')).rows[0]).toEqual({ standby: false, port: replica.port });
      expect(c.events).toEqual([]);
    }
    for (const c of writerClients) expect(c.events).toEqual([]);
    for (const c of sleepers) {
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      expect(c.events).toEqual([]);
    }
    // A new client goes to the new writer too, and DescribeDBProxyTargets says who is who.
    const fresh = proxyClient(rwPort);
    await fresh.connect();
    expect((await fresh.query('SELECT inet_server_port() AS port')).rows[0].port).toBe(replica.port);
    const targets = (await rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: proxyName }))).Targets!;
    expect(targets.map((t) => [t.RdsResourceId, t.Role])).toEqual([
      [`fo-a-${suffix}`, 'UNKNOWN'],
      [`fo-b-${suffix}`, 'READ_WRITE'],
    ]);
    await Promise.all([...idle, ...writerClients, ...sleepers, fresh].map((c) => c.end()));
  }, 120_000);
});
