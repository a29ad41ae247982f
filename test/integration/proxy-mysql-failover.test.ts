/**
 * Failover behind a MySQL (MariaDB) proxy endpoint, with real servers: a
 * MariaDB 10.11 primary with a binary log, a semi-synchronous replica of
 * it and an asynchronous one (GTID, read_only), each an iamdb instance, all
 * registered as the proxy's targets, and a READ_ONLY endpoint beside the
 * default one. Before the failover, READ_ONLY sessions run on the replicas,
 * spread over both (health checks see `@@read_only`). Then clients write and record each commit they were told
 * of, one runs a long statement and one holds an open transaction; the
 * primary is killed (SIGKILL) and the replica promoted (STOP SLAVE, RESET
 * SLAVE ALL, read_only off). With no API call: the endpoint keeps accepting,
 * logins made while there is no writer wait (ConnectionBorrowTimeout) and
 * then run on the new writer, what was in flight failed with an error (not a
 * hang), and every commit a client saw is on the new primary.
 *
 * Session pooling: a client's session lives on one server connection, so
 * every client connected to the dead primary is disconnected (as RDS Proxy
 * does with pinned sessions); the test says so. Keeping idle clients comes
 * with transaction multiplexing, where an idle client holds no server.
 */
import * as RDS from '@aws-sdk/client-rds';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { crashMariaDb, promoteMariaDb, startMariaDb, startMariaDbReplica, waitForReplica, type MariaDbServer } from '../support/mariadb-server.js';
import { startMysqlProxyFixture, type MysqlProxyFixture } from '../support/mysql-proxy-fixture.js';

const IDLE = 5;
const WRITERS = 3;

let primary: MariaDbServer;
let replica: MariaDbServer;
/** Asynchronous: never acknowledges a commit, so the promoted `replica` has every acknowledged one. */
let replica2: MariaDbServer;
/** The proxy over all three (its default endpoint READ_WRITE), its secret's password by the proxy's default client authentication. */
let fx: MysqlProxyFixture<'app'>;
let roPort = 0;

async function sql(server: MariaDbServer, text: string): Promise<Array<Record<string, unknown>>> {
  const c = await fx.admin(server);
  try {
    const [rows] = await c.query(text);
    return rows as Array<Record<string, unknown>>;
  } finally {
    await c.end();
  }
}

type Client = mysql.Connection & { events: string[] };

/** A mysql2 client of a proxy endpoint over TLS; every 'error' and 'end' it sees is recorded. */
async function proxyClient(port: number): Promise<Client> {
  // A login may wait for a writer (ConnectionBorrowTimeout), longer than mysql2's 10 s connect timeout.
  const c = (await fx.connect(fx.users.app, { port, connectTimeout: 120_000 })) as Client;
  c.events = [];
  c.on('error', (e) => c.events.push(`error: ${e.message}`));
  c.on('end', () => c.events.push('end'));
  return c;
}

async function whereAmI(c: mysql.Connection): Promise<{ port: number; readOnly: number }> {
  const [rows] = await c.query('SELECT @@port AS port, @@global.read_only AS readOnly');
  const r = (rows as Array<{ port: number; readOnly: number }>)[0]!;
  return { port: Number(r.port), readOnly: Number(r.readOnly) };
}

