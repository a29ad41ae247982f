/**
 * Serves proxy endpoints: what the composition root hands every proxy
 * connection to. It keeps, per endpoint, the TLS terminator with the
 * endpoint's certificate and, per (proxy, target, database user, database),
 * the pool; it reads each user's secret with the proxy's role on every login
 * (so a policy or secret change takes effect at once), and sizes pools from
 * the target group's settings and the server's max_connections.
 *
 * PostgreSQL proxies are served by the pooled relay; MySQL proxies answer
 * RDS Proxy's generic failure until the MySQL pooled relay exists.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import type { SaltedPasswordCache } from '../../protocol/postgres/index.js';
import type { DbInstance, DbProxy, HostPort, ProxyAuthInput, ProxyCredentialOutcome, ProxyCredentials, ProxyEndpoint } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import type { ClientTlsTerminator } from '../client-tls.js';
import type { IamLogin } from '../iam-login.js';
import type { ConnectionContext } from '../listener.js';
import type { NativeDataPath } from '../native-data-path.js';
import type { CancelMap } from '../postgres/cancel-map.js';
import { answerGenericFailure } from './generic-failure.js';
import { ScramVerifierCache } from './postgres-password-login.js';
import { PostgresPool } from './postgres-pool.js';
import { handlePostgresProxySession } from './postgres-proxy-session.js';
import { PG_FILTER_WORDS, type PinReason } from './session-state.js';
import { postgresWireError } from './wire-errors.js';

export interface ProxyServiceDeps {
  readonly where: { readonly partition: string; readonly region: string; readonly account: string };
  readonly instances: { get(id: string): DbInstance | undefined };
  readonly credentials: Pick<ProxyCredentials, 'forUser'>;
  readonly iamLogin: IamLogin;
  readonly audit: AuditSink;
  readonly logger: Logger;
  readonly cancelMap: CancelMap;
  /** The native data path; without it proxy endpoints answer the generic failure. */
  readonly native: NativeDataPath | undefined;
  /** A certificate for an endpoint's names (cached by the caller's CA). */
  certificate(names: readonly HostPort[]): Promise<{ chainPem: string; keyPem: Secret<string> }>;
  /** The names a token for this endpoint may be signed for. */
  endpointNames(endpoint: ProxyEndpoint): HostPort[];
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly saltedPasswordCache: SaltedPasswordCache;
  onPinned?(proxy: DbProxy, reason: PinReason): void;
}

/** What credential reads need of a proxy snapshot. */
export function proxyAuthInput(proxy: DbProxy, where: ProxyServiceDeps['where']): ProxyAuthInput {
  return {
    proxyName: proxy.name,
    proxyArn: proxy.arn,
    roleArn: proxy.roleArn,
    ...where,
    auth: proxy.auth.flatMap((a) =>
      a.secretArn === undefined ? [] : [{ secretArn: a.secretArn, iamAuth: a.iamAuth, clientPasswordAuthType: a.clientPasswordAuthType, ...(a.userName !== undefined ? { userName: a.userName } : {}) }],
    ),
  };
}

export class ProxyService {
  readonly #deps: ProxyServiceDeps;
  readonly #tls = new Map<string, Promise<ClientTlsTerminator>>();
  readonly #pools = new Map<string, PostgresPool>();
  readonly #verifiers = new ScramVerifierCache();

  constructor(deps: ProxyServiceDeps) {
    this.#deps = deps;
    deps.native?.setScanWords(PG_FILTER_WORDS);
  }

  /** The connection handler for ProxyListeners. */
  readonly handle = async (socket: Socket, proxy: DbProxy, endpoint: ProxyEndpoint, context: ConnectionContext): Promise<void> => {
    const native = this.#deps.native;
    if (proxy.engineFamily !== 'POSTGRESQL' || native === undefined) return answerGenericFailure(socket, proxy.engineFamily);
    const target = proxy.targetGroup.targets[0];
    const instance = target ? this.#deps.instances.get(target.instanceId) : undefined;
    if (instance === undefined) {
      // No target registered: RDS Proxy has nothing to log in to.
      socket.end(postgresWireError({ kind: 'UnknownError' }));
      return;
    }
    const clientTls = await this.#terminator(endpoint);
    const d = this.#deps;
    await handlePostgresProxySession(
      socket,
      {
        endpoint: {
          proxyName: proxy.name,
          endpointName: endpoint.name,
          resourceId: proxy.resourceId,
          endpoints: d.endpointNames(endpoint),
          listen: endpoint.listen,
          tags: proxy.tags,
          requireTls: proxy.requireTls,
        },
        logger: d.logger,
        audit: d.audit,
        iamLogin: d.iamLogin,
        clientTls,
        native,
        cancelMap: d.cancelMap,
        loginTimeoutMs: d.loginTimeoutMs,
        verifiers: this.#verifiers,
        credentialFor: (user) => this.#credentialFor(proxy, user),
        pool: (user, database) => this.#pool(proxy, instance, user, database),
        onPinned: (reason) => d.onPinned?.(proxy, reason),
      },
      context,
    );
  };

  #credentialFor(proxy: DbProxy, user: string): Promise<ProxyCredentialOutcome | undefined> {
    return this.#deps.credentials.forUser(proxyAuthInput(proxy, this.#deps.where), user);
  }

  #terminator(endpoint: ProxyEndpoint): Promise<ClientTlsTerminator> {
    const key = `${endpoint.id}@${endpoint.listen.host}:${endpoint.listen.port}`;
    let t = this.#tls.get(key);
    if (t === undefined) {
      t = this.#deps.certificate(this.#deps.endpointNames(endpoint)).then((c) => this.#deps.native!.terminator(c.chainPem, c.keyPem));
      this.#tls.set(key, t);
      t.catch(() => this.#tls.delete(key));
    }
    return t;
  }

  #pool(proxy: DbProxy, instance: DbInstance, user: string, database: string): PostgresPool {
    const key = `${proxy.resourceId}/${instance.id}/${user}/${database}`;
    const cp = proxy.targetGroup.connectionPool;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new PostgresPool({
        native: this.#deps.native!,
        instance,
        user,
        database,
        credentials: async () => {
          const c = await this.#credentialFor(proxy, user);
          if (c === undefined || !c.ok) throw new Error(c ? c.description : `no secret of proxy ${proxy.name} names ${user}`);
          return { username: c.username, password: c.password };
        },
        maxConnectionsPercent: cp.maxConnectionsPercent,
        borrowTimeoutMs: cp.connectionBorrowTimeout * 1000,
        ...(cp.initQuery !== undefined ? { initQuery: cp.initQuery } : {}),
        loginTimeoutMs: this.#deps.loginTimeoutMs,
        maxMessageBytes: this.#deps.maxMessageBytes,
        saltedPasswordCache: this.#deps.saltedPasswordCache,
        logger: this.#deps.logger.child({ proxy: proxy.name, target: instance.id }),
        timeoutError: postgresWireError({ kind: 'BorrowTimeout' }),
        lostError: postgresWireError({ kind: 'UnknownError' }),
      });
      this.#pools.set(key, pool);
    } else {
      // The target group's settings may have changed since (ModifyDBProxyTargetGroup).
      pool.configure(cp.maxConnectionsPercent, cp.connectionBorrowTimeout * 1000);
    }
    return pool;
  }

  /** Every pool's counters, for metrics. */
  pools(): ReadonlyMap<string, PostgresPool> {
    return this.#pools;
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
  }
}
