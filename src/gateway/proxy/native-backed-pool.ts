/**
 * What every pool whose connections the native side lends (native/pg_pool.c,
 * and my_pool.c for MySQL) needs from JavaScript, whatever the engine: server
 * logins when the native side asks for one (`need`), the first login that
 * proves the pool's user and database before a client is told it is in,
 * sizing from MaxConnectionsPercent and MaxIdleConnectionsPercent, the shared
 * bound of a proxy's pools, retiring connections whose target changed, and
 * the counters metrics read. The engine's subclass logs one server in
 * (`loginOnce`) and says which failures mean "the target is changing, wait"
 * (a failover) rather than "this pool is wrong".
 */
import type { Logger } from 'pino';
import type { DbInstance } from '../../rds/index.js';
import type { NativeDataPath, NativePoolControl } from '../native-data-path.js';
import type { Secret } from '../../util/index.js';
import { failoverRetryPause } from './target-choice.js';

/** Slots of the native side's counters (the enum at the top of pg_pool.c). */
export const POOL_STATS = ['servers', 'idle', 'borrowed', 'inTransaction', 'pinned', 'waiting', 'queries', 'borrows', 'borrowMicros', 'clients', 'responses', 'responseMicros'] as const;
export type PoolStats = Record<(typeof POOL_STATS)[number], number>;

/** Server logins this pool has made (RDS Proxy's DatabaseConnectionRequests, …SetupSucceeded, …SetupFailed). */
export interface PoolLoginCounts {
  readonly requested: number;
  readonly succeeded: number;
  readonly failed: number;
}

/** What the proxy's settings say about one pool; applied again whenever they change. */
export interface PoolSettings {
  /** MaxConnectionsPercent: this share of the server's max_connections less its superuser reserve (learned at the first login). */
  readonly maxConnectionsPercent: number;
  /** MaxIdleConnectionsPercent: idle server connections beyond this share are closed once idle for idleServerMs. */
  readonly maxIdleConnectionsPercent: number;
  readonly idleServerMs: number;
  /** A client that holds a server connection and takes none of its answer for this long is let go. */
  readonly clientStallMs: number;
  readonly borrowTimeoutMs: number;
  /** The proxy's IdleClientTimeout in ms (0: never). */
  readonly idleClientTimeoutMs: number;
  /** DebugLogging is on: every statement's text is reported. */
  readonly debugSql: boolean;
}

export interface PoolCredentials {
  readonly username: string;
  readonly password: Secret<string>;
}

/**
 * The bound a proxy's pools of one target share (RDS Proxy's
 * MaxConnectionsPercent is of the target's connections, across all of the
 * proxy's pools): its id on the native side, and the server's usable
 * connections once a pool of the group has learned them.
 */
export interface PoolLimitGroup {
  readonly id: number;
  serverMax?: number;
}


/** What a server login gave: a connection to hand to the native side, or the engine's error `E`. */
export type PoolLogin<E> =
  | {
      readonly ok: true;
      readonly instance: DbInstance;
      /** The server's max_connections less what it keeps for superusers, when the login asked (the pool's first). */
      readonly serverMax?: number;
      /** Gives the connection to the native pool under `serverId` (it may throw: the server spoke after its login). */
      readonly handOver: (serverId: number, requested: boolean) => void;
    }
  | {
      readonly ok: false;
      readonly error: E;
      /** Never worth a retry (target choice refused the pool, TLS cannot work as configured). */
      readonly final?: boolean;
      /** The audit reason of a refused client when it is not the server's refusal. */
      readonly audit?: 'UpstreamUnavailable';
    };

/** Why the pool's first login failed, as ready() reports it. */
export type PoolReadyFailure<E> = { ok: false; error: E; audit?: 'UpstreamUnavailable' };

export interface NativeBackedPoolOptions {
  readonly native: NativeDataPath;
  /** The shared bound this pool counts in; without it the pool has a bound of its own. */
  readonly limitGroup?: PoolLimitGroup;
  /** The first login failed: the pool serves nobody and may be dropped (called before ready() resolves). */
  unused?(): void;
  /** A login found no target or could not reach it (target health should look again now). */
  targetFailed?(): void;
  readonly settings: PoolSettings;
  readonly logger: Logger;
}

/** The native half's fixed parameters, as createPool takes them. */
export interface NativePoolShape {
  readonly neutralSettingsId: number;
  readonly resetQuery: Buffer;
  readonly timeoutError: Buffer;
  readonly lostError: Buffer;
  readonly failedError: Buffer;
  readonly mysql: boolean;
}

