/**
 * A TCP listener for one endpoint that tracks its connections so the gateway
 * can drain: stop accepting, let sessions finish up to a deadline, then cut
 * what is left. Each connection's handler runs in isolation: whatever one
 * client sends, a throw ends only its own socket.
 *
 * Every new connection first needs a place under the pre-auth caps
 * (pre-auth.ts); a refused one gets the engine's "too many connections"
 * answer and is closed before anything else is read or opened for it.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { PreAuthLimiter, PreAuthRefusal } from './pre-auth.js';
import { listenOn } from '../util/index.js';

/** What a session can tell its listener. */
export interface ConnectionContext {
  /**
   * A session whose bytes leave its socket (the native data path takes the
   * fd over) registers how to end it at the drain deadline.
   */
  onCut(cut: () => void): void;
  /** The client has authenticated: it no longer counts under the pre-auth caps. */
  authenticated(): void;
}

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly logger: Logger;
  /** Handles one client connection; resolves when the session is over. */
  readonly onConnection: (socket: Socket, context: ConnectionContext) => Promise<void>;
  /** The caps on unauthenticated connections, shared by every endpoint. */
  readonly preAuth: PreAuthLimiter;
  /** The engine's answer to a connection the caps refuse (sent, then the socket is closed). */
  readonly refusal: (cause: PreAuthRefusal) => Buffer;
}

export class EndpointListener {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #sessions = new Set<Promise<void>>();
  readonly #cuts = new Set<() => void>();
  #draining = false;

  constructor(private readonly options: ListenerOptions) {
    this.#server = createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 60_000 }, (socket) => this.#accept(socket));
    this.#server.on('error', (err) => options.logger.error({ err, endpoint: options.name }, 'listener error'));
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    return listenOn(this.#server, { host: this.options.host, port: this.options.port, backlog: 1024 });
  }

  get connections(): number {
    return this.#sockets.size;
  }

  #accept(socket: Socket): void {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    socket.on('error', () => undefined);
    const ticket = this.options.preAuth.admit(socket.remoteAddress, this.options.name);
    if (typeof ticket === 'string') {
      // Nothing is read from a refused client: one write, then gone.
      socket.end(this.options.refusal(ticket));
      socket.setTimeout(1_000, () => socket.destroy());
      return;
    }
    this.#sockets.add(socket);
    this.#track(socket, ticket);
  }

  /**
   * Runs one connection's session. The closures here outlive the socket (a
   * session handed to the native data path runs for as long as its client
   * stays), so none of them holds the socket: it is reached through `open`,
   * which lets go of it once it is closed.
   */
  #track(socket: Socket, ticket: { release(): void }): void {
    const sockets = this.#sockets;
    const open: { socket?: Socket } = { socket };
    socket.once('close', function (this: Socket) {
      sockets.delete(this);
      open.socket = undefined;
    });
    const cuts: Array<() => void> = [];
    const session = this.options
      .onConnection(socket, {
        onCut: (cut) => {
          cuts.push(cut);
          this.#cuts.add(cut);
        },
        authenticated: () => ticket.release(),
      })
      .catch((err: unknown) => {
        this.options.logger.warn({ err, endpoint: this.options.name }, 'session ended with an error');
      })
      .finally(() => {
        ticket.release();
        this.#sessions.delete(session);
        for (const cut of cuts) this.#cuts.delete(cut);
        if (open.socket && !open.socket.destroyed) open.socket.destroy();
      });
    this.#sessions.add(session);
  }

  /**
   * Stops accepting and waits for sessions to end, up to `deadlineMs`; then
   * destroys the sockets still open.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, deadlineMs);
      timer.unref();
    });
    await Promise.race([Promise.allSettled([...this.#sessions]), deadline]);
    if (timer) clearTimeout(timer);
    for (const s of this.#sockets) s.destroy();
    for (const cut of this.#cuts) cut();
    await Promise.allSettled([...this.#sessions]);
    await closed;
  }
}
