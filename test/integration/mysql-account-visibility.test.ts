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
