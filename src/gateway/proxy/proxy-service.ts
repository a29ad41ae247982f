/**
 * Serves proxy endpoints: what the composition root hands every proxy
 * connection to. It keeps, per endpoint, the TLS terminator with the
 * endpoint's certificate and, per (proxy, target, database user, database),
 * the pool; it reads each user's secret with the proxy's role on every login
 * (so a policy or secret change takes effect at once), and sizes pools from
 * the target group's settings and the server's max_connections.
 *
 * PostgreSQL proxies are served by the native pooled relay (transaction
 * multiplexing); MySQL proxies by transaction multiplexing with a TypeScript relay
 * (mysql-proxy-session.ts), with Node's TLS. Both ask target choice
 * (target-choice.ts, fed by target health) at each new server login.
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
import { FastAuthCache } from '../../protocol/mysql/index.js';
import { ServerProfileCache } from '../mysql/greeting.js';
import { learnProfileByLogin } from '../mysql/profile-login.js';
import { answerGenericFailure } from './generic-failure.js';
import { handleMysqlProxySession } from './mysql-proxy-session.js';
import { MysqlNativePool } from './mysql-native-pool.js';
import { MYSQL_FILTER_WORDS } from './mysql-session-state.js';
import type { ServerShape } from './mysql-server-link.js';
import { ScramVerifierCache } from './postgres-password-login.js';
import { PostgresPool, type PoolLimitGroup, type PoolSettings } from './postgres-pool.js';
import { handlePostgresProxySession, type ProxyEndpointView } from './postgres-proxy-session.js';
import { NO_CONNECTION_EVENTS, type ProxyConnectionEvents } from './connection-events.js';
import { PG_FILTER_WORDS } from './session-state.js';
import { NO_OBSERVATIONS, TargetChooser, type ObservedRole, type TargetDecision, type TargetObservations } from './target-choice.js';
import { postgresWireError } from './wire-errors.js';

export interface ProxyServiceDeps {
  /** The proxies as they are now (a pool asks at each server login; by resource id, which a rename keeps). */
  readonly proxies: { get(name: string): DbProxy | undefined; byResourceId(resourceId: string): DbProxy | undefined };
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
  /** How long a server connection beyond MaxIdleConnectionsPercent may stay idle (default 60 s). */
  readonly idleServerMs?: number;
  /** How long a client holding a server connection may leave its answer untaken before it is let go (default 60 s). */
  readonly clientStallMs?: number;
  /** The server profile of a MySQL instance's endpoint (greeting.ts), shared with its proxies. */
  mysqlProfile?(instanceId: string): ServerProfileCache | undefined;
  /** Metrics of a client connection, asked once per connection (default: none). */
  events?(proxy: DbProxy, endpoint: ProxyEndpoint): ProxyConnectionEvents;
  /** What target health saw each target to be (writer, reader, down); default: nothing seen, the registered writer is used. */
  readonly observations?: TargetObservations;
}

