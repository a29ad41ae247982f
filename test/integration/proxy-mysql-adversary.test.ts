/**
 * The MySQL pooled relay (native/my_pool.c) against clients that try to
 * reach each other's session state, with a real MariaDB 10.11 of the test's
 * own (it is paused with SIGSTOP to hold a response back) and a pool of one
 * server connection, so the next client always borrows the connection the
 * last one used. Some steps speak the wire protocol directly over a logged
 * in mysql2 connection's socket: commands mysql2 never sends (MariaDB's
 * COM_STMT_EXECUTE of statement id -1).
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import * as RDS from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { Command, PacketFramer, PayloadWriter, encodePacket } from '../../src/protocol/mysql/index.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { one, startMysqlProxyFixture, type MysqlProxyFixture } from '../support/mysql-proxy-fixture.js';

let server: MariaDbServer;
let fx: MysqlProxyFixture<'app'>;
/** A client that stays for the whole file: a pool lives while it has clients, so the next client borrows from the same one. */
let keeper: mysql.Connection;

/** A clear client of the test's user, through the proxy or straight to the server. */
function connect(to: 'proxy' | 'server' = 'proxy'): Promise<mysql.Connection> {
  if (to === 'proxy') return fx.connect(fx.users.app, { tls: false });
  return mysql.createConnection({ host: server.host, port: server.port, user: fx.users.app, password: fx.password, database: fx.database });
}

/** Server connections lent to clients of the proxy so far (the borrow latency summary counts one per borrow). */
async function borrows(): Promise<number> {
  const text = await (await fetch(fx.iamdb.metricsUrl)).text();
  const line = text.split('\n').find((l) => l.startsWith(`iamdb_proxy_database_connections_borrow_latency_seconds_count{proxy="${fx.proxyName}"`));
  return Number(line?.split(' ').at(-1) ?? NaN);
}

