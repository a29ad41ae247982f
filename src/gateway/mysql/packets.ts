/**
 * Awaitable MySQL packet reading over a socket during the handshake, on top
 * of the protocol's PacketFramer.
 */
import type { Socket } from 'node:net';
import { PacketFramer, type MysqlPacket } from '../../protocol/mysql/index.js';
import { SocketReader } from '../socket-reader.js';

export class PacketReader {
  readonly #reader: SocketReader;
  readonly #framer: PacketFramer;
  readonly #ready: MysqlPacket[] = [];

  constructor(socket: Socket, maxAllowedPacket: number, initial?: Buffer) {
    this.#reader = new SocketReader(socket);
    this.#framer = new PacketFramer({ maxAllowedPacket });
    if (initial !== undefined && initial.length > 0) {
      for (const packet of this.#framer.push(initial)) this.#ready.push({ ...packet, payload: Buffer.from(packet.payload) });
    }
  }

  async next(): Promise<MysqlPacket> {
    for (;;) {
      const p = this.#ready.shift();
      if (p !== undefined) return p;
      for (const packet of this.#framer.push(await this.#reader.read())) {
        this.#ready.push({ ...packet, payload: Buffer.from(packet.payload) });
      }
    }
  }

  /** Bytes received but not yet returned (whole or partial packets). */
  get pendingBytes(): number {
    return this.#reader.buffered + this.#framer.bufferedBytes + this.#ready.reduce((n, p) => n + p.payload.length + 4, 0);
  }

  /** Stops reading from the socket. Callers check pendingBytes first. */
  detach(): void {
    this.#reader.detach();
  }
}
