/**
 * One bound for all of a proxy's pools of a target, as RDS Proxy's
 * MaxConnectionsPercent is a share of the target's connections across the
 * whole proxy (not per database user): two users through one proxy never
 * hold more server connections together than the bound, and a user who
 * waits is served by closing the other user's idle connection, or the one
 * the other user gives back. Then pools that serve nothing are freed: one
 * made for a database that does not exist, and those of a proxy whose
 * target is deregistered or that is deleted.
 */
import * as RDS from '@aws-sdk/client-rds';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nativeDataPath } from '../../src/gateway/native-data-path.js';
import { sdkClient } from '../support/aws-sdk.js';
import { waitFor } from '../support/exec.js';
import { FIXTURE_POOL_SIZE, startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

let fx: PostgresProxyFixture;

beforeAll(async () => {
  fx = await startPostgresProxyFixture('lim');
}, 120_000);
afterAll(async () => {
  await fx?.stop();
});

/** A client of the IAM user (user B) through the proxy. */
function userB(database = fx.database): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port: fx.port, user: fx.iamUser, password: fx.token(), database, ssl: { ca: fx.iamdbCa, servername: 'localhost' } });
}

/** Server connections of both users together, as the server sees them. */
async function together(admin: pg.Client): Promise<number> {
  const r = await admin.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = ANY($1)', [[fx.user, fx.iamUser]]);
  return r.rows[0].n as number;
}

/** Server connections of both users' pools together, open and opening, as the proxy counts them against its bound. */
function counted(): number {
  let n = 0;
  for (const [key, pool] of fx.iamdb.app.proxyPools()) {
    if (key.endsWith(`/${fx.user}/${fx.database}`) || key.endsWith(`/${fx.iamUser}/${fx.database}`)) n += pool.snapshot().servers;
  }
  return n;
}

/**
 * Samples the proxy's count until `work` settles (each sample paced by a query to the
 * server, which also shows the proxy never holds more than it counts); returns the most
 * seen at once. The server's own view is checked once things are quiet: a backend the
 * proxy has just closed to make room is listed by pg_stat_activity until it has exited,
 * which on a loaded machine can overlap the new connection's start.
 */
async function most(work: Promise<unknown>): Promise<number> {
  const admin = fx.admin();
  await admin.connect();
  let settled = false;
  const done = work.finally(() => (settled = true));
  let max = 0;
  try {
    while (!settled) {
      max = Math.max(max, counted());
      await together(admin);
    }
    await done;
    max = Math.max(max, counted());
    await waitFor('the server sees no more connections than the proxy counts', async () => {
      const n = await together(admin);
      if (n > FIXTURE_POOL_SIZE) throw new Error(`${n} backends`);
    }, 10_000);
    return max;
  } finally {
    await admin.end();
  }
}

function openPools(): number {
  return nativeDataPath().path!.openPools;
}

