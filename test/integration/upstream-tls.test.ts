/**
 * TLS from the gateway to its servers: on by default whenever the server
 * offers it (targetTls prefer), so the server's own views see encrypted
 * sessions (pg_stat_ssl, Ssl_cipher) and MySQL IAM accounts can REQUIRE SSL
 * as on RDS; in clear under `disable` and against a server without TLS,
 * where a REQUIRE SSL on an IAM account is refused when it is made and a
 * login it breaks is audited as `UpstreamTlsRequired`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { signRequestHeaders } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runMariadb, runPsql } from '../support/clients.js';
import { getFreePort } from '../support/free-port.js';
import { signToken, type Endpoint } from '../support/gateway-clients.js';
import { iamAllowedEverywhere, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { startMariaDb, type MariaDbServer } from '../support/mariadb-server.js';
import { startPostgres, type PgServer } from '../support/postgres-server.js';

const pgShared = inject('iamdbPostgres');
const myShared = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const key = newAccessKey();
const pgIam = `tls_pgiam_${suffix}`;
const pgPw = `tls_pgpw_${suffix}`;
const pgPwPassword = `pw-${randomBytes(8).toString('hex')}`;

let gw: TestIamdb;
let pgClear: PgServer;
let myClear: MariaDbServer;

const ep = (id: string): Endpoint => gw.endpoint(id);

function psqlArgs(id: string, user: string): string {
  const { host, port } = ep(id);
  return `host=${host} port=${port} dbname=postgres user=${user} sslmode=verify-full sslrootcert=${gw.caPath}`;
}

async function pgSsl(id: string, user: string, password: string): Promise<string> {
  const r = await runPsql(psqlArgs(id, user), 'select ssl from pg_stat_ssl where pid = pg_backend_pid()', { PGPASSWORD: password });
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

function myArgs(id: string, user: string, password: string): string[] {
  const { host, port } = ep(id);
  return ['-h', host, '-P', String(port), '-u', user, `-p${password}`, `--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert'];
}

async function asMysql(id: string, user: string, password: string, sql: string): Promise<{ code: number | null; out: string; err: string }> {
  const r = await runMariadb(myArgs(id, user, password), sql);
  return { code: r.code, out: r.stdout.trim(), err: r.stderr.trim() };
}

const master = (id: string, sql: string, pw = myShared.password, user = myShared.user) => asMysql(id, user, pw, sql);

function iamMysql(id: string, user: string): Promise<mysql.Connection> {
  const e = ep(id);
  return mysql.createConnection({ host: e.host, port: e.port, user, password: signToken(e, user, key), enableCleartextPlugin: true, ssl: { ca: readFileSync(gw.caPath) } });
}

beforeAll(async () => {
  [pgClear, myClear] = await Promise.all([startPostgres({ tls: false }), startMariaDb({ tls: false })]);
  const pgInstance = (id: string, target: { host: string; port: number }, user: string, password: string, extra: Record<string, unknown> = {}) => ({
    id,
    engine: 'postgres',
    listen: 'auto',
    target: `${target.host}:${target.port}`,
    master: { username: user, password },
    iamDatabaseAuthentication: true,
    ...extra,
  });
  const myInstance = (id: string, target: { host: string; port: number }, user: string, password: string, extra: Record<string, unknown> = {}) => ({
    ...pgInstance(id, target, user, password, extra),
    engine: 'mariadb',
  });
  gw = await startIamdb({
    api: { listen: 'auto' },
    iam: iamAllowedEverywhere(key),
    instances: [
      // No targetTls: the default.
      pgInstance('pg-default', pgShared, pgShared.user, pgShared.password),
      pgInstance('pg-disable', pgShared, pgShared.user, pgShared.password, { targetTls: { mode: 'disable' } }),
      pgInstance('pg-notls', pgClear, pgClear.superuser, pgClear.superuserPassword),
      myInstance('my-default', myShared, myShared.user, myShared.password),
      myInstance('my-disable', myShared, myShared.user, myShared.password, { targetTls: { mode: 'disable' } }),
      myInstance('my-notls', myClear, myClear.rootUser, myClear.rootPassword),
    ],
  });
  const setup = `CREATE USER ${pgIam}; GRANT rds_iam TO ${pgIam}; CREATE USER ${pgPw} PASSWORD '${pgPwPassword}';`;
  for (const [id, pw, user] of [
    ['pg-default', pgShared.password, pgShared.user],
    ['pg-notls', pgClear.superuserPassword, pgClear.superuser],
  ] as const) {
    const r = await runPsql(psqlArgs(id, user), setup, { PGPASSWORD: pw });
    expect(r.stderr).toBe('');
  }
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await Promise.all([pgClear?.stop(), myClear?.stop()]);
});

describe('PostgreSQL: what the server sees of the link', () => {
  it('is TLS by default, for IAM and password users (pg_stat_ssl)', async () => {
    expect(await pgSsl('pg-default', pgIam, signToken(ep('pg-default'), pgIam, key))).toBe('t');
    expect(await pgSsl('pg-default', pgPw, pgPwPassword)).toBe('t');
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', dbUser: pgPw });
  });

  it('stays in clear under targetTls disable', async () => {
    expect(await pgSsl('pg-disable', pgIam, signToken(ep('pg-disable'), pgIam, key))).toBe('f');
    expect(await pgSsl('pg-disable', pgPw, pgPwPassword)).toBe('f');
  });

  it('falls back to clear under the default against a server without TLS (control link included)', async () => {
    expect(await pgSsl('pg-notls', pgIam, signToken(ep('pg-notls'), pgIam, key))).toBe('f');
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'Allowed', dbUser: pgIam });
    expect(await pgSsl('pg-notls', pgPw, pgPwPassword)).toBe('f');
  });
});

describe('an instance registered through the RDS API', () => {
  it('gets TLS to its server by default too (RegisterDBInstance without TargetTlsMode)', async () => {
    const listen = `127.0.0.1:${await getFreePort()}`;
    const body = new URLSearchParams({
      Action: 'RegisterDBInstance',
      Version: '2014-10-31',
      DBInstanceIdentifier: `pg-api-${suffix}`,
      Engine: 'postgres',
      ListenAddress: listen,
      TargetAddress: `${pgShared.host}:${pgShared.port}`,
      MasterUsername: pgShared.user,
      MasterUserPassword: pgShared.password,
    }).toString();
    const url = new URL(gw.apiUrl);
    const { host: _host, ...headers } = signRequestHeaders(
      { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host },
      { accessKeyId: gw.admin.id, secretAccessKey: new Secret(gw.admin.secret) },
      { region: 'us-east-1', service: 'rds', date: new Date() },
      {},
    );
    const res = await fetch(gw.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body });
    expect(res.status, await res.text()).toBe(200);
    const r = await runPsql(
      `host=127.0.0.1 port=${listen.split(':')[1]} dbname=postgres user=${pgPw} sslmode=verify-full sslrootcert=${gw.caPath}`,
      'select ssl from pg_stat_ssl where pid = pg_backend_pid()',
      { PGPASSWORD: pgPwPassword },
    );
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('t');
  });
});

describe('MySQL: what the server sees of the link', () => {
  const iamUser = `tls_myiam_${suffix}`;

  beforeAll(async () => {
    const r = await master('my-default', `CREATE USER ${iamUser} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
    expect(r.err).toBe('');
  });

  it('is TLS by default, for IAM and password users (Ssl_cipher)', async () => {
    const iam = await asMysql('my-default', iamUser, signToken(ep('my-default'), iamUser, key), "SHOW STATUS LIKE 'Ssl_cipher'");
    expect(iam.err).toBe('');
    expect(iam.out).toMatch(/^Ssl_cipher\t\S+/);
    const pw = await master('my-default', "SHOW STATUS LIKE 'Ssl_cipher'");
    expect(pw.out).toMatch(/^Ssl_cipher\t\S+/);
  });

  it('stays in clear under targetTls disable', async () => {
    const pw = await master('my-disable', "SHOW STATUS LIKE 'Ssl_cipher'");
    expect(pw.err).toBe('');
    expect(pw.out).toBe('Ssl_cipher');
  });

  it('falls back to clear under the default against a server without TLS, IAM users included', async () => {
    const user = `tls_myclear_${suffix}`;
    const pw = (sql: string) => master('my-notls', sql, myClear.rootPassword, myClear.rootUser);
    expect((await pw(`CREATE USER ${user} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).err).toBe('');
    expect((await pw("SHOW STATUS LIKE 'Ssl_cipher'")).out).toBe('Ssl_cipher');
    const iam = await asMysql('my-notls', user, signToken(ep('my-notls'), user, key), 'SELECT CURRENT_USER()');
    expect(iam.err).toBe('');
    expect(iam.out).toBe(`${user}@%`);
    // No TLS to give: REQUIRE SSL on the IAM account is refused when it is made.
    const req = await pw(`ALTER USER ${user} REQUIRE SSL`);
    expect(req.err).toContain('ERROR 1235');
    expect(req.err).toContain("link to this server is not encrypted");
  });
});

describe('MySQL IAM accounts and REQUIRE SSL (Knowledge Center seeds 000 and 004)', () => {
  it('works through the default link: the mariadb client and mysql2 log in after ALTER USER … REQUIRE SSL', async () => {
    const user = `tls_req_${suffix}`;
    expect((await master('my-default', `CREATE USER ${user} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'; ALTER USER ${user} REQUIRE SSL`)).err).toBe('');
    const cli = await asMysql('my-default', user, signToken(ep('my-default'), user, key), 'SELECT CURRENT_USER()');
    expect(cli.err).toBe('');
    expect(cli.out).toBe(`${user}@%`);
    const c = await iamMysql('my-default', user);
    try {
      const [rows] = await c.query<mysql.RowDataPacket[]>("SHOW STATUS LIKE 'Ssl_cipher'");
      expect(String(rows[0]!['Value'])).not.toBe('');
    } finally {
      await c.end();
    }
    // GRANT USAGE … REQUIRE SSL (the older spelling) is fine too.
    expect((await master('my-default', `GRANT USAGE ON *.* TO ${user} REQUIRE SSL`)).err).toBe('');
  });

  it('refuses REQUIRE SSL on an IAM account when the link to the server is in clear, saying why', async () => {
    const user = `tls_reqclear_${suffix}`;
    expect((await master('my-disable', `CREATE USER ${user} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).err).toBe('');
    for (const sql of [`ALTER USER ${user} REQUIRE SSL`, `GRANT USAGE ON *.* TO ${user} REQUIRE SSL`]) {
      const r = await master('my-disable', sql);
      expect(r.err, sql).toContain('ERROR 1235');
      expect(r.err).toContain('cannot REQUIRE SSL while');
    }
    expect(gw.audit.events.filter((e) => e.event === 'db.account' && e.reason === 'ServerLinkInClear').length).toBeGreaterThanOrEqual(2);
    // The server was not changed: the IAM login still works.
    const ok = await asMysql('my-disable', user, signToken(ep('my-disable'), user, key), 'SELECT 1');
    expect(ok.err).toBe('');
  });

  it('refuses REQUIRE X509 on an IAM account whatever the link: the gateway has no client certificate', async () => {
    const user = `tls_x509_${suffix}`;
    expect((await master('my-default', `CREATE USER ${user} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).err).toBe('');
    const r = await master('my-default', `ALTER USER ${user} REQUIRE X509`);
    expect(r.err).toContain('ERROR 1235');
    expect(r.err).toContain('no client certificate');
  });

  it('audits a login the server refuses for a TLS requirement set behind the gateway as UpstreamTlsRequired', async () => {
    const user = `tls_behind_${suffix}`;
    expect((await master('my-disable', `CREATE USER ${user} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).err).toBe('');
    // Directly on the server, not through the gateway.
    const direct = await runMariadb(
      ['-h', myShared.host, '-P', String(myShared.port), '-u', myShared.user, `-p${myShared.password}`, `--ssl-ca=${myShared.caCertPath}`],
      `ALTER USER ${user} REQUIRE SSL`,
    );
    expect(direct.stderr).toBe('');
    const r = await asMysql('my-disable', user, signToken(ep('my-disable'), user, key), 'SELECT 1');
    expect(r.err).toContain('ERROR 1045 (28000): Access denied');
    const audit = gw.lastAuth()!;
    expect(audit).toMatchObject({ decision: 'deny', reason: 'UpstreamTlsRequired', dbUser: user });
    expect(audit.detail).toContain('REQUIRE SSL');
  });
});
