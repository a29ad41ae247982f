/**
 * Clients in the clear on a PostgreSQL proxy endpoint. RDS Proxy takes them
 * when the proxy's RequireTLS is off; here they become native sessions
 * without TLS (native/data_path.c, acceptTls with a null context) and join
 * the same native pool as TLS clients. With RequireTLS on they are refused
 * before their user is looked up, as before.
 */
import * as RDS from '@aws-sdk/client-rds';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../support/aws-sdk.js';
import { runPsql } from '../support/clients.js';
import { FIXTURE_POOL_SIZE, startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

let f: PostgresProxyFixture;
let rds: RDS.RDSClient;

beforeAll(async () => {
  f = await startPostgresProxyFixture('clear');
  rds = sdkClient(RDS.RDSClient, f.iamdb.apiUrl, f.iamdb.admin);
});

afterAll(async () => {
  await f?.stop();
});

const clearClient = (): pg.Client => new pg.Client({ host: '127.0.0.1', port: f.port, user: f.user, password: f.password, database: f.database, ssl: false });
const psqlClear = (sql: string): ReturnType<typeof runPsql> =>
  runPsql(`host=127.0.0.1 port=${f.port} dbname=${f.database} user=${f.user} sslmode=disable`, sql, { PGPASSWORD: f.password });

async function setRequireTls(on: boolean): Promise<void> {
  await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: f.proxyName, RequireTLS: on }));
}

describe('clear clients on a PostgreSQL proxy endpoint', () => {
  it('are refused under RequireTLS with RDS Proxy\'s text and TlsRequired in the audit log', async () => {
    const from = f.iamdb.audit.events.length;
    await expect(clearClient().connect()).rejects.toThrow('This RDS Proxy requires TLS connections.');
    const r = await psqlClear('SELECT 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('This RDS Proxy requires TLS connections.');
    const denied = f.iamdb.audit.events.slice(from).filter((e) => e.event === 'db.auth' && e.decision === 'deny');
    expect(denied.map((e) => ('reason' in e ? e.reason : undefined))).toEqual(['TlsRequired', 'TlsRequired']);
  });

  it('with RequireTLS off, log in and share the pool with TLS clients; queries and large messages cross both ways', async () => {
    await setRequireTls(false);
    try {
      const from = f.iamdb.audit.events.length;
      const r = await psqlClear("SELECT 'psql ' || current_user");
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe(`psql ${f.user}`);

      // More clients than the pool has servers, clear and TLS mixed, each in transactions of its own.
      const clients = [clearClient(), clearClient(), clearClient(), f.client(), clearClient()];
      await Promise.all(clients.map((c) => c.connect()));
      try {
        const big = 'y'.repeat(300_000); // many reads on the client's side, each filling the native buffer
        const results = await Promise.all(
          clients.map(async (c, i) => {
            await c.query('BEGIN');
            const echoed = (await c.query('SELECT $1::text AS t, $2::int AS i', [big, i])).rows[0];
            const wide = (await c.query("SELECT repeat('x', 500000) AS w")).rows[0].w as string;
            await c.query('COMMIT');
            return { same: echoed.t === big, i: echoed.i as number, wide: wide.length };
          }),
        );
        expect(results).toEqual(clients.map((_, i) => ({ same: true, i, wide: 500_000 })));
        expect(await f.serverBackends()).toBeLessThanOrEqual(FIXTURE_POOL_SIZE);
        expect(f.poolStats().clients).toBe(clients.length);
      } finally {
        await Promise.all(clients.map((c) => c.end()));
      }
      const starts = f.iamdb.audit.events.slice(from).filter((e) => e.event === 'db.session.start');
      expect(starts.map((e) => ('tls' in e ? e.tls : undefined)).sort()).toEqual([false, false, false, false, false, true]);
    } finally {
      await setRequireTls(true);
    }
  });

  it('with RequireTLS off, a clear client\'s statement can be cancelled (its native session is found)', async () => {
    await setRequireTls(false);
    try {
      const c = clearClient();
      await c.connect();
      try {
        const running = c.query('SELECT pg_sleep(30)').then(
          () => 'finished',
          (err: Error) => err.message,
        );
        // Cancel once the server runs it, so the cancel finds the statement.
        const admin = f.admin();
        await admin.connect();
        try {
          for (let i = 0; i < 200; i++) {
            const seen = await admin.query("SELECT 1 FROM pg_stat_activity WHERE usename = $1 AND query = 'SELECT pg_sleep(30)' AND state = 'active'", [f.user]);
            if (seen.rows.length > 0) break;
          }
        } finally {
          await admin.end();
        }
        // pg's BackendKeyData, sent back in a CancelRequest as libpq does.
        const key = c as unknown as { processID: number; secretKey: number };
        await sendCancel(f.port, key.processID, key.secretKey);
        expect(await running).toMatch(/canceling statement due to user request/);
        expect((await c.query('SELECT 3 AS v')).rows[0].v).toBe(3);
      } finally {
        await c.end();
      }
    } finally {
      await setRequireTls(true);
    }
  });

  it('are refused again once RequireTLS is back on', async () => {
    await expect(clearClient().connect()).rejects.toThrow('This RDS Proxy requires TLS connections.');
  });
});

/** A CancelRequest in the clear, as libpq sends one (cancellation needs no TLS of its own). */
async function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  const { connect } = await import('node:net');
  const b = Buffer.alloc(16);
  b.writeInt32BE(16, 0);
  b.writeInt32BE(80877102, 4);
  b.writeInt32BE(processId, 8);
  b.writeInt32BE(secretKey, 12);
  await new Promise<void>((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.end(b));
    s.on('close', () => resolve());
    s.on('error', reject);
  });
}
