/**
 * The randomized client driver for the MySQL proxy's native pooled relay
 * (native/my_pool.c, my_resp.c, pg_scan.c's MySQL rules): many concurrent
 * clients through a MYSQL proxy endpoint in front of the test MariaDB, over
 * TLS and clear, each logging in properly (mysql2 with the secret's password
 * or an IAM token, or a client of our own, mysql-raw-client.ts) and then
 * doing random things:
 *   - mysql2: query() and execute() with random parameters (NULLs, integers,
 *     bytes, strings up to 300 KB), transactions committed and rolled back,
 *     tracked SETs (autocommit off too), USE, user variables and temporary
 *     tables (pins), reset() (COM_RESET_CONNECTION), ping(), unprepare()
 *     (COM_STMT_CLOSE); each answer checked against what the client did;
 *   - our client: prepared statements with COM_STMT_SEND_LONG_DATA,
 *     COM_STMT_RESET, executes without types (the proxy supplies them),
 *     cursors and COM_STMT_FETCH, pipelined commands, multi-statements, then
 *     garbled commands (unknown ones, bad statement ids, truncated executes,
 *     wrong sequence ids, bogus lengths, a 16 MB frame started and cut,
 *     half-written packets, token soup for the statement filter);
 *   - abrupt ends: mid-command, mid-transaction, half-open, reset.
 * Then: a fresh client still works, the server connections of the proxy's
 * users never exceed the pool's bound, no transaction is left open in
 * information_schema.innodb_trx, no uncommitted row ever became visible, and
 * the endpoint holds no client connection.
 *
 * It runs in the sanitizer job (scripts/native-sanitizer-check), where the
 * addon is built with ASan and UBSan: a memory error ends the worker.
 * Seeded: the seed is printed; IAMDB_CHAOS_SEED=<seed> replays the choices
 * (the interleaving is the scheduler's). IAMDB_MYSQL_CHAOS_CLIENTS sets how
 * many clients (default 160; 400 with seeds 12, 13 and 77 pass since two clients no longer trade a server between a prepare and its execute); IAMDB_MYSQL_CHAOS_ONLY=<i,j> runs only those;
 * IAMDB_MYSQL_CHAOS_DEBUG=1 prints each client's steps and times, and the
 * server connections whenever the pool is at its bound.
 */
import { randomInt } from 'node:crypto';
import type mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMysqlProxyFixture, type MysqlProxyFixture } from '../support/mysql-proxy-fixture.js';
import { processSockets } from '../support/tcp-state.js';
import { Closed, RawMysql, encodeExecute, encodeLongData, encodeQuery, frame, u32, type Response } from './mysql-raw-client.js';
import { SeededRandom } from './seeded-random.js';

const seed = process.env['IAMDB_CHAOS_SEED'] ? Number(process.env['IAMDB_CHAOS_SEED']) >>> 0 : randomInt(2 ** 32);
const clients = Number(process.env['IAMDB_MYSQL_CHAOS_CLIENTS'] ?? 160);
/** IAMDB_MYSQL_CHAOS_ONLY=3,17: only those clients of the seed's run (a failing one replayed alone). */
const only = process.env['IAMDB_MYSQL_CHAOS_ONLY']?.split(',').map(Number);
const concurrency = 16;
/** max_connections is 300 on the test server: 3 % is a pool of nine, shared by the proxy's users. */
const MAX_SERVERS = 9;
/** How long one client may take before the driver calls it stuck (a pinned neighbour may hold a connection a while). */
const budgetMs = 40_000;

let fx: MysqlProxyFixture<'native' | 'iam'>;

function connect(opts: { iam?: boolean; tls: boolean }): Promise<mysql.Connection> {
  if (opts.iam) return fx.connectIam(fx.users.iam, { connectTimeout: 30_000 });
  return fx.connect(fx.users.native, { tls: opts.tls, connectTimeout: 30_000 });
}

beforeAll(async () => {
  fx = await startMysqlProxyFixture('mc', {
    users: { native: 'native', iam: 'iam' },
    otherDatabase: true,
    setup: (db) => [`CREATE TABLE ${db}.t (id INT PRIMARY KEY, v LONGBLOB) ENGINE=InnoDB`],
    // Clear clients too (RDS Proxy takes them when TLS is not required); the IAM user always uses TLS.
    requireTls: false,
    pool: { MaxConnectionsPercent: 3, ConnectionBorrowTimeout: 30 },
  });
});

afterAll(async () => {
  await fx?.stop();
});


// ---------------------------------------------------------------- values

const ALPHABET = ['a', 'b', 'z', '0', ' ', "'", '"', '\\', '\0', '\n', '%', '_', ';', '?', '--', '/*', '*/', '#', '`', 'é', 'ß', '€', '😀', 'SET ', 'BEGIN'];

function randomString(rng: SeededRandom): string {
  const size = rng.chance(0.1) ? rng.int(16_000, 300_000) : rng.int(0, 80);
  // A random piece, repeated: large values cost no time to make.
  let piece = '';
  for (let i = 0; i < Math.min(size, 97); i++) piece += rng.pick(ALPHABET);
  if (piece.length === 0) return '';
  let s = piece.repeat(Math.ceil(size / piece.length)).slice(0, size);
  // Never split a surrogate pair at the cut.
  if (/[\uD800-\uDBFF]$/.test(s)) s = s.slice(0, -1);
  return s;
}

type Value = string | number | Buffer | null;