export abstract class NativeBackedPool<E> {
  readonly stats = new Float64Array(16);
  /** The native half (attach clients to it). */
  readonly control: NativePoolControl;
  readonly #base: NativeBackedPoolOptions;
  /** Each server connection's instance (readers are spread by it; retire() looks it up). */
  readonly #instanceOf = new Map<number, DbInstance>();
  #failures = 0;
  #closed = false;
  #serverMax: number | undefined;
  #ready = false;
  #firstLogin: Promise<{ ok: true } | PoolReadyFailure<E>> | undefined;
  #settings: PoolSettings;
  readonly #logins = { requested: 0, succeeded: 0, failed: 0 };
  /** The first login waits for room under the bound: the native side's next `need` is its. */
  #room: (() => void) | undefined;

  static #serverIds = 0;

  constructor(base: NativeBackedPoolOptions, shape: NativePoolShape) {
    this.#base = base;
    this.#settings = base.settings;
    this.control = base.native.createPool({
      // One until the server's max_connections is known (the first login asks).
      maxServers: 1,
      borrowTimeoutMs: base.settings.borrowTimeoutMs,
      neutralSettingsId: shape.neutralSettingsId,
      resetQuery: shape.resetQuery,
      timeoutError: shape.timeoutError,
      lostError: shape.lostError,
      failedError: shape.failedError,
      stats: this.stats,
      mysql: shape.mysql,
      events: {
        need: () => {
          const room = this.#room;
          this.#room = undefined;
          if (room !== undefined) room();
          else void this.#open();
        },
        serverClosed: (id, reason) => {
          this.#instanceOf.delete(id);
          this.serverClosed(id);
          base.logger.debug({ server: id, reason }, 'pooled server connection closed');
        },
        closed: () => undefined,
      },
    });
    // Another pool of the group has learned the server's size: this one shares the bound from its first login.
    if (base.limitGroup?.serverMax !== undefined) {
      this.#serverMax = base.limitGroup.serverMax;
      this.#applySize();
    }
  }

  /** One server login (`learnServerMax`: also ask the server's size). */
  protected abstract loginOnce(learnServerMax: boolean): Promise<PoolLogin<E>>;
  /** A failure that says the target is gone or changing (a failover), not that the pool is wrong. */
  protected abstract targetUnavailable(error: E): boolean;
  /** What a first login that found no room before ConnectionBorrowTimeout reports. */
  protected abstract timeoutFailure(): E;
  /** For the log: a failure's code and text. */
  protected abstract describe(error: E): { code: string; message: string };
  /** A server connection is gone (engine bookkeeping, such as cancel keys). */
  protected serverClosed(_serverId: number): void {}

  /** The native side's counters, by name. */
  snapshot(): PoolStats {
    return Object.fromEntries(POOL_STATS.map((k, i) => [k, this.stats[i]!])) as PoolStats;
  }

  /** The server logins made so far (counted here: the native side only borrows connections). */
  get logins(): PoolLoginCounts {
    return { ...this.#logins };
  }

  /**
   * Makes sure one server login has worked (the database exists, the
   * credentials are right) before a client is told it is in. The connection
   * it makes joins the pool.
   */
  async ready(): Promise<{ ok: true } | PoolReadyFailure<E>> {
    if (this.#ready) return { ok: true };
    // A storm of first clients shares one login.
    this.#firstLogin ??= this.#firstReady().finally(() => {
      this.#firstLogin = undefined;
    });
    return this.#firstLogin;
  }

