/**
 * Turns a socket's 'data' events into awaited chunks for the handshake phase,
 * where the code is a sequence of steps (read, decide, write). The relay
 * phase does not use it: it moves bytes in 'data' handlers directly.
 */
import type { Socket } from 'node:net';
import { IamdbError } from '../errors/index.js';

export class SocketReader {
  readonly #chunks: Buffer[] = [];
  #waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #ended: Error | undefined;
  readonly #onData = (chunk: Buffer): void => {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.resolve(chunk);
    } else {
      this.#chunks.push(chunk);
    }
  };
  readonly #onEnd = (): void => this.#fail(new IamdbError('GATEWAY_PEER_CLOSED', {}));
  readonly #onError = (err: Error): void => this.#fail(new IamdbError('GATEWAY_PEER_CLOSED', {}, { cause: err }));

  constructor(readonly socket: Socket) {
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
    socket.resume();
  }

  #fail(err: Error): void {
    if (this.#ended) return;
    this.#ended = err;
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      w.reject(err);
    }
  }

  /** The next chunk; rejects when the peer is gone. */
  read(): Promise<Buffer> {
    const c = this.#chunks.shift();
    if (c !== undefined) return Promise.resolve(c);
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
    });
  }

  /** Bytes received but not yet read. */
  get buffered(): number {
    return this.#chunks.reduce((n, c) => n + c.length, 0);
  }

  /** Stops listening and hands back any unread chunks (for the relay). */
  detach(): Buffer[] {
    // Paused, so nothing arrives with no one listening until the next reader.
    this.socket.pause();
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onEnd);
    this.socket.off('error', this.#onError);
    return this.#chunks.splice(0);
  }
}
