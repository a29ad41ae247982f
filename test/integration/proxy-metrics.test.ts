/**
 * RDS Proxy's metrics on /metrics, end to end: a proxy made through the RDS
 * API in front of the real PostgreSQL, real pg clients logging in (secret's
 * password, IAM token, wrong password, a database that does not exist),
 * pinning and running queries, and the scrape read over HTTP after each step:
 * every counter must move by exactly what the clients did.
 */
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as RDS from '@aws-sdk/client-rds';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import type { AuditEvent, AuthAuditEvent, SessionStartAuditEvent } from '../../src/audit/index.js';
import { runPsql } from '../support/clients.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { aliceMayConnect, createProxy, iamToken, proxyDbUserArn } from '../support/proxy-fixture.js';

const server = inject('iamdbPostgres');
const suffix = randomBytes(3).toString('hex');
const user = `met_${suffix}`;
const iamUser = `metiam_${suffix}`;
/** IAM database users of the instance endpoint: alice may log in as the first only. */
const instanceIam = `metinst_${suffix}`;
const instanceDenied = `metdeny_${suffix}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
const database = `metdb_${suffix}`;
const proxyName = `met-${suffix}`;
const target = `mettarget-${suffix}`;
const aliceKey = newAccessKey();
/** max_connections is 300 on the test server, 3 reserved for superusers: 1 % is a pool of two. */
const MAX_SERVERS = 2;

let iamdb: TestIamdb;
let rds: RDS.RDSClient;
let port = 0;
let iamdbCa = '';

function client(options: { password?: string; database?: string } = {}): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user, password: options.password ?? password, database: options.database ?? database, ssl: { ca: iamdbCa, servername: 'localhost' } });
}

interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The exposition text, parsed (label values here hold no quotes or commas). */
async function scrape(): Promise<Sample[]> {
  const res = await fetch(iamdb.metricsUrl);
  expect(res.status).toBe(200);
  const samples: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of a metric's samples whose labels include `labels`. */
function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
}

const endpoint = { proxy: proxyName, endpoint: proxyName };
const pool = { proxy: proxyName, target_role: 'READ_WRITE', target, user };

/** Resolves once `n` proxy sessions have ended (db.session.end) after audit index `from`. */
async function sessionsEnded(from: number, n: number): Promise<Extract<AuditEvent, { event: 'db.session.end' }>[]> {
  const ended: Extract<AuditEvent, { event: 'db.session.end' }>[] = [];
  await iamdb.audit.until((e) => {
    if (e.event !== 'db.session.end' || e.proxy !== proxyName) return false;
    ended.push(e);
    return ended.length === n;
  }, from);
  return ended;
}

beforeAll(async () => {
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=require`;
  expect((await runPsql(master, `CREATE USER ${user} PASSWORD '${password}'; CREATE USER ${iamUser} PASSWORD '${password}x'`)).stderr).toBe('');
  expect((await runPsql(master, `CREATE DATABASE ${database} OWNER ${user}`)).stderr).toBe('');
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    metrics: { listen: 'auto' },
    iam: aliceMayConnect(aliceKey, [proxyDbUserArn(iamUser), `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:db-*/${instanceIam}`]),
    instances: [{ id: target, engine: 'postgres', listen: 'auto', target: `${server.host}:${server.port}`, targetTls: { mode: 'disable' }, master: { username: server.user, password: server.password }, iamDatabaseAuthentication: true }],
  });
  const ep = iamdb.endpoint(target);
  const setup = await runPsql(`host=${ep.host} port=${ep.port} dbname=postgres user=${server.user} sslmode=verify-full sslrootcert=${iamdb.caPath}`, `CREATE USER ${instanceIam}; GRANT rds_iam TO ${instanceIam}; CREATE USER ${instanceDenied}; GRANT rds_iam TO ${instanceDenied};`, { PGPASSWORD: server.password });
  expect(setup.stderr).toBe('');
  iamdbCa = await readFile(iamdb.caPath, 'utf8');
  port = await getFreePort();
  ({ rds } = await createProxy(iamdb, {
    engineFamily: 'POSTGRESQL',
    proxyName,
    port,
    requireTls: true,
    targets: [target],
    secrets: [
      { username: user, password, auth: { IAMAuth: 'DISABLED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' } },
      { username: iamUser, password: `${password}x`, auth: { IAMAuth: 'REQUIRED' } },
    ],
    pool: { MaxConnectionsPercent: 1, ConnectionBorrowTimeout: 20 },
  }));
});

