/**
 * A TCP listener for one endpoint that tracks its connections so the gateway
 * can drain: stop accepting, let sessions finish up to a deadline, then cut
 * what is left. Each connection's handler runs in isolation: whatever one
 * client sends, a throw ends only its own socket.
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  readonly name: string;
  readonly logger: Logger;
  /**
   * Handles one client connection; resolves when the session is over. A
   * session whose bytes leave `socket` (the native data path takes the fd
   * over) registers with `onCut` how to end it at the drain deadline.
   */
  readonly onConnection: (socket: Socket, onCut: (cut: () => void) => void) => Promise<void>;
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
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.#server.once('error', onError);
      this.#server.listen({ host: this.options.host, port: this.options.port, backlog: 1024 }, () => {
        this.#server.off('error', onError);
        const addr = this.#server.address();
        resolve(typeof addr === 'object' && addr !== null ? addr.port : this.options.port);
      });
    });
  }

  get connections(): number {
    return this.#sockets.size;
  }

  #accept(socket: Socket): void {
    if (this.#draining) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.#sockets.delete(socket));
    const cuts: Array<() => void> = [];
    const session = this.options
      .onConnection(socket, (cut) => {
        cuts.push(cut);
        this.#cuts.add(cut);
      })
      .catch((err: unknown) => {
        this.options.logger.warn({ err, endpoint: this.options.name }, 'session ended with an error');
      })
      .finally(() => {
        this.#sessions.delete(session);
        for (const cut of cuts) this.#cuts.delete(cut);
        if (!socket.destroyed) socket.destroy();
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
