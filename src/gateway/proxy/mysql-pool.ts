/**
 * One pool of MySQL/MariaDB server connections for a proxy: its endpoint's
 * role, a database user and a database. Transaction multiplexing: a client
 * borrows a server connection for one transaction (mysql-mux-relay.ts) and
 * gives it back as it is (`keep`: its settings go with it and the next
 * client's are replayed over them), or cleaned (`reset`:
 * mysql-server-link.ts, COM_RESET_CONNECTION, the pool's database again,
 * InitQuery) after a pinned client or one that left mid-transaction.
 *
 * Bounded, like PostgresPool, by MaxConnectionsPercent of the server's
 * max_connections (learned at the pool's first login, one connection until
 * then); a client that finds the pool full waits up to
 * ConnectionBorrowTimeout. Logins are lazy: a connection is opened only for
 * a client that needs one, so the first client of a pool meets a wrong
 * database or secret as its own error.
 *
 * A server connection answers in the shape its login negotiated (EOF or OK
 * after rows, multi-statements, found rows, character set): it is lent only
 * to clients that negotiated the same shape. An idle connection of another
 * shape is closed to make room when the pool is full.
 */
import type { Logger } from 'pino';
import type { DbInstance } from '../../rds/index.js';
import type { ServerProfileCache } from '../mysql/greeting.js';
import type { PoolCredentials, PoolLoginCounts, PoolSettings, PoolStats } from './postgres-pool.js';
import { cleanServer, loginServer, type ServerShape, type PooledServer, type ServerRefusal } from './mysql-server-link.js';
import { failoverRetryPause } from './target-choice.js';

export interface MysqlPoolOptions {
  /**
   * The instance a new server connection logs in to, asked at each login
   * (target-choice.ts; `load`: this pool's server connections per instance).
   * undefined: none available now (a failover: the login waits and asks
   * again); `refused`: none can ever serve this pool (no reader registered).
   */
  target(load: ReadonlyMap<string, number>): DbInstance | undefined | { readonly refused: ServerRefusal };
  /** A login found no target or could not reach it: target health should look again now. */
  targetFailed?(): void;
  readonly user: string;
  /** The database clients of this pool asked for ('' for none). */
  readonly database: string;
  /** The user's credentials, fetched for each new server connection (a rotated secret is used at once). */
  readonly credentials: () => Promise<PoolCredentials>;
  readonly settings: PoolSettings;
  readonly initQuery?: string;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** What the greeting of the target's endpoints says of the server, refreshed by every login. */
  profileOf(target: DbInstance): ServerProfileCache;
  readonly logger: Logger;
}

export type Borrowed =
  | { readonly kind: 'server'; readonly server: PooledServer }
  /** ConnectionBorrowTimeout passed with the pool full. */
  | { readonly kind: 'timeout' }
  /** The server refused the login (or could not be reached): what it said. */
  | { readonly kind: 'refused'; readonly refusal: ServerRefusal };

interface Waiter {
  readonly shape: ServerShape;
  /** Which idle connection suits best: the client's settings, and the one it used last. */
  readonly want: BorrowPreference | undefined;
  readonly done: (b: Borrowed) => void;
  /** When ConnectionBorrowTimeout ends its wait (a login that failed during a failover is not tried again after it). */
  readonly deadline: number;
  readonly signal: AbortSignal;
}

/** What a login says when target choice has no instance now. */
const NO_TARGET: ServerRefusal = { errno: 2003, sqlState: 'HY000', message: 'the proxy has no available target' };

/**
 * A login failure that says the target is gone or changing (no target now,
 * no TCP connection or a lost one: 2003, 2013; the server shutting down or
 * killing it: 1053, 1927), not that the pool's user or database is wrong:
 * worth waiting for a new writer, up to ConnectionBorrowTimeout.
 */
function targetUnavailable(r: ServerRefusal): boolean {
  return r === NO_TARGET || r.errno === 2003 || r.errno === 2013 || r.errno === 1053 || r.errno === 1927;
}

/** What a borrower would like of an idle connection (never required). */
export interface BorrowPreference {
  readonly settingsKey: (s: PooledServer) => boolean;
  readonly client: number;
}

