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
import { FIXTURE_POOL_SIZE, startPostgresProxyFixture, type PostgresProxyFixture } from '../support/postgres-proxy-fixture.js';

let f: PostgresProxyFixture;

beforeAll(async () => {
  f = await startPostgresProxyFixture('stall', { clientStallSeconds: 1 });
}, 180_000);

afterAll(async () => {
  await f?.stop();
});

/** The socket under a pg.Client (pg keeps it on its connection): paused, it reads nothing more. */
function stream(c: pg.Client): { pause(): void } {
  return (c as unknown as { connection: { stream: { pause(): void } } }).connection.stream;
}

describe('a pooled client that stops reading', () => {
  it('is let go after clientStallSeconds, and every server connection it could hold serves others again', async () => {
    const from = f.iamdb.audit.events.length;
    // As many stalled clients as the pool has connections: without the stall rule nobody else would get one.
    const stalled = Array.from({ length: FIXTURE_POOL_SIZE }, () => f.client());
    for (const c of stalled) {
      c.on('error', () => undefined);
      await c.connect();
      // Each holds its own server connection before it stops reading (a transaction keeps it): none waits to borrow one.
      await c.query('BEGIN');
    }
    const answers = stalled.map((c) => {
      stream(c).pause();
      // About 100 MB of answer: far more than the socket buffers (which autotuning grows) and the proxy's own hold.
      return c.query("SELECT repeat('x', 1000) FROM generate_series(1, 100000)").then(
        () => 'answered',
        () => 'ended',
      );
    });
    // One db.session.end per stalled client, each after the one before (a client that waited for a server stalls later).
    const stoppedReading = (e: AuditEvent): boolean => e.event === 'db.session.end' && (e as { clientStoppedReading?: boolean }).clientStoppedReading === true;
    const ends: AuditEvent[] = [];
    for (let at = from; ends.length < FIXTURE_POOL_SIZE; ) {
      const e = await f.iamdb.audit.until(stoppedReading, at);
      ends.push(e);
      at = f.iamdb.audit.events.indexOf(e) + 1;
    }
    expect(ends.length).toBe(FIXTURE_POOL_SIZE);
    for (const c of stalled) (c as unknown as { connection: { stream: { resume(): void } } }).connection.stream.resume();
    expect(await Promise.all(answers)).toEqual(stalled.map(() => 'ended'));
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
