/**
 * The pooled relay for PostgreSQL proxy endpoints (native/pg_pool.c with
 * gateway/proxy/), against the real server with real clients: many clients
 * over a few server connections, transactions kept whole, prepared
 * statements multiplexed without pinning, session state never crossing
 * clients (pinned instead, with its reason), cancel, and a client leaving
 * mid-transaction.
 *
 * The proxy session here is wired by hand (no proxy resources yet): clients
 * log in with the secret's password in clear over TLS, which stands in for
 * the SCRAM/MD5 password login until it lands; everything after the login
 * is what proxy endpoints run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { AuditEvent, AuditSink } from '../../src/audit/index.js';
import { nativeDataPath, type NativeDataPath } from '../../src/gateway/native-data-path.js';
import { CancelMap } from '../../src/gateway/postgres/cancel-map.js';
import { MessageReader } from '../../src/gateway/postgres/messages.js';
import { PostgresPool, fatalBytes } from '../../src/gateway/proxy/postgres-pool.js';
import { handlePostgresProxySession, type PostgresProxyDeps } from '../../src/gateway/proxy/postgres-proxy-session.js';
import { PG_FILTER_WORDS } from '../../src/gateway/proxy/session-state.js';
import type { IamLogin } from '../../src/gateway/iam-login.js';
import { ByteReaderForBody, FrontendCode, SaltedPasswordCache, decodePasswordMessage, encodeAuthenticationCleartextPassword } from '../../src/protocol/postgres/index.js';
import type { DbInstance } from '../../src/rds/index.js';
import { Secret } from '../../src/util/index.js';
import { issueServerCertificate } from '../support/certs.js';
import { runPsql } from '../support/clients.js';

const server = inject('iamdbPostgres');
const testCa = inject('iamdbTestCa');
const suffix = randomBytes(3).toString('hex');
const user = `pool_${suffix}`;
const password = `pw-${randomBytes(8).toString('hex')}`;
const database = `pooldb_${suffix}`;

let native: NativeDataPath;
let listener: Server;
let port = 0;
let caPem = '';
const audit: AuditEvent[] = [];
const pools = new Map<string, PostgresPool>();
const MAX_SERVERS = 3;

const instance = {
  id: 'pooled-target',
  engine: 'postgres',
  target: { host: server.host, port: server.port },
  targetTls: { mode: 'disable' },
  listen: { host: '127.0.0.1', port: 0 },
  endpoints: [],
  tags: {},
  master: { username: server.user, password: new Secret(server.password) },
} as unknown as DbInstance;

function admin(): pg.Client {
  return new pg.Client({ host: server.host, port: server.port, user: server.user, password: server.password, database, ssl: { ca: caPem } });
}

function client(): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user, password, database, ssl: { ca: caPem, servername: 'localhost' } });
}

/** How many server connections the pool's user has open, as the server sees them. */
async function serverBackends(): Promise<number> {
  const a = admin();
  await a.connect();
  try {
    const r = await a.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1', [user]);
    return r.rows[0].n as number;
  } finally {
    await a.end();
  }
}

beforeAll(async () => {
  const loaded = nativeDataPath();
  if (!loaded.path) throw loaded.error;
  native = loaded.path;
  native.setScanWords(PG_FILTER_WORDS);
  caPem = await readFile(server.caCertPath, 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'iamdb-pool-'));
  const cert = await issueServerCertificate(testCa, dir, { name: 'proxy' });
  const clientTls = native.terminator(await readFile(cert.cert, 'utf8'), new Secret(await readFile(cert.key, 'utf8')));
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=require`;
  expect((await runPsql(master, `CREATE USER ${user} PASSWORD '${password}'`)).stderr).toBe('');
  expect((await runPsql(master, `CREATE DATABASE ${database} OWNER ${user}`)).stderr).toBe('');
  const sink: AuditSink = { write: (e: AuditEvent) => void audit.push(e) } as AuditSink;
  const logger = pino({ level: process.env['POOL_LOG'] ?? 'silent' });
  const deps: PostgresProxyDeps = {
    endpoint: { proxyName: 'pool-proxy', endpointName: 'pool-proxy', resourceId: 'prx-test', endpoints: [], listen: { host: '127.0.0.1', port: 0 }, tags: {}, requireTls: true },
    logger,
    audit: sink,
    iamLogin: undefined as unknown as IamLogin,
    clientTls,
    native,
    cancelMap: new CancelMap(),
    loginTimeoutMs: 10_000,
    userAuth: async (u) => (u === user ? { iamAuth: 'DISABLED', method: 'POSTGRES_SCRAM_SHA_256', password: new Secret(password) } : undefined),
    pool: (u, db) => {
      const key = `${u}/${db}`;
      let p = pools.get(key);
      if (!p) {
        p = new PostgresPool({
          native,
          instance,
          user: u,
          database: db,
          credentials: async () => ({ username: user, password: new Secret(password) }),
          maxServers: MAX_SERVERS,
          borrowTimeoutMs: 20_000,
          loginTimeoutMs: 10_000,
          maxMessageBytes: 64 << 20,
          saltedPasswordCache: new SaltedPasswordCache({ maxEntries: 16 }),
          logger,
          timeoutError: fatalBytes('08000', 'Timed-out waiting to acquire database connection.'),
          lostError: fatalBytes('08006', 'the proxy lost its database connection'),
        });
        pools.set(key, p);
      }
      return p;
    },
    // Stand-in for the SCRAM/MD5 password login: the password in clear, over the client's TLS.
    passwordLogin: async (c: Socket, reader: MessageReader, _u, auth) => {
      c.write(encodeAuthenticationCleartextPassword());
      const answer = await reader.next();
      if (answer.type !== FrontendCode.PasswordMessage) return false;
      return decodePasswordMessage(new ByteReaderForBody(answer.body)).password.reveal() === auth.password.reveal();
    },
  };
  listener = createServer((sock) => void handlePostgresProxySession(sock, deps));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  port = (listener.address() as { port: number }).port;
});

afterAll(async () => {
  for (const p of pools.values()) p.close();
  if (listener) await new Promise<void>((r) => listener.close(() => r()));
});

describe('pooled PostgreSQL sessions', () => {
  it('serves a query', async () => {
    const c = client();
    await c.connect();
    const r = await c.query('SELECT 1 + 1 AS two, current_user AS who');
    expect(r.rows[0]).toEqual({ two: 2, who: user });
    await c.end();
  });

  it('serves many clients over a few server connections, each transaction whole', async () => {
    const a = admin();
    await a.connect();
    await a.query('CREATE TABLE IF NOT EXISTS counter (id int primary key, n int)');
    await a.query(`GRANT ALL ON counter TO ${user}`);
    await a.query('INSERT INTO counter VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');
    await a.end();
    const clients = Array.from({ length: 20 }, () => client());
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < 25; i++) {
          await c.query('BEGIN');
          const r = await c.query('SELECT n FROM counter WHERE id = 1 FOR UPDATE');
          await c.query('UPDATE counter SET n = $1 WHERE id = 1', [r.rows[0].n + 1]);
          await c.query('COMMIT');
        }
      }),
    );
    const r = await clients[0]!.query('SELECT n FROM counter WHERE id = 1');
    expect(r.rows[0].n).toBe(20 * 25);
    expect(await serverBackends()).toBeLessThanOrEqual(MAX_SERVERS);
    await Promise.all(clients.map((c) => c.end()));
  });
});
