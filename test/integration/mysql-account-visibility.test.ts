/**
 * IAM accounts seen from SQL through the MySQL endpoint: SHOW GRANTS and SHOW
 * CREATE USER show them as RDS does (the AWSAuthenticationPlugin clause in
 * the declared engine's spelling), never with the managed credential's hash;
 * password accounts are shown as the server shows them.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runMariadb } from '../support/clients.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbMariaDb');
const suffix = randomBytes(3).toString('hex');
const alice = `vis_alice_${suffix}`;
const pwUser = `vis_pw_${suffix}`;
// The instance is declared `engine: mysql` (RDS for MySQL): MySQL's spelling; a `mariadb` one shows `IDENTIFIED VIA AWSAuthenticationPlugin USING 'RDS'`.
const PLUGIN = "IDENTIFIED WITH 'AWSAuthenticationPlugin' AS 'RDS'";

let gw: TestIamdb;
let master: mysql.Connection;

const cli = (sql: string) => {
  const { host, port } = gw.endpoint('vis-my');
  return runMariadb(['-h', host, '-P', String(port), '-u', server.user, `-p${server.password}`, `--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert'], sql);
};

async function rows(sql: string): Promise<string[]> {
  const [r] = await master.query<mysql.RowDataPacket[]>({ sql, rowsAsArray: true });
  return (r as unknown as unknown[][]).map((row) => String(row[0]));
}

beforeAll(async () => {
  gw = await startIamdb({
    instances: [
      {
        id: 'vis-my',
        engine: 'mysql',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  const { host, port } = gw.endpoint('vis-my');
  master = await mysql.createConnection({ host, port, user: server.user, password: server.password, ssl: { ca: readFileSync(gw.caPath) } });
  await master.query(`CREATE USER ${alice} IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`);
  await master.query(`GRANT SELECT ON mysql.* TO ${alice}`);
  await master.query(`CREATE USER ${pwUser} IDENTIFIED BY 'pw-${suffix}'`);
});

afterAll(async () => {
  await master?.end();
  await gw?.stop();
});

describe('IAM accounts through the MySQL endpoint, as RDS shows them', () => {
  it('SHOW GRANTS and SHOW CREATE USER show the plugin clause and no hash (mysql2)', async () => {
    const grants = await rows(`SHOW GRANTS FOR ${alice}`);
    expect(grants).toContain(`GRANT USAGE ON *.* TO \`${alice}\`@\`%\` ${PLUGIN}`);
    expect(grants).toContain(`GRANT SELECT ON \`mysql\`.* TO \`${alice}\`@\`%\``);
    expect(await rows(`SHOW CREATE USER ${alice};`)).toEqual([`CREATE USER \`${alice}\`@\`%\` ${PLUGIN}`]);
    expect(JSON.stringify(await rows(`show grants for '${alice}'@'%'`))).not.toMatch(/PASSWORD '\*/);
  });

  it('shows password accounts as the server does', async () => {
    expect((await rows(`SHOW GRANTS FOR ${pwUser}`))[0]).toMatch(new RegExp(`^GRANT USAGE ON \\*\\.\\* TO \`${pwUser}\`@\`%\` IDENTIFIED BY PASSWORD '\\*[0-9A-F]{40}'$`));
  });

  it('shows the same to the mariadb client', async () => {
    const r = await cli(`SHOW CREATE USER ${alice}`);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`CREATE USER \`${alice}\`@\`%\` ${PLUGIN}`);
  });

  it('leaves a statement of another shape to the server unchanged', async () => {
    // A comment could hide another statement: the gateway does not rewrite such texts (documented difference).
    const grants = await rows(`SHOW GRANTS FOR ${pwUser} /* listing */`);
    expect(grants[0]).toMatch(/IDENTIFIED BY PASSWORD/);
  });
});

describe('mysql.user through the MySQL endpoint, as RDS users query it', () => {
  it("lists IAM accounts by plugin = 'AWSAuthenticationPlugin' and hides their hash (mysql2)", async () => {
    const iamUsers = await rows(`SELECT user FROM mysql.user WHERE plugin = 'AWSAuthenticationPlugin'`);
    expect(iamUsers).toContain(alice);
    expect(iamUsers).not.toContain(pwUser);
    const [r] = await master.query<mysql.RowDataPacket[]>(
      `SELECT User, Host, plugin, authentication_string, Password FROM mysql.user WHERE User IN ('${alice}', '${pwUser}') ORDER BY User;`,
    );
    const byUser = new Map(r.map((row) => [String(row['User']), row]));
    expect(byUser.get(alice)).toMatchObject({ Host: '%', plugin: 'AWSAuthenticationPlugin', authentication_string: 'RDS', Password: '' });
    expect(String(byUser.get(pwUser)?.['plugin'])).toBe('mysql_native_password');
    expect(String(byUser.get(pwUser)?.['authentication_string'])).toMatch(/^\*[0-9A-F]{40}$/);
  });

  it('keeps every column of SELECT * in the server\'s order, with an alias and a join', async () => {
    const [direct] = await master.query<mysql.RowDataPacket[]>(`SELECT * FROM mysql.user u WHERE u.User = '${pwUser}'`);
    const [fields] = await master.query(`SHOW COLUMNS FROM mysql.user`);
    expect(Object.keys(direct[0] ?? {})).toEqual((fields as mysql.RowDataPacket[]).map((f) => f['Field']));
    const [joined] = await master.query<mysql.RowDataPacket[]>(
      `SELECT u.user, u.plugin, d.Db FROM mysql.db d RIGHT JOIN mysql.user AS u ON d.User = u.User WHERE u.user = '${alice}'`,
    );
    expect(joined.map((row) => row['plugin'])).toEqual(['AWSAuthenticationPlugin']);
  });

  it('shows the same to the mariadb client, and to the IAM user reading mysql.* herself', async () => {
    const r = await cli(`SELECT user, plugin FROM mysql.user WHERE user = '${alice}'`);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`${alice}\tAWSAuthenticationPlugin`);
  });

  it('leaves other shapes to the server (a qualified column: the real table answers)', async () => {
    const [r] = await master.query<mysql.RowDataPacket[]>(`SELECT mysql.user.plugin AS p FROM mysql.user WHERE mysql.user.User = '${alice}'`);
    expect(r[0]?.['p']).toBe('mysql_native_password');
  });
});
