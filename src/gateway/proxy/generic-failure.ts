/**
 * RDS Proxy's generic refusal, in each engine's wire format: what a proxy
 * endpoint answers every client until the pooler serves them. PostgreSQL: an
 * SSLRequest is declined (`N`), the startup packet read (bounded, at most
 * 10,000 bytes, within 10 s), then `FATAL XX000 Unknown error.`; MySQL: ERR
 * 1105 (HY000) `Unknown error` in place of the greeting. Either way the
 * connection then ends. The default `ProxyConnectionHandler` of app.ts.
 */
import type { Socket } from 'node:net';
import { SqlState, StartupDecoder, encodeErrorResponse } from '../../protocol/postgres/index.js';
import { encodePacket, errPacketFor } from '../../protocol/mysql/index.js';
import type { EngineFamily } from '../../rds/index.js';

const STARTUP_TIMEOUT_MS = 10_000;

/** Answers one connection with the generic failure and closes it; resolves when the socket is done. */
export function answerGenericFailure(socket: Socket, family: EngineFamily): Promise<void> {
  return new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.setTimeout(STARTUP_TIMEOUT_MS, () => socket.destroy());
    if (family === 'MYSQL') {
      socket.end(encodePacket(errPacketFor('ER_UNKNOWN_ERROR', 'Unknown error'), 0));
      return;
    }
    const decoder = new StartupDecoder();
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
        for (let packet = decoder.next(); packet !== undefined; packet = decoder.next()) {
          if (packet.type === 'SSLRequest' || packet.type === 'GSSENCRequest') {
            socket.write(Buffer.from('N'));
            continue;
          }
          if (packet.type === 'StartupMessage') socket.end(encodeErrorResponse({ severity: 'FATAL', code: SqlState.INTERNAL_ERROR, message: 'Unknown error.' }));
          else socket.destroy();
          socket.removeAllListeners('data');
          return;
        }
      } catch {
        // Not a startup packet iamdb can read: nothing to answer.
        socket.destroy();
      }
    });
  });
}
