/**
 * Who is behind an IAM session, seen from the server itself: PostgreSQL's
 * pg_stat_activity (application_name, what %a puts in log lines) and custom
 * settings, MariaDB's performance_schema connection attributes joined to the
 * processlist. The client's own application_name and attributes are kept.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runMariadb, runPsql } from '../support/clients.js';
import { signToken, type Endpoint } from '../support/gateway-clients.js';
import { ACCOUNT, iamAllowedEverywhere, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';

const pgServer = inject('iamdbPostgres');
const suffix = randomBytes(3).toString('hex');
const key = newAccessKey();
const principal = `arn:aws:iam::${ACCOUNT}:user/app`;
const pgIam = `views_pg_${suffix}`;
const myIam = `views_my_${suffix}`;

let gw: TestIamdb;
let my: MariaDbServer;
const ep = (id: string): Endpoint => gw.endpoint(id);

beforeAll(async () => {
  // performance_schema is off by default in MariaDB; this server turns it on, sized small.
  my = await startMariaDb({ tls: true, extraArgs: ['--performance-schema=ON', '--performance-schema-max-thread-instances=200'] });
  gw = await startIamdb({
    iam: iamAllowedEverywhere(key),
    instances: [
      { id: 'pg', engine: 'postgres', listen: 'auto', target: `${pgServer.host}:${pgServer.port}`, master: { username: pgServer.user, password: pgServer.password }, iamDatabaseAuthentication: true },
      { id: 'my', engine: 'mariadb', listen: 'auto', target: `${my.host}:${my.port}`, master: { username: my.rootUser, password: my.rootPassword }, iamDatabaseAuthentication: true },
    ],
  });
  const pgSetup = await runPsql(`host=${ep('pg').host} port=${ep('pg').port} dbname=postgres user=${pgServer.user} sslmode=verify-full sslrootcert=${gw.caPath}`, `CREATE USER ${pgIam}; GRANT rds_iam TO ${pgIam};`, { PGPASSWORD: pgServer.password });
  expect(pgSetup.stderr).toBe('');
  const mySetup = await runMariadb(
    ['-h', ep('my').host, '-P', String(ep('my').port), '-u', my.rootUser, `-p${my.rootPassword}`, `--ssl-ca=${gw.caPath}`],
    `CREATE USER ${myIam} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'; GRANT SELECT ON performance_schema.* TO ${myIam};`,
  );
  expect(mySetup.stderr).toBe('');
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await my?.stop();
});

describe('PostgreSQL', () => {
  it("shows the principal and the audit session id in pg_stat_activity's application_name, after the client's own, and the full ARN as a setting", async () => {
    const e = ep('pg');
    const r = await runPsql(
      `host=${e.host} port=${e.port} dbname=postgres user=${pgIam} sslmode=verify-full sslrootcert=${gw.caPath} application_name=orders-report`,
      "select application_name, current_setting('iamdb.principal_arn'), current_setting('iamdb.session_id') from pg_stat_activity where pid = pg_backend_pid()",
      { PGPASSWORD: signToken(e, pgIam, key) },
    );
    expect(r.stderr).toBe('');
    const sessionId = gw.lastAuth()!.sessionId;
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', dbUser: pgIam, principal });
    expect(r.stdout.trim()).toBe(`orders-report iamdb:app:${sessionId}|${principal}|${sessionId}`);
  });

  it('tags a session whose client set no application_name, and the client still sees its own (ParameterStatus)', async () => {
    const e = ep('pg');
    const client = new pg.Client({ host: e.host, port: e.port, user: pgIam, password: signToken(e, pgIam, key), database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
    const reported = new Map<string, string>();
    (client as unknown as { connection: { on(ev: string, f: (m: { parameterName: string; parameterValue: string }) => void): void } }).connection.on('parameterStatus', (m) =>
      reported.set(m.parameterName, m.parameterValue),
    );
    await client.connect();
    try {
      const res = await client.query<{ a: string }>('select application_name as a from pg_stat_activity where pid = pg_backend_pid()');
      expect(res.rows[0]!.a).toBe(`iamdb:app:${gw.lastAuth()!.sessionId}`);
      expect(reported.get('application_name')).toBe('');
    } finally {
      await client.end();
    }
  });

  it("cannot be spoofed with the client's own options", async () => {
    const e = ep('pg');
    const r = await runPsql(
      `host=${e.host} port=${e.port} dbname=postgres user=${pgIam} sslmode=verify-full sslrootcert=${gw.caPath}`,
      "select current_setting('iamdb.principal_arn')",
      { PGPASSWORD: signToken(e, pgIam, key), PGOPTIONS: '-c iamdb.principal_arn=arn:aws:iam::111111111111:user/mallory' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(principal);
  });
});

describe('MariaDB', () => {
  it('adds the principal and session id to the connection attributes, keeping the client’s (mariadb client)', async () => {
    const e = ep('my');
    const r = await runMariadb(
      ['-h', e.host, '-P', String(e.port), '-u', myIam, `-p${signToken(e, myIam, key)}`, `--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert'],
      'SELECT ATTR_NAME, ATTR_VALUE FROM performance_schema.session_connect_attrs WHERE PROCESSLIST_ID = CONNECTION_ID() ORDER BY ATTR_NAME',
    );
    expect(r.stderr).toBe('');
    const attrs = new Map(r.stdout.trim().split('\n').map((l) => l.split('\t') as [string, string]));
    expect(attrs.get('iamdb_principal_arn')).toBe(principal);
    expect(attrs.get('iamdb_session_id')).toBe(gw.lastAuth()!.sessionId);
    expect(attrs.get('_client_name')).toBe('libmariadb');
  });

  it("shows them next to the processlist to another session, with mysql2's own attributes kept and iamdb's names not spoofable", async () => {
    const e = ep('my');
    const c = await mysql.createConnection({
      host: e.host,
      port: e.port,
      user: myIam,
      password: signToken(e, myIam, key),
      enableCleartextPlugin: true,
      ssl: { ca: readFileSync(gw.caPath) },
      connectAttributes: { app: 'orders', iamdb_principal_arn: 'arn:aws:iam::111111111111:user/mallory' },
    });
    const sessionId = gw.lastAuth()!.sessionId;
    const admin = await mysql.createConnection({ host: my.host, port: my.port, user: my.rootUser, password: my.rootPassword, ssl: { ca: readFileSync(my.caCertPath!) } });
    try {
      const [[idRow]] = (await c.query('SELECT CONNECTION_ID() AS id')) as unknown as [Array<{ id: number }>];
      const [rows] = await admin.query<mysql.RowDataPacket[]>(
        `SELECT p.USER AS user, a.ATTR_NAME AS name, a.ATTR_VALUE AS value
           FROM information_schema.PROCESSLIST p
           JOIN performance_schema.session_connect_attrs a ON a.PROCESSLIST_ID = p.ID
          WHERE p.ID = ?`,
        [idRow!.id],
      );
      const attrs = new Map(rows.map((r) => [String(r['name']), String(r['value'])]));
      expect(rows[0]!['user']).toBe(myIam);
      expect(attrs.get('iamdb_principal_arn')).toBe(principal);
      expect(attrs.get('iamdb_session_id')).toBe(sessionId);
      expect(attrs.get('app')).toBe('orders');
      expect(rows.filter((r) => r['name'] === 'iamdb_principal_arn')).toHaveLength(1);
    } finally {
      await c.end();
      await admin.end();
    }
  });
});

describe('sessions without an IAM principal', () => {
  it('PostgreSQL: a password session has an empty principal setting, whatever its own options claim', async () => {
    const e = ep('pg');
    const r = await runPsql(
      `host=${e.host} port=${e.port} dbname=postgres user=${pgServer.user} sslmode=verify-full sslrootcert=${gw.caPath}`,
      "select current_setting('iamdb.principal_arn') = '', current_setting('iamdb.session_id')",
      { PGPASSWORD: pgServer.password, PGOPTIONS: '-c iamdb.principal_arn=arn:aws:iam::111111111111:user/mallory' },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`t|${gw.lastAuth()!.sessionId}`);
  });

  it("MariaDB: a password session and a COM_CHANGE_USER carry iamdb's attributes, never the client's claim", async () => {
    const e = ep('my');
    const mallory = 'arn:aws:iam::111111111111:user/mallory';
    const c = await mysql.createConnection({
      host: e.host,
      port: e.port,
      user: my.rootUser,
      password: my.rootPassword,
      ssl: { ca: readFileSync(gw.caPath) },
      enableCleartextPlugin: true,
      connectAttributes: { iamdb_principal_arn: mallory },
    });
    const attrs = async (): Promise<Map<string, string | null>> => {
      const [rows] = await c.query<mysql.RowDataPacket[]>(
        'SELECT ATTR_NAME AS name, ATTR_VALUE AS value FROM performance_schema.session_connect_attrs WHERE PROCESSLIST_ID = CONNECTION_ID()',
      );
      return new Map(rows.map((r) => [String(r['name']), r['value'] === null ? null : String(r['value'])]));
    };
    try {
      const asPassword = await attrs();
      // An empty value, which MariaDB shows as NULL: no IAM principal.
      expect(asPassword.has('iamdb_principal_arn')).toBe(true);
      expect(asPassword.get('iamdb_principal_arn') ?? '').toBe('');
      expect(asPassword.get('iamdb_session_id')).toBe(gw.lastAuth()!.sessionId);
      await c.changeUser({ user: myIam, password: signToken(e, myIam, key) });
      const asIam = await attrs();
      expect(gw.lastAuth()).toMatchObject({ decision: 'allow', dbUser: myIam, principal });
      expect(asIam.get('iamdb_principal_arn')).toBe(principal);
    } finally {
      await c.end();
    }
  });
});
