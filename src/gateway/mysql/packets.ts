/**
 * Awaitable MySQL packet reading over a socket during the handshake, on top
 * of the protocol's PacketFramer. Reads on demand (socket-reader.ts), so a
 * peer cannot make the gateway hold more than one packet of at most
 * `maxAllowedPacket` bytes, checked from the header before the body is
 * awaited; `next(expectedSequenceId)` checks the sequence id from the header
 * too.
 */
import type { Socket } from 'node:net';
import { IamdbError } from '../../errors/index.js';
import { PacketFramer, type MysqlPacket } from '../../protocol/mysql/index.js';
import { SocketReader } from '../socket-reader.js';

export class PacketReader {
  readonly #reader: SocketReader;
  readonly #framer: PacketFramer;
  readonly #ready: MysqlPacket[] = [];
  #initial: Buffer | undefined;

  constructor(socket: Socket, maxAllowedPacket: number, initial?: Buffer) {
    this.#reader = new SocketReader(socket);
    this.#framer = new PacketFramer({ maxAllowedPacket });
    if (initial !== undefined && initial.length > 0) this.#initial = initial;
  }

  /** The next packet; with `expectedSequenceId`, one with another sequence id is a protocol violation. */
  async next(expectedSequenceId?: number): Promise<MysqlPacket> {
    this.#framer.expectSequenceId(expectedSequenceId);
    for (;;) {
      const p = this.#ready.shift();
      if (p !== undefined) {
        if (expectedSequenceId !== undefined && p.sequenceId !== expectedSequenceId) {
          throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: p.sequenceId, expected: expectedSequenceId });
        }
        return p;
      }
      const chunk = this.#initial ?? (await this.#reader.read());
      this.#initial = undefined;
      for (const packet of this.#framer.push(chunk)) {
        this.#ready.push({ ...packet, payload: Buffer.from(packet.payload) });
      }
    }
  }

  /** Bytes received but not yet returned (whole or partial packets). */
  get pendingBytes(): number {
    return (this.#initial?.length ?? 0) + this.#reader.buffered + this.#framer.bufferedBytes + this.#ready.reduce((n, p) => n + p.payload.length + 4, 0);
  }

  /** Stops reading from the socket. Callers check pendingBytes first. */
  detach(): void {
    this.#reader.detach();
  }
}
