/**
 * The integrity of MySQL IAM accounts against a real MariaDB 10.11, attacked
 * as a logged-in database user would: an IAM user cannot leave IAM on her
 * own, only the master or an account administrator can; responses are
 * matched to their own statements however commands are pipelined; a
 * statement that may manage accounts but cannot be fully read is refused;
 * nothing is stored for a statement the server refuses; the master never
 * becomes an IAM user; KILL reaches the thread behind the connection id the
 * gateway handed out.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AccountAuditEvent } from '../../src/audit/index.js';
import { ManagedCredentials } from '../../src/rds/index.js';
import { runMariadbDump, runMariadbScript } from '../support/clients.js';
import { errnoOf, mysqlConnect, mysqlLoginAs, rawMysqlLogin, signToken, type Endpoint } from '../support/gateway-clients.js';
import { iamAllowedEverywhere, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbMariaDb');
const s = randomBytes(3).toString('hex');
const key = newAccessKey();
const mallory = `mallory_${s}`;
const alice = `alice_${s}`;
const alice2 = `alice2_${s}`;
const bob = `bob_${s}`;
const eve = `eve_${s}`;
const evePassword = randomBytes(9).toString('hex');
const dba = `dba_${s}`;
const dbaPassword = randomBytes(9).toString('hex');
/** An account administrator for iamdb without CREATE USER on the server: the server refuses what iamdb lets through. */
const weakAdmin = `weak_${s}`;
const weakPassword = randomBytes(9).toString('hex');
const INSTANCE = 'integrity-my';

let gw: TestIamdb;
let ep: Endpoint;

const token = (user: string): string => signToken(ep, user, key);
const asMaster = (): Promise<mysql.Connection> => mysql.createConnection({ host: ep.host, port: ep.port, user: server.user, password: server.password, multipleStatements: true });

async function queryError(c: mysql.Connection, sql: string): Promise<{ errno?: number; message?: string }> {
  return c.query(sql).then(
    () => ({}),
    (e: { errno?: number; message?: string }) => ({ errno: e.errno, message: e.message }),
  );
}

function accountEvents(): AccountAuditEvent[] {
  return gw.audit.events.filter((e): e is AccountAuditEvent => e.event === 'db.account');
}

async function credentialIds(): Promise<string[]> {
  return (await gw.app.store.list('db-credential')).map((r) => r.id);
}

