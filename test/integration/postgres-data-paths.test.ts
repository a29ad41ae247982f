/**
 * The same PostgreSQL sessions on each data path, against the real server:
 * native TLS with the native relay (plain TCP to the server, the usual
 * deployment next to the database), native TLS bridged to a TLS link to the
 * server, and Node's TLS with the JavaScript relay (`gateway.dataPath: node`).
 * Each carries megabytes both ways, cancels a query, and ends with an audit
 * record of its bytes; the drain deadline cuts a native session.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runPsql } from '../support/clients.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { startTcpTap, type TcpTap } from '../support/tcp-tap.js';

const server = inject('iamdbPostgres');
const user = `paths_${randomBytes(3).toString('hex')}`;
const key = newAccessKey();

function iamConfig(): Record<string, unknown> {
  return {
    users: [
      {
        name: 'paths',
        accessKeys: [key],
        policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${user}` }] } }],
      },
    ],
  };
}

function instance(id: string, tlsToServer: boolean, via?: TcpTap): Record<string, unknown> {
  return {
    id,
    engine: 'postgres',
    listen: 'auto',
    target: via ? `${via.host}:${via.port}` : `${server.host}:${server.port}`,
    ...(tlsToServer ? { targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' } } : {}),
    master: { username: server.user, password: server.password },
    iamDatabaseAuthentication: true,
  };
}

let native: TestIamdb;
let node: TestIamdb;
/** Between the gateway and the server of the TLS-bridged instance: what went in clear. */
let tap: TcpTap;
/** The same for an instance whose targetTls is `prefer`, where the tap can also answer 'N' as a man in the middle. */
let preferTap: TcpTap;

beforeAll(async () => {
  tap = await startTcpTap({ host: server.host, port: server.port });
  preferTap = await startTcpTap({ host: server.host, port: server.port });
  const prefer = { ...instance('pg-prefer', false, preferTap), targetTls: { mode: 'prefer' } };
  native = await startIamdb({ iam: iamConfig(), gateway: { drainTimeoutMs: 300 }, instances: [instance('pg-spliced', false), instance('pg-bridged', true, tap), prefer] });
  node = await startIamdb({ iam: iamConfig(), gateway: { dataPath: 'node' }, instances: [instance('pg-node', false)] });
  const { host, port } = native.endpoint('pg-spliced');
  const setup = await runPsql(
    `host=${host} port=${port} dbname=postgres user=${server.user} sslmode=verify-full sslrootcert=${native.caPath} password=${server.password}`,
    `CREATE USER ${user}; GRANT rds_iam TO ${user};`,
  );
  expect(setup.stderr).toBe('');
});

afterAll(async () => {
  await node?.stop();
  await native?.stop();
  await tap?.close();
  await preferTap?.close();
});

function client(gw: TestIamdb, id: string): pg.Client {
  const { host, port } = gw.endpoint(id);
  const token = presignDbAuthToken({
    hostname: host,
    port,
    username: user,
    region: REGION,
    credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) },
    date: new Date(),
  }).reveal();
  return new pg.Client({ host, port, user, password: token, database: 'postgres', ssl: { ca: readFileSync(gw.caPath) } });
}

