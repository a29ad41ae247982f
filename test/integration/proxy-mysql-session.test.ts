/**
 * MySQL proxy endpoints end to end (transaction multiplexing): a proxy with
 * EngineFamily MYSQL made through the RDS API (the role trusting
 * rds.amazonaws.com, one secret per user, the MariaDB target), clients
 * logging in with IAM tokens (mysql2 and the real `mariadb` client) and with
 * the secrets' passwords (mysql_native_password, caching_sha2_password), and
 * the server connections they borrow: one per transaction, from a pool
 * bounded by MaxConnectionsPercent, with each client's tracked settings
 * replayed, pins for what cannot be carried, binary prepared statements
 * mapped, cleanup (COM_RESET_CONNECTION) after pinned clients and open
 * transactions, and RDS Proxy's texts for what is refused.
 */
import { randomBytes } from 'node:crypto';
import * as RDS from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { runMariadb } from '../support/clients.js';
import { ACCOUNT, REGION } from '../support/iamdb.js';
import { one, startMysqlProxyFixture, type MysqlProxyFixture } from '../support/mysql-proxy-fixture.js';

/** max_connections is 300 on the test server: 1 % is a pool of three. */
const MAX_SERVERS = 3;
/** For names the tests make at collection time (a named lock is the whole server's): unique to this run. */
const tag = randomBytes(3).toString('hex');

let fx: MysqlProxyFixture<'native' | 'sha' | 'iam'>;

/** Server connections of `user` in the test's database (its pool's) as the server counts them. */
async function serverConnections(user: string): Promise<number> {
  const a = await fx.admin();
  try {
    return Number(await one(a, `SELECT COUNT(*) FROM information_schema.processlist WHERE user = '${user}' AND db = '${fx.database}'`));
  } finally {
    await a.end();
  }
}

beforeAll(async () => {
  fx = await startMysqlProxyFixture('px', {
    users: { native: 'native', sha: 'caching-sha2', iam: 'iam' },
    otherDatabase: true,
    setup: (db) => [
      `CREATE TABLE ${db}.t (id INT PRIMARY KEY, v VARCHAR(20)) ENGINE=InnoDB`,
      // Procedures that leave session state behind: the proxy does not read them, the server's session tracking reports them.
      `CREATE PROCEDURE ${db}.p_uv() BEGIN SET @secret = 'left-behind'; END`,
      `CREATE PROCEDURE ${db}.p_sv() BEGIN SET SESSION sort_buffer_size = 1048576; END`,
      `CREATE PROCEDURE ${db}.p_tt() BEGIN CREATE TEMPORARY TABLE tmp_${tag} (x INT); END`,
      `CREATE PROCEDURE ${db}.p_prep() BEGIN PREPARE s1 FROM 'SELECT 1'; END`,
      `CREATE PROCEDURE ${db}.p_quiet() BEGIN SELECT COUNT(*) FROM ${db}.t; END`,
      `CREATE FUNCTION ${db}.f_uv() RETURNS INT NO SQL BEGIN SET @secret = 'left-behind'; RETURN 1; END`,
      `CREATE FUNCTION ${db}.f_quiet(x INT) RETURNS INT NO SQL RETURN x + 1`,
      // A stored function no statement names: the server's state-change report is the only sign of what it left.
      `CREATE VIEW ${db}.v_uv AS SELECT ${db}.f_uv() AS x`,
      `CREATE SEQUENCE ${db}.seq`,
    ],
    requireTls: true,
    pool: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 2 },
    config: {
      metrics: { listen: 'auto' },
      // Idle server connections beyond MaxIdleConnectionsPercent (0 % here: 1 % halved) close after 3 s.
      proxyEndpoints: { idleServerSeconds: 3 },
    },
  });
});

afterAll(async () => {
  await fx?.stop();
});


