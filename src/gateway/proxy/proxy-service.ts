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
import { SqlState, encodeErrorResponse, type ErrorFields, type SaltedPasswordCache } from '../../protocol/postgres/index.js';
import { debugLoggingOn, type DbInstance, type DbProxy, type HostPort, ProxyAuthInput, type ProxyCredentialOutcome, type ProxyCredentials, type ProxyEndpoint } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import type { ClientTlsTerminator } from '../client-tls.js';
import type { IamLogin } from '../iam-login.js';
import type { ConnectionContext } from '../listener.js';
import type { NativeDataPath } from '../native-data-path.js';
import type { CancelMap } from '../postgres/cancel-map.js';
import { answerGenericFailure } from './generic-failure.js';
import { ScramVerifierCache } from './postgres-password-login.js';
import { PostgresPool, type PoolSettings } from './postgres-pool.js';
import { handlePostgresProxySession } from './postgres-proxy-session.js';
import { NO_CONNECTION_EVENTS, type ProxyConnectionEvents } from './connection-events.js';
import { PG_FILTER_WORDS } from './session-state.js';
import { NO_OBSERVATIONS, TargetChooser, type TargetDecision, type TargetObservations } from './target-choice.js';
import { postgresWireError } from './wire-errors.js';

export interface ProxyServiceDeps {
  /** The proxies as they are now (a pool asks at each server login). */
  readonly proxies: { get(name: string): DbProxy | undefined };
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
  /** Metrics of an endpoint's client connections (default: none). */
  events?(proxy: DbProxy, endpoint: ProxyEndpoint): ProxyConnectionEvents;
  /** What target health saw each target to be (writer, reader, down); default: nothing seen, the registered writer is used. */
  readonly observations?: TargetObservations;
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

/** A pool's settings from its proxy as it is at `now` (DebugLogging ends by itself after 24 h). */
export function poolSettings(proxy: DbProxy, now: number): PoolSettings {
  const cp = proxy.targetGroup.connectionPool;
  return {
    maxConnectionsPercent: cp.maxConnectionsPercent,
    borrowTimeoutMs: cp.connectionBorrowTimeout * 1000,
    idleClientTimeoutMs: proxy.idleClientTimeout * 1000,
    debugSql: debugLoggingOn(proxy, now),
  };
}

export class ProxyService {
  readonly #deps: ProxyServiceDeps;
  readonly #tls = new Map<string, Promise<ClientTlsTerminator>>();
  readonly #pools = new Map<string, PostgresPool>();
  readonly #verifiers = new ScramVerifierCache();
  readonly #chooser: TargetChooser;
  get #proxies(): ProxyServiceDeps['proxies'] {
    return this.#deps.proxies;
  }

  constructor(deps: ProxyServiceDeps) {
    this.#deps = deps;
    this.#chooser = new TargetChooser(deps.observations ?? NO_OBSERVATIONS);
    deps.native?.setScanWords(PG_FILTER_WORDS);
  }