beforeAll(async () => {
  primary = await startMariaDb({ binlogServerId: 1 });
  replica = await startMariaDbReplica(primary, { semiSync: true });
  replica2 = await startMariaDbReplica(primary, { serverId: 3 });
  // Users, database and table are made on the primary; the replicas have them once they have caught up.
  fx = await startMysqlProxyFixture('myfo', {
    servers: [primary, replica, replica2],
    users: { app: 'password' },
    setup: (db) => [`CREATE TABLE ${db}.writes (client INT, n INT, PRIMARY KEY (client, n)) ENGINE=InnoDB`],
    pool: { MaxConnectionsPercent: 40, ConnectionBorrowTimeout: 90 },
  });
  await waitForReplica(primary, replica);
  await waitForReplica(primary, replica2);
  roPort = await getFreePort();
  await fx.rds.send(new RDS.CreateDBProxyEndpointCommand({ DBProxyName: fx.proxyName, DBProxyEndpointName: `myro-${fx.suffix}`, VpcSubnetIds: ['subnet-1'], TargetRole: 'READ_ONLY', Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${roPort}` }] }));
}, 240_000);

afterAll(async () => {
  await fx?.stop();
  await replica2?.stop();
  await replica?.stop();
  await primary?.stop();
});

/** One writer: autocommit INSERTs in a loop until told to stop; what the server acknowledged, and what failed. */
function writeLoop(c: mysql.Connection, id: number, count: number, from = 0) {
  const state = { acked: [] as number[], errors: [] as string[] };
  const done = (async () => {
    for (let n = from; n < from + count; n++) {
      try {
        await c.query('INSERT INTO writes (client, n) VALUES (?, ?)', [id, n]);
        state.acked.push(n);
      } catch (e) {
        state.errors.push((e as Error).message);
        return;
      }
    }
  })();
  return { state, done };
}

describe('a MySQL proxy over a MariaDB primary and its replica', () => {
  it('spreads READ_ONLY sessions over the replicas (read_only) and sends the default endpoint to the primary', async () => {
    // Once health checks have seen every target (before that, a READ_ONLY login waits for readers).
    await waitFor('every role seen by health checks', async () => {
      const targets = (await fx.rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: fx.proxyName }))).Targets!;
      expect(targets.map((t) => [t.RdsResourceId, t.Role, t.TargetHealth?.State])).toEqual([
        [fx.targets[0], 'READ_WRITE', 'AVAILABLE'],
        [fx.targets[1], 'READ_ONLY', 'AVAILABLE'],
        [fx.targets[2], 'READ_ONLY', 'AVAILABLE'],
      ]);
    }, 40_000, 200);
    // Two transactions at once (each holds its server connection): the second goes to the replica the pool has no connection to.
    const ro = [await proxyClient(roPort), await proxyClient(roPort)];
    for (const c of ro) await c.query('BEGIN');
    const at = await Promise.all(ro.map((c) => whereAmI(c)));
    for (const c of ro) await c.query('COMMIT');
    expect(at.map((a) => a.readOnly)).toEqual([1, 1]);
    expect(at.map((a) => a.port).sort()).toEqual([replica.port, replica2.port].sort());
    await expect(ro[0]!.query('INSERT INTO writes VALUES (-1, -1)')).rejects.toThrow(/read-only|--read-only/);
    await Promise.all(ro.map((c) => c.end()));
    const rw = await proxyClient(fx.port);
    expect(await whereAmI(rw)).toEqual({ port: primary.port, readOnly: 0 });
    await rw.end();
  });

  it('fails a READ_ONLY endpoint at once when its target group has no replica, as RDS Proxy does', async () => {
    const soloPort = await getFreePort();
    const solo = `mysolo-${fx.suffix}`;
    await fx.rds.send(new RDS.CreateDBProxyCommand({ DBProxyName: solo, EngineFamily: 'MYSQL', RoleArn: fx.roleArn, VpcSubnetIds: ['subnet-1'], Auth: [{ AuthScheme: 'SECRETS', SecretArn: fx.secretArns[0], IAMAuth: 'DISABLED' }] }));
    await fx.rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: solo, DBInstanceIdentifiers: [fx.targets[0]!] }));
    await fx.rds.send(new RDS.CreateDBProxyEndpointCommand({ DBProxyName: solo, DBProxyEndpointName: `mysolo-ro-${fx.suffix}`, VpcSubnetIds: ['subnet-1'], TargetRole: 'READ_ONLY', Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${soloPort}` }] }));
    const started = Date.now();
    await expect(proxyClient(soloPort)).rejects.toThrow('Request returned an error: the read-only endpoint has no reader DB instance in its target group');
    // At once: not after ConnectionBorrowTimeout (120 s by default).
    expect(Date.now() - started).toBeLessThan(10_000);
    await fx.rds.send(new RDS.DeleteDBProxyCommand({ DBProxyName: solo }));
  });

  it('fails over to the promoted replica: commits kept, in-flight work failed, waiting logins served by the new writer', async () => {
    const idle = await Promise.all(Array.from({ length: IDLE }, () => proxyClient(fx.port)));
    for (const c of idle) expect((await whereAmI(c)).port).toBe(primary.port);

    // Writers commit, each commit acknowledged only once the replica has it (semi-synchronous).
    const writerClients = await Promise.all(Array.from({ length: WRITERS }, () => proxyClient(fx.port)));
    const before = writerClients.map((c, i) => writeLoop(c, i, 20));
    await Promise.all(before.map((w) => w.done));
    for (const w of before) expect(w.state).toEqual({ acked: Array.from({ length: 20 }, (_, n) => n), errors: [] });

    // In flight when the primary dies: a long statement, and a transaction left open.
    const sleeper = await proxyClient(fx.port);
    const sleeping = sleeper.query('SELECT SLEEP(300)').then(() => 'finished', (e: Error) => `failed: ${e.message}`);
    const inTx = await proxyClient(fx.port);
    await inTx.query('BEGIN');
    await inTx.query('INSERT INTO writes (client, n) VALUES (99, 1)');
    await waitFor('the long statement running on the primary', async () => {
      const [r] = await sql(primary, "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info = 'SELECT SLEEP(300)'");
      if (Number(r!['n']) !== 1) throw new Error('not running yet');
    }, 20_000);

    await crashMariaDb(primary);
    // What was in flight fails at once; nothing waits for the promotion.
    expect(await sleeping).toMatch(/^failed: /);
    await expect(inTx.query('COMMIT')).rejects.toThrow();

    // Logins while there is no writer wait (up to ConnectionBorrowTimeout) instead of failing, then write on the new writer.
    const queued = Array.from({ length: 3 }, async (_, i) => {
      const c = await proxyClient(fx.port);
      await c.query('INSERT INTO writes (client, n) VALUES (?, 1)', [100 + i]);
      return { c, at: await whereAmI(c) };
    });
    // Health checks see no writer now (the primary down, the replica still read-only); the logins are held, not refused.
    await waitFor('the primary seen down', async () => {
      const targets = (await fx.rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: fx.proxyName }))).Targets!;
      expect(targets.map((t) => t.Role)).toEqual(['UNKNOWN', 'READ_ONLY', 'READ_ONLY']);
    }, 30_000, 200);
    const settled = await Promise.race([Promise.allSettled(queued).then(() => 'settled'), new Promise((r) => setImmediate(() => r('pending')))]);
    expect(settled).toBe('pending');
    await promoteMariaDb(replica);
    const served = await Promise.all(queued);
    for (const s of served) expect(s.at).toEqual({ port: replica.port, readOnly: 0 });

    // New writers commit on the new primary.
    const after = served.map((s, i) => writeLoop(s.c, i, 20, 1_000));
    await Promise.all(after.map((w) => w.done));
    for (const w of after) expect(w.state.errors).toEqual([]);

    // Every commit a client was told of is on the new primary; the open transaction is not.
    const rows = await sql(replica, `SELECT client, n FROM ${fx.database}.writes`);
    const present = new Set(rows.map((r) => `${String(r['client'])}/${String(r['n'])}`));
    before.forEach((w, i) => expect(w.state.acked.filter((n) => !present.has(`${i}/${n}`))).toEqual([]));
    after.forEach((w, i) => expect(w.state.acked.filter((n) => !present.has(`${i}/${n}`))).toEqual([]));
    for (let i = 0; i < 3; i++) expect(present.has(`${100 + i}/1`)).toBe(true);
    expect(present.has('99/1')).toBe(false);

    // Transaction multiplexing: clients idle at the crash held no server connection; they stay
    // connected and their next statement runs on the new writer.
    for (const c of idle) expect(await whereAmI(c)).toEqual({ port: replica.port, readOnly: 0 });
    // A new client goes to the new writer, and DescribeDBProxyTargets says who is who.
    const fresh = await proxyClient(fx.port);
    expect(await whereAmI(fresh)).toEqual({ port: replica.port, readOnly: 0 });
    const targets = (await fx.rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: fx.proxyName }))).Targets!;
    expect(targets.map((t) => [t.RdsResourceId, t.Role])).toEqual([
      [fx.targets[0], 'UNKNOWN'],
      [fx.targets[1], 'READ_WRITE'],
      [fx.targets[2], 'READ_ONLY'],
    ]);
    await Promise.all([...served.map((s) => s.c), fresh].map((c) => c.end()));
    for (const c of [...idle, ...writerClients, sleeper, inTx]) c.destroy();
  }, 180_000);
});
