import { connect, createServer, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { DbInstance } from '../../rds/index.js';
import { abandonServerLink, startServerTls, type ServerLink } from './upstream.js';

/**
 * A real TCP peer standing in for a server whose TLS is broken: it answers
 * the ClientHello with bytes that are not TLS. Keeps what reached it.
 */
async function brokenTlsPeer(): Promise<{ socket: Socket; received: () => Buffer; closed: Promise<void>; port: number; stop: () => void }> {
  const chunks: Buffer[] = [];
  let closedResolve!: () => void;
  const closed = new Promise<void>((resolve) => (closedResolve = resolve));
  const server = createServer((s) => {
    s.on('data', (b: Buffer) => {
      chunks.push(b);
      // The ClientHello (a TLS record starts 0x16): not TLS back.
      if (b[0] === 0x16) s.write(Buffer.from('this is not a TLS record, sorry\n'));
    });
    s.on('error', () => undefined);
    s.on('close', closedResolve);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  socket.on('error', () => undefined);
  return { socket, received: () => Buffer.concat(chunks), closed, port, stop: () => server.close() };
}

let stop: (() => void) | undefined;
afterEach(() => stop?.());

describe('abandonServerLink', () => {
  it('after a failed TLS handshake with the server, closes without writing a login in clear', async () => {
    const p = await brokenTlsPeer();
    stop = p.stop;
    const link = { socket: p.socket, reader: { detach: () => undefined }, greeting: { authPluginName: 'mysql_native_password', authPluginData: Buffer.alloc(20) }, seq: 1, wantsTls: true, tls: false, phase: 'greeted' } as unknown as ServerLink;
    const instance = { target: { host: '127.0.0.1', port: p.port }, targetTls: { mode: 'require' } } as unknown as DbInstance;
    await expect(startServerTls(link, instance, 0, { maxPacketSize: 1 << 24, characterSet: 33 } as never, 0, 2_000, 1 << 24)).rejects.toThrow(/TLS/);
    abandonServerLink(link);
    await p.closed;
    // The SSLRequest (a 4-byte header and 32 bytes), then the ClientHello; no login packet after them.
    const bytes = p.received();
    const afterSslRequest = bytes.subarray(36);
    expect(bytes.readUIntLE(0, 3)).toBe(32);
    expect(afterSslRequest[0]).toBe(0x16);
    expect(afterSslRequest.readUInt16BE(3) + 5).toBe(afterSslRequest.length);
  });
});
