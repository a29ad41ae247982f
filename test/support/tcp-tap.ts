/**
 * A TCP relay between the gateway and a real server that keeps the first
 * bytes each connection sent toward the server, so that a test can see what
 * crossed the network in clear (an SSLRequest first, or a CancelRequest
 * that should not have been). It relays everything unchanged, unless told to
 * play the man in the middle who answers a connection's SSLRequest with 'N'
 * and keeps what the client sends next, in clear, without relaying it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpTap {
  readonly host: string;
  readonly port: number;
  /** Per connection, in the order they were accepted: the first `keep` bytes sent toward the server. */
  readonly heads: Buffer[];
  /** Per connection, whether the gateway's side of it has closed. */
  readonly closed: boolean[];
  /** While true, new connections meet the man in the middle instead of the server. */
  refuseTls: boolean;
  close(): Promise<void>;
}

export async function startTcpTap(target: { host: string; port: number }, keep = 64): Promise<TcpTap> {
  const heads: Buffer[] = [];
  const closed: boolean[] = [];
  const sockets = new Set<Socket>();
  const track = (s: Socket): void => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  };
  const record = (index: number, chunk: Buffer): void => {
    const head = heads[index]!;
    if (head.length < keep) heads[index] = Buffer.concat([head, chunk.subarray(0, keep - head.length)]);
  };
  const server: Server = createServer((client) => {
    const index = heads.push(Buffer.alloc(0)) - 1;
    closed.push(false);
    track(client);
    client.on('close', () => (closed[index] = true));
    if (tap.refuseTls) {
      client.on('error', () => undefined);
      client.on('data', (chunk: Buffer) => {
        const before = heads[index]!.length;
        record(index, chunk);
        // The 8-byte SSLRequest is in: 'N', and whatever comes next is kept, never relayed.
        if (before < 8 && heads[index]!.length >= 8) client.write('N');
      });
      return;
    }
    const upstream = connect(target);
    track(upstream);
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (chunk: Buffer) => record(index, chunk));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1' }, resolve);
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('tcp tap: no TCP address');
  const tap: TcpTap = {
    host: '127.0.0.1',
    port: address.port,
    heads,
    closed,
    refuseTls: false,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return tap;
}