/** How a connection comes back: as it is, cleaned, or closed. */
export type GiveBack = 'keep' | 'reset' | 'close';

/** The counters a pool shows (metrics, tests). */
export interface MysqlPoolStats {
  /** Server connections open or logging in. */
  readonly servers: number;
  readonly idle: number;
  readonly borrowed: number;
  readonly waiting: number;
}

export class MysqlPool {
  readonly #opts: MysqlPoolOptions;
  #settings: PoolSettings;
  /** Idle connections, most recently returned last. */
  readonly #idle: PooledServer[] = [];
  /** How each idle connection is watched (see #park). */
  readonly #watch = new Map<PooledServer, () => void>();
  readonly #waiters: Waiter[] = [];
  /** Connections being cleaned, by shape key. */
  readonly #cleaning = new Map<string, number>();
  /** Open connections and logins in progress: what counts against the bound. */
  #servers = 0;
  /** The instance each open connection is logged in to (readers are spread by it). */
  readonly #instanceOf = new Map<PooledServer, string>();
  /** Logins failed in a row because no target could take them (paces the retries). */
  #unavailable = 0;
  #borrowed = 0;
  #serverMax: number | undefined;
  #closed = false;
  /** Lent connections (their inTransaction and pinned flags are the metrics'). */
  readonly #lent = new Set<PooledServer>();
  readonly #logins = { requested: 0, succeeded: 0, failed: 0 };
  /** A login has worked: the database and credentials are good, clients may log in without a server. */
  #known = false;
  readonly #trim: NodeJS.Timeout;
  /** Counters the sessions add to (QueryRequests, response latency) and borrows. */
  readonly counters = { queries: 0, responses: 0, responseMicros: 0, borrows: 0, borrowMicros: 0, clients: 0 };

  constructor(opts: MysqlPoolOptions) {
    this.#opts = opts;
    this.#settings = opts.settings;
    this.#trim = setInterval(() => this.#trimIdle(), Math.max(100, Math.min(5_000, this.#settings.idleServerMs / 4)));
    this.#trim.unref();
  }

  /** RDS Proxy's DatabaseConnection* counters, in the shape PostgreSQL pools report them. */
  snapshot(): PoolStats {
    let inTransaction = 0;
    let pinned = 0;
    for (const s of this.#lent) {
      if (s.inTransaction) inTransaction++;
      if (s.pinned) pinned++;
    }
    const c = this.counters;
    return {
      servers: this.#servers,
      idle: this.#idle.length,
      borrowed: this.#borrowed,
      inTransaction,
      pinned,
      waiting: this.#waiters.length,
      queries: c.queries,
      borrows: c.borrows,
      borrowMicros: c.borrowMicros,
      clients: c.clients,
      responses: c.responses,
      responseMicros: c.responseMicros,
    };
  }