function randomValue(rng: SeededRandom): Value {
  const r = rng.next();
  if (r < 0.12) return null;
  if (r < 0.27) return rng.int(-2_000_000_000, 2_000_000_000);
  if (r < 0.37) return rng.bytes(rng.chance(0.1) ? rng.int(1000, 200_000) : rng.int(0, 64));
  return randomString(rng);
}

function describeValue(v: Value): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (Buffer.isBuffer(v)) return `${v.length} bytes`;
  return v.length > 40 ? `${v.length} chars` : JSON.stringify(v);
}

/** Whether what the server sent back is the value the client sent. */
function same(got: unknown, sent: Value): boolean {
  if (sent === null) return got === null;
  if (typeof sent === 'number') return Number(got) === sent;
  if (Buffer.isBuffer(sent)) return Buffer.isBuffer(got) ? got.equals(sent) : typeof got === 'string' && Buffer.from(got, 'binary').equals(sent);
  return (Buffer.isBuffer(got) ? got.toString('utf8') : got) === sent;
}

// ---------------------------------------------------------------- outcomes

interface Outcome {
  readonly kind: string;
  readonly steps: string[];
  problem?: string;
  /** Ends the client's connection (a client past its budget must not hold a server connection on). */
  kill?: () => void;
}

/** Rows a client inserted and never saw committed (it left mid-transaction, or rolled back): must never be visible. */
const neverCommitted = new Set<number>();
/** Rows a client saw committed: must be there at the end. */
const committed = new Map<number, Value>();

class Wrong extends Error {}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Wrong(what);
}

async function first(c: mysql.Connection, sql: string, params?: unknown[]): Promise<Record<string, unknown>> {
  const [rows] = await c.query(sql, params);
  return (rows as Record<string, unknown>[])[0]!;
}

function turns(n: number): Promise<void> {
  return n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(() => void turns(n - 1).then(r)));
}

// ---------------------------------------------------------------- mysql2 clients

const DEFAULT_TZ = 'SYSTEM';

/** What a mysql2 client's session holds, as the client expects it. */
interface Model {
  tz: string;
  iso: string;
  db: string;
  autocommit: boolean;
  userVar: Value | undefined;
  tempRows: number | undefined;
  /** The statements it has executed (mysql2 keeps them prepared). */
  statements: string[];
}

const OPS = ['query', 'query', 'execute', 'execute', 'execute-many', 'transaction', 'transaction', 'autocommit-off', 'set', 'use', 'user-variable', 'temporary-table', 'reset', 'ping', 'unprepare', 'check-state'] as const;
const ENDS = ['end', 'end', 'destroy', 'destroy-mid-command', 'destroy-mid-transaction', 'destroy-mid-execute', 'half-open'] as const;

async function mysql2Client(rng: SeededRandom, index: number, out: Outcome): Promise<void> {
  const iam = rng.chance(0.2);
  const tls = iam || rng.chance(0.6);
  out.steps.push(iam ? 'login-iam' : tls ? 'login-tls' : 'login-clear');
  const c = await connect({ iam, tls });
  c.on('error', () => undefined);
  out.kill = () => c.destroy();
  const m: Model = { tz: DEFAULT_TZ, iso: 'REPEATABLE-READ', db: fx.database, autocommit: true, userVar: undefined, tempRows: undefined, statements: [] };
  let nextRow = 0;
  const rowId = (): number => index * 1000 + nextRow++;
  const ops = rng.int(1, 10);
  try {
    for (let k = 0; k < ops; k++) {
      const op = rng.pick(OPS);
      out.steps.push(op);
      await mysql2Op(c, rng, m, op, rowId);
    }
    const end = rng.pick(ENDS);
    out.steps.push(end);
    await mysql2End(c, rng, m, end, rowId);
  } finally {
    c.destroy();
  }
}

