/**
 * The pooled relay against what drivers rarely send but a client may: a
 * series of extended-protocol messages left open without Sync, FunctionCall,
 * statement names the client never prepared (including the proxy's own
 * pooled names), and the unnamed statement after a simple Query. Each case
 * is one an adversarial review of native/pg_pool.c found; the server's
 * answers are what PostgreSQL gives a direct client.
 */
import * as RDS from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../support/aws-sdk.js';
import { waitFor } from '../support/exec.js';
import { errorFields, msg, PgWire, rowValues, type BackendMessage } from '../support/pg-wire.js';
import { startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

let f: PostgresProxyFixture;

beforeAll(async () => {
  // Idle server connections beyond MaxIdleConnectionsPercent close after a second here.
  f = await startPostgresProxyFixture('wire', { idleServerSeconds: 1 });
  const a = f.admin();
  await a.connect();
  await a.query('CREATE TABLE open_series (x int)');
  await a.query(`GRANT ALL ON open_series TO ${f.iamUser}`);
  await a.query('CREATE TABLE dup_batch (x int)');
  await a.query(`GRANT ALL ON dup_batch TO ${f.iamUser}`);
  await a.end();
});

afterAll(async () => {
  await f?.stop();
});

function login(): Promise<PgWire> {
  return PgWire.login({ host: '127.0.0.1', port: f.port }, f.iamdbCaPath, f.iamUser, f.database, f.token());
}

const types = (ms: BackendMessage[]): string => ms.map((m) => m.type).join('');

describe('the pooled relay, message by message', () => {
  it('never completes a series its client left open without Sync: the server connection goes, and the work with it', async () => {
    const w = await login();
    w.send(msg.parse('', 'INSERT INTO open_series VALUES (1)'), msg.bind('', ''), msg.execute(''), msg.flush());
    // The server ran the INSERT (it answered), inside the implicit transaction only Sync would commit.
    expect(types(await w.until('C'))).toBe('12C');
    w.destroy();
    const a = f.admin();
    await a.connect();
    try {
      // The lock waits for that transaction to end, whichever way it ends.
      await a.query('BEGIN');
      await a.query('LOCK TABLE open_series IN ACCESS EXCLUSIVE MODE');
      expect((await a.query('SELECT count(*)::int AS n FROM open_series')).rows[0].n).toBe(0);
      await a.query('COMMIT');
    } finally {
      await a.end();
    }
  });

  it('answers a FunctionCall and pins the client that made it, with the reason in the audit log', async () => {
    const from = f.iamdb.audit.events.length;
    const w = await login();
    const login_ = await f.iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === f.iamUser && e.decision === 'allow', from);
    // pg_backend_pid() by its OID, through the fastpath interface.
    w.send(msg.functionCall(2026));
    const answer = await w.until('Z');
    expect(types(answer)).toBe('VZ');
    const pid = Number(answer[0]!.body.subarray(4).toString());
    // Pinned: the same server process answers from now on.
    expect(rowValues((await w.query('SELECT pg_backend_pid()')).find((m) => m.type === 'D')!)).toEqual([String(pid)]);
    w.send(msg.terminate());
    await w.closed();
    const end = await f.iamdb.audit.until((e) => e.event === 'db.session.end' && 'sessionId' in login_ && e.sessionId === login_.sessionId);
    expect(end.event === 'db.session.end' && end.pinReasons).toContain('FunctionCall');
  });

  it('pins a client that seeds random(), so its sequence is the one a direct connection gives', async () => {
    const from = f.iamdb.audit.events.length;
    const direct = f.admin();
    await direct.connect();
    await direct.query('SELECT setseed(0.25)');
    const expected = [];
    for (let i = 0; i < 3; i++) expected.push((await direct.query('SELECT random()::text AS r')).rows[0].r as string);
    await direct.end();
    const a = await login();
    const b = await login();
    const login_ = await f.iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === f.iamUser && e.decision === 'allow', from);
    await a.query('SELECT setseed(0.25)');
    const got = [];
    for (let i = 0; i < 3; i++) {
      await b.query('SELECT random()');
      got.push(rowValues((await a.query('SELECT random()::text')).find((m) => m.type === 'D')!)[0]);
    }
    expect(got).toEqual(expected);
    for (const w of [a, b]) {
      w.send(msg.terminate());
      await w.closed();
    }
    const end = await f.iamdb.audit.until((e) => e.event === 'db.session.end' && 'sessionId' in login_ && e.sessionId === login_.sessionId);
    expect(end.event === 'db.session.end' && end.pinReasons).toEqual(['RandomSeed']);
  });

  it('refuses a statement name the client never prepared, even one the proxy itself uses on that server', async () => {
    const w = await login();
    w.send(msg.parse('mine', 'SELECT 1'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    // Each segment makes the proxy prepare "mine" on the server it borrows (under a pooled name),
    // then asks for one pooled name: one of them is "mine"'s own, which this client never named.
    const probes = 400;
    for (let k = 1; k <= probes; k++) w.send(msg.describe('S', 'mine'), msg.describe('S', `iamdb_${k}`), msg.sync());
    for (let k = 1; k <= probes; k++) {
      const seg = await w.until('Z');
      expect(types(seg), `iamdb_${k}`).toBe('tTEZ');
      expect(errorFields(seg[2]!)['C']).toBe('26000');
    }
    expect(rowValues((await w.query('SELECT 7')).find((m) => m.type === 'D')!)).toEqual(['7']);
    w.destroy();
  });

  it('forgets the unnamed statement when a simple Query runs, as the server does', async () => {
    const w = await login();
    w.send(msg.parse('', 'SELECT 41'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    expect(types(await w.query('SELECT 1'))).toBe('TDCZ');
    w.send(msg.bind('', ''), msg.execute(''), msg.sync());
    const seg = await w.until('Z');
    expect(types(seg)).toBe('EZ');
    expect(errorFields(seg[0]!)['C']).toBe('26000');
    w.destroy();
  });

  it('keeps the unnamed statement of a client whose next series lands on another server connection', async () => {
    const w = await login();
    const other = await login();
    w.send(msg.parse('', 'SELECT 41 + $1::int'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    // Another client's series in between may take the server connection w used.
    other.send(msg.parse('', 'SELECT 0'), msg.bind('', ''), msg.execute(''), msg.sync());
    expect(types(await other.until('Z'))).toBe('12DCZ');
    w.send(msg.bind('', '', ['1']), msg.execute(''), msg.sync());
    const seg = await w.until('Z');
    expect(types(seg)).toBe('2DCZ');
    expect(rowValues(seg[1]!)).toEqual(['42']);
    w.destroy();
    other.destroy();
  });
  it('frees the names of statements that failed or were skipped, so the client may prepare them again, as on a direct connection', async () => {
    const w = await login();
    // "a" fails (no such column); "b" comes after it in the same series, so the server skips it.
    w.send(msg.parse('a', 'SELECT no_such_column'), msg.parse('b', 'SELECT 40 + $1::int'), msg.sync());
    const failed = await w.until('Z');
    expect(types(failed)).toBe('EZ');
    expect(errorFields(failed[0]!)['C']).toBe('42703');
    // Neither name exists now: both may be prepared (not "already exists"), and "b" runs.
    w.send(msg.parse('a', 'SELECT 1'), msg.parse('b', 'SELECT 40 + $1::int'), msg.bind('', 'b', ['2']), msg.execute(''), msg.sync());
    const again = await w.until('Z');
    expect(types(again)).toBe('112DCZ');
    expect(rowValues(again[3]!)).toEqual(['42']);
    // Every server connection of the pool runs "b" (each prepares it when it first needs it).
    for (let i = 0; i < 6; i++) {
      w.send(msg.bind('', 'b', [String(i)]), msg.execute(''), msg.sync());
      const seg = await w.until('Z');
      expect(types(seg)).toBe('2DCZ');
      expect(rowValues(seg[1]!)).toEqual([String(40 + i)]);
    }
    w.destroy();
  });

  // Each error comes back after the proxy has queued the Sync that ends the server's skip (the failing Parse and its
  // Sync in one write): the connection must not stay skipping, or the next made-up ParseComplete never comes.
  it.each([
    ['a Parse that fails', 'broken', 'SELECT no_such_column'],
    ['a duplicate name', 'known', 'SELECT 1'],
  ])('answers a Parse the server has on the connection whose pipelined series just failed (%s)', async (_what, name, text) => {
    const w = await login();
    // Pinned (a FunctionCall): the next series run on the connection whose series failed.
    w.send(msg.functionCall(2026));
    expect(types(await w.until('Z'))).toBe('VZ');
    w.send(msg.parse('known', 'SELECT 1'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    w.send(msg.parse(name, text), msg.sync());
    expect(types(await w.until('Z'))).toBe('EZ');
    // The server has this text prepared: the proxy answers ParseComplete for it, the server is not skipping.
    w.send(msg.parse('again', 'SELECT 1'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    w.destroy();
  });

  it('keeps at most 256 statements on a server connection, closing the least recently used, which come back when needed', async () => {
    const c = f.client();
    await c.connect();
    try {
      const run = async (i: number): Promise<void> => {
        const r = await c.query({ name: `many_${i}`, text: `SELECT ${i} + $1::int AS v`, values: [1] });
        expect(r.rows[0].v).toBe(i + 1);
      };
      for (let i = 0; i < 600; i++) await run(i);
      for (let round = 0; round < 3; round++) {
        const counts = await c.query("SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE 'iamdb\\_%'");
        expect(counts.rows[0].n).toBeLessThanOrEqual(256);
        expect(counts.rows[0].n).toBeGreaterThan(0);
      }
      // Every statement still runs: those closed are prepared again for the client, which never knew.
      for (let i = 0; i < 600; i += 7) await run(i);
    } finally {
      await c.end();
    }
  });
  it('closes idle server connections beyond MaxIdleConnectionsPercent, and opens them again when clients need them', async () => {
    const rds = sdkClient(RDS.RDSClient, f.iamdb.apiUrl, f.iamdb.admin);
    // 300 max_connections less 3 reserved: 4 % is a pool of 11, 1 % idle is 2 kept.
    await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: f.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 4, MaxIdleConnectionsPercent: 1 } }));
    const clients = Array.from({ length: 8 }, () => f.client());
    try {
      await Promise.all(clients.map((c) => c.connect()));
      // Eight transactions open at once: eight server connections.
      await Promise.all(clients.map((c) => c.query('BEGIN')));
      await Promise.all(clients.map((c) => c.query('SELECT 1')));
      expect(await f.serverBackends()).toBeGreaterThanOrEqual(8);
      await Promise.all(clients.map((c) => c.query('COMMIT')));
      await waitFor('idle servers trimmed', async () => {
        const n = await f.serverBackends();
        if (n > 2) throw new Error(`${n} server connections`);
      }, 30_000, 100);
      expect(f.poolStats().servers).toBeLessThanOrEqual(2);
      // The clients stay, and their next statements find servers.
      const rows = await Promise.all(clients.map((c, i) => c.query('SELECT $1::int AS v', [i])));
      expect(rows.map((r) => r.rows[0].v)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: f.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 1 } }));
    }
  });
  it('keeps DebugLogging for a session whose proxy is renamed, under the new name', async () => {
    const rds = sdkClient(RDS.RDSClient, f.iamdb.apiUrl, f.iamdb.admin);
    const renamed = `${f.proxyName}-renamed`;
    const c = f.client();
    await c.connect();
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: f.proxyName, DebugLogging: true, NewDBProxyName: renamed }));
    try {
      await c.query('SELECT 5151 AS after_rename');
      const logged = f.iamdb.logLines().filter((l) => l['sql'] === 'SELECT 5151 AS after_rename');
      expect(logged.map((l) => l['proxy'])).toEqual([renamed]);
    } finally {
      await c.end();
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: renamed, DebugLogging: false, NewDBProxyName: f.proxyName }));
    }
  });
});

