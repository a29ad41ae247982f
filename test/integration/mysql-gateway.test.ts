/**
 * The MySQL instance endpoint end to end: a real MariaDB 10.11 behind a real
 * iamdb, driven by the mariadb client and mysql2, with tokens from the
 * Debian AWS CLI and @aws-sdk/rds-signer. Follows the seed walkthroughs:
 * CREATE USER … IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS', GRANT,
 * SHOW GRANTS, REQUIRE SSL, then a token login.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { Signer } from '@aws-sdk/rds-signer';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runAwsCli, runMariadb } from '../support/clients.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const iamUser = `iamuser_${suffix}`;
const deniedUser = `denied_${suffix}`;
const key = newAccessKey();
const clock = { offsetMs: 0, now(): number { return Date.now() + this.offsetMs; } };

let gw: TestIamdb;
let host: string;
let port: number;

function sign(opts: { user?: string; date?: Date; k?: { id: string; secret: string } } = {}): string {
  const k = opts.k ?? key;
  return presignDbAuthToken({
    hostname: host,
    port,
    username: opts.user ?? iamUser,
    region: REGION,
    credentials: { accessKeyId: k.id, secretAccessKey: new Secret(k.secret) },
    date: opts.date ?? new Date(),
  }).reveal();
}

function cliArgs(user: string, password: string, tls = true): string[] {
  return ['-h', host, '-P', String(port), '-u', user, `-p${password}`, ...(tls ? [`--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert', '--enable-cleartext-plugin'] : ['--skip-ssl'])];
}

/** The mariadb client warns that --enable-cleartext-plugin is obsolete (it needs no flag); drop that line. */
function output(r: { stdout: string }): string {
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('WARNING: option'))
    .join('\n')
    .trim();
}

const asMaster = (sql: string) => runMariadb(cliArgs(server.user, server.password), sql);

async function iamConnect(password: string, opts: { ssl?: boolean; user?: string } = {}): Promise<mysql.Connection> {
  return mysql.createConnection({
    host,
    port,
    user: opts.user ?? iamUser,
    password,
    enableCleartextPlugin: true,
    ...(opts.ssl === false ? {} : { ssl: { ca: readFileSync(gw.caPath) } }),
  });
}

beforeAll(async () => {
  gw = await startIamdb(
    {
      iam: {
        users: [
          {
            name: 'app',
            accessKeys: [key],
            policies: [
              {
                name: 'connect',
                document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${iamUser}` }] },
              },
            ],
          },
        ],
      },
      instances: [
        {
          id: 'orders-my',
          engine: 'mysql',
          listen: 'auto',
          target: `${server.host}:${server.port}`,
          targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
          master: { username: server.user, password: server.password },
          iamDatabaseAuthentication: true,
        },
      ],
    },
    { clock },
  );
  ({ host, port } = gw.endpoint('orders-my'));
});

afterAll(async () => {
  await gw?.stop();
});

describe('creating IAM users through the MySQL endpoint, as in the RDS walkthrough', () => {
  it("creates a user IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' that shows in mysql.user", async () => {
    const r = await asMaster(
      [
        `CREATE USER ${iamUser} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS';`,
        `CREATE USER ${deniedUser} IDENTIFIED WITH AWSAuthenticationPlugin as 'RDS';`,
        `SELECT user, host FROM mysql.user WHERE user = '${iamUser}';`,
      ].join('\n'),
    );
    expect(r.stderr).toBe('');
    expect(output(r)).toBe(`${iamUser}\t%`);
  });

  it('keeps GRANT, SHOW GRANTS and ALTER USER … REQUIRE SSL working', async () => {
    const r = await asMaster(`GRANT ALL ON \`%\`.* TO '${iamUser}'@'%'; ALTER USER ${iamUser} REQUIRE SSL; SHOW GRANTS FOR ${iamUser};`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`GRANT ALL PRIVILEGES ON \`%\`.* TO \`${iamUser}\`@\`%\``);
    expect(r.stdout).toContain('REQUIRE SSL');
  });
});

describe('IAM logins through the MySQL endpoint', () => {
  it('logs in with the mariadb client and a token from the Debian AWS CLI', async () => {
    const t = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', host, '--port', String(port), '--username', iamUser, '--region', REGION], {
      AWS_ACCESS_KEY_ID: key.id,
      AWS_SECRET_ACCESS_KEY: key.secret,
    });
    expect(t.code).toBe(0);
    const r = await runMariadb(cliArgs(iamUser, t.stdout.trim()), 'SELECT CURRENT_USER()');
    expect(r.stderr).toBe('');
    expect(output(r)).toBe(`${iamUser}@%`);
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'Allowed', method: 'iam', tls: true, dbUser: iamUser, principal: `arn:aws:iam::${ACCOUNT}:user/app` });
  });

  it('logs in with mysql2 (cleartext plugin enabled) and a token from @aws-sdk/rds-signer, over TLS to the server too', async () => {
    const signer = new Signer({ hostname: host, port, username: iamUser, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: key.secret } });
    const conn = await iamConnect(await signer.getAuthToken());
    const [rows] = await conn.query<mysql.RowDataPacket[]>("SELECT CURRENT_USER() AS u, @@version AS v, (SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'Ssl_cipher') AS c");
    expect(rows[0]!['u']).toBe(`${iamUser}@%`);
    expect(String(rows[0]!['v'])).toContain('MariaDB');
    // REQUIRE SSL holds: the gateway reached the server over TLS.
    expect(String(rows[0]!['c'])).not.toBe('');
    await conn.end();
  });

  it('keeps an established session after its token has expired', async () => {
    const token = sign();
    const conn = await iamConnect(token);
    clock.offsetMs = 20 * 60_000;
    try {
      await expect(iamConnect(token)).rejects.toThrow(/Access denied/);
      const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
      expect(rows[0]!['one']).toBe(1);
    } finally {
      clock.offsetMs = 0;
      await conn.end();
    }
  });

  it("answers a bad token with ERROR 1045 (28000) naming the client's address", async () => {
    const r = await runMariadb(cliArgs(iamUser, sign({ date: new Date(Date.now() - 3_600_000) })), 'SELECT 1');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`ERROR 1045 (28000): Access denied for user '${iamUser}'@'127.0.0.1' (using password: YES)`);
    expect(r.stderr).not.toContain('X-Amz');
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'ExpiredToken' });
  });

  it('refuses a principal whose policy does not cover the database user', async () => {
    await expect(iamConnect(sign({ user: deniedUser }), { user: deniedUser })).rejects.toThrow(/Access denied for user/);
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'NotAuthorized', dbUser: deniedUser });
  });

  it('never asks an IAM user for a cleartext token without TLS', async () => {
    await expect(iamConnect(sign(), { ssl: false })).rejects.toThrow(/Access denied/);
    expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'TlsRequired', tls: false });
  });

  it('takes COM_CHANGE_USER after login as a new authentication (here the master, with its password)', async () => {
    const conn = await iamConnect(sign());
    await conn.changeUser({ user: server.user, password: server.password });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
    expect(String(rows[0]!['u'])).toMatch(new RegExp(`^${server.user}@`));
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin', dbUser: server.user, changeUser: true });
    await conn.end();
  });
});