/** One pool as metrics see it: where it belongs, whom it logs in as, and where it logs in now. */
export interface PoolView {
  /** The proxy's name now (a renamed proxy's pools follow it). */
  readonly proxyName: string;
  readonly targetRole: ProxyEndpoint['targetRole'];
  readonly user: string;
  readonly database: string;
  /** The instance new server connections go to now; undefined: none registered. */
  readonly target: string | undefined;
  /** A PostgreSQL pool or a MySQL one: both report RDS Proxy's DatabaseConnection* counters. */
  readonly pool: Pick<PostgresPool, 'snapshot' | 'maxServers' | 'logins'>;
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
export function poolSettings(proxy: DbProxy, now: number, timing: { readonly idleServerMs?: number; readonly clientStallMs?: number } = {}): PoolSettings {
  const cp = proxy.targetGroup.connectionPool;
  return {
    maxConnectionsPercent: cp.maxConnectionsPercent,
    maxIdleConnectionsPercent: cp.maxIdleConnectionsPercent,
    idleServerMs: timing.idleServerMs ?? 60_000,
    clientStallMs: timing.clientStallMs ?? 60_000,
    borrowTimeoutMs: cp.connectionBorrowTimeout * 1000,
    idleClientTimeoutMs: proxy.idleClientTimeout * 1000,
    debugSql: debugLoggingOn(proxy, now),
  };
}

/** What a pool belongs to (metrics' labels). */
interface PoolOwner {
  readonly proxyId: string;
  readonly targetRole: ProxyEndpoint['targetRole'];
  readonly user: string;
  readonly database: string;
}

/** What a client hears when target choice can never serve its endpoint (after "Request returned an error: "). */
const NO_TARGET_TEXT = {
  NoReaders: 'the read-only endpoint has no reader DB instance in its target group',
  NoTargets: 'the proxy has no target',
} as const;

export class ProxyService {
  readonly #deps: ProxyServiceDeps;
  readonly #tls = new Map<string, Promise<ClientTlsTerminator>>();
  /** The pools the native side lends connections of: PostgreSQL's, and MySQL's when NATIVE_MYSQL is on. */
  readonly #pools = new Map<string, PostgresPool | MysqlNativePool>();
  /** What each pool of #pools (same key) belongs to. */
  readonly #owners = new Map<string, PoolOwner>();
  /**
   * One bound per (proxy, endpoint role) shared by all its pools: the writer's
   * connections for READ_WRITE pools, the readers' for READ_ONLY ones.
   */
  readonly #limits = new Map<string, PoolLimitGroup>();
  #nextLimit = 0;
  /** Counts of pools dropped after a failed first login, still shown by poolViews (see #retire). */
  readonly #retired = new Map<string, { readonly owner: PoolOwner; readonly pool: PoolView['pool'] }>();
  readonly #verifiers = new ScramVerifierCache();
  readonly #profiles = new Map<string, ServerProfileCache>();
  readonly #fastAuth = new FastAuthCache();
  #mysqlConnectionId = 0;
  readonly #chooser: TargetChooser;
  get #proxies(): ProxyServiceDeps['proxies'] {
    return this.#deps.proxies;
  }

  constructor(deps: ProxyServiceDeps) {
    this.#deps = deps;
    this.#chooser = new TargetChooser(deps.observations ?? NO_OBSERVATIONS);
    deps.native?.setScanWords(PG_FILTER_WORDS);
    deps.native?.setScanWords(MYSQL_FILTER_WORDS, true);
  }

  /** The connection handler for ProxyListeners. */
  readonly handle = async (socket: Socket, proxy: DbProxy, endpoint: ProxyEndpoint, context: ConnectionContext): Promise<void> => {
    const native = this.#deps.native;
    if (proxy.engineFamily === 'MYSQL') return this.#handleMysql(socket, proxy, endpoint, context);
    if (proxy.engineFamily !== 'POSTGRESQL' || native === undefined) return answerGenericFailure(socket, proxy.engineFamily);
    const decision = this.#decide(proxy, endpoint.targetRole, new Map());
    if (decision.kind === 'none' && decision.reason === 'NoTargets') {
      // No target registered: RDS Proxy has nothing to log in to.
      socket.end(postgresWireError({ kind: 'UnknownError' }));
      return;
    }
    const clientTls = await this.#terminator(endpoint);
    const d = this.#deps;
    // Returned, not awaited: this frame (the raw socket, the context) is not kept for the session's life.
    return handlePostgresProxySession(
      socket,
      {
        endpoint: this.#endpointView(proxy, endpoint),
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
        debugStatement: (sessionId, type, text) => this.#debugStatement(proxy.resourceId, endpoint.name, sessionId, type, text),
      },
      context,
    );
  };