afterAll(async () => {
  await iamdb?.stop();
});

describe('the scrape endpoint', () => {
  it('serves Prometheus text at /metrics, and nothing else', async () => {
    const res = await fetch(iamdb.metricsUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = await res.text();
    expect(text).toContain('# TYPE iamdb_proxy_client_connections gauge');
    expect(text).toContain('# TYPE iamdb_proxy_database_connections_borrow_latency_seconds summary');
    expect((await fetch(iamdb.metricsUrl.replace(/\/metrics$/, '/'))).status).toBe(404);
    expect((await fetch(iamdb.metricsUrl, { method: 'POST', body: 'x' })).status).toBe(405);
  });
});

describe('client connections', () => {
  it('counts each login, its TLS and its close, and audits the session start', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++) {
      const from = iamdb.audit.events.length;
      const c = client();
      await c.connect();
      const open = await scrape();
      expect(valueOf(open, 'iamdb_proxy_client_connections', endpoint)).toBe(valueOf(before, 'iamdb_proxy_client_connections', endpoint) + 1);
      expect(valueOf(open, 'iamdb_proxy_client_connections_tls', endpoint)).toBe(valueOf(before, 'iamdb_proxy_client_connections_tls', endpoint) + 1);
      expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
      await c.end();
      const [end] = await sessionsEnded(from, 1);
      const events = iamdb.audit.events.slice(from);
      const auth = events.find((e): e is AuthAuditEvent => e.event === 'db.auth' && e.decision === 'allow');
      const start = events.find((e): e is SessionStartAuditEvent => e.event === 'db.session.start');
      expect(start).toMatchObject({ proxy: proxyName, proxyEndpoint: proxyName, dbUser: user, database, method: 'password', tls: true, engine: 'postgres' });
      expect(start && 'principal' in start).toBe(false);
      expect(start!.sessionId).toBe(end!.sessionId);
      expect(auth!.sessionId).toBe(end!.sessionId);
      expect(events.indexOf(auth!)).toBeLessThan(events.indexOf(start!));
    }
    const after = await scrape();
    const delta = (name: string): number => valueOf(after, name, endpoint) - valueOf(before, name, endpoint);
    expect(delta('iamdb_proxy_client_connections_received_total')).toBe(3);
    expect(delta('iamdb_proxy_client_connections_setup_succeeded_total')).toBe(3);
    expect(delta('iamdb_proxy_client_connections_closed_total')).toBe(3);
    expect(delta('iamdb_proxy_client_connections_setup_failed_auth_total')).toBe(0);
    expect(delta('iamdb_proxy_client_connections')).toBe(0);
    expect(delta('iamdb_proxy_client_connections_tls')).toBe(0);
    expect(valueOf(after, 'iamdb_proxy_client_connections_no_tls', endpoint)).toBe(0);
  });

  it('counts a wrong password as a failed authentication, not a login', async () => {
    const before = await scrape();
    const from = iamdb.audit.events.length;
    const wrong = client({ password: 'not-it' });
    await expect(wrong.connect()).rejects.toThrow(`The password that was provided for the role ${user} is wrong.`);
    await iamdb.audit.until((e) => e.event === 'db.auth' && e.decision === 'deny' && e.reason === 'ProxyPasswordWrong', from);
    const after = await scrape();
    const delta = (name: string): number => valueOf(after, name, endpoint) - valueOf(before, name, endpoint);
    expect(delta('iamdb_proxy_client_connections_received_total')).toBe(1);
    expect(delta('iamdb_proxy_client_connections_setup_failed_auth_total')).toBe(1);
    expect(delta('iamdb_proxy_client_connections_setup_succeeded_total')).toBe(0);
    expect(delta('iamdb_proxy_client_connections_closed_total')).toBe(0);
    expect(iamdb.audit.events.slice(from).some((e) => e.event === 'db.session.start')).toBe(false);
  });

  it('audits the session start of an IAM login with the principal behind the token', async () => {
    const from = iamdb.audit.events.length;
    const c = new pg.Client({ host: '127.0.0.1', port, user: iamUser, password: iamToken('127.0.0.1', port, iamUser, aliceKey), database, ssl: { ca: iamdbCa, servername: 'localhost' } });
    await c.connect();
    const start = await iamdb.audit.until((e) => e.event === 'db.session.start' && e.dbUser === iamUser, from);
    if (start.event !== 'db.session.start') throw new Error('not a session start');
    expect(start).toMatchObject({ proxy: proxyName, proxyEndpoint: proxyName, method: 'iam', tls: true, principal: `arn:aws:iam::${ACCOUNT}:user/alice` });
    await c.end();
    const end = await iamdb.audit.until((e) => e.event === 'db.session.end' && e.sessionId === start.sessionId, from);
    expect(end).toMatchObject({ principal: `arn:aws:iam::${ACCOUNT}:user/alice` });
  });
});