beforeAll(async () => {
  gw = await startIamdb({
    iam: iamAllowedEverywhere(key),
    instances: [
      {
        id: INSTANCE,
        engine: 'mariadb',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
        accountAdmins: [dba, weakAdmin],
      },
    ],
  });
  ep = gw.endpoint(INSTANCE);
  const m = await asMaster();
  for (const u of [mallory, alice, alice2, bob]) await m.query(`CREATE USER ${u} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
  await m.query(`CREATE USER ${eve} IDENTIFIED BY '${evePassword}'`);
  await m.query(`CREATE USER ${dba} IDENTIFIED BY '${dbaPassword}'`);
  await m.query(`GRANT CREATE USER ON *.* TO ${dba}`);
  await m.query(`CREATE USER ${weakAdmin} IDENTIFIED BY '${weakPassword}'`);
  await m.query(`CREATE DATABASE integ_${s}`);
  await m.end();
});

afterAll(async () => {
  const m = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password });
  for (const u of [mallory, alice, alice2, bob, eve, dba, weakAdmin]) await m.query(`DROP USER IF EXISTS ${u}`);
  await m.query(`DROP DATABASE IF EXISTS integ_${s}`);
  await m.end();
  await gw?.stop();
});

describe('an IAM user cannot leave IAM on her own', () => {
  it('refuses every syntax that would change her own authentication, and keeps demanding a token', async () => {
    const c = await mysqlConnect(ep, gw.caPath, mallory, token(mallory));
    const attempts = [
      `SET PASSWORD FOR '${mallory}'@'%' = PASSWORD('x')`,
      `SET PASSWORD = PASSWORD('x')`,
      `ALTER USER CURRENT_USER() IDENTIFIED BY 'x'`,
      `ALTER USER '${mallory}'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('x')`,
      `GRANT USAGE ON *.* TO '${mallory}'@'%' IDENTIFIED BY 'x'`,
      `RENAME USER '${mallory}'@'%' TO 'free_${s}'@'%'`,
      // MariaDB takes trailing spaces and host case for the same account.
      `SET PASSWORD FOR '${mallory}  '@'%' = PASSWORD('x')`,
    ];
    for (const sql of attempts) {
      const err = await queryError(c, sql);
      expect(err.errno, sql.slice(0, 60)).toBe(1227);
      expect(err.message).toContain(`IAM account '${mallory}'@'%'`);
    }
    // Behind a 70 KB comment, the statement is longer than iamdb reads: refused all the same.
    const hidden = await queryError(c, `/* ${'x'.repeat(70 * 1024)} */ SET PASSWORD FOR '${mallory}'@'%' = PASSWORD('x')`);
    expect(hidden.errno).toBe(1235);
    expect(hidden.message).toContain('too long to verify');
    await c.end();
    const refused = accountEvents().filter((e) => e.dbUser === mallory && e.decision === 'deny');
    expect(refused.map((e) => e.reason)).toEqual([...attempts.map(() => 'IamAccountProtected'), 'StatementNotUnderstood']);
    expect(refused.every((e) => e.admin === false)).toBe(true);
    // 'x' is no way in; her token still is.
    const withPassword = await mysqlLoginAs(ep, gw.caPath, mallory, 'x').catch((e: { errno?: number }) => e.errno);
    expect(withPassword).toBe(1045);
    expect(gw.lastAuth()).toMatchObject({ reason: 'InvalidToken', method: 'iam' });
    expect(await mysqlLoginAs(ep, gw.caPath, mallory, token(mallory))).toBe(`${mallory}@%`);
  });

  it('refuses her SQL built at run time, and keeps her an IAM user when a routine the gateway cannot see into changes her password', async () => {
    const id = ManagedCredentials.key(INSTANCE, mallory);
    const before = (await gw.app.store.get('db-credential', id))!.version;
    const c = await mysqlConnect(ep, gw.caPath, mallory, token(mallory));
    const built = await queryError(c, `PREPARE s FROM CONCAT('SET PASSWORD = PASS', 'WORD(''y'')')`);
    expect(built.errno).toBe(1227);
    expect(built.message).toContain('SQL built at run time');
    // A routine an administrator wrote that runs its argument (as its invoker): iamdb cannot see the
    // SET PASSWORD inside, which changes her password on the server, but not what iamdb demands.
    const m = await asMaster();
    await m.query(`CREATE PROCEDURE integ_${s}.run_sql(q TEXT) SQL SECURITY INVOKER BEGIN SET @q = q; PREPARE st FROM @q; EXECUTE st; END`);
    await m.query(`GRANT EXECUTE ON PROCEDURE integ_${s}.run_sql TO ${mallory}`);
    await m.end();
    await c.query(`CALL integ_${s}.run_sql('SET PASSWORD = PASSWORD(''y'')')`);
    await c.end();
    expect(await mysqlLoginAs(ep, gw.caPath, mallory, 'y').catch((e: { errno?: number }) => e.errno)).toBe(1045);
    expect(await mysqlLoginAs(ep, gw.caPath, mallory, token(mallory))).toBe(`${mallory}@%`);
    expect((await gw.app.store.get('db-credential', id))!.version).toBe(before + 1);
  });

  it('lets the master and an account administrator turn IAM accounts into password accounts', async () => {
    const m = await asMaster();
    await m.query(`ALTER USER ${alice} IDENTIFIED BY 'pw-alice'`);
    await m.end();
    expect(await mysqlLoginAs(ep, gw.caPath, alice, 'pw-alice')).toBe(`${alice}@%`);
    expect(gw.lastAuth()).toMatchObject({ reason: 'PasswordLogin', method: 'password' });
    const d = await mysql.createConnection({ host: ep.host, port: ep.port, user: dba, password: dbaPassword });
    await d.query(`ALTER USER ${bob} IDENTIFIED BY 'pw-bob'`);
    await d.end();
    expect(await mysqlLoginAs(ep, gw.caPath, bob, 'pw-bob')).toBe(`${bob}@%`);
    const applied = accountEvents().filter((e) => e.decision === 'allow' && e.change === 'leaves-iam');
    expect(applied.map((e) => [e.dbUser, e.accounts])).toEqual([
      [server.user, [`'${alice}'@'%'`]],
      [dba, [`'${bob}'@'%'`]],
    ]);
  });
});

describe('responses are matched to their own statements', () => {
  it('does not take a pipelined DO SLEEP OK for the answer to a DROP USER the server refuses', async () => {
    const w = await rawMysqlLogin(ep, weakAdmin, weakPassword);
    w.pipeline('DO SLEEP(0.3)', `DROP USER ${alice2}`);
    expect((await w.response())[0]![0]).toBe(0x00);
    expect(errnoOf((await w.response())[0]!)).toBe(1227);
    w.socket.destroy();
    expect(await mysqlLoginAs(ep, gw.caPath, alice2, token(alice2))).toBe(`${alice2}@%`);
  });

  it('refuses a pipelined CREATE USER that would make the master an IAM user, and the master keeps logging in', async () => {
    const e = await rawMysqlLogin(ep, eve, evePassword);
    e.pipeline('DO SLEEP(0.3)', `CREATE USER '${server.user}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
    expect((await e.response())[0]![0]).toBe(0x00);
    const refused = (await e.response())[0]!;
    expect(errnoOf(refused)).toBe(1227);
    expect(refused.toString()).toContain('cannot be an IAM user');
    e.socket.destroy();
    expect(await mysqlLoginAs(ep, gw.caPath, server.user, server.password)).toMatch(new RegExp(`^${server.user}@`));
  });

  it('keeps pipelined commands in order around a statement it holds', async () => {
    const e = await rawMysqlLogin(ep, eve, evePassword);
    e.pipeline('SELECT 1', `SET PASSWORD = PASSWORD('${evePassword}')`, 'SELECT 2', `DROP USER ${alice2}`, 'SELECT 3');
    const answers = [await e.response(), await e.response(), await e.response(), await e.response(), await e.response()];
    const value = (r: Buffer[]): string => r[r.length - 2]!.subarray(1).toString();
    expect(value(answers[0]!)).toBe('1');
    expect(answers[1]![0]![0]).toBe(0x00);
    expect(value(answers[2]!)).toBe('2');
    expect(errnoOf(answers[3]![0]!)).toBe(1227);
    expect(value(answers[4]!)).toBe('3');
    e.socket.destroy();
  });

  it('refuses, with a clear error, a statement that may manage accounts but cannot be fully read', async () => {
    const e = await rawMysqlLogin(ep, eve, evePassword);
    e.pipeline(`/*!50000 SET PASSWORD = PASSWORD('q') */`);
    const err = (await e.response())[0]!;
    expect(errnoOf(err)).toBe(1235);
    expect(err.toString()).toContain('cannot be fully read');
    e.socket.destroy();
    const ev = accountEvents().at(-1);
    expect(ev).toMatchObject({ decision: 'deny', reason: 'StatementNotUnderstood', dbUser: eve });
  });
});

