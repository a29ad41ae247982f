/**
 * Adopting servers at run time with `iamdb db register` (iamdb's
 * RegisterDBInstance): the endpoint starts without a restart, takes IAM
 * logins at once, survives a restart, and `iamdb db deregister` stops it.
 * Real PostgreSQL and MariaDB, the built CLI, psql and the mariadb client.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { runAwsCli, runMariadb, runPsql } from '../support/clients.js';
import { runCommand } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const pgServer = inject('iamdbPostgres');
const myServer = inject('iamdbMariaDb');
const alice = newAccessKey();
const config = {
  api: { listen: 'auto' },
  iam: {
    users: [
      { name: 'alice', accessKeys: [alice], policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/reg_alice` }] } }] },
    ],
  },
};
let gw: TestIamdb;
let credsFile: string;

function iamdbCli(args: string[], input?: string, extraEnv: Record<string, string> = {}) {
  return runCommand(process.execPath, [IAMDB_BIN, ...args, '--endpoint-url', gw.apiUrl, '--region', REGION, '--profile', 'iamdb-admin'], {
    env: { PATH: process.env['PATH'] ?? '', HOME: gw.stateDir, AWS_SHARED_CREDENTIALS_FILE: credsFile, AWS_CONFIG_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true', ...extraEnv },
    timeoutMs: 30_000,
    ...(input !== undefined ? { input } : {}),
  });
}

async function token(port: number): Promise<string> {
  const t = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', '127.0.0.1', '--port', String(port), '--username', 'reg_alice', '--region', REGION], { AWS_ACCESS_KEY_ID: alice.id, AWS_SECRET_ACCESS_KEY: alice.secret });
  return t.stdout.trim();
}

beforeAll(async () => {
  ensureBuilt();
  gw = await startIamdb(config);
  credsFile = join(gw.stateDir, 'state', 'admin-credentials');
});
afterAll(() => gw?.stop());

describe('registering servers at run time', () => {
  let pgPort: number;
  let myPort: number;

  it('adopts a PostgreSQL server with the CLI and takes IAM logins at once', async () => {
    pgPort = await getFreePort();
    const out = await iamdbCli(
      ['db', 'register', '--id', 'adopted-pg', '--engine', 'postgres', '--listen', `127.0.0.1:${pgPort}`, '--target', `${pgServer.host}:${pgServer.port}`,
        '--master-username', pgServer.user, '--master-password-stdin', '--enable-iam-database-authentication', '--target-tls', 'verify-full',
        '--target-tls-ca', pgServer.caCertPath, '--target-tls-server-name', 'localhost', '--tag', 'team=orders'],
      `${pgServer.password}\n`,
    );
    expect(out.code, out.stderr).toBe(0);
    const desc = JSON.parse(out.stdout);
    expect(desc).toMatchObject({ DBInstanceIdentifier: 'adopted-pg', Engine: 'postgres', Endpoint: { Address: '127.0.0.1', Port: pgPort }, IAMDatabaseAuthenticationEnabled: true });
    expect(desc.DbiResourceId).toMatch(/^db-[A-Z0-9]{26}$/);
    expect(out.stdout).not.toContain(pgServer.password);
    const conn = (user: string, pw: string) => `host=127.0.0.1 port=${pgPort} dbname=postgres user=${user} sslmode=verify-full sslrootcert=${gw.caPath} password=${pw}`;
    const setup = await runPsql(conn(pgServer.user, pgServer.password), 'CREATE USER reg_alice; GRANT rds_iam TO reg_alice;');
    expect(setup.stderr).toBe('');
    const login = await runPsql(conn('reg_alice', await token(pgPort)), 'select current_user');
    expect(login.stdout.trim()).toBe('reg_alice');
    const described = await runAwsCli(['rds', 'describe-db-instances', '--db-instance-identifier', 'adopted-pg', '--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: gw.admin.id, AWS_SECRET_ACCESS_KEY: gw.admin.secret });
    expect(JSON.parse(described.stdout).DBInstances[0].TagList).toEqual([{ Key: 'team', Value: 'orders' }]);
  });

  it('adopts a MariaDB server with the password from IAMDB_MASTER_PASSWORD', async () => {
    myPort = await getFreePort();
    const out = await iamdbCli(
      ['db', 'register', '--id', 'adopted-my', '--engine', 'mariadb', '--listen', `127.0.0.1:${myPort}`, '--target', `${myServer.host}:${myServer.port}`, '--master-username', myServer.user, '--enable-iam-database-authentication'],
      undefined,
      { IAMDB_MASTER_PASSWORD: myServer.password },
    );
    expect(out.code, out.stderr).toBe(0);
    const base = ['-h', '127.0.0.1', '-P', String(myPort), `--ssl-ca=${gw.caPath}`, '--ssl-verify-server-cert'];
    const setup = await runMariadb([...base, '-u', myServer.user, `-p${myServer.password}`], "CREATE USER reg_alice IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS';");
    expect(setup.code, setup.stderr).toBe(0);
    const login = await runMariadb([...base, '-u', 'reg_alice', `-p${await token(myPort)}`, '--enable-cleartext-plugin'], 'select current_user()');
    expect(login.code, login.stderr).toBe(0);
    // The client warns that --enable-cleartext-plugin is obsolete; the answer is the other line.
    expect(login.stdout.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('WARNING'))).toEqual([expect.stringMatching(/^reg_alice@/)]);
  });

  it('refuses a duplicate id, a taken address and a caller without rds:RegisterDBInstance', async () => {
    const dup = await iamdbCli(['db', 'register', '--id', 'adopted-pg', '--engine', 'postgres', '--listen', `127.0.0.1:${await getFreePort()}`, '--target', '127.0.0.1:1', '--master-username', 'x'], undefined, { IAMDB_MASTER_PASSWORD: 'x' });
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('An error occurred (DBInstanceAlreadyExists) when calling the RegisterDBInstance operation');
    const taken = await iamdbCli(['db', 'register', '--id', 'other', '--engine', 'postgres', '--listen', `127.0.0.1:${pgPort}`, '--target', '127.0.0.1:1', '--master-username', 'x'], undefined, { IAMDB_MASTER_PASSWORD: 'x' });
    expect(taken.stderr).toContain('(InvalidParameterValue)');
    expect(gw.app.instances.get('other')).toBeUndefined();
    const aliceCreds = join(gw.stateDir, 'alice-credentials');
    writeFileSync(aliceCreds, `[alice]\naws_access_key_id = ${alice.id}\naws_secret_access_key = ${alice.secret}\n`);
    const denied = await runCommand(process.execPath, [IAMDB_BIN, 'db', 'register', '--id', 'sneaky', '--engine', 'postgres', '--listen', `127.0.0.1:${await getFreePort()}`, '--target', '127.0.0.1:1', '--master-username', 'x', '--endpoint-url', gw.apiUrl, '--region', REGION, '--profile', 'alice'], {
      env: { PATH: process.env['PATH'] ?? '', AWS_SHARED_CREDENTIALS_FILE: aliceCreds, AWS_CONFIG_FILE: '/dev/null', IAMDB_MASTER_PASSWORD: 'x', AWS_EC2_METADATA_DISABLED: 'true' },
      timeoutMs: 30_000,
    });
    expect(denied.code).toBe(2);
    expect(denied.stderr).toContain(`(AccessDenied) when calling the RegisterDBInstance operation: User: arn:aws:iam::${ACCOUNT}:user/alice is not authorized to perform: rds:RegisterDBInstance`);
  });

  it('keeps registered instances across a restart, then deregisters them', async () => {
    await gw.stop({ keepState: true });
    gw = await startIamdb(config, { restartOf: gw });
    expect(gw.endpoint('adopted-pg').port).toBe(pgPort);
    const login = await runPsql(`host=127.0.0.1 port=${pgPort} dbname=postgres user=reg_alice sslmode=verify-full sslrootcert=${gw.caPath} password=${await token(pgPort)}`, 'select 1');
    expect(login.stdout.trim()).toBe('1');
    const out = await iamdbCli(['db', 'deregister', '--id', 'adopted-pg']);
    expect(out.code, out.stderr).toBe(0);
    expect(JSON.parse(out.stdout).DBInstanceStatus).toBe('deleted');
    const gone = await runPsql(`host=127.0.0.1 port=${pgPort} dbname=postgres user=reg_alice sslmode=verify-full sslrootcert=${gw.caPath} password=x`, 'select 1');
    expect(gone.code).not.toBe(0);
    expect(gone.stderr).toMatch(/Connection refused|could not connect/);
    expect((await iamdbCli(['db', 'deregister', '--id', 'adopted-pg'])).stderr).toContain('(DBInstanceNotFound)');
    expect((await iamdbCli(['db', 'deregister', '--id', 'adopted-my'])).code).toBe(0);
  });
});