describe('pins', () => {
  it('counts each pinned session by its reason, and the pinned server connection while it lasts', async () => {
    const before = await scrape();
    const pins = (s: Sample[], reason: string): number => valueOf(s, 'iamdb_proxy_client_sessions_pinned_total', { ...endpoint, reason });
    const from = iamdb.audit.events.length;
    const a = client();
    await a.connect();
    await a.query("SET application_name TO 'pinned-by-set'");
    await a.query('SET statement_timeout TO 5000');
    const during = await scrape();
    expect(valueOf(during, 'iamdb_proxy_database_connections_currently_session_pinned', pool)).toBe(valueOf(before, 'iamdb_proxy_database_connections_currently_session_pinned', pool) + 1);
    const b = client();
    await b.connect();
    await b.query('CREATE TEMP TABLE scratch (x int)');
    await a.end();
    await b.end();
    const ended = await sessionsEnded(from, 2);
    expect(ended.map((e) => e.pinReasons).sort()).toEqual([['SessionSetting'], ['TemporaryObject']]);
    const after = await scrape();
    expect(pins(after, 'SessionSetting') - pins(before, 'SessionSetting')).toBe(1);
    expect(pins(after, 'TemporaryObject') - pins(before, 'TemporaryObject')).toBe(1);
    expect(valueOf(after, 'iamdb_proxy_client_sessions_pinned_total', endpoint) - valueOf(before, 'iamdb_proxy_client_sessions_pinned_total', endpoint)).toBe(2);
    expect(valueOf(after, 'iamdb_proxy_database_connections_currently_session_pinned', pool)).toBe(0);
  });
});

describe('database connections', () => {
  it('reads the pool: connections within the allowed maximum, every query and its latency counted', async () => {
    const before = await scrape();
    const from = iamdb.audit.events.length;
    const clients = Array.from({ length: 10 }, () => client());
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 5; i++) await c.query('SELECT pg_sleep(0.01)');
      }),
    );
    const busy = await scrape();
    expect(valueOf(busy, 'iamdb_proxy_max_database_connections_allowed', pool)).toBe(MAX_SERVERS);
    expect(valueOf(busy, 'iamdb_proxy_database_connections', pool)).toBeGreaterThanOrEqual(1);
    expect(valueOf(busy, 'iamdb_proxy_database_connections', pool)).toBeLessThanOrEqual(MAX_SERVERS);
    expect(valueOf(busy, 'iamdb_proxy_client_connections', endpoint)).toBe(10);
    await Promise.all(clients.map((c) => c.end()));
    await sessionsEnded(from, 10);
    const after = await scrape();
    const delta = (name: string): number => valueOf(after, name, pool) - valueOf(before, name, pool);
    expect(delta('iamdb_proxy_query_requests_total')).toBe(50);
    expect(delta('iamdb_proxy_query_database_response_latency_seconds_count')).toBe(50);
    // Each response waited for pg_sleep(0.01) on the server.
    expect(delta('iamdb_proxy_query_database_response_latency_seconds_sum')).toBeGreaterThanOrEqual(50 * 0.01);
    expect(delta('iamdb_proxy_database_connections_borrow_latency_seconds_count')).toBeGreaterThanOrEqual(50);
    // Ten clients over two connections: some waited.
    expect(delta('iamdb_proxy_database_connections_borrow_latency_seconds_sum')).toBeGreaterThan(0);
    expect(valueOf(after, 'iamdb_proxy_database_connections_currently_borrowed', pool)).toBe(0);
    expect(valueOf(after, 'iamdb_proxy_database_connections_currently_in_transaction', pool)).toBe(0);
    expect(valueOf(after, 'iamdb_proxy_database_connection_waiters', pool)).toBe(0);
    expect(valueOf(after, 'iamdb_proxy_client_connections', endpoint)).toBe(0);
    const requests = valueOf(after, 'iamdb_proxy_database_connection_requests_total', pool);
    expect(requests).toBe(valueOf(after, 'iamdb_proxy_database_connections_setup_succeeded_total', pool) + valueOf(after, 'iamdb_proxy_database_connections_setup_failed_total', pool));
    expect(valueOf(after, 'iamdb_proxy_database_connections_setup_succeeded_total', pool)).toBeGreaterThanOrEqual(valueOf(after, 'iamdb_proxy_database_connections', pool));
  });

  it('counts a server login that fails (a database that does not exist), not as a failed authentication', async () => {
    const before = await scrape();
    const from = iamdb.audit.events.length;
    const c = client({ database: `missing_${suffix}` });
    await expect(c.connect()).rejects.toThrow(/does not exist/);
    await iamdb.audit.until((e) => e.event === 'db.auth' && e.decision === 'deny' && e.reason === 'UpstreamRefused', from);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>): number => valueOf(after, name, labels) - valueOf(before, name, labels);
    expect(delta('iamdb_proxy_database_connection_requests_total', pool)).toBe(1);
    expect(delta('iamdb_proxy_database_connections_setup_failed_total', pool)).toBe(1);
    expect(delta('iamdb_proxy_database_connections_setup_succeeded_total', pool)).toBe(0);
    expect(delta('iamdb_proxy_client_connections_setup_failed_auth_total', endpoint)).toBe(0);
    expect(delta('iamdb_proxy_client_connections_setup_succeeded_total', endpoint)).toBe(0);
  });
});