  /** One server login, counted; a successful one is handed to the native side. */
  async #login(requested: boolean): Promise<PoolLogin<E>> {
    const counts = this.#logins;
    counts.requested++;
    let r: PoolLogin<E>;
    try {
      r = await this.loginOnce(this.#serverMax === undefined);
    } catch (err) {
      counts.failed++;
      throw err;
    }
    if (!r.ok) {
      counts.failed++;
      return r;
    }
    counts.succeeded++;
    if (r.serverMax !== undefined && this.#serverMax === undefined) {
      this.#serverMax = r.serverMax;
      if (this.#base.limitGroup !== undefined) this.#base.limitGroup.serverMax ??= r.serverMax;
      this.#applySize();
    }
    const id = ++NativeBackedPool.#serverIds;
    r.handOver(id, requested);
    this.#instanceOf.set(id, r.instance);
    return r;
  }

  async #firstReady(): Promise<{ ok: true } | PoolReadyFailure<E>> {
    const r = await this.#firstReadyOnce().catch((err: unknown) => {
      this.#base.unused?.();
      throw err;
    });
    if (!r.ok) this.#base.unused?.();
    else this.#ready = true;
    return r;
  }

  /**
   * The first login, tried again while the target is missing or unreachable
   * (a failover), up to ConnectionBorrowTimeout as a borrow would wait; a
   * refusal by a server that answered is the client's error at once.
   */
  async #firstReadyOnce(): Promise<{ ok: true } | PoolReadyFailure<E>> {
    const until = Date.now() + this.#settings.borrowTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      // Room under the bound first, as a waiting client would have (the group's other pools may hold it all).
      if (!(await this.#roomForLogin(until))) return { ok: false, error: this.timeoutFailure() };
      let r: PoolLogin<E> | undefined;
      let thrown: unknown;
      try {
        r = await this.#login(true);
        if (r.ok) return { ok: true };
      } catch (err) {
        // Unreachable, or the server went away right after the login: a failover may be under way.
        thrown = err;
        r = undefined;
      }
      // The room the native side counted for this login is free again.
      this.control.failed();
      if (r !== undefined && !r.ok && (r.final === true || !this.targetUnavailable(r.error))) return { ok: false, error: r.error, ...(r.audit ? { audit: r.audit } : {}) };
      this.#base.targetFailed?.();
      if (this.#closed || Date.now() >= until) {
        if (thrown !== undefined || r === undefined || r.ok) throw thrown;
        return { ok: false, error: r.error };
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(failoverRetryPause(attempt), Math.max(0, until - Date.now()))));
    }
  }

  /** Waits until the native side has counted one more server connection for this login; false at `until`. */
  #roomForLogin(until: number): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this.#room === granted) this.#room = undefined;
        resolve(false);
      }, Math.max(0, until - Date.now()));
      const granted = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.#room = granted;
      this.control.reserve();
    });
  }

  /** The pool's server connections per instance id (for spreading readers). */
  protected load(): Map<string, number> {
    const load = new Map<string, number>();
    for (const instance of this.#instanceOf.values()) load.set(instance.id, (load.get(instance.id) ?? 0) + 1);
    return load;
  }

  /** The native side asked for one more server connection. */
  async #open(): Promise<void> {
    if (this.#closed) return this.control.failed();
    try {
      const r = await this.#login(true);
      if (r.ok) {
        this.#failures = 0;
        return;
      }
      const d = this.describe(r.error);
      this.#base.logger.warn({ code: d.code, message: d.message }, 'proxy could not log in a server connection');
      if (r.final !== true && this.targetUnavailable(r.error)) this.#base.targetFailed?.();
    } catch (err) {
      this.#base.logger.warn({ err: String(err) }, 'proxy could not reach the server');
      this.#base.targetFailed?.();
    }
    // Pace retries: the native side asks again while clients wait.
    this.#failures++;
    const delay = Math.min(2000, 50 * 2 ** Math.min(this.#failures, 6));
    setTimeout(() => this.control.failed(), delay).unref();
  }

  /**
   * Closes this pool's server connections to the instances `gone` names (idle
   * ones now, borrowed ones when their client gives them back): a replica
   * promoted under a READ_ONLY pool, a target deregistered. Returns how many.
   */
  retire(gone: (instanceId: string) => boolean): number {
    let n = 0;
    for (const [id, instance] of this.#instanceOf) {
      if (!gone(instance.id)) continue;
      this.control.retire(id);
      n++;
    }
    return n;
  }

  /** New settings (ModifyDBProxyTargetGroup, ModifyDBProxy): applied at once. */
  configure(settings: PoolSettings): void {
    const o = this.#settings;
    if (Object.keys(settings).every((k) => settings[k as keyof PoolSettings] === o[k as keyof PoolSettings])) return;
    this.#settings = settings;
    this.#applySize();
  }

  /** The most server connections this pool opens: MaxConnectionsPercent of the server's usable connections, at least one. */
  get maxServers(): number {
    return Math.max(1, Math.floor(((this.#serverMax ?? 1) * this.#settings.maxConnectionsPercent) / 100));
  }

  /** The idle server connections this pool keeps: MaxIdleConnectionsPercent of the server's usable connections (0 keeps none idle for long). */
  get maxIdleServers(): number {
    return Math.min(this.maxServers, Math.floor(((this.#serverMax ?? 1) * this.#settings.maxIdleConnectionsPercent) / 100));
  }

  #applySize(): void {
    const st = this.#settings;
    // Until the server's size is known (the first login), nothing is trimmed.
    const maxIdle = this.#serverMax === undefined ? this.maxServers : this.maxIdleServers;
    this.control.configure({ maxServers: this.maxServers, maxIdleServers: maxIdle, borrowTimeoutMs: st.borrowTimeoutMs, idleClientTimeoutMs: st.idleClientTimeoutMs, idleServerMs: st.idleServerMs, clientStallMs: st.clientStallMs, debugSql: st.debugSql });
    // The bound is the group's (one per proxy and target), sized as this pool's would be.
    const group = this.#base.limitGroup;
    if (group !== undefined && this.#serverMax !== undefined) this.control.limit(group.id, this.maxServers);
  }

  get closed(): boolean {
    return this.#closed;
  }

  close(): void {
    this.#closed = true;
    this.control.close();
  }
}