async function mysql2Op(c: mysql.Connection, rng: SeededRandom, m: Model, op: (typeof OPS)[number], rowId: () => number): Promise<void> {
  switch (op) {
    case 'query': {
      const v = randomValue(rng);
      const row = await first(c, 'SELECT ? AS v', [v]);
      check(same(row['v'], v), `query() of ${describeValue(v)} read back ${describeValue(row['v'] as Value)}`);
      return;
    }
    case 'execute': {
      const v = randomValue(rng);
      // A statement of a few texts (the pool keeps up to 256 per server connection; the driver makes more).
      const sql = `SELECT ? AS v, ${rng.int(0, 400)} AS k`;
      m.statements.push(sql);
      const [rows] = await c.execute(sql, [v]);
      const got = (rows as Record<string, unknown>[])[0]!['v'];
      check(same(got, v), `execute() of ${describeValue(v)} read back ${describeValue(got as Value)}`);
      return;
    }
    case 'execute-many': {
      const a = randomValue(rng);
      const b = randomValue(rng);
      const sql = 'SELECT ? AS a, ? AS b, ? IS NULL AS n';
      m.statements.push(sql);
      const [rows] = await c.execute(sql, [a, b, b]);
      const row = (rows as Record<string, unknown>[])[0]!;
      check(same(row['a'], a) && same(row['b'], b) && Number(row['n']) === (b === null ? 1 : 0), `execute() of two parameters read back ${describeValue(row['a'] as Value)}, ${describeValue(row['b'] as Value)}`);
      return;
    }
    case 'transaction': {
      if (!m.autocommit) return;
      const id = rowId();
      const v = rng.chance(0.5) ? randomValue(rng) : null;
      const value = typeof v === 'number' ? String(v) : v;
      await c.query('BEGIN');
      neverCommitted.add(id);
      if (rng.chance(0.5)) await c.execute(`INSERT INTO ${fx.database}.t VALUES (?, ?)`, [id, value]);
      else await c.query(`INSERT INTO ${fx.database}.t VALUES (?, ?)`, [id, value]);
      const inside = await first(c, `SELECT COUNT(*) AS n FROM ${fx.database}.t WHERE id = ?`, [id]);
      check(Number(inside['n']) === 1, 'a row inserted in a transaction is not visible inside it');
      if (rng.chance(0.5)) {
        await c.query('COMMIT');
        neverCommitted.delete(id);
        committed.set(id, value);
        const [rows] = await c.execute(`SELECT v FROM ${fx.database}.t WHERE id = ?`, [id]);
        const got = (rows as Array<{ v: Buffer | null }>)[0]?.v;
        check(got !== undefined && same(got, value), `a committed row read back ${got === undefined ? 'missing' : describeValue(got)}`);
      } else {
        await c.query('ROLLBACK');
        const after = await first(c, `SELECT COUNT(*) AS n FROM ${fx.database}.t WHERE id = ?`, [id]);
        check(Number(after['n']) === 0, 'a rolled back row is visible');
      }
      return;
    }
    case 'autocommit-off': {
      const id = rowId();
      await c.query('SET autocommit = 0');
      m.autocommit = false;
      neverCommitted.add(id);
      await c.query(`INSERT INTO ${fx.database}.t VALUES (?, NULL)`, [id]);
      check(Number((await first(c, 'SELECT @@autocommit AS a'))['a']) === 0, '@@autocommit is not 0 after SET autocommit = 0');
      if (rng.chance(0.5)) {
        await c.query('COMMIT');
        neverCommitted.delete(id);
        committed.set(id, null);
      } else {
        await c.query('ROLLBACK');
      }
      if (rng.chance(0.7)) {
        await c.query('SET autocommit = 1');
        m.autocommit = true;
      }
      return;
    }
    case 'set': {
      const which = rng.int(0, 1);
      if (which === 0) {
        const tz = `+0${rng.int(0, 9)}:00`;
        await c.query(`SET time_zone = '${tz}'`);
        m.tz = tz;
      } else {
        // Not SERIALIZABLE: its reads take gap locks, and clients' inserts would wait on each other (a deadlock is no proxy's fault).
        const iso = rng.pick(['READ-COMMITTED', 'REPEATABLE-READ', 'READ-UNCOMMITTED']);
        await c.query(`SET SESSION TRANSACTION ISOLATION LEVEL ${iso.replace('-', ' ')}`);
        m.iso = iso;
      }
      return;
    }
    case 'use': {
      const db = rng.pick([fx.database, fx.other]);
      await c.query(rng.chance(0.5) ? `USE ${db}` : `USE \`${db}\``);
      m.db = db;
      return;
    }
    case 'user-variable': {
      const v = randomValue(rng);
      await c.query('SET @chaos = ?', [v]);
      m.userVar = v;
      return;
    }
    case 'temporary-table': {
      await c.query(`CREATE TEMPORARY TABLE IF NOT EXISTS ${fx.database}.tmp_chaos (x INT)`);
      await c.query(`INSERT INTO ${fx.database}.tmp_chaos VALUES (1)`);
      m.tempRows = (m.tempRows ?? 0) + 1;
      if (!m.autocommit) {
        await c.query('COMMIT');
      }
      return;
    }
    case 'reset': {
      await c.reset();
      // COM_RESET_CONNECTION: the session's state goes (the database stays), what was open is rolled back.
      m.tz = DEFAULT_TZ;
      m.iso = 'REPEATABLE-READ';
      m.autocommit = true;
      m.userVar = undefined;
      m.tempRows = undefined;
      m.statements = [];
      return;
    }
    case 'ping':
      await c.ping();
      return;
    case 'unprepare': {
      const sql = m.statements.length > 0 ? rng.pick(m.statements) : 'SELECT ? AS v, 0 AS k';
      c.unprepare(sql);
      // Run again: prepared anew under another id.
      const [rows] = await c.execute(sql, sql.includes('? AS a') ? [1, 2, 2] : ['again']);
      check((rows as unknown[]).length === 1, 'an unprepared statement does not run again');
      return;
    }
    case 'check-state': {
      const row = await first(c, 'SELECT @@time_zone AS tz, @@tx_isolation AS iso, DATABASE() AS db, @@autocommit AS ac, @chaos AS uv');
      const want = { tz: m.tz, iso: m.iso, db: m.db, ac: m.autocommit ? 1 : 0 };
      const got = { tz: row['tz'], iso: row['iso'], db: row['db'], ac: Number(row['ac']) };
      check(JSON.stringify(got) === JSON.stringify(want), `session state ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
      const uv = m.userVar === undefined ? null : m.userVar;
      check(same(row['uv'], uv), `@chaos read back ${describeValue(row['uv'] as Value)}, expected ${describeValue(uv)}`);
      if (m.tempRows !== undefined) {
        const t = await first(c, `SELECT COUNT(*) AS n FROM ${fx.database}.tmp_chaos`);
        check(Number(t['n']) === m.tempRows, `the temporary table has ${String(t['n'])} rows, expected ${m.tempRows}`);
      } else {
        await c.query(`SELECT COUNT(*) FROM ${fx.database}.tmp_chaos`).then(
          () => check(false, 'a temporary table outlived its session state'),
          (e: { errno?: number }) => check(e.errno === 1146, `a missing temporary table answered ${String(e.errno)}`),
        );
      }
      return;
    }
  }
}

async function mysql2End(c: mysql.Connection, rng: SeededRandom, m: Model, end: (typeof ENDS)[number], rowId: () => number): Promise<void> {
  switch (end) {
    case 'end':
      if (!m.autocommit) await c.query('COMMIT');
      await c.end();
      return;
    case 'destroy':
      c.destroy();
      return;
    case 'destroy-mid-command': {
      const v = randomValue(rng);
      void c.query('SELECT ? AS v', [v]).catch(() => undefined);
      await turns(rng.int(0, 4));
      c.destroy();
      return;
    }
    case 'destroy-mid-execute': {
      void c.execute(`SELECT ? AS v, ${rng.int(0, 400)} AS k`, [randomValue(rng)]).catch(() => undefined);
      await turns(rng.int(0, 4));
      c.destroy();
      return;
    }
    case 'destroy-mid-transaction': {
      const id = rowId();
      if (m.autocommit) await c.query('BEGIN');
      neverCommitted.add(id);
      await c.query(`INSERT INTO ${fx.database}.t VALUES (?, NULL)`, [id]);
      if (rng.chance(0.5)) void c.query('SELECT SLEEP(0.01)').catch(() => undefined);
      await turns(rng.int(0, 2));
      c.destroy();
      return;
    }
    case 'half-open': {
      // A FIN under the client (TLS or not), as a client that crashed mid-write might leave it.
      const stream = (c as unknown as { connection: { stream: { end(): void } } }).connection.stream;
      stream.end();
      await turns(2);
      c.destroy();
      return;
    }
  }
}

// ---------------------------------------------------------------- our own client

const RAW_LEGAL = ['query', 'multi', 'ping', 'pipelined', 'prepare-execute', 'execute-untyped', 'long-data', 'stmt-reset', 'stmt-close', 'reset-connection', 'cursor', 'init-db'] as const;
/** Garbled commands the proxy answers (or ignores) and goes on after. */
const RAW_SURVIVABLE = ['unknown-command', 'change-user', 'bad-id-execute', 'bad-id-fetch', 'bad-id-reset', 'bad-id-long-data', 'bad-id-close', 'soup', 'execute-wrong-values', 'bulk-junk'] as const;
/** Garbled commands after which the proxy may close (or must), and the client's abrupt ends. */
const RAW_FATAL = ['wrong-seq', 'zero-length', 'short-execute', 'short-close', 'short-long-data', 'short-fetch', 'half-packet-fin', 'half-packet-reset', 'long-frame-not-query', 'long-query-cut', 'reset-mid-command', 'fin-mid-command', 'random-bytes'] as const;

/** Commands the proxy answers "Unknown command" without a server (never relayed: nothing here may touch the server). */
const UNKNOWN_COMMANDS = [0x00, 0x05, 0x06, 0x0b, 0x0f, 0x10, 0x12, 0x13, 0x14, 0x15, 0x1d, 0x1e, 0x20, 0x42, 0x7f, 0xa0, 0xf9, 0xfb, 0xfe, 0xff];

const SOUP = ['SELECT', '1', "'", '"', '`', '/*', '*/', '/*!', '/*M!', '--', '-- ', '#', '\n', ';', 'SET', '@', '@@', 'autocommit', '=', '0', 'time_zone', "'+01:00'", 'BEGIN', 'COMMIT', 'ROLLBACK', 'USE', 'PREPARE', 'FROM', 'TEMPORARY', 'TABLE', 'CREATE', 'x', '\\', ',', '(', ')', 'NAMES', 'utf8mb4', 'SESSION', 'GLOBAL', 'TRANSACTION', 'START', ' ', ' ', 'é'];

function soup(rng: SeededRandom): Buffer {
  const parts: string[] = [];
  for (let i = rng.int(1, 24); i > 0; i--) parts.push(rng.pick(SOUP));
  let text = parts.join(rng.chance(0.5) ? ' ' : '');
  // Nothing the filter lets through may wait or lock: the words that would are not in the soup, and a statement only reads.
  if (rng.chance(0.2)) text = `SELECT 1 ${text}`;
  const b = Buffer.from(text);
  return rng.chance(0.2) ? Buffer.concat([b, rng.bytes(rng.int(1, 16))]) : b;
}

function expectOk(r: Response, what: string): void {
  check(r.kind === 'ok', `${what} answered ${JSON.stringify(r).slice(0, 200)}`);
}

function expectErr(r: Response, errno: number, what: string): void {
  check(r.kind === 'err' && r.errno === errno, `${what} answered ${JSON.stringify(r).slice(0, 200)}, expected ERR ${errno}`);
}

function rowsOf(r: Response, what: string): Array<Array<Buffer | null>> {
  if (r.kind !== 'rows') throw new Wrong(`${what} answered ${JSON.stringify(r).slice(0, 200)}`);
  return r.rows;
}

async function prepare(c: RawMysql, sql: string): Promise<{ id: number; params: number; columns: number }> {
  await c.send(Buffer.concat([Buffer.from([0x16]), Buffer.from(sql)]));
  const r = await c.response({ prepare: true });
  if (r.kind !== 'prepared') throw new Wrong(`prepare of ${sql} answered ${JSON.stringify(r).slice(0, 200)}`);
  return r;
}

function rawValue(rng: SeededRandom): Buffer | null {
  if (rng.chance(0.15)) return null;
  return rng.chance(0.5) ? Buffer.from(randomString(rng)) : rng.bytes(rng.chance(0.1) ? rng.int(1000, 100_000) : rng.int(0, 40));
}

function sameBytes(got: Buffer | null | undefined, want: Buffer | null): boolean {
  if (want === null) return got === null;
  return got != null && got.equals(want);
}

async function rawClient(rng: SeededRandom, index: number, out: Outcome): Promise<void> {
  const tls = rng.chance(0.5);
  const multi = rng.chance(0.5);
  out.steps.push(tls ? 'raw-login-tls' : 'raw-login-clear');
  const c = await RawMysql.login({ host: '127.0.0.1', port: fx.port, user: fx.users.native, password: fx.password, database: fx.database, ...(tls ? { ca: Buffer.from(fx.iamdbCa) } : {}), multiStatements: multi });
  out.kill = () => c.raw.destroy();
  try {
    const stmts: Array<{ id: number; params: number }> = [];
    for (let k = rng.int(0, 8); k > 0; k--) {
      const garble = rng.chance(0.35);
      const op = garble ? rng.pick(RAW_SURVIVABLE) : rng.pick(RAW_LEGAL);
      out.steps.push(op);
      if (garble) {
        const closed = await rawGarble(c, rng, op as (typeof RAW_SURVIVABLE)[number], stmts);
        if (closed) return;
      } else {
        await rawLegal(c, rng, index, op as (typeof RAW_LEGAL)[number], stmts, multi);
      }
    }
    if (rng.chance(0.5)) {
      const end = rng.pick(RAW_FATAL);
      out.steps.push(end);
      return await rawFatal(c, rng, end, stmts);
    }
    // Still serving after all of it.
    await c.send(encodeQuery(`SELECT ${index} AS n`));
    const rows = rowsOf(await c.response(), 'a final SELECT');
    check(rows[0]?.[0]?.toString() === String(index), `a final SELECT read ${rows[0]?.[0]?.toString()}`);
    await c.send(Buffer.from([0x01]));
    await c.closed();
  } finally {
    c.raw.destroy();
  }
}

async function rawLegal(c: RawMysql, rng: SeededRandom, index: number, op: (typeof RAW_LEGAL)[number], stmts: Array<{ id: number; params: number }>, multi: boolean): Promise<void> {
  switch (op) {
    case 'query': {
      const v = rng.bytes(rng.chance(0.1) ? rng.int(1000, 200_000) : rng.int(0, 64));
      await c.send(encodeQuery(`SELECT X'${v.toString('hex')}' AS v`));
      const rows = rowsOf(await c.response(), 'SELECT of a hex literal');
      check(sameBytes(rows[0]?.[0], v), 'SELECT of a hex literal read back other bytes');
      return;
    }
    case 'multi': {
      if (!multi) return;
      await c.send(encodeQuery(`SELECT ${index}; SELECT 'two'; DO 1`));
      const rows = rowsOf(await c.response(), 'a multi-statement');
      check(rows.map((r) => r[0]?.toString()).join(',') === `${index},two`, `a multi-statement read ${rows.map((r) => r[0]?.toString()).join(',')}`);
      return;
    }
    case 'ping':
      await c.send(Buffer.from([0x0e]));
      expectOk(await c.response(), 'COM_PING');
      return;
    case 'pipelined': {
      // Several commands in one write: answered in order.
      await c.write(Buffer.concat([frame(Buffer.from([0x0e])), frame(encodeQuery(`SELECT ${index + 1}`)), frame(Buffer.from([0x0e]))]));
      expectOk(await c.response(), 'a pipelined COM_PING');
      check(rowsOf(await c.response(), 'a pipelined SELECT')[0]?.[0]?.toString() === String(index + 1), 'a pipelined SELECT read something else');
      expectOk(await c.response(), 'a second pipelined COM_PING');
      return;
    }
    case 'prepare-execute':
    case 'execute-untyped': {
      // Every column a string (the raw client reads binary rows of strings only).
      const s = await prepare(c, `SELECT ? AS a, ? AS b, '${rng.int(0, 300)}' AS k`);
      stmts.push(s);
      const a = rawValue(rng);
      const b = rawValue(rng);
      await c.send(encodeExecute(s.id, [a, b]));
      let rows = rowsOf(await c.response({ binary: true }), 'an execute');
      check(sameBytes(rows[0]?.[0], a) && sameBytes(rows[0]?.[1], b), 'an execute read back other values');
      if (op === 'execute-untyped') {
        // Types sent once, then not: the server statement (maybe on another connection) must get them.
        const a2 = Buffer.from(randomString(rng));
        await c.send(encodeExecute(s.id, [a2, a2], { bindTypes: false }));
        rows = rowsOf(await c.response({ binary: true }), 'an execute without types');
        check(sameBytes(rows[0]?.[0], a2) && sameBytes(rows[0]?.[1], a2), 'an execute without types read back other values');
      }
      return;
    }
    case 'long-data':
    case 'stmt-reset': {
      const s = await prepare(c, 'SELECT ? AS v');
      stmts.push(s);
      const pieces: Buffer[] = [];
      for (let i = rng.int(1, 4); i > 0; i--) {
        const piece = rng.chance(0.2) ? rng.bytes(rng.int(10_000, 120_000)) : rng.bytes(rng.int(0, 100));
        pieces.push(piece);
        await c.send(encodeLongData(s.id, 0, piece));
      }
      if (op === 'stmt-reset') {
        // COM_STMT_RESET drops the long data: the next execute sends its value inline.
        await c.send(Buffer.concat([Buffer.from([0x1a]), u32(s.id)]));
        expectOk(await c.response(), 'COM_STMT_RESET');
        const v = Buffer.from('after-reset');
        await c.send(encodeExecute(s.id, [v]));
        check(sameBytes(rowsOf(await c.response({ binary: true }), 'an execute after COM_STMT_RESET')[0]?.[0], v), 'an execute after COM_STMT_RESET read other bytes');
        return;
      }
      await c.send(encodeExecute(s.id, ['long']));
      const got = rowsOf(await c.response({ binary: true }), 'an execute with long data')[0]?.[0];
      check(sameBytes(got, Buffer.concat(pieces)), `an execute with long data read ${got?.length} bytes, expected ${Buffer.concat(pieces).length}`);
      return;
    }
    case 'stmt-close': {
      const s = stmts.pop() ?? (await prepare(c, 'SELECT ? AS v'));
      await c.send(Buffer.concat([Buffer.from([0x19]), u32(s.id)]));
      await c.send(encodeExecute(s.id, Array.from({ length: s.params }, () => Buffer.from('x'))));
      expectErr(await c.response({ binary: true }), 1243, 'an execute of a closed statement');
      return;
    }
    case 'reset-connection': {
      await c.send(Buffer.from([0x1f]));
      expectOk(await c.response(), 'COM_RESET_CONNECTION');
      // Its statements are gone with it.
      const s = stmts.pop();
      stmts.length = 0;
      if (s) {
        await c.send(encodeExecute(s.id, Array.from({ length: s.params }, () => Buffer.from('x'))));
        expectErr(await c.response({ binary: true }), 1243, 'an execute after COM_RESET_CONNECTION');
      }
      return;
    }
    case 'cursor': {
      const s = await prepare(c, 'SELECT ? AS v UNION ALL SELECT ? UNION ALL SELECT ?');
      stmts.push(s);
      const vals = [Buffer.from('c1'), Buffer.from('c2'), Buffer.from('c3')];
      await c.send(encodeExecute(s.id, vals, { flags: 1 }));
      const opened = await c.response({ binary: true });
      check(opened.kind === 'rows' && opened.rows.length === 0 && (opened.status & 0x40) !== 0, `an execute with a cursor answered ${JSON.stringify(opened).slice(0, 200)}`);
      const fetched: string[] = [];
      for (let i = 0; i < 3 && fetched.length < 3; i++) {
        await c.send(Buffer.concat([Buffer.from([0x1c]), u32(s.id), u32(rng.int(1, 2))]));
        const r = await c.fetched(1);
        for (const row of rowsOf(r, 'COM_STMT_FETCH')) fetched.push(row[0]?.toString() ?? 'NULL');
      }
      check(fetched.join(',') === 'c1,c2,c3', `a cursor fetched ${fetched.join(',')}`);
      return;
    }
    case 'init-db': {
      await c.send(Buffer.concat([Buffer.from([0x02]), Buffer.from(rng.pick([fx.database, fx.other]))]));
      expectOk(await c.response(), 'COM_INIT_DB');
      return;
    }
  }
}

/** A garbled command the proxy survives; true when the connection ended anyway (allowed only where said). */
async function rawGarble(c: RawMysql, rng: SeededRandom, op: (typeof RAW_SURVIVABLE)[number], stmts: Array<{ id: number; params: number }>): Promise<boolean> {
  const badId = rng.int(1_000_000, 0xfffffffe);
  let mayClose = false;
  switch (op) {
    case 'unknown-command':
      await c.send(Buffer.concat([Buffer.from([rng.pick(UNKNOWN_COMMANDS)]), rng.bytes(rng.int(0, 40))]));
      expectErr(await c.response(), 1047, 'an unknown command');
      break;
    case 'change-user':
      await c.send(Buffer.concat([Buffer.from([0x11]), Buffer.from(`${fx.users.native}\0`), rng.bytes(rng.int(0, 40))]));
      expectErr(await c.response(), 1047, 'COM_CHANGE_USER');
      break;
    case 'bad-id-execute':
      await c.send(Buffer.concat([Buffer.from([0x17]), u32(badId), Buffer.from([0]), u32(1), rng.bytes(rng.int(0, 20))]));
      expectErr(await c.response(), 1243, 'an execute of an unknown statement');
      break;
    case 'bad-id-fetch':
      await c.send(Buffer.concat([Buffer.from([0x1c]), u32(badId), u32(rng.int(0, 100))]));
      expectErr(await c.response(), 1243, 'a fetch of an unknown statement');
      break;
    case 'bad-id-reset':
      await c.send(Buffer.concat([Buffer.from([0x1a]), u32(badId)]));
      expectErr(await c.response(), 1243, 'a reset of an unknown statement');
      break;
    case 'bad-id-long-data':
      await c.send(encodeLongData(badId, rng.int(0, 70000 & 0xffff), rng.bytes(rng.int(0, 100))));
      break;
    case 'bad-id-close':
      await c.send(Buffer.concat([Buffer.from([0x19]), u32(badId)]));
      break;
    case 'soup':
      await c.send(encodeQuery(soup(rng)));
      // Whatever the server makes of it; a USE or a COMMIT in it is the client's business.
      await c.response();
      break;
    case 'execute-wrong-values': {
      const s = stmts.at(-1) ?? (await prepare(c, `SELECT ? AS a, ? AS b, '${rng.int(0, 300)}' AS k`));
      if (!stmts.includes(s)) stmts.push(s);
      // The statement's header is right, its values are not: too few, cut short, or random.
      const full = encodeExecute(s.id, Array.from({ length: s.params }, () => rng.bytes(rng.int(0, 30))));
      const cut = rng.chance(0.5) ? full.subarray(0, rng.int(10, full.length)) : Buffer.concat([full.subarray(0, 10), rng.bytes(rng.int(0, 40))]);
      await c.send(cut);
      mayClose = true;
      try {
        await c.response({ binary: true });
      } catch (e) {
        if (e instanceof Closed) return true;
        // A random tail can read as a valid execute of odd values: its rows are not ours to read.
      }
      break;
    }
    case 'bulk-junk': {
      const s = stmts.at(-1) ?? (await prepare(c, 'SELECT ? AS v'));
      if (!stmts.includes(s)) stmts.push(s);
      await c.send(Buffer.concat([Buffer.from([0xfa]), u32(s.id), rng.bytes(rng.int(2, 40))]));
      mayClose = true;
      try {
        await c.response();
      } catch (e) {
        if (e instanceof Closed) return true;
      }
      break;
    }
  }
  // The fence: whatever came before has been answered (or needed no answer), and the proxy still serves.
  await c.send(Buffer.from([0x0e]));
  try {
    const r = await c.response();
    if (mayClose && r.kind !== 'ok') return false;
    expectOk(r, `COM_PING after ${op}`);
  } catch (e) {
    if (e instanceof Closed && mayClose) return true;
    throw e;
  }
  return false;
}

/** The client's last act: garbage the proxy must close on, or an abrupt end. The proxy must close within the budget. */
async function rawFatal(c: RawMysql, rng: SeededRandom, op: (typeof RAW_FATAL)[number], stmts: Array<{ id: number; params: number }>): Promise<void> {
  const id = stmts.at(-1)?.id ?? 1;
  switch (op) {
    case 'wrong-seq':
      await c.write(frame(encodeQuery('SELECT 1'), rng.int(1, 255)));
      break;
    case 'zero-length':
      await c.write(frame(Buffer.alloc(0)));
      break;
    case 'short-execute':
      // Shorter than an execute's fixed part (10 bytes).
      await c.send(Buffer.concat([Buffer.from([0x17]), u32(id), Buffer.from([0]), u32(1)]).subarray(0, rng.int(1, 9)));
      break;
    case 'short-close':
      await c.send(Buffer.from([0x19, 1, 2].slice(0, rng.int(1, 3))));
      break;
    case 'short-long-data':
      await c.send(Buffer.concat([Buffer.from([0x18]), u32(id)]).subarray(0, rng.int(1, 6)));
      break;
    case 'short-fetch':
      await c.send(Buffer.concat([Buffer.from([0x1c]), u32(id)]).subarray(0, rng.int(1, 8)));
      break;
    case 'half-packet-fin':
    case 'half-packet-reset': {
      const payload = rng.chance(0.5) ? encodeQuery(`SELECT '${'h'.repeat(rng.int(0, 5000))}'`) : encodeExecute(id, [Buffer.from('x'.repeat(rng.int(0, 5000)))]);
      await c.write(frame(payload).subarray(0, rng.int(1, payload.length + 3)));
      if (op === 'half-packet-reset') return void c.raw.resetAndDestroy();
      c.stream.end();
      break;
    }
    case 'long-frame-not-query':
      await c.write(frame(Buffer.concat([Buffer.from([rng.pick([0x16, 0x17, 0x02, 0x0e])]), rng.bytes(20)]), 0, 0xffffff));
      break;
    case 'long-query-cut': {
      // The first of the frames of a 16 MB statement, cut short: the proxy cannot wait for the rest for ever once the client has gone.
      await c.write(frame(Buffer.concat([Buffer.from([0x03]), Buffer.from("SELECT '"), Buffer.alloc(rng.int(0, 300_000), 0x41)]), 0, 0xffffff));
      if (rng.chance(0.5)) return void c.raw.resetAndDestroy();
      c.stream.end();
      break;
    }
    case 'reset-mid-command':
      await c.send(encodeQuery(`SELECT '${'r'.repeat(rng.int(0, 200_000))}'`));
      await turns(rng.int(0, 3));
      return void c.raw.resetAndDestroy();
    case 'fin-mid-command':
      await c.send(rng.chance(0.5) ? encodeQuery('SELECT SLEEP(0.02)') : encodeExecute(id, [Buffer.from('fin')]));
      c.stream.end();
      break;
    case 'random-bytes':
      await c.write(rng.bytes(rng.int(1, 200)));
      c.stream.end();
      break;
  }
  await c.closed();
}

// ---------------------------------------------------------------- the run

async function oneClient(rng: SeededRandom, index: number): Promise<Outcome> {
  const raw = rng.chance(0.4);
  const out: Outcome = { kind: raw ? 'raw' : 'mysql2', steps: [] };
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no end after ${budgetMs} ms`), budgetMs);
  });
  const run = (raw ? rawClient : mysql2Client)(rng, index, out).then(
    () => undefined,
    (e: Error & { errno?: number }) => `${e instanceof Wrong ? 'wrong answer' : 'failed'}: ${e.errno !== undefined ? `errno ${e.errno} ` : ''}${e.message}`,
  );
  try {
    const problem = await Promise.race([run, budget]);
    if (problem !== undefined) out.problem = problem;
  } finally {
    clearTimeout(timer);
    out.kill?.();
  }
  const { kill: _, ...rest } = out;
  return rest;
}

/**
 * Server connections of the proxy's pools, as the server counts them: those of its users in the
 * pools' databases (the target health checks log in with the same secrets, to no database, every 10 s).
 */
async function poolConnections(a: mysql.Connection): Promise<number> {
  const [rows] = await a.query(`SELECT COUNT(*) AS n FROM information_schema.processlist WHERE user IN ('${fx.users.native}', '${fx.users.iam}') AND db IN ('${fx.database}', '${fx.other}')`);
  return Number((rows as Array<{ n: number }>)[0]!.n);
}

async function openTransactions(a: mysql.Connection): Promise<number> {
  const [rows] = await a.query(
    `SELECT COUNT(*) AS n FROM information_schema.innodb_trx x JOIN information_schema.processlist p ON p.id = x.trx_mysql_thread_id WHERE p.user IN ('${fx.users.native}', '${fx.users.iam}')`,
  );
  return Number((rows as Array<{ n: number }>)[0]!.n);
}

/** Polls `probe` until it holds or `timeoutMs` passes; InnoDB refreshes innodb_trx only every 100 ms, hence the pace. */
async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('MySQL proxy under a randomized client driver', () => {
  it('survives every client, answers the legal ones right, and leaks no server connection or transaction', async () => {
    process.stdout.write(`[mysql chaos] seed ${seed} (IAMDB_CHAOS_SEED=${seed} replays it), ${clients} clients, ${concurrency} at a time\n`);
    const a = await fx.admin();
    try {
      let peak = 0;
      let sampling = true;
      const started = Date.now();
      const sampler = (async () => {
        while (sampling) {
          const n = await poolConnections(a);
          peak = Math.max(peak, n);
          if (process.env['IAMDB_MYSQL_CHAOS_DEBUG'] && n >= MAX_SERVERS) {
            const [rows] = await a.query(`SELECT p.id, p.command, p.time, p.state, LEFT(p.info, 60) AS info, x.trx_id FROM information_schema.processlist p LEFT JOIN information_schema.innodb_trx x ON x.trx_mysql_thread_id = p.id WHERE p.user IN ('${fx.users.native}', '${fx.users.iam}')`);
            process.stdout.write(`[mysql chaos] ${Date.now() - started} ms full: ${JSON.stringify(rows)}\n`);
          }
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      const root = new SeededRandom(seed);
      const outcomes: Array<Outcome & { index: number }> = [];
      let next = 0;
      const indices = only ?? Array.from({ length: clients }, (_, i) => i);
      const worker = async (): Promise<void> => {
        for (let j = next++; j < indices.length; j = next++) {
          const t0 = Date.now();
          const o = await oneClient(root.fork(indices[j]!), indices[j]!);
          if (process.env['IAMDB_MYSQL_CHAOS_DEBUG']) process.stdout.write(`[mysql chaos] #${indices[j]} ${t0 - started}..${Date.now() - started} ms ${o.kind} ${o.steps.join(' ')}${o.problem ? ` PROBLEM ${o.problem.slice(0, 100)}` : ''}\n`);
          outcomes.push({ index: indices[j]!, ...o });
        }
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      sampling = false;
      await sampler;

      const steps = new Map<string, number>();
      for (const o of outcomes) for (const s of o.steps) steps.set(s, (steps.get(s) ?? 0) + 1);
      process.stdout.write(`[mysql chaos] seed ${seed}: ${outcomes.length} clients in ${Date.now() - started} ms, peak ${peak} server connections; ${JSON.stringify(Object.fromEntries([...steps].sort()))}\n`);
      const problems = outcomes.filter((o) => o.problem).map((o) => `#${o.index} ${o.kind} [${o.steps.join(' ')}]: ${o.problem}`);
      expect({ seed, problems }).toEqual({ seed, problems: [] });

      // A fresh client still works, by text and binary protocol, over TLS and clear.
      for (const tls of [true, false]) {
        const c = await connect({ tls });
        expect((await first(c, 'SELECT ? AS v', ['fresh']))['v']).toBe('fresh');
        const [rows] = await c.execute('SELECT ? + 1 AS v', [41]);
        expect(Number((rows as Array<{ v: number }>)[0]!.v)).toBe(42);
        await c.end();
      }

      // Never more server connections than the pool's bound; no transaction left open once everyone has gone;
      // no row of a transaction that was not committed ever visible, every committed one there.
      expect({ seed, peak }).toMatchObject({ seed, peak: expect.any(Number) });
      expect(peak).toBeLessThanOrEqual(MAX_SERVERS);
      expect(await poolConnections(a)).toBeLessThanOrEqual(MAX_SERVERS);
      const noTransactions = await eventually(async () => (await openTransactions(a)) === 0, 15_000);
      expect({ seed, noTransactions, open: await openTransactions(a) }).toEqual({ seed, noTransactions: true, open: 0 });
      if (neverCommitted.size > 0) {
        const [rows] = await a.query(`SELECT id FROM ${fx.database}.t WHERE id IN (${[...neverCommitted].join(',')})`);
        expect({ seed, visible: (rows as Array<{ id: number }>).map((r) => r.id) }).toEqual({ seed, visible: [] });
      }
      if (committed.size > 0) {
        const [rows] = await a.query(`SELECT COUNT(*) AS n FROM ${fx.database}.t WHERE id IN (${[...committed.keys()].join(',')})`);
        expect(Number((rows as Array<{ n: number }>)[0]!.n)).toBe(committed.size);
      }
      // The endpoint holds no client connection once every client has gone.
      const released = await eventually(() => processSockets(fx.port).tcpOnPort === 0, 15_000);
      expect({ seed, released, sockets: processSockets(fx.port) }).toMatchObject({ seed, released: true });
    } finally {
      await a.end();
    }
  });
});