describe('a proxy with two database users', () => {
  it('keeps both users within one bound, and hands an idle connection of one user to the other', async () => {
    expect(FIXTURE_POOL_SIZE).toBe(2);
    const b = userB();
    await b.connect();
    const a1 = fx.client();
    const a2 = fx.client();
    const scenario = (async () => {
      // B's pool has a connection (idle now).
      expect((await b.query('SELECT current_user AS u')).rows[0].u).toBe(fx.iamUser);
      await Promise.all([a1.connect(), a2.connect()]);
      // A needs two at once: the second is made by closing B's idle one.
      await a1.query('BEGIN');
      await a2.query('BEGIN');
      expect(fx.poolStats(fx.user).servers).toBe(2);
      await waitFor('B’s idle connection closed to make room', async () => {
        if (fx.poolStats(fx.iamUser).servers !== 0) throw new Error(`B has ${fx.poolStats(fx.iamUser).servers}`);
      }, 10_000);
      // B waits: A holds both in transactions. A's first COMMIT gives one back, and it goes to B.
      let answered = false;
      const waiting = b.query('SELECT 1 AS one').then((r) => {
        answered = true;
        return r;
      });
      await waitFor('B waiting for a connection', async () => {
        if (fx.poolStats(fx.iamUser).waiting !== 1) throw new Error('not waiting yet');
      }, 10_000);
      expect(answered).toBe(false);
      await a1.query('COMMIT');
      expect((await waiting).rows[0].one).toBe(1);
      expect(fx.poolStats(fx.user).servers).toBe(1);
      await a2.query('COMMIT');
    })();
    expect(await most(scenario)).toBeLessThanOrEqual(FIXTURE_POOL_SIZE);

    // Both users busy at once: together they never pass the bound, and everyone is served.
    const clients = [fx.client(), fx.client(), fx.client(), userB(), userB(), userB()];
    await Promise.all(clients.map((c) => c.connect()));
    const busy = Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 15; i++) expect((await c.query('SELECT $1::int AS i, pg_sleep(0.005)', [i])).rows[0].i).toBe(i);
      }),
    );
    expect(await most(busy)).toBeLessThanOrEqual(FIXTURE_POOL_SIZE);
    await Promise.all([...clients, a1, a2, b].map((c) => c.end()));
  });

  it('frees the pool made for a database that does not exist', async () => {
    const before = openPools();
    const keys = [...fx.iamdb.app.proxyPools().keys()];
    for (let i = 0; i < 3; i++) {
      const c = new pg.Client({ host: '127.0.0.1', port: fx.port, user: fx.user, password: fx.password, database: 'no_such_db', ssl: { ca: fx.iamdbCa, servername: 'localhost' } });
      await expect(c.connect()).rejects.toThrow(/does not exist/);
    }
    expect([...fx.iamdb.app.proxyPools().keys()]).toEqual(keys);
    await waitFor('the native pools freed', async () => {
      if (openPools() !== before) throw new Error(`${openPools()} pools, ${before} before`);
    }, 10_000);
  });

  it('frees the pools of a proxy whose target is deregistered, and of a deleted proxy', async () => {
    const rds = sdkClient(RDS.RDSClient, fx.iamdb.apiUrl, fx.iamdb.admin);
    const c = fx.client();
    await c.connect();
    await c.query('SELECT 1');
    const ofProxy = () => [...fx.iamdb.app.proxyPools().keys()].length;
    expect(ofProxy()).toBeGreaterThan(0);
    const before = openPools();
    const target = (await rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: fx.proxyName }))).Targets![0]!.RdsResourceId!;
    await rds.send(new RDS.DeregisterDBProxyTargetsCommand({ DBProxyName: fx.proxyName, DBInstanceIdentifiers: [target] }));
    expect(ofProxy()).toBe(0);
    // The client still attached keeps the native half until it leaves; its idle server connection is closed now.
    await waitFor('the server connections closed', async () => {
      if ((await fx.serverBackends()) !== 0) throw new Error('still open');
    }, 10_000);
    await c.end();
    await waitFor('the native pools freed', async () => {
      if (openPools() >= before) throw new Error(`${openPools()} pools, ${before} before`);
    }, 10_000);

    // Registered again, then the proxy deleted: nothing of it stays.
    await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: fx.proxyName, DBInstanceIdentifiers: [target] }));
    const d = fx.client();
    await d.connect();
    await d.query('SELECT 1');
    expect(ofProxy()).toBe(1);
    const withProxy = openPools();
    await d.end();
    await rds.send(new RDS.DeleteDBProxyCommand({ DBProxyName: fx.proxyName }));
    expect(ofProxy()).toBe(0);
    await waitFor('the native pool freed', async () => {
      if (openPools() !== withProxy - 1) throw new Error(`${openPools()} pools`);
    }, 10_000);
    expect(await fx.serverBackends()).toBe(0);
  });
});