async function cancel(gw: TestIamdb, id: string, c: pg.Client): Promise<void> {
  const { host, port } = gw.endpoint(id);
  const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(80877102, 4);
  msg.writeInt32BE(processID, 8);
  msg.writeInt32BE(secretKey, 12);
  await new Promise<void>((resolve) => {
    const s = netConnect({ host, port }, () => s.end(msg));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

/** Waits for `done`, a turn of the event loop at a time, for at most 10 s. */
async function until(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Length 8, code 1234.5679: what a connection that starts TLS sends first. */
const SSL_REQUEST = '0000000804d2162f';

describe('data paths', () => {
  it('puts PostgreSQL endpoints on the native data path unless told otherwise', () => {
    // A failed addon build must fail here rather than fall back silently.
    expect(native.app.endpoints.map((e) => [e.instance.id, e.dataPath])).toEqual([
      ['pg-spliced', 'native'],
      ['pg-bridged', 'native'],
      ['pg-prefer', 'native'],
    ]);
    expect(node.app.endpoints.map((e) => e.dataPath)).toEqual(['node']);
  });

  const cases = [
    { name: 'native relay, plain TCP to the server', gw: () => native, id: 'pg-spliced' },
    { name: 'native TLS bridged to TLS toward the server', gw: () => native, id: 'pg-bridged' },
    { name: 'Node TLS and the JavaScript relay', gw: () => node, id: 'pg-node' },
  ];
  for (const tc of cases) {
    it(`${tc.name}: carries megabytes both ways, cancels, and audits the bytes`, async () => {
      const gw = tc.gw();
      const c = client(gw, tc.id);
      await c.connect();
      const big = randomBytes(1 << 20).toString('hex'); // 2 MiB of text up
      const r = await c.query('select current_user as who, md5($1::text) as sum, repeat($2::text, 3 * 1024 * 1024) as down', [big, 'z']);
      expect(r.rows[0].who).toBe(user);
      expect(r.rows[0].sum).toBe((await import('node:crypto')).createHash('md5').update(big).digest('hex'));
      expect(r.rows[0].down.length).toBe(3 << 20);
      // Many small round trips: the shape of an OLTP workload.
      for (let i = 0; i < 200; i++) expect((await c.query('select $1::int as n', [i])).rows[0].n).toBe(i);

      // Settled as soon as it fails, so the rejection is never unhandled while we cancel.
      const running = c.query('select pg_sleep(30)').then(() => 'finished', (err: Error) => err.message);
      const probe = client(gw, tc.id);
      await probe.connect();
      for (let i = 0; i < 500; i++) {
        const p = await probe.query("select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active' and usename = $1", [user]);
        if (p.rows[0].n > 0) break;
      }
      await probe.end();
      const tapped = tap.heads.length;
      await cancel(gw, tc.id, c);
      expect(await running).toMatch(/canceling statement due to user request/);
      if (tc.id === 'pg-bridged') {
        // The cancel reached the server over TLS like the session's own link: its connection
        // opened with an SSLRequest, and the backend's secret key never went in clear.
        expect(tap.heads.length).toBe(tapped + 1);
        expect(tap.heads.map((h) => h.subarray(0, 8).toString('hex'))).toEqual(tap.heads.map(() => SSL_REQUEST));
      }
      const sessions = () => gw.audit.events.filter((e) => e.event === 'db.session.end' && e.instance === tc.id).length;
      const before = sessions();
      await c.end();
      // The end record is written when the relay has finished; wait for it without sleeping.
      await new Promise<void>((resolve) => {
        const check = (): void => (sessions() > before ? resolve() : void setImmediate(check));
        check();
      });
      const end = gw.audit.events.filter((e) => e.event === 'db.session.end' && e.instance === tc.id).at(-1) as unknown as { bytesIn: number; bytesOut: number; dbUser: string };
      expect(end.dbUser).toBe(user);
      expect(end.bytesIn).toBeGreaterThan(2 << 20);
      expect(end.bytesOut).toBeGreaterThan(3 << 20);
    });
  }

  it("under targetTls prefer, a cancel for a session whose link is TLS never goes in clear, even when asked 'N'", async () => {
    const c = client(native, 'pg-prefer');
    await c.connect();
    const running = c.query('select pg_sleep(30)').then(() => 'finished', (err: Error) => err.message);
    const probe = client(native, 'pg-prefer');
    await probe.connect();
    for (let i = 0; i < 500; i++) {
      const p = await probe.query("select count(*)::int as n from pg_stat_activity a join pg_stat_ssl s using (pid) where a.query = 'select pg_sleep(30)' and a.state = 'active' and a.usename = $1 and s.ssl", [user]);
      if (p.rows[0].n > 0) break;
    }
    await probe.end();
    // Someone between the gateway and the server answers the cancel's SSLRequest with 'N'.
    preferTap.refuseTls = true;
    const mitm = preferTap.heads.length;
    await cancel(native, 'pg-prefer', c);
    await until(() => preferTap.closed[mitm] === true);
    expect(preferTap.heads[mitm]!.toString('hex')).toBe(SSL_REQUEST);
    // Without the man in the middle the same cancel goes through, over TLS.
    preferTap.refuseTls = false;
    await cancel(native, 'pg-prefer', c);
    expect(await running).toMatch(/canceling statement due to user request/);
    expect(preferTap.heads.at(-1)!.subarray(0, 8).toString('hex')).toBe(SSL_REQUEST);
    await c.end();
  });

  it('cuts a native session still open at the drain deadline', async () => {
    const c = client(native, 'pg-spliced');
    c.on('error', () => undefined);
    await c.connect();
    const outcome = c.query('select pg_sleep(30)').then(() => 'finished', (err: Error) => err.message);
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    const started = Date.now();
    await native.app.close();
    expect(await outcome).toMatch(/Connection terminated/);
    await ended;
    // Cut at the 300 ms deadline, not when the query would have ended.
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
