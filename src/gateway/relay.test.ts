import { createServer, connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { relay, type RelayHooks } from './relay.js';

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

  // Two sessions through the same hooks: the one whose bytes make a hook throw
  // ends (both of its sockets close), the other keeps relaying both ways.
  it('ends only its own session when a hook throws on bad server bytes', async () => {
    const hooks = {
      onServerChunk: (chunk: Buffer) => {
        if (chunk[0] === 0x5a && chunk.readUInt32BE(1) < 4) throw new Error('cannot frame');
        return true;
      },
    };
    const bad = await relayedSession(hooks);
    const good = await relayedSession(hooks);
    bad.server.write(Buffer.from([0x5a, 0, 0, 0, 1]));
    expect((await bad.done).endedBy).toBe('error');
    await Promise.all([closed(bad.client), closed(bad.server)]);
    await expectRelaying(good);
    good.client.end();
    expect((await good.done).endedBy).toBe('client');
  });

  it('ends only its own session when a client hook throws', async () => {
    const hooks = {
      onClientChunk: (chunk: Buffer) => {
        if (chunk.toString() === 'oversized') throw new Error('oversized packet');
        return true;
      },
    };
    const bad = await relayedSession(hooks);
    const good = await relayedSession(hooks);
    bad.client.write('oversized');
    expect((await bad.done).endedBy).toBe('error');
    await Promise.all([closed(bad.client), closed(bad.server)]);
    await expectRelaying(good);
    good.server.end();
    expect((await good.done).endedBy).toBe('server');
  });
});

interface RelayedSession {
  readonly client: Socket;
  readonly server: Socket;
  readonly done: ReturnType<typeof relay>;
}

/** A client and a server socket with a relay between them. */
async function relayedSession(hooks: RelayHooks): Promise<RelayedSession> {
  const [client, gwClient] = await pair();
  const [gwServer, server] = await pair();
  open.push(client, gwClient, gwServer, server);
  return { client, server, done: relay(gwClient, gwServer, hooks) };
}

function closed(socket: Socket): Promise<void> {
  return new Promise((resolve) => (socket.closed ? resolve() : socket.once('close', () => resolve())));
}

/** Bytes still go client → server and server → client. */
async function expectRelaying(s: RelayedSession): Promise<void> {
  const got = new Promise<string>((resolve) => s.server.once('data', (d) => resolve(d.toString())));
  s.client.write('still here');
  expect(await got).toBe('still here');
  const back = new Promise<string>((resolve) => s.client.once('data', (d) => resolve(d.toString())));
  s.server.write('so am I');
  expect(await back).toBe('so am I');
}
