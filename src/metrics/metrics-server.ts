/**
 * The Prometheus scrape endpoint: `GET /metrics` on a listener of its own
 * (`metrics.listen`), plain HTTP and unauthenticated as Prometheus expects.
 * Not on the control plane's listener: every request there must be
 * SigV4-signed, which scrapers do not do, and the control plane is often
 * reachable by people who should not see the process's internals.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { listenOn } from '../util/index.js';

export class MetricsServer {
  readonly #registry: Registry;
  readonly #logger: Logger;
  #server: Server | undefined;

  constructor(registry: Registry, logger: Logger) {
    this.#registry = registry;
    this.#logger = logger;
  }

  /** Listens on host:port; resolves to the bound port. */
  async listen(host: string, port: number): Promise<number> {
    const server = createServer((req, res) => void this.#handle(req, res));
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    this.#server = server;
    return listenOn(server, { host, port });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics') return void res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found: metrics are at /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
    try {
      const body = await this.#registry.metrics();
      res.writeHead(200, { 'content-type': this.#registry.contentType });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (err) {
      this.#logger.error({ err: String(err) }, 'metrics scrape failed');
      if (!res.headersSent) res.writeHead(500).end();
    }
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }
}
