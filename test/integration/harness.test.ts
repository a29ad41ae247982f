// The test harness itself: the servers from test/support/global-setup.ts are
// real, speak TLS with the test CA, demand passwords, and the CLI helpers work.
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { describe, expect, inject, it } from 'vitest';
import { runAwsCli, runMariadb, runPsql } from '../support/clients.js';
import { getMariaDb, getPostgres, pgConnectionUri } from '../support/servers.js';

describe('harness: PostgreSQL', () => {
  const srv = getPostgres();
  const ca = readFileSync(srv.caCertPath, 'utf8');

  it('is provided through inject()', () => {
    expect(inject('iamdbPostgres')).toEqual(srv);
    expect(srv.host).toBe('127.0.0.1');
    expect(srv.port).toBeGreaterThan(0);
    expect(srv.port).not.toBe(5432);
  });

  it('accepts the master user over TLS verified against the CA (pg)', async () => {
    const client = new pg.Client({
      host: srv.host,
      port: srv.port,
      user: srv.user,
      password: srv.password,
      database: srv.database,
      ssl: { ca, rejectUnauthorized: true },
    });
    await client.connect();
    try {
      const r = await client.query<{ one: number; ssl: boolean; v: string }>(
        "SELECT 1 AS one, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl, current_setting('server_version_num') AS v",
      );
      expect(r.rows[0]?.one).toBe(1);
      expect(r.rows[0]?.ssl).toBe(true);
      expect(Number(r.rows[0]?.v)).toBeGreaterThanOrEqual(150000);
      const mc = await client.query<{ max_connections: string }>('SHOW max_connections');
      expect(Number(mc.rows[0]?.max_connections)).toBeGreaterThanOrEqual(300);
    } finally {
      await client.end();
    }
  });

  it('rejects a certificate from an unknown CA', async () => {
    const client = new pg.Client({
      host: srv.host,
      port: srv.port,
      user: srv.user,
      password: srv.password,
      database: srv.database,
      ssl: { rejectUnauthorized: true }, // system trust store only
    });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await client.end().catch(() => {});
  });

  it('refuses a wrong password with 28P01', async () => {
    const client = new pg.Client({
      host: srv.host,
      port: srv.port,
      user: srv.user,
      password: 'definitely-not-the-password',
      database: srv.database,
      ssl: { ca },
    });
    client.on('error', () => {});
    await expect(client.connect()).rejects.toMatchObject({ code: '28P01' });
    await client.end().catch(() => {});
  });

  it('works with psql (sslmode=verify-full)', async () => {
    const r = await runPsql(pgConnectionUri(srv), 'SELECT 40 + 2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('42');

    const args = await runPsql(
      [`host=${srv.host} port=${srv.port} user=${srv.user} dbname=${srv.database} sslmode=verify-full sslrootcert=${srv.caCertPath}`],
      'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()',
      { PGPASSWORD: srv.password },
    );
    expect(args.code).toBe(0);
    expect(args.stdout.trim()).toBe('t');
  });

  it('psql with a wrong password fails and does not prompt', async () => {
    const r = await runPsql(pgConnectionUri(srv, { password: 'wrong' }), 'SELECT 1');
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/password authentication failed for user "postgres"/);
  });
});

describe('harness: MariaDB', () => {
  const srv = getMariaDb();
  const ca = readFileSync(srv.caCertPath, 'utf8');

  it('is provided through inject()', () => {
    expect(inject('iamdbMariaDb')).toEqual(srv);
    expect(srv.port).not.toBe(3306);
  });

  it('accepts root over TLS verified against the CA (mysql2)', async () => {
    const conn = await mysql.createConnection({
      host: srv.host,
      port: srv.port,
      user: srv.user,
      password: srv.password,
      ssl: { ca, rejectUnauthorized: true },
    });
    try {
      const [rows] = await conn.query<mysql.RowDataPacket[]>(
        "SELECT 1 AS one, VERSION() AS v, CURRENT_USER() AS cu, @@max_connections AS mc",
      );
      expect(rows[0]?.one).toBe(1);
      expect(String(rows[0]?.v)).toMatch(/^10\.11\..*MariaDB/);
      expect(rows[0]?.cu).toBe('root@127.0.0.1');
      expect(Number(rows[0]?.mc)).toBeGreaterThanOrEqual(300);
      const [st] = await conn.query<mysql.RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Ssl_version'");
      expect(String(st[0]?.Value)).toMatch(/^TLSv1\.[23]$/);
    } finally {
      await conn.end();
    }
  });

  it('refuses a wrong password with 1045', async () => {
    await expect(
      mysql.createConnection({
        host: srv.host,
        port: srv.port,
        user: srv.user,
        password: 'definitely-not-the-password',
        ssl: { ca },
      }),
    ).rejects.toMatchObject({ errno: 1045, code: 'ER_ACCESS_DENIED_ERROR' });
  });

  const cliArgs = (password: string): string[] => [
    '-h', srv.host, '-P', String(srv.port), '-u', srv.user, `--password=${password}`,
    `--ssl-ca=${srv.caCertPath}`, '--ssl-verify-server-cert',
  ];

  it('works with the mariadb CLI (--ssl-ca, server certificate verified)', async () => {
    const r = await runMariadb(cliArgs(srv.password), "SELECT 40 + 2; SHOW SESSION STATUS LIKE 'Ssl_cipher'");
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe('42');
    expect(lines[1]).toMatch(/^Ssl_cipher\t\S+/);
  });

  it('the mariadb CLI with a wrong password gets ERROR 1045', async () => {
    const r = await runMariadb(cliArgs('wrong'), 'SELECT 1');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR 1045 \(28000\)/);
  });
});

describe('harness: AWS CLI helper', () => {
  it('runs /usr/bin/aws (v2) without inherited configuration', async () => {
    const v = await runAwsCli(['--version'], {});
    expect(v.code).toBe(0);
    expect(v.stdout + v.stderr).toMatch(/^aws-cli\/2\./);

    // No credentials anywhere: the CLI must say so quickly instead of finding some.
    const r = await runAwsCli(['sts', 'get-caller-identity', '--region', 'us-east-1'], {}, { timeoutMs: 20_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Unable to locate credentials/);
  });

  it('generates an RDS IAM auth token offline from given credentials', async () => {
    const r = await runAwsCli(
      ['rds', 'generate-db-auth-token', '--hostname', 'db.example.test', '--port', '5432', '--username', 'alice', '--region', 'us-east-1'],
      { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
    );
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^db\.example\.test:5432\/\?Action=connect&DBUser=alice&X-Amz-Algorithm=AWS4-HMAC-SHA256&/);
    expect(r.stdout).toContain('X-Amz-Credential=AKIDEXAMPLE%2F');
  });
});
