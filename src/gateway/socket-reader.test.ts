import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { isIamdbError } from '../errors/index.js';
import { SocketReader } from './socket-reader.js';

const open: Array<{ destroy(): void } | { close(): void }> = [];
afterEach(() => {
  for (const o of open.splice(0)) ('destroy' in o ? o.destroy() : o.close());
});

/** A connected pair of real TCP sockets on loopback. */
async function pair(): Promise<{ server: Socket; client: Socket }> {
  return new Promise((resolve) => {
    const srv = createServer((server) => {
      open.push(server);
      resolve({ server, client });
    });
    open.push(srv);
    let client!: Socket;
    srv.listen(0, '127.0.0.1', () => {
      client = connect((srv.address() as { port: number }).port, '127.0.0.1');
      open.push(client);
    });
  });
}

describe('SocketReader', () => {
  it('reads only while a read() waits: the socket is paused otherwise', async () => {
    const { server, client } = await pair();
    const reader = new SocketReader(server);
    expect(server.isPaused()).toBe(true);
    client.write('hello');
    const chunk = await reader.read();
    expect(chunk.toString()).toBe('hello');
    // Nobody waits now: whatever the peer sends stays in the kernel (TCP flow control), not here.
    expect(server.isPaused()).toBe(true);
    client.write('more');
    const next = reader.read();
    expect(server.isPaused()).toBe(false);
    expect((await next).toString()).toBe('more');
    expect(server.isPaused()).toBe(true);
  });

  it('rejects a waiting read when the peer goes away', async () => {
    const { server, client } = await pair();
    const reader = new SocketReader(server);
    const pending = reader.read();
    client.end();
    expect(isIamdbError(await pending.catch((e: unknown) => e), 'GATEWAY_PEER_CLOSED')).toBe(true);
  });
});
