/**
 * The pooled relay's native half (native/pg_pool.c) with real sockets on
 * loopback and a plain TCP "server" that says what a test needs, to provoke
 * orderings that a real PostgreSQL produces only by chance (a crash while a
 * reply is on its way). The protocol as a whole is tested against real
 * servers in test/integration/proxy-postgres-*.test.ts.
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { tcpSocketState, untilTcpSocket } from '../../test/support/tcp-state.js';
import { encodeErrorResponse, encodeQuery } from '../protocol/postgres/index.js';
import { nativeDataPath } from './native-data-path.js';

const closeables: Array<{ destroy(): unknown }> = [];
afterAll(() => {
  for (const c of closeables.splice(0)) c.destroy();
});

/** A pool of the native side, with its events as promises a test can wait on. */
function pool(maxServers = 1) {
  const loaded = nativeDataPath();
  expect(loaded.error?.message).toBeUndefined();
  const stats = new Float64Array(16);
  const closedServers: Array<{ id: number; reason: string }> = [];
  const waiters: Array<() => void> = [];
  let closed!: () => void;
  const poolClosed = new Promise<void>((r) => (closed = r));
  const error = (severity: string) => encodeErrorResponse({ severity, code: '08006', message: 'lost' });
  const control = loaded.path!.createPool({
    maxServers,
    borrowTimeoutMs: 5_000,
    neutralSettingsId: 1,
    resetQuery: encodeQuery('DISCARD ALL'),
    timeoutError: error('FATAL'),
    lostError: error('FATAL'),
    failedError: error('ERROR'),
    stats,
    events: {
      need: () => undefined,
      serverClosed: (id, reason) => {
        closedServers.push({ id, reason });
        for (const w of waiters.splice(0)) w();
      },
      closed: () => closed(),
    },
  });
  /** Resolves once a server connection of this pool has closed, with why; rejects after `timeoutMs`. */
  const serverClosed = (timeoutMs = 5_000): Promise<{ id: number; reason: string }> =>
    closedServers.length > 0
      ? Promise.resolve(closedServers.shift()!)
      : new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no server connection closed within ${timeoutMs} ms`)), timeoutMs);
          waiters.push(() => {
            clearTimeout(timer);
            resolve(closedServers.shift()!);
          });
        });
  return { control, stats, serverClosed, poolClosed };
}

/**
 * A connection as a pool's server login leaves it, whose peer ("the server")
 * has sent `last` and then reset the connection, both already in our socket
 * (checked in the kernel's tables, not guessed with a delay), and not read
 * by Node: what a crashed server leaves behind.
 */
async function resetWithUnreadBytes(last: Buffer): Promise<Socket> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const ours = netConnect(port, '127.0.0.1');
  // Paused before it connects: Node never starts reading it (as a pool's hand-over requires).
  ours.pause();
  await new Promise<void>((r) => ours.once('connect', () => r()));
  const theirs = await accepted;
  server.close();
  closeables.push(ours, theirs);
  await new Promise<void>((r) => theirs.write(last, () => r()));
  await untilTcpSocket(ours.localPort!, port, 'the last words queued', (s) => s !== undefined && s.rxQueue === last.length);
  theirs.resetAndDestroy();
  // A socket that took a reset leaves the kernel's tables while its descriptor still names it.
  await untilTcpSocket(ours.localPort!, port, 'the reset', (s) => s === undefined);
  expect(tcpSocketState(ours.localPort!, port)).toBeUndefined();
  return ours;
}

/** A NoticeResponse: what PostgreSQL 14+ sends to each session as an immediate shutdown kills it. */
function notice(): Buffer {
  const fields = Buffer.from('SWARNING\0VWARNING\0C57P01\0Mterminating connection due to immediate shutdown command\0\0');
  const head = Buffer.alloc(5);
  head[0] = 0x4e;
  head.writeUInt32BE(4 + fields.length, 1);
  return Buffer.concat([head, fields]);
}

describe('the pooled relay', () => {
  it('closes a server connection that was reset behind a message it had not read yet (the failover hang)', async () => {
    // libuv stops a poll that reports POLLERR; one read returns the message and not the error.
    // Without reading on until the error, the pool kept the connection as idle with no poll
    // to wake it, and lent it to the next client, whose statement never got an answer.
    const p = pool();
    const socket = await resetWithUnreadBytes(notice());
    p.control.add(1, socket, 1, false);
    expect(await p.serverClosed()).toEqual({ id: 1, reason: 'server closed the connection' });
    expect(p.stats[0]).toBe(0); // servers
    p.control.close();
    await p.poolClosed;
  });
});
