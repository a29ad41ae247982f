/**
 * One TCP listener per proxy endpoint, opened and closed as the proxy
 * registry says (its `endpoint-added` / `endpoint-removed` events), with the
 * outcome reported back so statuses move on (available, incompatible-network,
 * gone). Each connection is handed to the injected handler with the proxy and
 * endpoint as they are at that moment. Also the probe the registry uses to
 * know whether a port is free.
 */
import { createServer, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { formatHostPort, type DbProxy, type EngineFamily, type HostPort, type ProxyEndpoint, type ProxyEvent, type ProxyRegistry } from '../../rds/index.js';
import { EndpointListener, type ConnectionContext } from '../listener.js';
import type { PreAuthLimiter, PreAuthRefusal } from '../pre-auth.js';

/**
 * Serves one client connection of a proxy endpoint; resolves when it is over. `context` is the
 * listener's (drain cut, `authenticated()` to leave the pre-auth caps).
 */
export type ProxyConnectionHandler = (socket: Socket, proxy: DbProxy, endpoint: ProxyEndpoint, context: ConnectionContext) => Promise<void>;

export interface ProxyListenersOptions {
  readonly registry: ProxyRegistry;
  readonly handler: ProxyConnectionHandler;
  readonly logger: Logger;
  readonly preAuth: PreAuthLimiter;
  /** The engine's "too many connections" answer for a connection the pre-auth caps refuse. */
  readonly refusal: (family: EngineFamily, cause: PreAuthRefusal) => Buffer;
  readonly drainTimeoutMs: number;
}

/** Whether `address` can be bound now: listen on it and close at once. */
export function canBind(address: HostPort): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ host: address.host, port: address.port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

export class ProxyListeners {
  /** By endpoint id: the listener once open (undefined when it could not listen), in order of the events. */
  readonly #open = new Map<string, Promise<EndpointListener | undefined>>();
  #unsubscribe: (() => void) | undefined;

  constructor(private readonly opts: ProxyListenersOptions) {}

  /** Opens every endpoint the registry has, then follows its events. */
  async start(): Promise<void> {
    this.#unsubscribe = this.opts.registry.on((e) => this.#onEvent(e));
    for (const proxy of this.opts.registry.list()) {
      for (const endpoint of proxy.endpoints) {
        if (endpoint.status === 'deleting') this.#close(endpoint);
        else this.#openEndpoint(proxy, endpoint);
      }
    }
    await Promise.all(this.#open.values());
  }

  /** Stops following the registry and drains every listener (sessions get the drain timeout). */
  async close(): Promise<void> {
    this.#unsubscribe?.();
    const listeners = await Promise.all(this.#open.values());
    this.#open.clear();
    await Promise.all(listeners.map((l) => l?.drain(this.opts.drainTimeoutMs)));
  }

  #onEvent(event: ProxyEvent): void {
    if (event.type === 'endpoint-added') this.#openEndpoint(event.proxy, event.endpoint);
    else if (event.type === 'endpoint-removed') this.#close(event.endpoint);
  }

  #openEndpoint(proxy: DbProxy, endpoint: ProxyEndpoint): void {
    const { registry, logger } = this.opts;
    const where = formatHostPort(endpoint.listen);
    const listener = new EndpointListener({
      host: endpoint.listen.host,
      port: endpoint.listen.port,
      name: `proxy ${proxy.name} endpoint ${endpoint.name}`,
      logger,
      preAuth: this.opts.preAuth,
      refusal: (cause) => this.opts.refusal(proxy.engineFamily, cause),
      onConnection: (socket, context) => {
        // The proxy as it is now (renamed, new settings), not as it was when the endpoint opened.
        const current = registry.endpointById(endpoint.id);
        if (current === undefined || current.endpoint.status === 'deleting') {
          socket.destroy();
          return Promise.resolve();
        }
        return this.opts.handler(socket, current.proxy, current.endpoint, context);
      },
    });
    const opened = listener.listen().then(
      async () => {
        logger.info({ proxy: proxy.name, endpoint: endpoint.name, resourceId: proxy.resourceId, listen: where }, 'proxy endpoint listening');
        await registry.endpointListening(endpoint.id);
        return listener;
      },
      async (err: NodeJS.ErrnoException) => {
        logger.error({ proxy: proxy.name, endpoint: endpoint.name, listen: where, err: err.code ?? String(err) }, 'proxy endpoint cannot listen');
        await registry.endpointFailed(endpoint.id);
        return undefined;
      },
    );
    this.#open.set(endpoint.id, opened);
  }

  #close(endpoint: ProxyEndpoint): void {
    const opened = this.#open.get(endpoint.id) ?? Promise.resolve(undefined);
    this.#open.delete(endpoint.id);
    void opened
      .then((listener) => listener?.drain(this.opts.drainTimeoutMs))
      .then(() => this.opts.registry.endpointClosed(endpoint.id))
      .catch((err: unknown) => this.opts.logger.error({ endpoint: endpoint.name, err: String(err) }, 'closing a proxy endpoint failed'));
  }
}