  /** A MySQL/MariaDB client: a native session that joins a native pool (native/my_pool.c). */
  async #handleMysql(socket: Socket, proxy: DbProxy, endpoint: ProxyEndpoint, context: ConnectionContext): Promise<void> {
    // The greeting speaks for the writer seen now (replicas run the same server), or the registered one during a failover.
    // Which target the session's server connection goes to is the pool's choice, at its login.
    const registered = proxy.targetGroup.targets.find((t) => t.role === 'READ_WRITE') ?? proxy.targetGroup.targets[0];
    const greeter = this.#writerOf(proxy) ?? (registered === undefined ? undefined : this.#deps.instances.get(registered.instanceId));
    // No target registered (RDS Proxy has nothing to log in to), or no native data path (pools are native).
    if (greeter === undefined || this.#deps.native === undefined) return answerGenericFailure(socket, 'MYSQL');
    const d = this.#deps;
    const clientSessions = await this.#terminator(endpoint);
    await handleMysqlProxySession(
      socket,
      {
        endpoint: this.#endpointView(proxy, endpoint),
        logger: d.logger,
        audit: d.audit,
        iamLogin: d.iamLogin,
        clientSessions,
        profile: this.#profileOf(greeter),
        fastAuth: this.#fastAuth,
        connectionId: (this.#mysqlConnectionId = (this.#mysqlConnectionId % 0x7fffffff) + 1),
        loginTimeoutMs: d.loginTimeoutMs,
        maxMessageBytes: d.maxMessageBytes,
        credentialFor: (user) => this.#credentialFor(proxy, user),
        pool: (user, database, shape) => this.#mysqlNativePool(proxy, endpoint, user, database, shape),
        events: d.events?.(proxy, endpoint) ?? NO_CONNECTION_EVENTS,
        debugStatement: (sessionId, type, text) => this.#debugStatement(proxy.resourceId, endpoint.name, sessionId, type, text),
      },
      context,
    );
  }

  #endpointView(proxy: DbProxy, endpoint: ProxyEndpoint): ProxyEndpointView {
    return {
      proxyName: proxy.name,
      endpointName: endpoint.name,
      resourceId: proxy.resourceId,
      endpoints: this.#deps.endpointNames(endpoint),
      listen: endpoint.listen,
      tags: proxy.tags,
      requireTls: proxy.requireTls,
    };
  }

  /**
   * What a MySQL proxy's greeting says of its server: the target instance's
   * own profile (learned by its endpoint's control connection and every
   * login), so the proxy greets as the server would; a profile of the
   * proxy's own, the engine's default until a pool login shows the server,
   * for a target without an endpoint here.
   */
  #profileOf(writer: DbInstance): ServerProfileCache {
    const shared = this.#deps.mysqlProfile?.(writer.id);
    if (shared !== undefined) return shared;
    let p = this.#profiles.get(writer.id);
    if (p === undefined) {
      // As an instance endpoint's: a login of the gateway's own as the target's master shows the greeting.
      const cache: ServerProfileCache = new ServerProfileCache(
        writer.engineName === 'mariadb' ? 'mariadb' : 'mysql',
        () => learnProfileByLogin(writer, writer.master, cache, this.#deps.loginTimeoutMs),
        undefined,
        (err) => this.#deps.logger.warn({ target: writer.id, err: String(err) }, 'proxy cannot learn the server greeting yet; clients are greeted with the default until it can'),
      );
      p = cache;
      this.#profiles.set(writer.id, p);
    }
    return p;
  }