  /** The connection handler for ProxyListeners. */
  readonly handle = async (socket: Socket, proxy: DbProxy, endpoint: ProxyEndpoint, context: ConnectionContext): Promise<void> => {
    const native = this.#deps.native;
    if (proxy.engineFamily !== 'POSTGRESQL' || native === undefined) return answerGenericFailure(socket, proxy.engineFamily);
    const decision = this.#decide(proxy, endpoint.targetRole, new Map());
    if (decision.kind === 'none' && decision.reason === 'NoTargets') {
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
        pool: (user, database) => this.#pool(proxy, endpoint, user, database),
        events: d.events?.(proxy, endpoint) ?? NO_CONNECTION_EVENTS,
        debugStatement: (sessionId, type, text) => this.#debugStatement(proxy.name, endpoint.name, sessionId, type, text),
      },
      context,
    );
  };

  /**
   * DebugLogging (RDS Proxy's): SQL text in the process log, prefixed with the endpoint as AWS's
   * proxy logs are. It ends by itself 24 hours after it was switched on: a statement reported
   * after that is not logged, and the proxy's pools stop reporting.
   */
  #debugStatement(proxyName: string, endpointName: string, sessionId: string, type: 'Q' | 'P', text: Buffer | undefined): void {
    const proxy = this.#proxies.get(proxyName);
    if (proxy === undefined || !debugLoggingOn(proxy, Date.now())) {
      if (proxy !== undefined) this.refresh(proxy);
      return;
    }
    this.#deps.logger.info(
      { proxy: proxyName, endpoint: endpointName, sessionId, message: type === 'Q' ? 'Query' : 'Parse', sql: text === undefined ? '(statement over 16 KB, not logged)' : text.toString('utf8') },
      `[${endpointName}] statement`,
    );
  }

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

  /**
   * Where an endpoint's new server connections go (target-choice.ts): the
   * target seen as the writer (READ_WRITE), or the least loaded reader
   * (READ_ONLY). The one place that picks a target.
   */
  #decide(proxy: DbProxy, role: ProxyEndpoint['targetRole'], load: ReadonlyMap<string, number>): TargetDecision {
    return this.#chooser.decide(proxy.resourceId, proxy.targetGroup.targets, role, load);
  }

  /**
   * The instance of a decision; undefined: none now (the pool waits and asks
   * again). A READ_ONLY endpoint of a group with no reader registered is
   * refused at the client's login, as on AWS (readers registered but down: wait).
   */
  #targetOf(proxy: DbProxy, role: ProxyEndpoint['targetRole'], load: ReadonlyMap<string, number>): DbInstance | undefined | { refused: ErrorFields } {
    const d = this.#decide(proxy, role, load);
    if (d.kind === 'target') return this.#deps.instances.get(d.instanceId);
    if (d.kind === 'none') return { refused: { severity: 'FATAL', code: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, message: d.reason === 'NoReaders' ? 'the read-only endpoint has no reader DB instance in its target group' : 'the proxy has no target' } };
    return undefined;
  }

  /** Pools are per endpoint role, not per instance: clients stay attached when the target behind them changes. */
  #pool(proxy: DbProxy, endpoint: ProxyEndpoint, user: string, database: string): PostgresPool {
    const key = `${proxy.resourceId}/${endpoint.targetRole}/${user}/${database}`;
    const name = proxy.name;
    const cp = proxy.targetGroup.connectionPool;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new PostgresPool({
        native: this.#deps.native!,
        // The proxy as it is now: a target registered or deregistered since counts at the next login.
        target: (load) => {
          const now = this.#proxies.get(name) ?? proxy;
          return this.#targetOf(now, endpoint.targetRole, load);
        },
        // A login failed or found no target: target health looks again now, not at its next round.
        targetFailed: () => this.#chooser.observations.recheck(proxy.resourceId),
        user,
        database,
        credentials: async () => {
          const c = await this.#credentialFor(proxy, user);
          if (c === undefined || !c.ok) throw new Error(c ? c.description : `no secret of proxy ${proxy.name} names ${user}`);
          return { username: c.username, password: c.password };
        },
        settings: poolSettings(proxy, Date.now()),
        ...(cp.initQuery !== undefined ? { initQuery: cp.initQuery } : {}),
        loginTimeoutMs: this.#deps.loginTimeoutMs,
        maxMessageBytes: this.#deps.maxMessageBytes,
        saltedPasswordCache: this.#deps.saltedPasswordCache,
        logger: this.#deps.logger.child({ proxy: proxy.name, endpointRole: endpoint.targetRole }),
        timeoutError: postgresWireError({ kind: 'BorrowTimeout' }),
        lostError: postgresWireError({ kind: 'DatabaseError', sqlState: SqlState.CONNECTION_FAILURE, message: 'the connection to the database was lost inside a transaction; the transaction did not commit' }),
        failedError: encodeErrorResponse({
          severity: 'ERROR',
          code: SqlState.CONNECTION_FAILURE,
          message: 'Request returned an error: the connection to the database was lost before the statement completed.',
          hint: 'The statement may be run again; the proxy keeps this connection.',
        }),
      });
      this.#pools.set(key, pool);
    } else {
      // The target group's settings may have changed since (ModifyDBProxyTargetGroup).
      pool.configure(poolSettings(proxy, Date.now()));
    }
    return pool;
  }

  /** A proxy's settings changed (ModifyDBProxy, ModifyDBProxyTargetGroup): its pools follow at once. */
  refresh(proxy: DbProxy): void {
    for (const [key, pool] of this.#pools) {
      if (key.startsWith(`${proxy.resourceId}/`)) pool.configure(poolSettings(proxy, Date.now()));
    }
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
