import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { EndpointListener } from './listener.js';
import { PreAuthLimiter } from './pre-auth.js';

// A full collection on demand: whether the listener still reaches a socket is only visible after one.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('EndpointListener', () => {
  it('lets go of a closed client socket while its session goes on (pooled clients outlive their login socket)', async () => {
    const logger = pino({ level: 'silent' });
    let endSession!: () => void;
    const sessionOver = new Promise<void>((resolve) => {
      endSession = resolve;
    });
    let accepted!: (v: { ref: WeakRef<Socket>; closed: Promise<unknown> }) => void;
    const seen = new Promise<{ ref: WeakRef<Socket>; closed: Promise<unknown> }>((resolve) => {
      accepted = resolve;
    });
    const listener = new EndpointListener({
      host: '127.0.0.1',
      port: 0,
      name: 'test',
      logger,
      preAuth: new PreAuthLimiter({ maxConnections: 10, maxConnectionsPerSource: 10 }, logger),
      refusal: () => Buffer.alloc(0),
      // As a session handed to the native data path: the socket is done with, the session is not.
      onConnection: (socket, context) => {
        accepted({ ref: new WeakRef(socket), closed: once(socket, 'close') });
        context.onCut(() => undefined);
        context.authenticated();
        socket.destroy();
        return sessionOver;
      },
    });
    const port = await listener.listen();
    const client = connect(port, '127.0.0.1');
    client.on('error', () => undefined);
    const { ref, closed } = await seen;
    await closed;
    expect(listener.connections).toBe(0);
    let alive = true;
    for (let i = 0; i < 10 && alive; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      alive = ref.deref() !== undefined;
    }
    expect(alive).toBe(false);
    client.destroy();
    endSession();
    await listener.drain(1_000);
  });
});