  /**
   * DebugLogging (RDS Proxy's): SQL text in the process log, prefixed with the endpoint as AWS's
   * proxy logs are. It ends by itself 24 hours after it was switched on: a statement reported
   * after that is not logged, and the proxy's pools stop reporting.
   */
  #debugStatement(resourceId: string, endpointName: string, sessionId: string, type: 'Q' | 'P', text: Buffer | undefined): void {
    // By resource id: a proxy renamed since the client logged in is still the same proxy.
    const proxy = this.#proxies.byResourceId(resourceId);
    if (proxy === undefined || !debugLoggingOn(proxy, Date.now())) {
      if (proxy !== undefined) this.refresh(proxy);
      return;
    }
    this.#deps.logger.info(
      { proxy: proxy.name, endpoint: endpointName, sessionId, message: type === 'Q' ? 'Query' : 'Parse', sql: text === undefined ? '(statement over 16 KB, not logged)' : text.toString('utf8') },
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
  /** The writer new READ_WRITE work goes to now (MySQL proxies, metrics' labels). */
  #writerOf(proxy: DbProxy): DbInstance | undefined {
    const t = this.#targetOf(proxy, 'READ_WRITE', new Map());
    return t === undefined || 'refused' in t ? undefined : t;
  }

  #targetOf(proxy: DbProxy, role: ProxyEndpoint['targetRole'], load: ReadonlyMap<string, number>): DbInstance | undefined | { refused: ErrorFields } {
    const t = this.#choose(proxy, role, load);
    if (t === undefined || !('refused' in t)) return t;
    return { refused: { severity: 'FATAL', code: SqlState.SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION, message: NO_TARGET_TEXT[t.refused] } };
  }

  /** The instance of a decision, whatever the engine; undefined: none now (wait); `refused`: none can ever serve it. */
  #choose(proxy: DbProxy, role: ProxyEndpoint['targetRole'], load: ReadonlyMap<string, number>): DbInstance | undefined | { refused: 'NoTargets' | 'NoReaders' } {
    const d = this.#decide(proxy, role, load);
    if (d.kind === 'target') return this.#deps.instances.get(d.instanceId);
    if (d.kind === 'none') return { refused: d.reason };
    return undefined;
  }

  /** Pools are per endpoint role, not per instance: clients stay attached when the target behind them changes. */
  #pool(proxy: DbProxy, endpoint: ProxyEndpoint, user: string, database: string): PostgresPool {
    const key = `${proxy.resourceId}/${endpoint.targetRole}/${user}/${database}`;
    let pool = this.#pools.get(key) as PostgresPool | undefined;
    if (pool === undefined) {
      pool = new PostgresPool({
        ...this.#poolBase(proxy, endpoint, key, user, () => pool),
        // The proxy as it is now: a target registered or deregistered since counts at the next login.
        target: (load) => {
          const now = this.#proxies.byResourceId(proxy.resourceId) ?? proxy;
          return this.#targetOf(now, endpoint.targetRole, load);
        },
        database,
        saltedPasswordCache: this.#deps.saltedPasswordCache,
        timeoutError: postgresWireError({ kind: 'BorrowTimeout' }),
        lostError: postgresWireError({ kind: 'DatabaseError', sqlState: SqlState.CONNECTION_FAILURE, message: 'the connection to the database was lost inside a transaction; the transaction did not commit' }),
        failedError: encodeErrorResponse({
          severity: 'ERROR',
          code: SqlState.CONNECTION_FAILURE,
          message: 'Request returned an error: the connection to the database was lost before the statement completed.',
          hint: 'The statement may be run again; the proxy keeps this connection.',
        }),
      });
      this.#register(key, pool, proxy, endpoint, user, database);
    } else {
      // The target group's settings may have changed since (ModifyDBProxyTargetGroup).
      pool.configure(poolSettings(proxy, Date.now(), this.#deps));
    }
    return pool;
  }

  /**
   * What both engines' pools are given: the native side, the shared bound, the
   * secret's credentials, the target group's settings and InitQuery.
   */
  #poolBase(proxy: DbProxy, endpoint: ProxyEndpoint, key: string, user: string, self: () => unknown) {
    const cp = proxy.targetGroup.connectionPool;
    return {
      native: this.#deps.native!,
      limitGroup: this.#limitGroup(proxy, endpoint),
      // A first login that failed (a database that does not exist, a timeout): nothing is kept for it.
      unused: () => {
        if (this.#pools.get(key) === self()) this.#drop(key, { keepCounts: true });
      },
      // A login failed or found no target: target health looks again now, not at its next round.
      targetFailed: () => this.#chooser.observations.recheck(proxy.resourceId),
      user,
      // The proxy as it is now: ModifyDBProxy may have pointed the user's Auth entry at another secret since the pool began.
      credentials: async () => {
        const c = await this.#credentialFor(this.#proxies.byResourceId(proxy.resourceId) ?? proxy, user);
        if (c === undefined || !c.ok) throw new Error(c ? c.description : `no secret of proxy ${proxy.name} names ${user}`);
        return { username: c.username, password: c.password };
      },
      settings: poolSettings(proxy, Date.now(), this.#deps),
      ...(cp.initQuery !== undefined ? { initQuery: cp.initQuery } : {}),
      loginTimeoutMs: this.#deps.loginTimeoutMs,
      maxMessageBytes: this.#deps.maxMessageBytes,
      logger: this.#deps.logger.child({ proxy: proxy.name, endpointRole: endpoint.targetRole }),
    };
  }

  #register(key: string, pool: PostgresPool | MysqlNativePool, proxy: DbProxy, endpoint: ProxyEndpoint, user: string, database: string): void {
    this.#pools.set(key, pool);
    this.#retired.delete(key);
    this.#owners.set(key, { proxyId: proxy.resourceId, targetRole: endpoint.targetRole, user, database });
  }

  /** The bound every pool of (proxy, endpoint role) shares. */
  #limitGroup(proxy: DbProxy, endpoint: ProxyEndpoint): PoolLimitGroup {
    const limitKey = `${proxy.resourceId}/${endpoint.targetRole}`;
    let limitGroup = this.#limits.get(limitKey);
    if (limitGroup === undefined) {
      limitGroup = { id: ++this.#nextLimit };
      this.#limits.set(limitKey, limitGroup);
    }
    return limitGroup;
  }

  /**
   * A MySQL pool lent by the native side: per (proxy, endpoint role, user,
   * database) and response shape (clients that negotiated other capabilities
   * or another character set get a pool of their own, under the same bound).
   */
  #mysqlNativePool(proxy: DbProxy, endpoint: ProxyEndpoint, user: string, database: string, shape: ServerShape): MysqlNativePool {
    const key = `${proxy.resourceId}/${endpoint.targetRole}/${user}/${database}/${shape.key}`;
    let pool = this.#pools.get(key) as MysqlNativePool | undefined;
    if (pool === undefined) {
      pool = new MysqlNativePool({
        ...this.#poolBase(proxy, endpoint, key, user, () => pool),
        // As for PostgreSQL: the writer or a reader seen by target health, asked at each login.
        target: (load) => {
          const t = this.#choose(this.#proxies.byResourceId(proxy.resourceId) ?? proxy, endpoint.targetRole, load);
          return t === undefined || !('refused' in t) ? t : { refused: { errno: 1105, sqlState: 'HY000', message: NO_TARGET_TEXT[t.refused] } };
        },
        database,
        shape,
        profileOf: (target) => this.#profileOf(target),
      });
      this.#register(key, pool, proxy, endpoint, user, database);
    } else {
      pool.configure(poolSettings(proxy, Date.now(), this.#deps));
    }
    pool.setPinningFilters(proxy.targetGroup.connectionPool.sessionPinningFilters);
    return pool;
  }

  /** Closes a pool and forgets it (its native half is freed once its last client and server are gone). */
  #drop(key: string, o: { keepCounts?: boolean } = {}): void {
    const pool = this.#pools.get(key);
    if (pool === undefined) return;
    const owner = this.#owners.get(key);
    this.#pools.delete(key);
    this.#owners.delete(key);
    if (o.keepCounts && owner !== undefined) this.#retire(key, owner, pool);
    pool.close();
  }

  /**
   * A pool dropped after its first login failed (a database that does not
   * exist) keeps showing what it counted, so that a scrape after the drop
   * still sees the failed login; frozen, with nothing open. Bounded: the
   * oldest go first. A new pool for the same key starts its counts again.
   */
  #retire(key: string, owner: PoolOwner, pool: PostgresPool | MysqlNativePool): void {
    const stats = { ...pool.snapshot(), servers: 0, idle: 0, borrowed: 0, inTransaction: 0, pinned: 0, waiting: 0, clients: 0 };
    const logins = pool.logins;
    const maxServers = pool.maxServers;
    this.#retired.delete(key);
    this.#retired.set(key, { owner, pool: { snapshot: () => stats, logins, maxServers } });
    if (this.#retired.size > 256) this.#retired.delete(this.#retired.keys().next().value!);
  }

  /**
   * Pools that no longer serve anything go: those of a deleted proxy, and of
   * a proxy left with no target. Server connections to an instance that is no
   * longer a target of its proxy are closed (idle ones now, the others when
   * given back). Called on every change of the proxies.
   */
  prune(): void {
    for (const [key, owner] of [...this.#owners]) {
      const proxy = this.#proxies.byResourceId(owner.proxyId);
      if (proxy === undefined || proxy.status === 'deleting' || proxy.targetGroup.targets.length === 0) {
        this.#drop(key);
        continue;
      }
      const registered = new Set(proxy.targetGroup.targets.map((t) => t.instanceId));
      this.#pools.get(key)?.retire((instanceId) => !registered.has(instanceId));
    }
    for (const key of [...this.#limits.keys()]) {
      const proxy = this.#proxies.byResourceId(key.slice(0, key.lastIndexOf('/')));
      if (proxy === undefined || proxy.status === 'deleting') this.#limits.delete(key);
    }
  }

  /**
   * Target health saw a target's role change: server connections that no
   * longer reach what their pool is for are closed (a READ_ONLY pool's
   * connections to a promoted replica, which now reach the writer; a
   * READ_WRITE pool's to an old primary back as a standby).
   */
  targetRoleChanged(proxyId: string, instanceId: string, role: ObservedRole): void {
    const wrong: ProxyEndpoint['targetRole'] | undefined = role === 'writer' ? 'READ_ONLY' : role === 'reader' ? 'READ_WRITE' : undefined;
    if (wrong === undefined) return;
    for (const [key, owner] of this.#owners) {
      if (owner.proxyId !== proxyId || owner.targetRole !== wrong) continue;
      const n = this.#pools.get(key)?.retire((id) => id === instanceId) ?? 0;
      if (n > 0) this.#deps.logger.info({ proxyId, target: instanceId, role, endpointRole: wrong, user: owner.user, connections: n }, 'proxy closes server connections whose target changed role');
    }
  }

  /** A proxy's settings changed (ModifyDBProxy, ModifyDBProxyTargetGroup): its pools follow at once. */
  refresh(proxy: DbProxy): void {
    for (const [key, pool] of this.#pools) {
      if (!key.startsWith(`${proxy.resourceId}/`)) continue;
      pool.configure(poolSettings(proxy, Date.now(), this.#deps));
      if (pool instanceof MysqlNativePool) pool.setPinningFilters(proxy.targetGroup.connectionPool.sessionPinningFilters);
    }
  }

  /** Every pool's counters, for metrics. */
  pools(): ReadonlyMap<string, PostgresPool | MysqlNativePool> {
    return this.#pools;
  }

  /** Every pool of a proxy that still exists, with what metrics label it by (read at each scrape). */
  poolViews(): PoolView[] {
    const views: PoolView[] = [];
    const all = [
      ...[...this.#pools].map(([k, pool]) => ({ owner: this.#owners.get(k)!, pool })),
      ...this.#retired.values(),
    ];
    for (const { owner, pool } of all) {
      const proxy = this.#proxies.byResourceId(owner.proxyId);
      if (proxy === undefined) continue;
      views.push({ proxyName: proxy.name, targetRole: owner.targetRole, user: owner.user, database: owner.database, target: owner.targetRole === 'READ_WRITE' ? this.#writerOf(proxy)?.id : undefined, pool });
    }
    return views;
  }

  close(): void {
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    this.#owners.clear();
    this.#limits.clear();
    this.#retired.clear();
  }
}
