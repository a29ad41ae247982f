/**
 * TLS from the pooled relay to PostgreSQL (native/pg_server_tls.c with
 * gateway/proxy/pooled-server-tls.ts): pooled server connections follow the
 * target's `targetTls` as instance endpoints do. The server's own view
 * (pg_stat_ssl) shows TLS under the default `prefer` and under
 * `verify-full`; a certificate that does not verify (wrong name, wrong CA)
 * and a server without TLS under `require` refuse the client at once, with
 * the reason in its error, its audit record and the target's health.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as RDS from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { sdkClient } from '../support/aws-sdk.js';
import { createCa } from '../support/certs.js';
import { waitFor } from '../support/exec.js';
import { startPostgres, type PgServer } from '../support/postgres-server.js';
import { startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

const shared = inject('iamdbPostgres');
const fixtures: PostgresProxyFixture[] = [];
let clear: PgServer | undefined;
let otherCaDir = '';

async function fixture(prefix: string, opts: Parameters<typeof startPostgresProxyFixture>[1]): Promise<PostgresProxyFixture> {
  const f = await startPostgresProxyFixture(prefix, opts);
  fixtures.push(f);
  return f;
}

/** What the server says of the connection the pooled client's statement runs on. */
async function sslOfPooledBackend(f: PostgresProxyFixture): Promise<{ ssl: boolean; version: string | null }> {
  const c = f.client();
  await c.connect();
  try {
    return (await c.query('SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0];
  } finally {
    await c.end();
  }
}

/** The client's refusal, its audit record and the target's health, once target health has looked. */
async function refusal(f: PostgresProxyFixture): Promise<{ message: string; detail: string; reason: string; health: RDS.TargetHealth }> {
  const c = f.client();
  const message = await c.connect().then(
    () => 'connected',
    (err: Error) => err.message,
  );
  await c.end().catch(() => undefined);
  const denied = f.iamdb.authEvents().filter((e) => e.decision === 'deny' && e.dbUser === f.user);
  expect(denied.length).toBeGreaterThan(0);
  const last = denied[denied.length - 1]! as unknown as { reason: string; detail?: string };
  const rds = sdkClient(RDS.RDSClient, f.iamdb.apiUrl, f.iamdb.admin);
  let health: RDS.TargetHealth = {};
  await waitFor('target health shows the failure', async () => {
    health = (await rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: f.proxyName }))).Targets![0]!.TargetHealth!;
    if (health.State !== 'UNAVAILABLE') throw new Error(`not yet: ${health.State}`);
  }, 15_000);
  return { message, detail: last.detail ?? '', reason: last.reason, health };
}

beforeAll(async () => {
  otherCaDir = await mkdtemp(join(tmpdir(), 'iamdb-other-ca-'));
  clear = await startPostgres({ tls: false });
});

afterAll(async () => {
  await Promise.all(fixtures.map((f) => f.stop()));
  await clear?.stop();
  if (otherCaDir) await rm(otherCaDir, { recursive: true, force: true });
});

describe('TLS from the pooled relay to PostgreSQL', () => {
  it('is on by default (prefer): the server sees every pooled connection encrypted, under many clients', async () => {
    const f = await fixture('stlsp', {});
    expect(await sslOfPooledBackend(f)).toMatchObject({ ssl: true, version: expect.stringMatching(/^TLSv1\.[23]$/) });
    // Several clients at once: the pool opens more than one connection, all of them TLS.
    const clients = Array.from({ length: 8 }, () => f.client());
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(clients.map(async (c) => { for (let i = 0; i < 20; i++) await c.query('SELECT pg_sleep(0.001), repeat($1, 40000) AS big', ['x']); }));
    await Promise.all(clients.map((c) => c.end()));
    const a = f.admin();
    await a.connect();
    const rows = (await a.query('SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.usename = $1', [f.user])).rows as { ssl: boolean }[];
    await a.end();
    expect(rows.length).toBeGreaterThan(1);
    expect(rows.every((r) => r.ssl)).toBe(true);
  });

  it('verifies the server under verify-full (its CA, its address as the name) and uses TLS', async () => {
    const f = await fixture('stlsv', { targetTls: { mode: 'verify-full', ca: shared.caCertPath } });
    expect((await sslOfPooledBackend(f)).ssl).toBe(true);
  });

  it('refuses a server whose certificate does not carry the expected name (verify-full), and says why', async () => {
    const f = await fixture('stlsn', { targetTls: { mode: 'verify-full', ca: shared.caCertPath, serverName: 'wrong.example' } });
    const r = await refusal(f);
    expect(r.message).toMatch(/the server certificate is not trusted: hostname mismatch \(the name checked was wrong\.example\)/);
    expect(r.reason).toBe('UpstreamUnavailable');
    expect(r.detail).toMatch(/not trusted: hostname mismatch/);
    expect(r.health).toMatchObject({ State: 'UNAVAILABLE', Reason: 'CONNECTION_FAILED', Description: expect.stringContaining('the server certificate is not trusted') });
  });

  it('refuses a server whose certificate another CA signed (verify-ca)', async () => {
    const other = await createCa(otherCaDir, { name: 'not the server CA' });
    const f = await fixture('stlsc', { targetTls: { mode: 'verify-ca', ca: other.caCert } });
    const r = await refusal(f);
    expect(r.message).toMatch(/the server certificate is not trusted: (self-signed certificate in certificate chain|unable to get local issuer certificate)/);
    expect(r.reason).toBe('UpstreamUnavailable');
    expect(r.health).toMatchObject({ State: 'UNAVAILABLE', Reason: 'CONNECTION_FAILED', Description: expect.stringContaining('the server certificate is not trusted') });
  });

  it('refuses a server without TLS under require, and says so', async () => {
    const s = clear!;
    const f = await fixture('stlsr', {
      server: { host: s.host, port: s.port, user: s.superuser, password: s.superuserPassword, database: 'postgres', caCertPath: shared.caCertPath, socketDir: s.socketDir },
      targetTls: { mode: 'require' },
    });
    const r = await refusal(f);
    expect(r.message).toMatch(/the server does not accept TLS/);
    expect(r.reason).toBe('UpstreamUnavailable');
    expect(r.health).toMatchObject({ State: 'UNAVAILABLE', Reason: 'CONNECTION_FAILED', Description: expect.stringContaining('the server does not accept TLS') });
  });

  it('stays in clear under prefer against a server without TLS', async () => {
    const s = clear!;
    const f = await fixture('stlsq', {
      server: { host: s.host, port: s.port, user: s.superuser, password: s.superuserPassword, database: 'postgres', caCertPath: shared.caCertPath, socketDir: s.socketDir },
    });
    expect((await sslOfPooledBackend(f)).ssl).toBe(false);
  });
});