/** Clients of the tests below: a test that fails leaves one pinned to the pool's only connection, so each goes after its test. */
const clients: mysql.Connection[] = [];
async function client(): Promise<mysql.Connection> {
  const c = await connect();
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

afterEach(() => {
  for (const c of clients.splice(0)) c.destroy();
});

/** The db.session.end record of the next session of the test's user to end after event index `from`. */
function sessionEnd(from: number): Promise<AuditEvent> {
  return fx.sessionEnd(fx.users.app, from);
}

/** Bytes wait unread in some socket the server accepted (it is stopped, so nothing reads them). */
function serverHasUnread(): boolean {
  const local = `:${server.port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f.length > 4 && f[1]!.endsWith(local) && f[3] === '01' && parseInt(f[4]!.split(':')[1]!, 16) > 0;
    });
}

function until(what: string, done: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (done()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`${what}: not seen in ${timeoutMs} ms`));
      setImmediate(check);
    };
    check();
  });
}

/** A logged-in connection's socket, taken from mysql2: whole packets out (sequence 0), payloads in. */
function raw(c: mysql.Connection): { send(payload: Buffer): void; next(): Promise<Buffer> } {
  const sock = (c as unknown as { connection: { stream: Socket } }).connection.stream;
  sock.removeAllListeners('data');
  const framer = new PacketFramer();
  const packets: Buffer[] = [];
  const waiting: Array<() => void> = [];
  sock.on('data', (d: Buffer) => {
    for (const p of framer.push(d)) packets.push(Buffer.from(p.payload));
    waiting.splice(0).forEach((w) => w());
  });
  const take = (): Buffer | undefined => packets.shift();
  return {
    send(payload) {
      sock.write(encodePacket(payload, 0));
    },
    next() {
      return new Promise((resolve, reject) => {
        const attempt = (): void => {
          const p = take();
          if (p !== undefined) return resolve(p);
          if (sock.destroyed) return reject(new Error('connection closed'));
          waiting.push(attempt);
        };
        sock.once('close', () => waiting.splice(0).forEach((w) => w()));
        attempt();
      });
    },
  };
}

function prepare(text: string): Buffer {
  return Buffer.concat([Buffer.from([Command.COM_STMT_PREPARE]), Buffer.from(text)]);
}

/** COM_STMT_EXECUTE of a statement without parameters: id, no cursor, iteration count 1. */
function execute(id: number): Buffer {
  return new PayloadWriter('COM_STMT_EXECUTE').writeFixedLengthInteger(Command.COM_STMT_EXECUTE, 1).writeFixedLengthInteger(id >>> 0, 4).writeFixedLengthInteger(0, 1).writeFixedLengthInteger(1, 4).finish();
}

beforeAll(async () => {
  // One server connection in the pool (1 % of 100): the next client borrows the one the last client used.
  server = await startMariaDb({ extraArgs: ['--max-connections=100'] });
  // BACKUP STAGE's privilege is global: granted before the pool's connections log in.
  fx = await startMysqlProxyFixture('myadv', {
    servers: [server],
    users: { app: 'native' },
    setup: (_db, users) => [`GRANT RELOAD ON *.* TO '${users.app}'@'%'`],
    requireTls: false,
    pool: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 5 },
    config: { metrics: { listen: 'auto' } },
  });
  keeper = await connect();
}, 240_000);

afterAll(async () => {
  await keeper?.end();
  await fx?.stop();
  await server?.stop();
});

describe('MySQL pooled relay against a hostile or careless client', () => {
  it('resets a server connection whose client left while its SET was in flight: the next client does not inherit it', async () => {
    const a = await connect();
    a.on('error', () => undefined);
    expect(await one(a, 'SELECT 1')).toBe(1);
    const thread = await one<number>(a, 'SELECT CONNECTION_ID()');
    const from = fx.iamdb.audit.events.length;
    process.kill(server.pid, 'SIGSTOP');
    try {
      void a.query("SET SESSION sql_mode = 'ANSI_QUOTES'").catch(() => undefined);
      // The SET has reached the server's socket (the proxy sent it); the client leaves before its answer.
      await until('the SET at the server', serverHasUnread);
      a.destroy();
      await sessionEnd(from);
    } finally {
      process.kill(server.pid, 'SIGCONT');
    }
    const b = await connect();
    expect(await one(b, 'SELECT CONNECTION_ID()')).toBe(thread);
    expect(await one(b, 'SELECT @@SESSION.sql_mode')).not.toContain('ANSI_QUOTES');
    await b.end();
  });

  it('pins a client that takes a named lock with a double-quoted function name under ANSI_QUOTES', async () => {
    // Both clients carry the same settings: the pool lends the connection between them without a reset unless it knows of the lock.
    const a = await connect();
    const b = await connect();
    await a.query("SET SESSION sql_mode = 'ANSI_QUOTES'");
    await b.query("SET SESSION sql_mode = 'ANSI_QUOTES'");
    expect(await one(a, `SELECT "get_lock"('adv_${fx.suffix}', 0)`)).toBe(1);
    const from = fx.iamdb.audit.events.length;
    await a.end();
    await sessionEnd(from);
    expect(await one(b, `SELECT IS_FREE_LOCK('adv_${fx.suffix}')`)).toBe(1);
    await b.end();
  });

  it('does not show a client the warnings of another client\'s statement (SHOW WARNINGS)', async () => {
    // Same settings: without the reset the connection goes from one to the other as it is.
    const a = await connect();
    const b = await connect();
    const secret = `secret-${fx.suffix}`;
    await a.query(`SELECT '${secret}' + 0`);
    const [rows] = await b.query('SHOW WARNINGS');
    expect(JSON.stringify(rows)).not.toContain(secret);
    await a.end();
    await b.end();
  });

  // A procedure's statements are not in the text the proxy reads: the server's session tracking (turned on for every
  // pooled connection whose clients negotiated CLIENT_SESSION_TRACK, as mysql2 does) reports what it changed, and pins.
  it('does not lend the next client what a CALLed procedure left in the session: the caller is pinned (StateChange)', async () => {
    const root = await fx.admin();
    await root.query(`CREATE PROCEDURE ${fx.database}.p_mode() BEGIN SET SESSION sql_select_limit = 3; SET @leak = 'from-a'; END`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await connect();
    await a.query('CALL p_mode()');
    // a keeps what its procedure set: it stays on its connection.
    expect(await one(a, 'SELECT @leak')).toBe('from-a');
    const from = fx.iamdb.audit.events.length;
    await a.end();
    expect(await sessionEnd(from)).toMatchObject({ pinReasons: ['StateChange'] });
    const b = await connect();
    expect(await one(b, 'SELECT @@SESSION.sql_select_limit')).not.toBe(3);
    expect(await one(b, 'SELECT @leak')).toBeNull();
    await b.end();
  });

  it('lets a CALL that changes no session state run unpinned, and resets its connection before the next client (a named lock no flag reports)', async () => {
    const root = await fx.admin();
    await root.query(`CREATE PROCEDURE ${fx.database}.p_quiet() BEGIN SELECT 1 AS one; END`);
    await root.query(`CREATE PROCEDURE ${fx.database}.p_lock() BEGIN DO GET_LOCK('call_lock_${fx.suffix}', 0); END`);
    await root.end();
    const a = await connect();
    const b = await connect();
    const [rows] = await a.query('CALL p_quiet()');
    expect((rows as unknown as Array<Array<{ one: number }>>)[0]![0]!.one).toBe(1);
    const thread = await one<number>(a, 'SELECT CONNECTION_ID()');
    await a.query('CALL p_lock()');
    // The one server connection went to b (a is not pinned), cleaned: the lock a's procedure took is gone with the reset.
    expect(await one(b, 'SELECT CONNECTION_ID()')).toBe(thread);
    expect(await one(b, `SELECT IS_USED_LOCK('call_lock_${fx.suffix}')`)).toBeNull();
    const from = fx.iamdb.audit.events.length;
    await a.end();
    expect(await sessionEnd(from)).not.toHaveProperty('pinReasons');
    await b.end();
  });

  it('gives each client its own LAST_INSERT_ID() when clients insert in turn on one server connection', async () => {
    const setup = await connect();
    await setup.query(`CREATE TABLE ai_${fx.suffix} (id INT AUTO_INCREMENT PRIMARY KEY, who VARCHAR(8))`);
    await setup.end();
    const a = await connect();
    const b = await connect();
    const c = await connect();
    const insert = async (x: mysql.Connection, who: string): Promise<number> => {
      const [r] = await x.query(`INSERT INTO ai_${fx.suffix} (who) VALUES ('${who}')`);
      return (r as mysql.ResultSetHeader).insertId;
    };
    const idA = await insert(a, 'a');
    const idB = await insert(b, 'b');
    expect(idB).not.toBe(idA);
    // The connection's session last inserted b's row: a reads its own id all the same (it is pinned from here on).
    expect(await one(a, 'SELECT LAST_INSERT_ID()')).toBe(idA);
    const from = fx.iamdb.audit.events.length;
    await a.end();
    await sessionEnd(from);
    // a's pin ended with a reset of the connection: b's id is given back to it there.
    expect(await one(b, 'SELECT LAST_INSERT_ID()')).toBe(idB);
    await b.end();
    // A client that inserted nothing reads 0, not the id of the client before it.
    expect(await one(c, 'SELECT LAST_INSERT_ID()')).toBe(0);
    await c.end();
  });

  it('refuses ROW_COUNT() on a connection the client has just borrowed (it would read another client\'s statement), and answers it in the transaction', async () => {
    const table = `rc_${fx.suffix}`;
    const a = await connect();
    const b = await connect();
    await b.query(`CREATE TABLE ${table} (x INT)`);
    await b.query(`INSERT INTO ${table} VALUES (1), (2), (3)`);
    await expect(a.query('SELECT ROW_COUNT()')).rejects.toMatchObject({ errno: 1235 });
    await expect(a.query('SELECT FOUND_ROWS()')).rejects.toMatchObject({ errno: 1235 });
    const from = fx.iamdb.audit.events.length;
    await a.end();
    // A refused statement does not pin.
    expect(await sessionEnd(from)).not.toHaveProperty('pinReasons');
    await b.query('BEGIN');
    await b.query(`INSERT INTO ${table} VALUES (4), (5)`);
    expect(await one(b, 'SELECT ROW_COUNT()')).toBe(2);
    await b.query('COMMIT');
    await b.end();
  });

  it('pins a client for BACKUP STAGE (its locks last until BACKUP STAGE END or the session ends)', async () => {
    const a = await connect();
    const from = fx.iamdb.audit.events.length;
    try {
      await a.query('BACKUP STAGE START');
      const thread = await one<number>(a, 'SELECT CONNECTION_ID()');
      await a.query('BACKUP STAGE END');
      expect(await one(a, 'SELECT CONNECTION_ID()')).toBe(thread);
    } finally {
      await a.end();
    }
    expect(await sessionEnd(from)).toMatchObject({ pinReasons: ['TableLock'] });
  });


  it('serves two clients with different settings that execute at once on one server connection (each borrow resets it and drops the other\'s statement)', async () => {
    // a's settings differ from b's, so each borrow resets the connection, which drops the statement the other
    // prepared there: each execute needs a prepare first. A server given back between that prepare and its
    // execute went to the other client, whose reset dropped the statement again: the two traded it forever.
    const a = await connect();
    const b = await connect();
    await a.query("SET SESSION sql_mode = 'ANSI_QUOTES'");
    const borrowsBefore = await borrows();
    const [ra] = await a.execute('SELECT ? + 1 AS v', [1]);
    const [rb] = await b.execute('SELECT ? + 2 AS v', [1]);
    expect([(ra as { v: number }[])[0]!.v, (rb as { v: number }[])[0]!.v]).toEqual([2, 3]);
    const rounds = 20;
    for (let round = 0; round < rounds; round++) {
      const both = Promise.all([a.execute('SELECT ? + 1 AS v', [round]), b.execute('SELECT ? + 2 AS v', [round])]);
      let timer: NodeJS.Timeout | undefined;
      const stuck = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('no answer in 10 s'), 10_000)));
      const r = await Promise.race([both, stuck]).finally(() => clearTimeout(timer));
      expect(r).not.toBe('no answer in 10 s');
      const [[x], [y]] = r as unknown as [[{ v: number }[]], [{ v: number }[]]];
      expect([x[0]!.v, y[0]!.v]).toEqual([round + 1, round + 2]);
    }
    // One borrow per command (mysql2 prepares each statement once, then executes): the two used to trade the
    // connection back and forth, up to hundreds of thousands of borrows, before one of them got its execute through.
    expect((await borrows()) - borrowsBefore).toBe(2 + 2 * (rounds + 1));
    const from = fx.iamdb.audit.events.length;
    await a.end();
    await b.end();
    await until('both sessions ended', () => fx.iamdb.audit.events.slice(from).filter((e) => e.event === 'db.session.end').length >= 2);
  });
  it('refuses ROW_COUNT() wherever the statement has it on a connection just borrowed: a SET of a user variable, a CALL\'s argument, SET STATEMENT … FOR, a backticked name in capitals', async () => {
    const table = `rc2_${fx.suffix}`;
    const root = await fx.admin();
    await root.query(`CREATE PROCEDURE ${fx.database}.p_echo(a BIGINT) BEGIN SELECT a AS got; END`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await client();
    const b = await client();
    await b.query(`CREATE TABLE ${table} (x INT)`);
    for (const sql of ['SET @rc = ROW_COUNT()', 'CALL p_echo(ROW_COUNT())', 'SET STATEMENT max_statement_time = 0 FOR SELECT ROW_COUNT()', 'SELECT `ROW_COUNT`()']) {
      // b's statement, the last one on the pool's only server connection: three rows.
      await b.query(`INSERT INTO ${table} VALUES (1), (2), (3)`);
      await expect(a.query(sql), sql).rejects.toMatchObject({ errno: 1235 });
    }
    expect(await one(a, 'SELECT @rc')).toBeNull();
    await a.end();
    await b.end();
  });

  it('refuses a binary prepare of ROW_COUNT() outside a transaction (its execute would read the statement before the prepare, another client\'s), and runs it in one', async () => {
    const table = `rc3_${fx.suffix}`;
    const a = await client();
    const b = await client();
    await b.query(`CREATE TABLE ${table} (x INT)`);
    await b.query(`INSERT INTO ${table} VALUES (1), (2), (3)`);
    await expect(a.execute('SELECT ROW_COUNT() AS r')).rejects.toMatchObject({ errno: 1235 });
    await a.query('BEGIN');
    await a.query(`INSERT INTO ${table} VALUES (4), (5)`);
    const [rows] = await a.execute('SELECT ROW_COUNT() AS r');
    expect(Number((rows as Array<{ r: number }>)[0]!.r)).toBe(2);
    await a.query('COMMIT');
    await a.end();
    await b.end();
  });

  it('pins a SET STATEMENT that turns session tracking off for its statement: a stored function\'s user variable would be left unreported for the next client', async () => {
    const root = await fx.admin();
    await root.query(`CREATE FUNCTION ${fx.database}.f_plant() RETURNS INT NO SQL BEGIN SET @planted = 'from-a'; RETURN 1; END`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await client();
    await a.query('SET STATEMENT session_track_state_change = OFF FOR SELECT f_plant()');
    const from = fx.iamdb.audit.events.length;
    await a.end();
    expect(await sessionEnd(from)).toMatchObject({ pinReasons: ['SessionVariable'] });
    const b = await client();
    expect(await one(b, 'SELECT @planted')).toBeNull();
    expect(Number(await one(b, 'SELECT @@session_track_state_change'))).toBe(1);
    await b.end();
  });

  it('SessionPinningFilters EXCLUDE_VARIABLE_SETS lets no SET through that turns session tracking off, or that takes a named lock', async () => {
    const rds = fx.rds;
    const filters = (f: string[]) => rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: fx.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: { SessionPinningFilters: f } }));
    await filters(['EXCLUDE_VARIABLE_SETS']);
    try {
      for (const [sql, reason] of [
        ['SET SESSION session_track_state_change = OFF', 'SessionVariable'],
        [`SET SESSION sort_buffer_size = GET_LOCK('set_lock_${fx.suffix}', 0) + 1048575`, 'NamedLock'],
      ] as const) {
        const a = await client();
        await a.query(sql);
        const from = fx.iamdb.audit.events.length;
        await a.end();
        expect(await sessionEnd(from), sql).toMatchObject({ pinReasons: [reason] });
        const b = await client();
        expect(Number(await one(b, 'SELECT @@session_track_state_change'))).toBe(1);
        expect(await one(b, `SELECT IS_USED_LOCK('set_lock_${fx.suffix}')`)).toBeNull();
        await b.end();
      }
    } finally {
      await filters([]);
    }
  });

  it('does not give a client another\'s LAST_INSERT_ID() after an INSERT whose OK carried a row\'s own id (ON DUPLICATE KEY UPDATE), not a generated one', async () => {
    const table = `ai2_${fx.suffix}`;
    const setup = await client();
    await setup.query(`CREATE TABLE ${table} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v INT)`);
    await setup.query(`INSERT INTO ${table} (id, v) VALUES (100, 0)`);
    await setup.end();
    const upsert = `INSERT INTO ${table} (id, v) VALUES (100, 0) ON DUPLICATE KEY UPDATE v = v + 1`;
    const x = await client();
    const y = await client();
    // Both OKs carry the row's id, 100; neither changes the session's LAST_INSERT_ID().
    await x.query(upsert);
    const [generated] = await y.query(`INSERT INTO ${table} (v) VALUES (1)`);
    const secret = (generated as mysql.ResultSetHeader).insertId;
    await y.query(upsert);
    // The connection's session still holds y's generated id; x reads the id its own OK carried, as on any other connection.
    expect(await one(x, 'SELECT LAST_INSERT_ID()')).not.toBe(secret);
    expect(await one(x, 'SELECT LAST_INSERT_ID()')).toBe(100);
    await x.end();
    await y.end();
  });

  it('replays a LAST_INSERT_ID() past 2^63 (BIGINT UNSIGNED) exactly to a client that comes back after another borrowed its connection', async () => {
    const table = `big_${fx.suffix}`;
    const setup = await client();
    await setup.query(`CREATE TABLE ${table} (id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY, v INT) AUTO_INCREMENT = 18446744073709551610`);
    await setup.end();
    const a = await client();
    const b = await client();
    await a.query(`INSERT INTO ${table} (v) VALUES (1)`);
    // b borrows the connection: it gets DO LAST_INSERT_ID(0); a then gets its own id back with another DO.
    expect(await one(b, 'SELECT LAST_INSERT_ID()')).toBe(0);
    await b.end();
    expect(await one(a, 'SELECT CAST(LAST_INSERT_ID() AS CHAR)')).toBe('18446744073709551610');
    await a.end();
  });

  // Session tracking does not report a named lock: a stored function called from a SELECT (a name the proxy does not know
  // as a built-in) is handled as a CALL, and its connection is reset before another client gets it.
  it('does not lend a connection on which a stored function took a named lock', async () => {
    const root = await fx.admin();
    await root.query(`CREATE FUNCTION ${fx.database}.f_lock() RETURNS INT NO SQL RETURN GET_LOCK('f_lock_${fx.suffix}', 0)`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await client();
    const b = await client();
    expect(await one(a, 'SELECT f_lock()')).toBe(1);
    const thread = await one<number>(b, 'SELECT CONNECTION_ID()');
    expect(await one(b, `SELECT IS_USED_LOCK('f_lock_${fx.suffix}')`)).not.toBe(thread);
  });

  // A routine reads ROW_COUNT() where the proxy does not read the text: on a connection another client's statement ran
  // on last, the proxy runs DO 0 before a CALL (or a stored function), so the routine reads 0, not that statement's count.
  it('does not show a procedure the row count of another client\'s statement', async () => {
    const table = `rc4_${fx.suffix}`;
    const root = await fx.admin();
    await root.query(`CREATE PROCEDURE ${fx.database}.p_rc() BEGIN SELECT ROW_COUNT() AS rc; END`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await client();
    const b = await client();
    await b.query(`CREATE TABLE ${table} (x INT)`);
    await b.query(`INSERT INTO ${table} VALUES (1), (2), (3)`);
    const rc = (results: unknown): number => Number((results as Array<Array<{ rc: number }>>)[0]![0]!.rc);
    const [results] = await a.query('CALL p_rc()');
    expect(rc(results)).not.toBe(3);
    // What a user expects still holds on the pool's one connection: where the client's own statement ran last, the
    // procedure reads that statement's count; and a procedure reads the count of its own statements.
    await b.query(`INSERT INTO ${table} VALUES (4), (5), (6), (7)`);
    expect(rc((await b.query('CALL p_rc()'))[0])).toBe(4);
    const root2 = await fx.admin();
    await root2.query(`CREATE PROCEDURE ${fx.database}.p_rc_own() BEGIN INSERT INTO ${fx.database}.${table} VALUES (8), (9); SELECT ROW_COUNT() AS rc; END`);
    await root2.end();
    expect(rc((await a.query('CALL p_rc_own()'))[0])).toBe(2);
  });

  // The safety net can be turned off from where the proxy does not read: a stored function that sets
  // session_track_state_change = OFF, then a user variable, leaves both unreported. Its statement is a stored-routine
  // call, so the connection is reset (tracking back on, the variable gone) before any other client gets it.
  it('does not lend a connection on which a stored function turned session tracking off', async () => {
    const root = await fx.admin();
    await root.query(`CREATE FUNCTION ${fx.database}.f_off() RETURNS INT NO SQL BEGIN SET SESSION session_track_state_change = OFF; SET @planted_off = 'from-a'; RETURN 1; END`);
    await root.query(`GRANT EXECUTE ON ${fx.database}.* TO '${fx.users.app}'@'%'`);
    await root.end();
    const a = await client();
    await a.query('SELECT f_off()');
    await a.end();
    const b = await client();
    const [rows] = await b.query('SELECT @planted_off AS planted, @@session_track_state_change AS tracking');
    expect((rows as Array<Record<string, unknown>>)[0]).toEqual({ planted: null, tracking: 1 });
    await b.end();
  });

  it('answers MariaDB\'s execute of statement -1 after a failed prepare as the server does, not with an older statement', async () => {
    const answers: Record<string, number[]> = {};
    for (const to of ['server', 'proxy'] as const) {
      const c = await connect(to);
      const w = raw(c);
      const seen: number[] = [];
      w.send(prepare('DO 1'));
      const ok = await w.next();
      seen.push(ok[0]!);
      w.send(prepare('DO ('));
      seen.push((await w.next())[0]!);
      w.send(execute(0xffffffff));
      seen.push((await w.next())[0]!);
      answers[to] = seen;
      c.destroy();
    }
    expect(answers.server).toEqual([0x00, 0xff, 0xff]);
    expect(answers.proxy).toEqual(answers.server);
  });

  it('bounds the long data a client keeps across all of its statements, not per statement', async () => {
    const c = await connect();
    c.on('error', () => undefined);
    // Ids as the proxy gave them (mysql2 reads the prepare's answers), then the socket is ours.
    const idOf = async (sql: string): Promise<number> => ((await c.prepare(sql)) as unknown as { statement: { id: number } }).statement.id;
    const ids = [await idOf('DO ?'), await idOf('DO ? + 1')];
    expect(ids.every((id) => id > 0)).toBe(true);
    const w = raw(c);
    const chunk = Buffer.alloc(12 << 20, 0x61);
    // 36 MB each, 72 MB in all: under 64 MB per statement, over it per client.
    for (const id of ids) {
      for (let k = 0; k < 3; k++) {
        const head = Buffer.alloc(7);
        head[0] = Command.COM_STMT_SEND_LONG_DATA;
        head.writeUInt32LE(id, 1);
        head.writeUInt16LE(0, 5);
        w.send(Buffer.concat([head, chunk]));
      }
    }
    w.send(Buffer.from([Command.COM_PING])); // answered only if the proxy kept all of it
    await expect(w.next()).rejects.toThrow('connection closed');
  });

  it('bounds the statement texts a client keeps: a prepare beyond 64 MB of them is refused as the server refuses one too many', async () => {
    const c = await connect();
    // Six distinct 12 MB texts (each under the server's max_allowed_packet), all valid: the server would prepare each.
    const text = (k: number): string => `DO LENGTH('${String(k).repeat(12 << 20)}')`;
    for (let k = 1; k <= 5; k++) await c.prepare(text(k));
    await expect(c.prepare(text(6))).rejects.toMatchObject({ errno: 1461 });
    // The client goes on; closing statements makes room again.
    c.unprepare(text(1));
    await c.prepare(text(7));
    await c.end();
  });
});