describe('password users and account changes through the MySQL endpoint', () => {
  it('logs the master user in with its own password, with and without TLS', async () => {
    const plain = await mysql.createConnection({ host, port, user: server.user, password: server.password });
    const [rows] = await plain.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
    expect(rows[0]!['one']).toBe(1);
    await plain.end();
    const r = await asMaster('SELECT CURRENT_USER()');
    expect(output(r)).toMatch(/^root@/);
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin' });
  });

  it('refuses a wrong password with 1045 naming the client address', async () => {
    const r = await runMariadb(cliArgs(server.user, 'wrong-password'), 'SELECT 1');
    expect(r.stderr).toContain(`ERROR 1045 (28000): Access denied for user '${server.user}'@'127.0.0.1' (using password: YES)`);
  });

  it("turns a password user into an IAM user with ALTER USER … IDENTIFIED WITH AWSAuthenticationPlugin, and back with IDENTIFIED BY", async () => {
    const convert = `convert_${suffix}`;
    expect((await asMaster(`CREATE USER '${convert}'@'%' IDENTIFIED BY 'secret-pw-1'`)).stderr).toBe('');
    const asPassword = await mysql.createConnection({ host, port, user: convert, password: 'secret-pw-1' });
    await asPassword.end();
    expect((await asMaster(`ALTER USER '${convert}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).stderr).toBe('');
    await expect(mysql.createConnection({ host, port, user: convert, password: 'secret-pw-1', ssl: { ca: readFileSync(gw.caPath) }, enableCleartextPlugin: true })).rejects.toThrow(/Access denied/);
    expect((await asMaster(`ALTER USER '${convert}'@'%' IDENTIFIED BY 'secret-pw-2'`)).stderr).toBe('');
    const again = await mysql.createConnection({ host, port, user: convert, password: 'secret-pw-2' });
    await again.end();
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin', dbUser: convert });
  });

  it('DROP USER removes the IAM user', async () => {
    const temp = `temp_${suffix}`;
    expect((await asMaster(`CREATE USER ${temp} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).stderr).toBe('');
    expect(gw.app.instances.get('orders-my')).toBeDefined();
    const dropped = await asMaster(`DROP USER ${temp}`);
    expect(dropped.stderr).toBe('');
    const r = await asMaster(`SELECT COUNT(*) FROM mysql.user WHERE user = '${temp}'`);
    expect(output(r)).toBe('0');
  });

  it('survives malformed packets while other sessions keep answering', async () => {
    const conn = await iamConnect(sign());
    const junk = [Buffer.from([0xff, 0xff, 0xff, 0x01, 0x00]), Buffer.from('GET / HTTP/1.0\r\n\r\n'), Buffer.from([0x20, 0x00, 0x00, 0x01, 0x00, 0x00])];
    for (const j of junk) {
      await new Promise<void>((resolve) => {
        const s = netConnect({ host, port });
        s.once('data', () => s.end(j));
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.setTimeout(10_000, () => s.destroy());
      });
    }
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 2 AS two');
    expect(rows[0]!['two']).toBe(2);
    await conn.end();
  });
});
