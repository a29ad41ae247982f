/**
 * A TCP relay between the gateway and a real server that keeps the first
 * bytes each connection sent toward the server, so that a test can see what
 * crossed the network in clear (an SSLRequest first, or a CancelRequest
 * that should not have been). It relays everything unchanged.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpTap {
  readonly host: string;
  readonly port: number;
  /** Per connection, in the order they were accepted: the first `keep` bytes sent toward the server. */
  readonly heads: Buffer[];
  close(): Promise<void>;
}

export async function startTcpTap(target: { host: string; port: number }, keep = 64): Promise<TcpTap> {
  const heads: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const index = heads.push(Buffer.alloc(0)) - 1;
    const upstream = connect(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => {
      const head = heads[index]!;
      if (head.length < keep) heads[index] = Buffer.concat([head, chunk.subarray(0, keep - head.length)]);
    });
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp tap: no TCP address');
  return {
    host: '127.0.0.1',
    port: address.port,
    heads,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