describe('MySQL proxy logins', () => {
  it('logs in with an IAM token for the proxy endpoint (mysql_clear_password over TLS), audited with the proxy and the principal', async () => {
    const from = fx.iamdb.audit.events.length;
    const c = await fx.connectIam(fx.users.iam);
    expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${fx.users.iam}@%`);
    await c.end();
    const allowed = await fx.iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === fx.users.iam && (e as { decision?: string }).decision === 'allow', from);
    expect(allowed).toMatchObject({ proxy: fx.proxyName, proxyEndpoint: fx.proxyName, method: 'iam', tls: true, reason: 'Allowed', principal: `arn:aws:iam::${ACCOUNT}:user/alice`, resource: expect.stringMatching(new RegExp(`^arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-[0-9a-f]{17}/${fx.users.iam}$`)) });
  });

  it('the real mariadb client logs in with a token (--ssl --enable-cleartext-plugin)', async () => {
    const r = await runMariadb(['-h', '127.0.0.1', '-P', String(fx.port), '-u', fx.users.iam, `-p${fx.token(fx.users.iam)}`, '--ssl', `--ssl-ca=${fx.iamdb.caPath}`, '--enable-cleartext-plugin', fx.database], 'SELECT CURRENT_USER(), DATABASE()');
    // The client warns that --enable-cleartext-plugin is obsolete (it needs no flag); the answer is the other line.
    expect(r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('WARNING:'))).toEqual([`${fx.users.iam}@%\t${fx.database}`]);
  });

  it('refuses a password where IAMAuth is REQUIRED with 1045', async () => {
    const from = fx.iamdb.audit.events.length;
    const c = mysql.createConnection({ host: '127.0.0.1', port: fx.port, user: fx.users.iam, password: fx.password, database: fx.database, ssl: { ca: fx.iamdbCa }, enableCleartextPlugin: true });
    await expect(c).rejects.toMatchObject({ errno: 1045, sqlState: '28000', message: `Access denied for user '${fx.users.iam}'@'%' (using password: YES)` });
    const denied = await fx.iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === fx.users.iam && (e as { decision?: string }).decision === 'deny', from);
    expect(denied).toMatchObject({ proxy: fx.proxyName, method: 'iam' });
  });

  it('logs in with the secret\'s password by mysql_native_password', async () => {
    const c = await fx.connect(fx.users.native);
    expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${fx.users.native}@%`);
    await c.end();
    expect(fx.iamdb.authEvents().filter((e) => e.dbUser === fx.users.native && e.decision === 'allow').at(-1)).toMatchObject({ proxy: fx.proxyName, method: 'password', reason: 'PasswordLogin' });
  });

  it('logs in with the secret\'s password by caching_sha2_password: full authentication over TLS, then the fast path', async () => {
    for (let i = 0; i < 2; i++) {
      const c = await fx.connect(fx.users.sha);
      expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${fx.users.sha}@%`);
      await c.end();
    }
  });

  it('answers a wrong password with RDS Proxy\'s text and the audit reason', async () => {
    const from = fx.iamdb.audit.events.length;
    await expect(fx.connect(fx.users.native, { password: 'not-it' })).rejects.toMatchObject({ errno: 1045, sqlState: '28000', message: `Access denied for user '${fx.users.native}'@'%' (using password: YES)` });
    await expect(fx.connect(fx.users.sha, { password: 'not-it' })).rejects.toMatchObject({ errno: 1045, message: `Access denied for user '${fx.users.sha}'@'%' (using password: YES)` });
    const denied = await fx.iamdb.audit.until((e) => e.event === 'db.auth' && (e as { dbUser?: string }).dbUser === fx.users.native && (e as { decision?: string }).decision === 'deny', from);
    expect(denied).toMatchObject({ proxy: fx.proxyName, reason: 'ProxyPasswordWrong' });
  });

  it('refuses a clear connection under RequireTLS with 3159', async () => {
    await expect(fx.connect(fx.users.native, { tls: false })).rejects.toMatchObject({ errno: 3159, message: 'This RDS Proxy requires TLS connections.' });
    const r = await runMariadb(['-h', '127.0.0.1', '-P', String(fx.port), '-u', fx.users.native, `-p${fx.password}`, '--skip-ssl'], 'SELECT 1');
    expect(r.stderr).toContain('ERROR 3159 (HY000)');
    expect(r.stderr).toContain('This RDS Proxy requires TLS connections.');
  });

  it('with RequireTLS off, takes clear clients (mysql2, the mariadb client) as RDS Proxy does; large messages cross both ways', async () => {
    const rds = fx.rds;
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, RequireTLS: false }));
    try {
      const from = fx.iamdb.audit.events.length;
      const c = await fx.connect(fx.users.native, { tls: false });
      try {
        expect(await one(c, 'SELECT CURRENT_USER()')).toBe(`${fx.users.native}@%`);
        const big = 'z'.repeat(300_000);
        const [rows] = await c.query('SELECT ? AS t, REPEAT(\'x\', 500000) AS w', [big]);
        const row = (rows as { t: string; w: string }[])[0]!;
        expect(row.t === big).toBe(true);
        expect(row.w.length).toBe(500_000);
      } finally {
        await c.end();
      }
      const r = await runMariadb(['-h', '127.0.0.1', '-P', String(fx.port), '-u', fx.users.native, `-p${fx.password}`, '--skip-ssl', fx.database], 'SELECT CURRENT_USER()');
      expect(r.stdout.trim()).toBe(`${fx.users.native}@%`);
      const starts = fx.iamdb.audit.events.slice(from).filter((e) => e.event === 'db.auth' && (e as { decision?: string }).decision === 'allow');
      expect(starts.map((e) => (e as { tls?: boolean }).tls)).toEqual([false, false]);
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, RequireTLS: true }));
    }
  });
});

describe('MySQL proxy pools', () => {
  it('closes, rather than lends again, a connection whose client chose a database when its pool has none', async () => {
    const first = await fx.connect(fx.users.native, { database: '' });
    expect(await one(first, 'SELECT DATABASE()')).toBeNull();
    const thread = await one<number>(first, 'SELECT CONNECTION_ID()');
    await first.query(`USE ${fx.other}`);
    const from = fx.iamdb.audit.events.length;
    await first.end();
    await fx.sessionEnd(fx.users.native, from);
    const next = await fx.connect(fx.users.native, { database: '' });
    expect(await one(next, 'SELECT DATABASE()')).toBeNull();
    expect(await one(next, 'SELECT CONNECTION_ID()')).not.toBe(thread);
    await next.end();
  });

  it('answers a database the server refuses with RDS Proxy\'s error text around the server\'s message', async () => {
    const from = fx.iamdb.audit.events.length;
    await expect(fx.connect(fx.users.native, { database: `nope_${tag}` })).rejects.toMatchObject({ errno: 1105, sqlState: 'HY000', message: `Request returned an error: Access denied for user '${fx.users.native}'@'%' to database 'nope_${tag}'` });
    const denied = await fx.iamdb.audit.until((e) => e.event === 'db.auth' && (e as { reason?: string }).reason === 'UpstreamRefused', from);
    expect(denied).toMatchObject({ proxy: fx.proxyName, dbUser: fx.users.native, database: `nope_${tag}` });
  });

  it('does not lend a server connection the server has closed meanwhile', async () => {
    const c = await fx.connect(fx.users.native);
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    const from = fx.iamdb.audit.events.length;
    await c.end();
    await fx.sessionEnd(fx.users.native, from);
    const a = await fx.admin();
    await a.query(`KILL CONNECTION ${thread}`);
    await a.end();
    const next = await fx.connect(fx.users.native);
    expect(await one(next, 'SELECT 1 + 1')).toBe(2);
    expect(await one(next, 'SELECT CONNECTION_ID()')).not.toBe(thread);
    await next.end();
  });

  it('keeps a client whose server connection dies between its statements: the next one runs on another', async () => {
    const c = await fx.connect(fx.users.native);
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    const a = await fx.admin();
    await a.query(`KILL CONNECTION ${thread}`);
    await a.end();
    // The killed connection was idle in the pool (the client holds none between statements).
    expect(await one(c, 'SELECT 1 + 1')).toBe(2);
    expect(await one(c, 'SELECT CONNECTION_ID()')).not.toBe(thread);
    await c.end();
  });

  it('rolls back what a client leaves open mid-transaction (no transaction left in innodb_trx)', async () => {
    const c = await fx.connect(fx.users.native);
    await c.query('BEGIN');
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    await c.query("INSERT INTO t VALUES (1, 'uncommitted')");
    const a = await fx.admin();
    expect(await one(a, `SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ${thread}`)).toBe(1);
    const from = fx.iamdb.audit.events.length;
    c.destroy();
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ serverConnectionReused: true });
    // The cleanup runs as the connection goes back to the pool: polled, with a deadline.
    const until = Date.now() + 10_000;
    let open = 1;
    while (open > 0 && Date.now() < until) {
      // InnoDB refreshes what information_schema.innodb_trx shows only when it was not read in the
      // last 100 ms: a tight loop would read the same stale copy for ever.
      await new Promise((r) => setTimeout(r, 150));
      open = Number(await one(a, `SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_mysql_thread_id = ${thread}`));
    }
    expect(open).toBe(0);
    // Still connected (reused, not closed), and the row never committed.
    expect(Number(await one(a, `SELECT COUNT(*) FROM information_schema.processlist WHERE id = ${thread}`))).toBe(1);
    expect(await one(a, `SELECT COUNT(*) FROM ${fx.database}.t`)).toBe(0);
    await a.end();
  });

  it('keeps the pool within MaxConnectionsPercent; a statement that finds it full waits, then gets 9501 and the client is let go', async () => {
    const held = await Promise.all(Array.from({ length: MAX_SERVERS }, () => fx.connect(fx.users.native)));
    for (const c of held) await c.query('BEGIN');
    const threads = new Set(await Promise.all(held.map((c) => one<number>(c, 'SELECT CONNECTION_ID()'))));
    expect(threads.size).toBe(MAX_SERVERS);
    expect(await serverConnections(fx.users.native)).toBeLessThanOrEqual(MAX_SERVERS);

    // Logging in needs no server connection; the first statement does.
    const late = await fx.connect(fx.users.native);
    late.on('error', () => undefined);
    await expect(late.query('SELECT 1')).rejects.toMatchObject({ errno: 9501, sqlState: 'HY000', message: 'Timed-out waiting to acquire database connection' });

    // A waiting statement gets the first connection whose transaction ends.
    const waiter = await fx.connect(fx.users.native);
    const answer = one<number>(waiter, 'SELECT CONNECTION_ID()');
    await held[0]!.query('COMMIT');
    expect(threads.has(await answer)).toBe(true);
    expect(await serverConnections(fx.users.native)).toBeLessThanOrEqual(MAX_SERVERS);
    for (const c of held.slice(1)) await c.query('COMMIT');
    await Promise.all([waiter, ...held].map((c) => c.end()));
  });

  it('lets a client go after IdleClientTimeout, and its server connection back to the pool', async () => {
    const rds = fx.rds;
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, IdleClientTimeout: 1 }));
    try {
      // A first login shows the proxy the server's own greeting (run alone, this test starts cold): clients greeted after it share a shape.
      const warm = fx.iamdb.audit.events.length;
      await (await fx.connect(fx.users.native)).end();
      await fx.sessionEnd(fx.users.native, warm);
      const from = fx.iamdb.audit.events.length;
      const c = await fx.connect(fx.users.native);
      const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
      c.on('error', () => undefined);
      expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ idleClientTimeout: true });
      // The proxy has closed the client's connection: whatever it sends now fails.
      await expect(c.query('SELECT 1')).rejects.toThrow();
      void thread;
      const next = await fx.connect(fx.users.native);
      expect(await one(next, 'SELECT 1 + 1')).toBe(2);
      await next.end();
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, IdleClientTimeout: 1800 }));
    }
  });

  it('logs SQL text while DebugLogging is on, and only then', async () => {
    const rds = fx.rds;
    const c = await fx.connect(fx.users.native);
    await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, DebugLogging: true }));
    try {
      await c.query('SELECT 4242 AS debugged');
      await c.execute('SELECT ? + 1 AS also_debugged', [1]);
    } finally {
      await rds.send(new RDS.ModifyDBProxyCommand({ DBProxyName: fx.proxyName, DebugLogging: false }));
    }
    await c.query('SELECT 4343 AS not_debugged');
    await c.end();
    const sql = fx.iamdb.logLines().filter((l) => l['proxy'] === fx.proxyName && typeof l['sql'] === 'string').map((l) => l['sql']);
    expect(sql).toContain('SELECT 4242 AS debugged');
    expect(sql).toContain('SELECT ? + 1 AS also_debugged');
    expect(sql).not.toContain('SELECT 4343 AS not_debugged');
  });
});

/** Session ends of `user` from event index `from` until `n` have come. */
async function sessionEnds(user: string, from: number, n: number): Promise<AuditEvent[]> {
  await fx.iamdb.audit.until((e) => e.event === 'db.session.end' && (e as { dbUser?: string }).dbUser === user && fx.iamdb.audit.events.slice(from).filter((x) => x.event === 'db.session.end' && (x as { dbUser?: string }).dbUser === user).length >= n, from);
  return fx.iamdb.audit.events.slice(from).filter((x) => x.event === 'db.session.end' && (x as { dbUser?: string }).dbUser === user);
}

async function scrape(): Promise<string> {
  return (await fetch(fx.iamdb.metricsUrl)).text();
}

/**
 * Two clients keep transactions open, so of the pool's three server
 * connections one is left: every other client's statements take turns on
 * it, and each hand-over is a real one.
 */
async function withOneFreeConnection<T>(run: () => Promise<T>): Promise<T> {
  const holders = await Promise.all([fx.connect(fx.users.native), fx.connect(fx.users.native)]);
  for (const h of holders) await h.query('BEGIN');
  // Each holder's transaction is open on a connection of its own (a statement inside it pins it there).
  for (const h of holders) await h.query('SELECT COUNT(*) FROM t');
  try {
    return await run();
  } finally {
    for (const h of holders) await h.query('COMMIT');
    await Promise.all(holders.map((h) => h.end()));
  }
}

describe('MySQL transaction multiplexing', () => {
  it('carries each client\'s tracked settings to whichever connection it borrows, and never shows them to another client', async () => {
    await withOneFreeConnection(async () => {
      const a = await fx.connect(fx.users.native);
      const b = await fx.connect(fx.users.native);
      const shared = await one<number>(a, 'SELECT CONNECTION_ID()');
      expect(await one(b, 'SELECT CONNECTION_ID()')).toBe(shared);
      await a.query("SET time_zone = '+05:00'");
      await a.query("SET SESSION sql_mode = 'ANSI_QUOTES'");
      await a.query('SET NAMES latin1');
      await a.query('SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE');
      await a.query(`USE ${fx.other}`);
      for (let i = 0; i < 3; i++) {
        // b runs on the same server connection between a's statements: the defaults, not a's settings.
        const [bRows] = await b.query('SELECT CONNECTION_ID() AS id, @@time_zone AS tz, @@sql_mode AS mode, DATABASE() AS db, @@character_set_client AS cs, @@tx_isolation AS iso');
        expect((bRows as Record<string, unknown>[])[0]).toMatchObject({ id: shared, tz: 'SYSTEM', db: fx.database, cs: 'utf8mb4', iso: 'REPEATABLE-READ' });
        expect(String((bRows as Record<string, unknown>[])[0]!['mode'])).not.toContain('ANSI_QUOTES');
        const [aRows] = await a.query('SELECT CONNECTION_ID() AS id, @@time_zone AS tz, @@sql_mode AS mode, DATABASE() AS db, @@character_set_client AS cs, @@tx_isolation AS iso');
        expect((aRows as Record<string, unknown>[])[0]).toMatchObject({ id: shared, tz: '+05:00', mode: 'ANSI_QUOTES', db: fx.other, cs: 'latin1', iso: 'SERIALIZABLE' });
      }
      const from = fx.iamdb.audit.events.length;
      await Promise.all([a.end(), b.end()]);
      // Tracked settings do not pin.
      for (const e of await sessionEnds(fx.users.native, from, 2)) expect(e).not.toHaveProperty('pinReasons');
    });
  });

  it('carries autocommit off: the transaction holds its connection from the first statement to COMMIT, and nobody else sees it', async () => {
    await withOneFreeConnection(async () => {
      const a = await fx.connect(fx.users.native);
      const b = await fx.connect(fx.users.native);
      await a.query('SET autocommit = 0');
      // Before a's transaction starts, b still gets the connection, with autocommit on.
      expect(await one(b, 'SELECT @@autocommit')).toBe(1);
      await a.query("INSERT INTO t VALUES (50, 'ac-off')");
      // a's transaction holds the only free connection: b waits until a commits.
      const waiting = one<number>(b, `SELECT COUNT(*) FROM t WHERE id = 50`);
      await a.query('COMMIT');
      expect(await waiting).toBe(1);
      expect(await one(a, 'SELECT @@autocommit')).toBe(0);
      await a.query('DELETE FROM t WHERE id = 50');
      await a.query('COMMIT');
      await Promise.all([a.end(), b.end()]);
    });
  });

  const pinCases: ReadonlyArray<readonly [string, string, string]> = [
    ['a temporary table', `CREATE TEMPORARY TABLE tmp_${tag} (x INT)`, 'TemporaryTable'],
    ['a user variable', "SET @secret = 'left-behind'", 'UserVariable'],
    ['an untracked SET', 'SET SESSION sort_buffer_size = 1048576', 'SessionVariable'],
    ['SQL PREPARE', "PREPARE s1 FROM 'SELECT 1'", 'SqlPrepare'],
    ['GET_LOCK', `SELECT GET_LOCK('lock_${tag}', 0)`, 'NamedLock'],
    ['LOCK TABLES', 'LOCK TABLES t READ', 'TableLock'],
    ['an executable comment', 'SELECT /*!50000 1 + */ 1', 'ExecutableComment'],
    ['SET TRANSACTION for the next transaction', 'SET TRANSACTION ISOLATION LEVEL SERIALIZABLE', 'TransactionCharacteristics'],
    ['a CALLed procedure that sets a user variable', 'CALL p_uv()', 'StateChange'],
    ['a CALLed procedure that sets a session variable', 'CALL p_sv()', 'StateChange'],
    ['a CALLed procedure that creates a temporary table', 'CALL p_tt()', 'StateChange'],
    ['a CALLed procedure that prepares a statement', 'CALL p_prep()', 'StateChange'],
    ['a stored function that sets a user variable, called from a SELECT', 'SELECT f_uv()', 'StateChange'],
  ];
  for (const [what, sql, reason] of pinCases) {
    it(`pins a client for ${what} (${reason} in db.session.end and the pin counter), and the next client of its connection sees none of it`, async () => {
      const c = await fx.connect(fx.users.native);
      await c.query(sql);
      const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
      // Pinned: every later statement runs on the same connection.
      for (let i = 0; i < 3; i++) expect(await one(c, 'SELECT CONNECTION_ID()')).toBe(thread);
      const from = fx.iamdb.audit.events.length;
      await c.end();
      expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ pinReasons: [reason], serverConnectionReused: true });
      expect(await scrape()).toMatch(new RegExp(`iamdb_proxy_client_sessions_pinned_total\\{proxy="${fx.proxyName}",endpoint="${fx.proxyName}",reason="${reason}"\\} [1-9]`));
      // The connection was cleaned (COM_RESET_CONNECTION) before anyone else got it.
      const next = await fx.connect(fx.users.native);
      const [rows] = await next.query(`SELECT IS_USED_LOCK('lock_${tag}') AS l, @@sort_buffer_size AS sb, @@tx_isolation AS iso`);
      expect((rows as Record<string, unknown>[])[0]).toMatchObject({ l: null, iso: 'REPEATABLE-READ' });
      expect(Number((rows as Record<string, unknown>[])[0]!['sb'])).not.toBe(1048576);
      await expect(next.query(`SELECT * FROM tmp_${tag}`)).rejects.toMatchObject({ errno: 1146 });
      await expect(next.query('EXECUTE s1')).rejects.toMatchObject({ errno: 1243 });
      await next.end();
    });
  }

  it('pins every CALL of a client that did not negotiate CLIENT_SESSION_TRACK (StoredProcedure): its server connections cannot report what a procedure changed', async () => {
    const c = await fx.connect(fx.users.native, { flags: ['-SESSION_TRACK'] });
    await c.query('CALL p_quiet()');
    const thread = await one<number>(c, 'SELECT CONNECTION_ID()');
    for (let i = 0; i < 3; i++) expect(await one(c, 'SELECT CONNECTION_ID()')).toBe(thread);
    const from = fx.iamdb.audit.events.length;
    await c.end();
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ pinReasons: ['StoredProcedure'] });
    expect(await scrape()).toMatch(new RegExp(`iamdb_proxy_client_sessions_pinned_total\\{proxy="${fx.proxyName}",endpoint="${fx.proxyName}",reason="StoredProcedure"\\} [1-9]`));
    // The same CALL from a client with session tracking does not pin.
    const t = await fx.connect(fx.users.native);
    await t.query('CALL p_quiet()');
    const from2 = fx.iamdb.audit.events.length;
    await t.end();
    expect(await fx.sessionEnd(fx.users.native, from2)).not.toHaveProperty('pinReasons');
  });

  it('pins a client without CLIENT_SESSION_TRACK on a stored function in a SELECT (StoredFunction), not on built-in functions', async () => {
    const c = await fx.connect(fx.users.native, { flags: ['-SESSION_TRACK'] });
    await c.query("SELECT NOW(), CONCAT('a', 'b'), COALESCE(NULL, 1), COUNT(*) FROM t");
    let from = fx.iamdb.audit.events.length;
    await c.end();
    expect(await fx.sessionEnd(fx.users.native, from)).not.toHaveProperty('pinReasons');
    const d = await fx.connect(fx.users.native, { flags: ['-SESSION_TRACK'] });
    expect(await one(d, 'SELECT f_quiet(1)')).toBe(2);
    from = fx.iamdb.audit.events.length;
    await d.end();
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ pinReasons: ['StoredFunction'] });
    expect(await scrape()).toMatch(new RegExp(`iamdb_proxy_client_sessions_pinned_total\\{proxy="${fx.proxyName}",endpoint="${fx.proxyName}",reason="StoredFunction"\\} [1-9]`));
  });

  it('keeps multiplexing SELECTs of built-in functions (no pin, no reset between clients); a stored function in a SELECT has its connection reset before the next client', async () => {
    const admin = await fx.admin();
    // MariaDB counts no COM_RESET_CONNECTION, but the pool's reset is followed by SET SESSION session_track_state_change = ON
    // (these clients negotiated CLIENT_SESSION_TRACK): the server's SET count tells the resets, as long as nothing else SETs.
    const resets = async (): Promise<number> => Number(await one<string | number>(admin, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_SET_OPTION'"));
    try {
      await withOneFreeConnection(async () => {
        const a = await fx.connect(fx.users.native);
        const b = await fx.connect(fx.users.native);
        const shared = await one<number>(a, 'SELECT CONNECTION_ID()');
        const before = await resets();
        for (const c of [a, b, a, b]) {
          const [rows] = await c.query("SELECT CONNECTION_ID() AS id, NOW() IS NOT NULL AS n, CONCAT('x', UPPER('y')) AS s, COUNT(*) >= 0 AS k, IFNULL(NULL, DATE_FORMAT(CURDATE(), '%Y')) IS NOT NULL AS d FROM t");
          expect((rows as Record<string, unknown>[])[0]).toMatchObject({ id: shared, n: 1, s: 'xY', k: 1, d: 1 });
        }
        expect(await resets()).toBe(before);
        // The control: a stored function's statement leaves the connection to be reset before b gets it.
        expect(await one(a, 'SELECT f_quiet(1)')).toBe(2);
        expect(await one(b, 'SELECT CONNECTION_ID()')).toBe(shared);
        expect(await resets()).toBe(before + 1);
        const from = fx.iamdb.audit.events.length;
        await Promise.all([a.end(), b.end()]);
        for (const e of await sessionEnds(fx.users.native, from, 2)) expect(e).not.toHaveProperty('pinReasons');
      });
    } finally {
      await admin.end();
    }
  });

  it('reports pinned and borrowed connections in the pool metrics while a client is pinned', async () => {
    const c = await fx.connect(fx.users.native);
    await c.query(`CREATE TEMPORARY TABLE tmp2_${tag} (x INT)`);
    const labels = `proxy="${fx.proxyName}",target_role="READ_WRITE",target="${fx.targets[0]}",user="${fx.users.native}"`;
    const text = await scrape();
    expect(text).toContain(`iamdb_proxy_database_connections_currently_session_pinned{${labels}} 1`);
    expect(text).toMatch(new RegExp(`iamdb_proxy_database_connections_currently_borrowed\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} 1`));
    expect(text).toMatch(new RegExp(`iamdb_proxy_query_requests_total\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} [1-9]`));
    await c.end();
  });

  it('SessionPinningFilters EXCLUDE_VARIABLE_SETS: a SET of an untracked variable does not pin', async () => {
    const rds = fx.rds;
    await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: fx.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { SessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'] } }));
    try {
      const c = await fx.connect(fx.users.native);
      await c.query('SET SESSION sort_buffer_size = 1048576');
      await c.query('SELECT 1');
      const from = fx.iamdb.audit.events.length;
      await c.end();
      expect(await fx.sessionEnd(fx.users.native, from)).not.toHaveProperty('pinReasons');
    } finally {
      await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: fx.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { SessionPinningFilters: [] } }));
    }
    // Without the filter the same SET pins again.
    const c = await fx.connect(fx.users.native);
    await c.query('SET SESSION sort_buffer_size = 1048576');
    const from = fx.iamdb.audit.events.length;
    await c.end();
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ pinReasons: ['SessionVariable'] });
  });

  it("MariaDB's SET STATEMENT … FOR a statement that keeps no state does not pin (the variable lasts one statement)", async () => {
    const c = await fx.connect(fx.users.native);
    expect(Number(await one(c, 'SET STATEMENT max_statement_time = 10 FOR SELECT COUNT(*) FROM t'))).toBeGreaterThanOrEqual(0);
    await c.query('SELECT 1');
    const from = fx.iamdb.audit.events.length;
    await c.end();
    expect(await fx.sessionEnd(fx.users.native, from)).not.toHaveProperty('pinReasons');
  });

  it("pins NEXTVAL of a MariaDB sequence (SessionFunction): the next client of its connection reads no LASTVAL of another's", async () => {
    const a = await fx.connect(fx.users.native);
    expect(Number(await one(a, 'SELECT NEXTVAL(seq)'))).toBeGreaterThan(0);
    const from = fx.iamdb.audit.events.length;
    await a.end();
    const b = await fx.connect(fx.users.native);
    // Whichever connection b got, none carries a's value (a's was reset when a left).
    expect(await one(b, 'SELECT LASTVAL(seq)')).toBeNull();
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ pinReasons: ['SessionFunction'] });
    await b.end();
  });

  it("SET STATEMENT … FOR a statement whose view runs a stored function: what the function left never reaches the next client", async () => {
    await withOneFreeConnection(async () => {
      const a = await fx.connect(fx.users.native);
      const b = await fx.connect(fx.users.native);
      const shared = await one<number>(a, 'SELECT CONNECTION_ID()');
      expect(await one(b, 'SELECT CONNECTION_ID()')).toBe(shared);
      // The classifier sees no call (the view hides it), and SET STATEMENT's own report of a state change is discounted.
      expect(Number(await one(a, 'SET STATEMENT max_statement_time = 10 FOR SELECT x FROM v_uv'))).toBe(1);
      const [rows] = await b.query('SELECT CONNECTION_ID() AS id, @secret AS s');
      expect((rows as Record<string, unknown>[])[0]).toMatchObject({ id: shared, s: null });
      await Promise.all([a.end(), b.end()]);
    });
  });

  it('multiplexes mysql2 execute() (binary prepared statements) across hand-overs without pinning', async () => {
    await withOneFreeConnection(async () => {
      const clients = await Promise.all(Array.from({ length: 4 }, () => fx.connect(fx.users.native)));
      const from = fx.iamdb.audit.events.length;
      await Promise.all(
        clients.map(async (c, k) => {
          for (let i = 0; i < 15; i++) {
            const [rows] = await c.execute('SELECT ? + ? AS s, CONNECTION_ID() AS id', [k, i]);
            expect((rows as Array<{ s: number }>)[0]!.s).toBe(k + i);
            // A second statement, and one with a string parameter.
            const [more] = await c.execute('SELECT CONCAT(?, ?) AS c', [`k${k}`, `i${i}`]);
            expect((more as Array<{ c: string }>)[0]!.c).toBe(`k${k}i${i}`);
          }
        }),
      );
      await Promise.all(clients.map((c) => c.end()));
      for (const e of await sessionEnds(fx.users.native, from, clients.length)) expect(e).not.toHaveProperty('pinReasons');
    });
  });

  it('a binary statement prepared on one connection executes on another (prepared there first, with the types sent once)', async () => {
    const holders = await Promise.all([fx.connect(fx.users.native), fx.connect(fx.users.native), fx.connect(fx.users.native)]);
    const hold = async (h: mysql.Connection): Promise<number> => {
      await h.query('BEGIN');
      await h.query('SELECT COUNT(*) FROM t');
      return one<number>(h, 'SELECT CONNECTION_ID()');
    };
    await hold(holders[0]!);
    await hold(holders[1]!);
    // One connection is free: c prepares and executes there.
    const c = await fx.connect(fx.users.native);
    const [first] = await c.execute('SELECT ? AS v, CONNECTION_ID() AS id', [1]);
    const x = (first as Array<{ id: number }>)[0]!.id;
    // A third holder takes that connection; the other two are given back.
    expect(await hold(holders[2]!)).toBe(x);
    await holders[0]!.query('COMMIT');
    await holders[1]!.query('COMMIT');
    const [again] = await c.execute('SELECT ? AS v, CONNECTION_ID() AS id', [2]);
    expect((again as Array<{ v: number; id: number }>)[0]).toMatchObject({ v: 2 });
    expect((again as Array<{ id: number }>)[0]!.id).not.toBe(x);
    await holders[2]!.query('COMMIT');
    const from = fx.iamdb.audit.events.length;
    await c.end();
    expect(await fx.sessionEnd(fx.users.native, from)).not.toHaveProperty('pinReasons');
    await Promise.all(holders.map((h) => h.end()));
  });

  it('COM_RESET_CONNECTION (mysql2 reset()) starts the session again: settings, user variables, temporary tables and statements go, the database stays', async () => {
    const c = await fx.connect(fx.users.native);
    await c.query("SET time_zone = '+04:00'");
    await c.query(`USE ${fx.other}`);
    await c.query("SET @kept = 'no'");
    await c.query(`CREATE TEMPORARY TABLE ${fx.database}.tmp_reset_${tag} (x INT)`);
    const [before] = await c.execute('SELECT ? AS v', [1]);
    expect((before as Array<{ v: number }>)[0]!.v).toBe(1);
    await c.reset();
    const [rows] = await c.query('SELECT @@time_zone AS tz, DATABASE() AS db, @kept AS kept');
    expect((rows as Record<string, unknown>[])[0]).toEqual({ tz: 'SYSTEM', db: fx.other, kept: null });
    await expect(c.query(`SELECT * FROM ${fx.database}.tmp_reset_${tag}`)).rejects.toMatchObject({ errno: 1146 });
    // mysql2 forgets its statements on reset() and prepares again: the proxy's ids start afresh too.
    const [after] = await c.execute('SELECT ? AS v', [2]);
    expect((after as Array<{ v: number }>)[0]!.v).toBe(2);
    await c.ping();
    const from = fx.iamdb.audit.events.length;
    await c.end();
    // Its end is recorded before the next test looks for one of its own.
    expect(await fx.sessionEnd(fx.users.native, from)).toMatchObject({ event: 'db.session.end' });
  });

  it('the mariadb client keeps its SETs and USE across statements without being pinned', async () => {
    const from = fx.iamdb.audit.events.length;
    const r = await runMariadb(['-h', '127.0.0.1', '-P', String(fx.port), '-u', fx.users.native, `-p${fx.password}`, '--ssl', `--ssl-ca=${fx.iamdb.caPath}`, fx.database], `SET time_zone = '+03:00'; USE ${fx.other}; SELECT @@time_zone, DATABASE()`);
    expect(r.stdout.trim()).toBe(`+03:00\t${fx.other}`);
    expect(await fx.sessionEnd(fx.users.native, from)).not.toHaveProperty('pinReasons');
  });

  it('closes idle server connections beyond MaxIdleConnectionsPercent after proxyEndpoints.idleServerSeconds', async () => {
    const clients = await Promise.all(Array.from({ length: MAX_SERVERS }, () => fx.connect(fx.users.native)));
    for (const c of clients) await c.query('BEGIN');
    for (const c of clients) await c.query('SELECT COUNT(*) FROM t');
    expect(await serverConnections(fx.users.native)).toBe(MAX_SERVERS);
    for (const c of clients) await c.query('COMMIT');
    // MaxIdleConnectionsPercent is 0 (half of 1 %): all of them go once idle 3 s; polled with a deadline.
    const until = Date.now() + 20_000;
    let open = MAX_SERVERS;
    while (open > 0 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 250));
      open = await serverConnections(fx.users.native);
    }
    expect(open).toBe(0);
    // The clients are still in: their next statements open connections again.
    expect(await one(clients[0]!, 'SELECT 7')).toBe(7);
    await Promise.all(clients.map((c) => c.end()));
  });

  it('serves 1,000 concurrent mysql2 clients from a pool of at most 21 server connections', async () => {
    const rds = fx.rds;
    // 7 % of max_connections 300: 21.
    await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: fx.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 7, ConnectionBorrowTimeout: 60 } }));
    try {
      const n = 1000;
      const clients: mysql.Connection[] = [];
      // Logins in batches (each is a TLS handshake and a password check on this 2-core machine); the statements all at once.
      // (A login waits for CPU, not for the pool: mysql2's 10 s connect timeout is too short on a loaded machine.)
      for (let i = 0; i < n; i += 50) clients.push(...(await Promise.all(Array.from({ length: 50 }, () => fx.connect(fx.users.native, { connectTimeout: 60_000 })))));
      let peak = 0;
      const watch = setInterval(() => void serverConnections(fx.users.native).then((v) => (peak = Math.max(peak, v))), 200);
      const answers = await Promise.all(clients.map((c, i) => c.query('SELECT ? AS v', [i]).then(([rows]) => (rows as Array<{ v: number }>)[0]!.v)));
      clearInterval(watch);
      expect(answers).toEqual(Array.from({ length: n }, (_, i) => i));
      expect(peak).toBeLessThanOrEqual(21);
      expect(await serverConnections(fx.users.native)).toBeLessThanOrEqual(21);
      await Promise.all(clients.map((c) => c.end()));
    } finally {
      await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: fx.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 2 } }));
    }
  }, 240_000);
});