describe('target availability', () => {
  it('is 100 for a target whose health check passed', async () => {
    await vi.waitFor(
      async () => {
        const t = await rds.send(new RDS.DescribeDBProxyTargetsCommand({ DBProxyName: proxyName }));
        expect(t.Targets?.[0]?.TargetHealth?.State).toBe('AVAILABLE');
      },
      { timeout: 15_000, interval: 200 },
    );
    const s = await scrape();
    expect(valueOf(s, 'iamdb_proxy_availability_percentage', { proxy: proxyName, target, target_role: 'READ_WRITE' })).toBe(100);
    expect(s.filter((x) => x.name === 'iamdb_proxy_availability_percentage' && x.labels['proxy'] === proxyName)).toHaveLength(1);
  });
});

describe('IAM logins on an instance endpoint', () => {
  it('counts each decision, a refusal by its RDS failure kind and its reason', async () => {
    const ep = iamdb.endpoint(target);
    const login = (asUser: string, tokenFor: string): pg.Client => {
      return new pg.Client({ host: ep.host, port: ep.port, user: asUser, password: iamToken(ep.host, ep.port, tokenFor, aliceKey), database: 'postgres', ssl: { ca: iamdbCa } });
    };
    const instance = { instance: target };
    const before = await scrape();
    let from = iamdb.audit.events.length;
    const ok = login(instanceIam, instanceIam);
    await ok.connect();
    await ok.end();
    await iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === instanceIam && e.decision === 'allow', from);
    from = iamdb.audit.events.length;
    await expect(login(instanceDenied, instanceDenied).connect()).rejects.toThrow();
    await iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === instanceDenied && e.reason === 'NotAuthorized', from);
    from = iamdb.audit.events.length;
    await expect(login(instanceIam, instanceDenied).connect()).rejects.toThrow();
    await iamdb.audit.until((e) => e.event === 'db.auth' && e.dbUser === instanceIam && e.reason === 'DBUserMismatch', from);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}): number => valueOf(after, name, { ...instance, ...labels }) - valueOf(before, name, { ...instance, ...labels });
    expect(delta('iamdb_iam_db_auth_connection_requests_total')).toBe(3);
    expect(delta('iamdb_iam_db_auth_connection_success_total')).toBe(1);
    expect(delta('iamdb_iam_db_auth_connection_failure_total')).toBe(2);
    expect(delta('iamdb_iam_db_auth_connection_failure_total', { kind: 'InsufficientPermissions', reason: 'NotAuthorized' })).toBe(1);
    expect(delta('iamdb_iam_db_auth_connection_failure_total', { kind: 'InvalidToken', reason: 'DBUserMismatch' })).toBe(1);
    // Proxy logins are not instance logins.
    expect(after.filter((x) => x.name.startsWith('iamdb_iam_db_auth_') && x.labels['instance'] !== target)).toEqual([]);
  });
});