describe('nothing is stored for a statement the server refuses', () => {
  it('stores no credential and no record when an unprivileged user tries to create IAM users', async () => {
    const before = await credentialIds();
    const names = Array.from({ length: 10 }, (_, i) => `ghost${i}_${s}`);
    const e = await mysql.createConnection({ host: ep.host, port: ep.port, user: eve, password: evePassword });
    const err = await queryError(e, `CREATE USER ${names.map((n) => `${n} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`).join(', ')}`);
    expect(err.errno).toBe(1227);
    const tooMany = Array.from({ length: 33 }, (_, i) => `many${i}_${s} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`).join(', ');
    const bounded = await queryError(e, `CREATE USER ${tooMany}`);
    expect(bounded.errno).toBe(1235);
    expect(bounded.message).toMatch(/at most 32 accounts/);
    await e.end();
    expect(await credentialIds()).toEqual(before);
    const iamRecords = (await gw.app.store.list('mysql-iam-user')).map((r) => r.id);
    expect(iamRecords.some((id) => id.includes('ghost') || id.includes('many'))).toBe(false);
  });
});

describe('restoring a dump through the gateway', () => {
  it('restores a mariadb-dump file (executable comments, character-set save and restore, a view, a trigger) as the master, and refuses it to other users where it sets the character set from a variable', async () => {
    const src = `dump_src_${s}`;
    const dst = `dump_dst_${s}`;
    const root = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password, multipleStatements: true });
    await root.query(`CREATE DATABASE ${src}; CREATE DATABASE ${dst}; GRANT ALL ON ${dst}.* TO ${eve}`);
    const inSrc = await mysql.createConnection({ host: server.host, port: server.port, user: server.user, password: server.password, database: src, multipleStatements: true });
    await inSrc.query(
      `CREATE TABLE t (id INT PRIMARY KEY, note VARCHAR(40)); INSERT INTO t VALUES (1, 'user\\'s note'), (2, 'password');` +
        `CREATE VIEW v AS SELECT id FROM t; CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.note = UPPER(NEW.note);`,
    );
    await inSrc.end();
    const dump = await runMariadbDump(['-h', server.host, '-P', String(server.port), '-u', server.user, `-p${server.password}`, '--triggers', src]);
    expect(dump.code).toBe(0);
    const restore = (user: string, password: string) => runMariadbScript(['-h', ep.host, '-P', String(ep.port), '-u', user, `-p${password}`, dst], dump.stdout);
    const asEve = await restore(eve, evePassword);
    expect(asEve.code).not.toBe(0);
    expect(asEve.stderr).toMatch(/ERROR 1235 .*character set/);
    const asMasterRun = await restore(server.user, server.password);
    expect(asMasterRun.stderr).toBe('');
    expect(asMasterRun.code).toBe(0);
    const [rows] = await root.query<mysql.RowDataPacket[]>(`SELECT id, note FROM ${dst}.t ORDER BY id`);
    expect(rows.map((r) => [r['id'], r['note']])).toEqual([
      [1, "user's note"],
      [2, 'password'],
    ]);
    await root.query(`DROP DATABASE ${src}; DROP DATABASE ${dst}`);
    await root.end();
  });
});

describe('KILL through the gateway', () => {
  it('maps the connection id the gateway handed out to the server thread behind it', async () => {
    const a = await mysql.createConnection({ host: ep.host, port: ep.port, user: eve, password: evePassword });
    const b = await mysql.createConnection({ host: ep.host, port: ep.port, user: eve, password: evePassword });
    const [[{ id }]] = (await a.query('SELECT CONNECTION_ID() AS id')) as unknown as [[{ id: number }]];
    expect(a.threadId).not.toBe(id);
    // MariaDB ends an interrupted SLEEP with ER_QUERY_INTERRUPTED (1317); settle it at once.
    const sleeping = a.query('SELECT SLEEP(30) AS slept').then(
      () => 0,
      (e: { errno?: number }) => e.errno,
    );
    // Wait until the server runs the SLEEP, then kill the query by the id the client knows.
    for (;;) {
      const [rows] = await b.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE ID = ? AND INFO LIKE ?', [id, 'SELECT SLEEP%']);
      if (Number(rows[0]!['n']) > 0) break;
    }
    await b.query(`KILL QUERY ${a.threadId}`);
    expect(await sleeping).toBe(1317);
    await a.end();
    await b.end();
  });
});
