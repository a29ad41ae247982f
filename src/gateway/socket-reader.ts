/**
 * Turns a socket's 'data' events into awaited chunks for the handshake phase,
 * where the code is a sequence of steps (read, decide, write). The relay
 * phase does not use it: it moves bytes in 'data' handlers directly.
 *
 * Reading is on demand: the socket flows only while a `read()` waits, and is
 * paused again as soon as a chunk arrives. While a login step is busy
 * elsewhere (a token check, a server round trip) nothing more is read from
 * the client, so what an unauthenticated peer can make the process hold is
 * one chunk plus the stream's own high-water mark, never a queue that grows
 * with what it sends (the kernel's socket buffer takes the rest, and then
 * TCP flow control stops the sender).
 */
import type { Socket } from 'node:net';
import { IamdbError } from '../errors/index.js';

export class SocketReader {
  readonly #chunks: Buffer[] = [];
  #waiter: { resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  #ended: Error | undefined;
  #detached = false;
  readonly #onData = (chunk: Buffer): void => {
    if (this.#waiter) {
      const w = this.#waiter;
      this.#waiter = undefined;
      // Demand met: stop reading until the next read().
      this.socket.pause();
      w.resolve(chunk);
    } else {
      // Only bytes already in flight when the socket was paused land here.
      this.#chunks.push(chunk);
      this.socket.pause();
    }
  };
  readonly #onEnd = (): void => this.#fail(new IamdbError('GATEWAY_PEER_CLOSED', {}));
  readonly #onError = (err: Error): void => this.#fail(new IamdbError('GATEWAY_PEER_CLOSED', {}, { cause: err }));

  constructor(readonly socket: Socket) {
    socket.pause();
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onEnd);
    socket.on('error', this.#onError);
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
    if (this.#detached) return Promise.reject(new IamdbError('GATEWAY_PEER_CLOSED', {}));
    return new Promise((resolve, reject) => {
      this.#waiter = { resolve, reject };
      this.socket.resume();
    });
  }

  /** Bytes received but not yet read (ours, and what the paused stream holds). */
  get buffered(): number {
    return this.#chunks.reduce((n, c) => n + c.length, 0) + this.socket.readableLength;
  }

  /** Stops listening and hands back any unread chunks (for the relay). */
  detach(): Buffer[] {
    // Paused, so nothing arrives with no one listening until the next reader.
    this.#detached = true;
    this.socket.pause();
    this.socket.off('data', this.#onData);
    this.socket.off('end', this.#onEnd);
    this.socket.off('close', this.#onEnd);
    this.socket.off('error', this.#onError);
    return this.#chunks.splice(0);
  }
}
