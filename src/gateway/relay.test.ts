import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { relay } from './relay.js';

/** Two connected socket pairs on loopback: [client side, gateway side]. */
async function pair(): Promise<[Socket, Socket]> {
  return new Promise((resolve) => {
    const server = createServer((accepted) => {
      server.close();
      resolve([outer, accepted]);
    });
    let outer: Socket;
    server.listen(0, '127.0.0.1', () => {
      const addr = server.address() as { port: number };
      outer = connect(addr.port, '127.0.0.1');
    });
  });
}

const open: Socket[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});

describe('relay', () => {
  it('moves bytes both ways until one side ends', async () => {
    const [client, gwClient] = await pair();
    const [gwServer, server] = await pair();
    open.push(client, gwClient, gwServer, server);
    const done = relay(gwClient, gwServer);
    const got = new Promise<string>((resolve) => server.once('data', (d) => resolve(d.toString())));
    client.write('ping');
    expect(await got).toBe('ping');
    const back = new Promise<string>((resolve) => client.once('data', (d) => resolve(d.toString())));
    server.write('pong');
    expect(await back).toBe('pong');
    client.end();
    const result = await done;
    expect(result.endedBy).toBe('client');
    expect(result.bytesFromClient).toBe(4);
    expect(result.bytesFromServer).toBe(4);
  });

  it('ends only its own session when a hook throws on bad server bytes', async () => {
    const [client, gwClient] = await pair();
    const [gwServer, server] = await pair();
    open.push(client, gwClient, gwServer, server);
    const done = relay(gwClient, gwServer, {
      onServerChunk: () => {
        throw new Error('cannot frame');
      },
    });
    server.write(Buffer.from([0x5a, 0, 0, 0, 1]));
    const result = await done;
    expect(result.endedBy).toBe('error');
  });

  it('ends only its own session when a client hook throws', async () => {
    const [client, gwClient] = await pair();
    const [gwServer, server] = await pair();
    open.push(client, gwClient, gwServer, server);
    const done = relay(gwClient, gwServer, {
      onClientChunk: () => {
        throw new Error('oversized packet');
      },
    });
    client.write('x');
    expect((await done).endedBy).toBe('error');
  });
});
