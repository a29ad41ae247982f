/**
 * Awaitable typed-message reading over a socket during login, on top of the
 * protocol's FrameDecoder. After login, `handOff()` returns the bytes already
 * received but not consumed, which belong to the relay.
 */
import { IamdbError } from '../../errors/index.js';
import { FrameDecoder, type Frame } from '../../protocol/postgres/index.js';
import { SocketReader } from '../socket-reader.js';
import type { Socket } from 'node:net';

export class MessageReader {
  readonly #reader: SocketReader;
  readonly #frames: FrameDecoder;

  constructor(socket: Socket, maxMessageBytes: number, what: string, initial?: Buffer) {
    this.#reader = new SocketReader(socket);
    this.#frames = new FrameDecoder({ maxMessageBytes, what });
    if (initial !== undefined && initial.length > 0) this.#frames.push(initial);
  }

  /** The next whole message; rejects with GATEWAY_PEER_CLOSED when the peer goes away. */
  async next(): Promise<Frame> {
    for (;;) {
      const frame = this.#frames.next();
      if (frame !== undefined) {
        // Copy: the frame may be a view into a chunk the decoder reuses.
        return { type: frame.type, body: Buffer.from(frame.body) };
      }
      this.#frames.push(await this.#reader.read());
    }
  }

  /** Stops reading and returns unconsumed bytes, in order. */
  handOff(): Buffer[] {
    const rest = this.#reader.detach();
    const pending = this.#frames.takePending();
    return pending.length > 0 ? [pending, ...rest] : rest;
  }

  get socket(): Socket {
    return this.#reader.socket;
  }
}

/** Raises a typed error naming what was expected when a message type is unexpected. */
export function unexpected(what: string, frame: Frame): IamdbError {
  return new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: what, reason: `unexpected message '${String.fromCharCode(frame.type)}'` });
}
