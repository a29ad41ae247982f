/**
 * A pooled client that stops reading while it holds a server connection
 * (its answer waits, IdleClientTimeout never counts it): the proxy lets it
 * go after proxyEndpoints.clientStallSeconds and the server connection
 * serves the next client, instead of being held for as long as the client
 * likes (an authenticated user could hold the whole pool that way).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../src/audit/index.js';
import { waitFor } from '../support/exec.js';
import { FIXTURE_POOL_SIZE, startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';
import { startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';

let f: PostgresProxyFixture;

beforeAll(async () => {
  f = await startPostgresProxyFixture('stall', { clientStallSeconds: 1 });
}, 180_000);

afterAll(async () => {
  await f?.stop();
});

/** `p`, or a failure that says what did not happen within `ms` (rather than the test's own timeout, which says nothing). */
function within<T>(ms: number, p: Promise<T>, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what()}`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** The socket under a pg.Client (pg keeps it on its connection): paused, it reads nothing more. */
function stream(c: pg.Client): { pause(): void } {
  return (c as unknown as { connection: { stream: { pause(): void } } }).connection.stream;
}

describe('a pooled client that stops reading', () => {
  it('is let go after clientStallSeconds, and every server connection it could hold serves others again', async () => {
    const from = f.iamdb.audit.events.length;
    // As many stalled clients as the pool has connections: without the stall rule nobody else would get one.
    // Each behind a relay of its own, frozen once it has stalled (see tcp-relay.ts: then it takes nothing more at all).
    const relays: TcpRelay[] = [];
    try {
      for (let i = 0; i < FIXTURE_POOL_SIZE; i++) relays.push(await startTcpRelay(f.port));
      const stalled = relays.map((r) => new pg.Client({ host: '127.0.0.1', port: r.port, user: f.user, password: f.password, database: f.database, ssl: { ca: f.iamdbCa, servername: 'localhost' } }));
      const backends: number[] = [];
      for (const c of stalled) {
        c.on('error', () => undefined);
        await c.connect();
        // Each holds its own server connection before it stops reading (a transaction keeps it): none waits to borrow one.
        await c.query('BEGIN');
        backends.push((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number);
      }
      const answers = stalled.map((c) => {
        // The client stops reading first, so the relay reads no further than its own buffers hold.
        stream(c).pause();
        // About 100 MB of answer: far more than the socket buffers on the way (autotuning grows them to a
        // few MB each) and the proxy's own hold.
        return c.query("SELECT repeat('x', 1000) FROM generate_series(1, 100000)").then(
          () => 'answered',
          () => 'ended',
        );
      });
      // The stall as the server sees it: each backend blocked writing its answer (wait_event ClientWrite), because
      // every buffer between it and its client is full. From here on the proxy's clock, not the machine's speed
      // (slow under the sanitizers), decides when the clients go. A backend is counted once seen blocked: the first
      // client may be let go (and the rest of its answer drained by the proxy) before the second stalls.
      const admin = f.admin();
      await admin.connect();
      const blocked = new Set<number>();
      try {
        await waitFor(
          "every stalled client's backend blocked on ClientWrite",
          async () => {
            const { rows } = await admin.query<{ pid: number; wait_event: string | null }>('SELECT pid, wait_event FROM pg_stat_activity WHERE pid = ANY($1)', [backends]);
            for (const r of rows) if (r.wait_event === 'ClientWrite') blocked.add(r.pid);
            if (blocked.size < backends.length) throw new Error(`seen blocked: ${[...blocked].join(', ') || 'none'}; now ${JSON.stringify(rows)}`);
          },
          60_000,
        );
      } finally {
        await admin.end();
      }
      for (const r of relays) r.freeze();
      // One db.session.end per stalled client, each after the one before (two waits must not match the same record).
      // They come within clientStallSeconds and a turn of the once-a-second sweep; the bound leaves room for a loaded
      // machine. The proxy must not wait for the clients to take what it still holds for them: they never will.
      const stoppedReading = (e: AuditEvent): boolean => e.event === 'db.session.end' && (e as { clientStoppedReading?: boolean }).clientStoppedReading === true;
      const ends: AuditEvent[] = [];
      for (let at = from; ends.length < FIXTURE_POOL_SIZE; ) {
        const e = await within(20_000, f.iamdb.audit.until(stoppedReading, at), () => `${ends.length} of ${FIXTURE_POOL_SIZE} stalled clients let go (db.session.end with clientStoppedReading) while they take nothing`);
        ends.push(e);
        at = f.iamdb.audit.events.indexOf(e) + 1;
      }
      for (const r of relays) r.thaw();
      for (const c of stalled) (c as unknown as { connection: { stream: { resume(): void } } }).connection.stream.resume();
      expect(await within(60_000, Promise.all(answers), () => 'the let-go clients see their connections end')).toEqual(stalled.map(() => 'ended'));
    } finally {
      for (const r of relays) await r.stop();
    }
    const next = f.client();
    await next.connect();
    expect((await next.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await next.end();
  });

  it('keeps a client that takes its answer slowly but steadily, for longer than clientStallSeconds in all', async () => {
    const c = f.client();
    await c.connect();
    // About 600 KB, and a tenth of a second's pause after each chunk the socket gives: several seconds in all,
    // never a second without taking some of it. The pauses are the behaviour under test, not a wait for something.
    const s = (c as unknown as { connection: { stream: NodeJS.ReadableStream & { pause(): void; resume(): void } } }).connection.stream;
    const started = Date.now();
    const slow = (): void => {
      s.pause();
      setTimeout(() => s.resume(), 100);
    };
    s.on('data', slow);
    const r = await c.query("SELECT repeat('y', 1000) AS v FROM generate_series(1, 600)");
    s.off('data', slow);
    expect(r.rows.length).toBe(600);
    expect(Date.now() - started).toBeGreaterThan(1_500);
    expect((await c.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    await c.end();
  });
});