  get logins(): PoolLoginCounts {
    return { ...this.#logins };
  }

  /** The idle server connections kept past idleServerMs: MaxIdleConnectionsPercent of the server's max_connections. */
  get maxIdleServers(): number {
    if (this.#serverMax === undefined) return this.maxServers;
    return Math.min(this.maxServers, Math.floor((this.#serverMax * this.#settings.maxIdleConnectionsPercent) / 100));
  }

  /**
   * Idle connections beyond MaxIdleConnectionsPercent, idle longer than
   * idleServerMs, are closed; the most recently used are the ones kept.
   */
  #trimIdle(): void {
    const excess = this.#idle.length - this.maxIdleServers;
    if (excess <= 0) return;
    const cutoff = Date.now() - this.#settings.idleServerMs;
    const byAge = [...this.#idle].sort((a, b) => a.idleSince - b.idleSince);
    for (const server of byAge.slice(0, excess)) {
      if (server.idleSince > cutoff) break;
      const at = this.#idle.indexOf(server);
      if (at >= 0) this.#drop(this.#unpark(at));
    }
  }

  /** The most server connections this pool opens: MaxConnectionsPercent of the server's max_connections, at least one. */
  get maxServers(): number {
    return Math.max(1, Math.floor(((this.#serverMax ?? 1) * this.#settings.maxConnectionsPercent) / 100));
  }

  /** SessionPinningFilters has EXCLUDE_VARIABLE_SETS (the proxy's target group, as it is now). */
  excludeVariableSets = false;

  /** The pool's database ('' none). */
  get database(): string {
    return this.#opts.database;
  }

  get initQuery(): string | undefined {
    return this.#opts.initQuery;
  }

  /** SessionPinningFilters as the target group has it now. */
  setPinningFilters(filters: readonly string[]): void {
    this.excludeVariableSets = filters.includes('EXCLUDE_VARIABLE_SETS');
  }

  /** The proxy's IdleClientTimeout in ms, as the pool's settings have it now. */
  get idleClientTimeoutMs(): number {
    return this.#settings.idleClientTimeoutMs;
  }

  /** DebugLogging as the pool's settings have it now (the service turns it off after 24 hours). */
  get debugSql(): boolean {
    return this.#settings.debugSql;
  }

  /** The short form tests read. */
  stats(): MysqlPoolStats {
    return { servers: this.#servers, idle: this.#idle.length, borrowed: this.#borrowed, waiting: this.#waiters.length };
  }

  /**
   * Before a client hears its login worked: one server login of this pool
   * has worked (the database exists, the secret is right). Until one has,
   * a connection is borrowed for it (the server's refusal is the client's
   * error) and given back.
   */
  async ready(shape: ServerShape, abort: AbortSignal): Promise<Borrowed | { readonly kind: 'ready' }> {
    if (this.#known) return { kind: 'ready' };
    const b = await this.borrow(shape, abort);
    if (b.kind === 'server') this.giveBack(b.server, abort.aborted ? 'close' : 'keep');
    return b.kind === 'server' ? { kind: 'ready' } : b;
  }

  /** New settings (ModifyDBProxyTargetGroup): the bound and the borrow timeout apply from the next borrow. */
  configure(settings: PoolSettings): void {
    this.#settings = settings;
    this.#serve();
  }

  /**
   * A server connection of `shape` for one client session: an idle one, a
   * new login while the pool has room, or the next one returned within
   * ConnectionBorrowTimeout. `abort` (the client left) gives up the wait.
   */
  borrow(shape: ServerShape, abort: AbortSignal, want?: BorrowPreference): Promise<Borrowed> {
    if (this.#closed) return Promise.resolve({ kind: 'refused', refusal: { errno: 1105, sqlState: 'HY000', message: 'the proxy is shutting down' } });
    const started = process.hrtime.bigint();
    return new Promise<Borrowed>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter: Waiter = {
        shape,
        want,
        deadline: Date.now() + this.#settings.borrowTimeoutMs,
        signal: abort,
        done: (b) => {
          clearTimeout(timer);
          abort.removeEventListener('abort', onAbort);
          if (b.kind === 'server' && abort.aborted) return this.giveBack(b.server, 'keep');
          if (b.kind === 'server') {
            this.#lent.add(b.server);
            this.counters.borrows++;
            this.counters.borrowMicros += Number((process.hrtime.bigint() - started) / 1000n);
          }
          resolve(b);
        },
      };
      const onAbort = (): void => {
        const at = this.#waiters.indexOf(waiter);
        if (at >= 0) this.#waiters.splice(at, 1);
        clearTimeout(timer);
        resolve({ kind: 'timeout' });
      };
      abort.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      timer = setTimeout(() => {
        const at = this.#waiters.indexOf(waiter);
        if (at < 0) return;
        this.#waiters.splice(at, 1);
        abort.removeEventListener('abort', onAbort);
        resolve({ kind: 'timeout' });
      }, this.#settings.borrowTimeoutMs);
      this.#serve();
    });
  }

  /**
   * A client is done with its server connection. `keep`: between
   * transactions, its settings known (mysql-client-state.ts); lent again as
   * it is. `reset`: between commands but carrying state no one else may
   * see (a pinned client, a transaction left open); cleaned first.
   * `close`: closed and its place freed.
   */
  giveBack(server: PooledServer, how: GiveBack): void {
    this.#borrowed--;
    this.#lent.delete(server);
    server.inTransaction = false;
    server.pinned = false;
    if (how === 'close' || this.#closed || server.socket.destroyed) return this.#drop(server);
    if (how === 'keep') {
      if (this.#servers > this.maxServers) return this.#drop(server);
      this.#park(server);
      this.#serve();
      return;
    }
    const o = this.#opts;
    const key = server.shape.key;
    this.#cleaning.set(key, (this.#cleaning.get(key) ?? 0) + 1);
    const cleaned = (): void => {
      const n = (this.#cleaning.get(key) ?? 1) - 1;
      if (n > 0) this.#cleaning.set(key, n);
      else this.#cleaning.delete(key);
    };
    cleanServer(server, { database: o.database, ...(o.initQuery !== undefined ? { initQuery: o.initQuery } : {}), maxMessageBytes: o.maxMessageBytes })
      .then((clean) => {
        cleaned();
        if (!clean.ok) {
          o.logger.info({ user: o.user, reason: clean.reason }, 'proxy closed a server connection it could not clean');
          return this.#drop(server);
        }
        // Closed meanwhile, or over a bound lowered since (ModifyDBProxyTargetGroup): not kept.
        if (this.#closed || this.#servers > this.maxServers) return this.#drop(server);
        this.#park(server);
        this.#serve();
      })
      .catch(() => {
        cleaned();
        this.#drop(server);
      });
  }

  #drop(server: PooledServer): void {
    server.socket.destroy();
    this.#instanceOf.delete(server);
    this.#servers--;
    this.#serve();
  }

  /** Matches waiters with idle connections of their shape, and opens connections while there is room. */
  #serve(): void {
    /** Connections being cleaned that earlier waiters of the same shape will take. */
    const promised = new Map<string, number>();
    for (let i = 0; i < this.#waiters.length; ) {
      const w = this.#waiters[i]!;
      const at = this.#idleOf(w.shape, w.want);
      if (at >= 0) {
        const server = this.#unpark(at);
        this.#waiters.splice(i, 1);
        this.#borrowed++;
        w.done({ kind: 'server', server: server! });
        continue;
      }
      // One of its shape is being cleaned: it waits for that one rather than costing the server a new login.
      const key = w.shape.key;
      const taken = promised.get(key) ?? 0;
      if ((this.#cleaning.get(key) ?? 0) > taken) {
        promised.set(key, taken + 1);
        i++;
        continue;
      }
      // Room for one more: a login for this waiter. Before the server's max_connections is known, one login at a time.
      const known = this.#serverMax !== undefined;
      if (this.#servers < this.maxServers && (known || this.#servers === 0)) {
        this.#waiters.splice(i, 1);
        this.#open(w);
        continue;
      }
      // Full, with idle connections of other shapes: one goes to make room.
      if (known && this.#idle.length > 0) {
        this.#drop(this.#unpark(0));
        return;
      }
      i++;
    }
  }

  /**
   * An idle connection is read while it waits: a server says nothing
   * unasked except before it closes (wait_timeout, KILL, shutdown), so any
   * byte, or the end, drops it before a client could be lent a dead one.
   */
  #park(server: PooledServer): void {
    const socket = server.socket;
    const gone = (): void => {
      const at = this.#idle.indexOf(server);
      if (at < 0) return;
      this.#unpark(at);
      this.#drop(server);
    };
    socket.on('data', gone);
    socket.on('end', gone);
    socket.on('close', gone);
    server.idleSince = Date.now();
    this.#watch.set(server, () => {
      socket.off('data', gone);
      socket.off('end', gone);
      socket.off('close', gone);
      socket.pause();
    });
    this.#idle.push(server);
    socket.resume();
  }

  #unpark(at: number): PooledServer {
    const [server] = this.#idle.splice(at, 1);
    this.#watch.get(server!)?.();
    this.#watch.delete(server!);
    return server!;
  }

  /** The idle connection of `shape` to lend: the client's last one, else one with its settings, else the most recently used. */
  #idleOf(shape: ServerShape, want: BorrowPreference | undefined): number {
    let best = -1;
    let bestScore = -1;
    for (let i = this.#idle.length - 1; i >= 0; i--) {
      const s = this.#idle[i]!;
      if (s.shape.key !== shape.key) continue;
      if (want === undefined) return i;
      const score = (s.lastClient === want.client ? 2 : 0) + (want.settingsKey(s) ? 1 : 0);
      if (score > bestScore) {
        best = i;
        bestScore = score;
        if (score === 3) break;
      }
    }
    return best;
  }

  #open(w: Waiter): void {
    this.#servers++;
    this.#borrowed++;
    void this.#login(w.shape).then(
      (r) => {
        if (r.kind === 'server') {
          this.#unavailable = 0;
          return w.done(r);
        }
        this.#borrowed--;
        this.#servers--;
        this.#failed(w, r);
        this.#serve();
      },
      (err: unknown) => {
        this.#borrowed--;
        this.#servers--;
        this.#failed(w, { kind: 'refused', refusal: { errno: 2003, sqlState: 'HY000', message: `the database server could not be reached (${err instanceof Error ? err.message : String(err)})` } });
        this.#serve();
      },
    );
  }

  /**
   * A login for `w` failed. A refusal by a server that answered is the
   * client's error at once; no target, or one that cannot be reached (a
   * failover), makes target health look again now and `w` wait on, with
   * its login tried again after a pause, until ConnectionBorrowTimeout.
   */
  #failed(w: Waiter, r: Borrowed & { kind: 'refused' | 'timeout' }): void {
    if (r.kind !== 'refused' || !targetUnavailable(r.refusal) || this.#closed) return w.done(r);
    this.#opts.targetFailed?.();
    const pause = failoverRetryPause(this.#unavailable++);
    if (Date.now() + pause >= w.deadline) {
      // The wait is over: RDS Proxy's borrow timeout, as for a full pool.
      setTimeout(() => w.done({ kind: 'timeout' }), Math.max(0, w.deadline - Date.now())).unref();
      return;
    }
    setTimeout(() => {
      if (w.signal.aborted) return w.done({ kind: 'timeout' });
      this.#waiters.unshift(w);
      this.#serve();
    }, pause).unref();
  }

  /** This pool's server connections per instance. */
  #load(): Map<string, number> {
    const load = new Map<string, number>();
    for (const id of this.#instanceOf.values()) load.set(id, (load.get(id) ?? 0) + 1);
    return load;
  }

  async #login(shape: ServerShape): Promise<Borrowed> {
    const o = this.#opts;
    const target = o.target(this.#load());
    if (target === undefined) return { kind: 'refused', refusal: NO_TARGET };
    if ('refused' in target) return { kind: 'refused', refusal: target.refused };
    const creds = await o.credentials();
    this.#logins.requested++;
    const r = await loginServer(target, shape, {
      username: creds.username,
      password: creds.password,
      database: o.database,
      loginTimeoutMs: o.loginTimeoutMs,
      maxMessageBytes: o.maxMessageBytes,
      profile: o.profileOf(target),
      ...(o.initQuery !== undefined ? { initQuery: o.initQuery } : {}),
      learnMaxConnections: this.#serverMax === undefined,
    });
    if (!r.ok) {
      this.#logins.failed++;
      o.logger.warn({ user: o.user, errno: r.refusal.errno }, 'proxy could not log in a server connection');
      return { kind: 'refused', refusal: r.refusal };
    }
    this.#logins.succeeded++;
    this.#known = true;
    if (r.maxConnections !== undefined && this.#serverMax === undefined) {
      this.#serverMax = r.maxConnections;
      // Sized now: waiters held back until the size was known may get their logins.
      setImmediate(() => this.#serve());
    }
    if (this.#closed) {
      r.server.socket.destroy();
      return { kind: 'refused', refusal: { errno: 1105, sqlState: 'HY000', message: 'the proxy is shutting down' } };
    }
    this.#instanceOf.set(r.server, target.id);
    return { kind: 'server', server: r.server };
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#trim);
    while (this.#idle.length > 0) this.#unpark(0).socket.destroy();
    for (const w of this.#waiters.splice(0)) w.done({ kind: 'refused', refusal: { errno: 1105, sqlState: 'HY000', message: 'the proxy is shutting down' } });
  }
}