/** A message as bytes (type, then body), readable enough in a failed comparison. */
const bytes = (m: BackendMessage): string => `${m.type}:${m.body.toString('latin1')}`;

/**
 * Runs the same script through the proxy and on a direct connection to the server, and expects the
 * same bytes back, segment by segment (each up to its ReadyForQuery).
 */
async function sameAsDirect(script: (w: PgWire, segments: () => Promise<BackendMessage[]>) => Promise<BackendMessage[][]>): Promise<BackendMessage[][]> {
  const direct = await PgWire.direct({ host: f.server.host, port: f.server.port }, f.server.caCertPath, f.server.user, f.database, f.server.password);
  const proxied = await login();
  try {
    const want = await script(direct, () => direct.until('Z'));
    const got = await script(proxied, () => proxied.until('Z'));
    expect(got.map((seg) => seg.map(bytes))).toEqual(want.map((seg) => seg.map(bytes)));
    return got;
  } finally {
    direct.destroy();
    proxied.destroy();
  }
}

describe('a Parse of a statement name the client already has, as PostgreSQL answers it', () => {
  it('outside a transaction: ERROR 42P05 naming the statement, messages skipped up to the Sync, idle, and the session goes on', async () => {
    const got = await sameAsDirect(async (w, seg) => {
      const out = [];
      w.send(msg.parse('s1', 'SELECT 1'), msg.sync());
      out.push(await seg());
      // The duplicate, a Bind and Execute the server skips, then a second series that runs the first statement.
      w.send(msg.parse('s1', 'SELECT 2'), msg.bind('', 's1'), msg.execute(''), msg.sync(), msg.bind('', 's1'), msg.execute(''), msg.sync());
      out.push(await seg(), await seg());
      out.push(await w.query('SELECT 7'));
      return out;
    });
    expect(types(got[1]!)).toBe('EZ');
    expect(errorFields(got[1]![0]!)).toMatchObject({ S: 'ERROR', C: '42P05', M: 'prepared statement "s1" already exists' });
    expect(got[1]![1]!.body.toString()).toBe('I');
    expect(rowValues(got[2]![1]!)).toEqual(['1']);
  });

  it('after other messages of the same series: they ran, the error and the skip start at the duplicate, and their work is rolled back', async () => {
    const got = await sameAsDirect(async (w, seg) => {
      const out = [];
      w.send(msg.parse('ins', 'INSERT INTO dup_batch VALUES (1)'), msg.bind('', 'ins'), msg.execute(''));
      w.send(msg.parse('ins', 'SELECT 2'), msg.bind('', 'ins'), msg.execute(''), msg.sync());
      out.push(await seg());
      out.push(await w.query('SELECT count(*) FROM dup_batch'));
      return out;
    });
    expect(types(got[0]!)).toBe('12CEZ');
    expect(rowValues(got[1]![1]!)).toEqual(['0']);
  });

  it('reports what PostgreSQL checks first: a statement text that does not parse is a syntax error, not a duplicate', async () => {
    const got = await sameAsDirect(async (w, seg) => {
      w.send(msg.parse('bad', 'SELECT 1'), msg.sync());
      const first = await seg();
      w.send(msg.parse('bad', 'SELEC 2'), msg.sync());
      return [first, await seg()];
    });
    expect(errorFields(got[1]![0]!)['C']).toBe('42601');
  });

  it('inside a transaction block: the transaction fails (E, then 25P02) until ROLLBACK, after which the first statement still runs', async () => {
    const got = await sameAsDirect(async (w, seg) => {
      const out = [await w.query('BEGIN')];
      w.send(msg.parse('t1', 'SELECT 11'), msg.sync());
      out.push(await seg());
      w.send(msg.parse('t1', 'SELECT 12'), msg.describe('S', 't1'), msg.sync());
      out.push(await seg());
      out.push(await w.query('SELECT 1'));
      // A duplicate in the failed transaction: the server says 25P02 before it looks at the name.
      w.send(msg.parse('t1', 'SELECT 13'), msg.sync());
      out.push(await seg());
      out.push(await w.query('ROLLBACK'));
      w.send(msg.bind('', 't1'), msg.execute(''), msg.sync());
      out.push(await seg());
      return out;
    });
    expect(types(got[2]!)).toBe('EZ');
    expect(errorFields(got[2]![0]!)['C']).toBe('42P05');
    expect(got[2]![1]!.body.toString()).toBe('E');
    expect(errorFields(got[3]![0]!)['C']).toBe('25P02');
    expect(errorFields(got[4]![0]!)['C']).toBe('25P02');
    expect(got[5]![1]!.body.toString()).toBe('I');
    expect(rowValues(got[6]![1]!)).toEqual(['11']);
  });

  it('leaves no statement under the client\'s own name on the server connection', async () => {
    const w = await login();
    // Pinned (a FunctionCall), so every statement below runs on one server connection.
    w.send(msg.functionCall(2026));
    expect(types(await w.until('Z'))).toBe('VZ');
    w.send(msg.parse('mine', 'SELECT 1'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    w.send(msg.parse('mine', 'SELECT 1'), msg.sync());
    expect(types(await w.until('Z'))).toBe('EZ');
    const rows = await w.query("SELECT name FROM pg_prepared_statements WHERE name NOT LIKE 'iamdb\\_%'");
    expect(types(rows)).toBe('TCZ');
    w.destroy();
  });

  it('keeps the pool\'s own statements usable when the client\'s duplicate name is one of the pool\'s (iamdb_<n>)', async () => {
    const w = await login();
    w.send(msg.functionCall(2026));
    expect(types(await w.until('Z'))).toBe('VZ');
    w.send(msg.parse('p', 'SELECT 3'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    // The server's name for "p": the client now takes that name for a statement of its own, twice.
    const named = await w.query("SELECT name FROM pg_prepared_statements WHERE statement = 'SELECT 3'");
    const pooled = rowValues(named.find((m) => m.type === 'D')!)[0]!;
    expect(pooled).toMatch(/^iamdb_[1-9][0-9]*$/);
    w.send(msg.parse(pooled, 'SELECT 4'), msg.sync());
    expect(types(await w.until('Z'))).toBe('1Z');
    w.send(msg.parse(pooled, 'SELECT 4'), msg.sync());
    const dup = await w.until('Z');
    expect(types(dup)).toBe('EZ');
    expect(errorFields(dup[0]!)).toMatchObject({ C: '42P05', M: `prepared statement "${pooled}" already exists` });
    // Both statements still run ("p" prepared again on the server where the duplicate's cleanup closed it).
    w.send(msg.bind('', 'p'), msg.execute(''), msg.bind('', pooled), msg.execute(''), msg.sync());
    const ran = await w.until('Z');
    expect(types(ran)).toBe('2DC2DCZ');
    expect([rowValues(ran[1]!), rowValues(ran[4]!)]).toEqual([['3'], ['4']]);
    w.destroy();
  });
});
