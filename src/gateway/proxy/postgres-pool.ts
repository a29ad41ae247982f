/**
 * One pool of PostgreSQL server connections for a proxy: its endpoint's
 * targets, a database user and a database. Which instance a new server
 * connection goes to is asked at each login (`target()`): after a failover
 * new connections go to the new writer while clients stay attached. The native side (native/pg_pool.c) lends
 * the connections to clients one transaction at a time; this class makes
 * them: it logs each one in with the user's credentials (the proxy's secret),
 * runs the target group's InitQuery, and hands it over. It also interns each
 * client's startup settings, renders the errors the native side sends, and
 * reads the native side's counters for metrics.
 */
import type { Logger } from 'pino';
import { IamdbError } from '../../errors/index.js';
import { ByteReader, decodeErrorResponse, encodeErrorResponse, encodeQuery, type ErrorFields, type SaltedPasswordCache } from '../../protocol/postgres/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import type { NativeDataPath, NativePoolControl } from '../native-data-path.js';
import { MessageReader } from '../postgres/messages.js';
import { loginUpstream, openUpstream, sendUpstreamCancel, type UpstreamLink, type UpstreamSession } from '../postgres/upstream.js';
import { nativeUpstreamTls, permanentTlsFailure } from './pooled-server-tls.js';
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

/** The startup parameters a proxy client may set and that follow it from connection to connection (RDS Proxy's list). */
export const TRACKED_SETTINGS = ['application_name', 'client_encoding', 'datestyle', 'timezone', 'extra_float_digits', 'search_path'] as const;

/** What the proxy's settings say about one pool; applied again whenever they change. */
export interface PoolSettings {
  /** MaxConnectionsPercent: this share of the server's max_connections less its superuser reserve (learned at the first login). */
  readonly maxConnectionsPercent: number;
  /** MaxIdleConnectionsPercent: idle server connections beyond this share are closed once idle for idleServerMs. */
  readonly maxIdleConnectionsPercent: number;
  readonly idleServerMs: number;
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

export interface PostgresPoolOptions {
  readonly native: NativeDataPath;
  /** The shared bound this pool counts in; without it the pool has a bound of its own. */
  readonly limitGroup?: PoolLimitGroup;
  /** The first login failed: the pool serves nobody and may be dropped (called before ready() resolves). */
  unused?(): void;
  /**
   * The instance a new server connection logs in to, asked at each login with
   * the pool's server connections per instance id; undefined: none available
   * now (a failover in progress: the pool waits and asks again); `refused`:
   * none can ever serve this pool as registered (the login fails at once).
   */
  target(load: ReadonlyMap<string, number>): DbInstance | undefined | { readonly refused: ErrorFields };
  /** A login found no target or could not reach it (target health should look again now). */
  targetFailed?(): void;
  readonly user: string;
  readonly database: string;
  /** The user's credentials, fetched for each new server connection (so a rotated secret is used at once). */
  readonly credentials: () => Promise<PoolCredentials>;
  readonly settings: PoolSettings;
  readonly initQuery?: string;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly saltedPasswordCache: SaltedPasswordCache;
  readonly logger: Logger;
  /** Rendered by the caller: what a client waiting too long, or losing its server, receives. */
  readonly timeoutError: Buffer;
  /** FATAL: the client's open transaction died with its server. */
  readonly lostError: Buffer;
  /** ERROR: the statement in flight died with its server; the client stays. */
  readonly failedError: Buffer;
}

/**
 * `final`: target choice refused the pool outright, or TLS to the server cannot work as
 * configured (never worth a retry). `audit`: the reason a refused client's record gets
 * when it is not the server's refusal (UpstreamRefused). `nativeTls`: the native side runs
 * the link's TLS (the pool takes it with the connection).
 */
type LoginResult =
  | { ok: true; session: UpstreamSession; instance: DbInstance; nativeTls?: number }
  | { ok: false; error: ErrorFields; final?: boolean; audit?: 'UpstreamUnavailable' };

/** Why the pool's first login failed, as ready() reports it. */
export type PoolReadyFailure = { ok: false; error: ErrorFields; audit?: 'UpstreamUnavailable' };

/** What a login reports when target choice has no instance for it now. */
const NO_TARGET: ErrorFields = { severity: 'FATAL', code: '08001', message: 'the proxy has no available target' };

/**
 * A login failure that says the target is gone or changing (no target now,
 * or the server is starting, shutting down or in recovery: 57P0x), not that
 * the pool's user or database is wrong: worth waiting for a new writer.
 */
function targetUnavailable(error: ErrorFields): boolean {
  return error === NO_TARGET || error.code.startsWith('57P') || error.code.startsWith('08');
}

/** A SQL string literal. Startup values never hold NUL (the protocol cannot carry it). */
function literal(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** The server connection a pool keeps its first login's view of. */
export interface ServerView {
  readonly parameters: ReadonlyMap<string, string>;
}

export class PostgresPool {
  readonly stats = new Float64Array(16);
  readonly #opts: PostgresPoolOptions;
  readonly #control: NativePoolControl;
  /** Startup settings by their query text: one id and one query Buffer shared by every client with them (a Buffer per client would pin a Buffer pool slab each, for the client's life). */
  readonly #interned = new Map<string, { readonly id: number; readonly query: Buffer }>();
  readonly #neutral: number;
  /** Each server connection's cancel key and where it is. */
  readonly #keys = new Map<number, { processId: number; secretKey: Buffer; instance: DbInstance }>();
  #failures = 0;
  #view: ServerView | undefined;
  #lastError: ErrorFields | undefined;
  #closed = false;
  #serverMax: number | undefined;
  #firstLogin: Promise<{ ok: true } | PoolReadyFailure> | undefined;
  #settings: PoolSettings;
  readonly #logins = { requested: 0, succeeded: 0, failed: 0 };
  /** The first login waits for room under the bound: the native side's next `need` is its. */
  #room: (() => void) | undefined;

  static #serverIds = 0;

  constructor(opts: PostgresPoolOptions) {
    this.#opts = opts;
    this.#settings = opts.settings;
    this.#neutral = this.settingsFor(new Map()).id;
    // createPool below starts with one server; the first login sizes the pool, and sets the idle timeout with it.
    const reset = `DISCARD ALL;${opts.initQuery ? ` ${opts.initQuery}` : ''}`;
    this.#control = opts.native.createPool({
      // One until the server's max_connections is known (the first login asks).
      maxServers: 1,
      borrowTimeoutMs: opts.settings.borrowTimeoutMs,
      neutralSettingsId: this.#neutral,
      resetQuery: encodeQuery(reset),
      timeoutError: opts.timeoutError,
      lostError: opts.lostError,
      failedError: opts.failedError,
      stats: this.stats,
      events: {
        need: () => {
          const room = this.#room;
          this.#room = undefined;
          if (room !== undefined) room();
          else void this.#open();
        },
        serverClosed: (id, reason) => {
          this.#keys.delete(id);
          opts.logger.debug({ server: id, reason }, 'pooled server connection closed');
        },
        closed: () => undefined,
      },
    });
    // Another pool of the group has learned the server's size: this one shares the bound from its first login.
    if (opts.limitGroup?.serverMax !== undefined) {
      this.#serverMax = opts.limitGroup.serverMax;
      this.#applySize();
    }
  }

  /** The native side's counters, by name. */
  snapshot(): PoolStats {
    return Object.fromEntries(POOL_STATS.map((k, i) => [k, this.stats[i]!])) as PoolStats;
  }

  /** The server logins made so far (counted here: the native side only borrows connections). */
  get logins(): PoolLoginCounts {
    return { ...this.#logins };
  }

  /** What the first server login reported (server_version, …), for clients' ParameterStatus. */
  get view(): ServerView | undefined {
    return this.#view;
  }

  get lastError(): ErrorFields | undefined {
    return this.#lastError;
  }

  /** Interns a client's startup settings: one id and one Query message per distinct set. */
  settingsFor(params: ReadonlyMap<string, string>): { id: number; query: Buffer } {
    const parts: string[] = [];
    const sets: string[] = [];
    for (const name of TRACKED_SETTINGS) {
      const v = params.get(name);
      // set_config takes the value as a startup packet would (search_path keeps its own quoting).
      if (v === undefined) parts.push(`RESET ${name}`);
      else sets.push(`pg_catalog.set_config(${literal(name)}, ${literal(v)}, false)`);
    }
    if (sets.length > 0) parts.push(`SELECT ${sets.join(', ')}`);
    const text = parts.join('; ');
    let interned = this.#interned.get(text);
    if (interned === undefined) {
      interned = { id: this.#interned.size + 1, query: encodeQuery(text) };
      this.#interned.set(text, interned);
    }
    return interned;
  }

  get control(): NativePoolControl {
    return this.#control;
  }

  /**
   * Makes sure one server login has worked (the database exists, the
   * credentials are right) before a client is told it is in. The connection
   * it makes joins the pool.
   */
  async ready(): Promise<{ ok: true } | PoolReadyFailure> {
    if (this.#view !== undefined) return { ok: true };
    // A storm of first clients shares one login.
    this.#firstLogin ??= this.#firstReady().finally(() => {
      this.#firstLogin = undefined;
    });
    return this.#firstLogin;
  }

  /** One server login, counted. */
  async #login(): Promise<LoginResult> {
    const counts = this.#logins;
    counts.requested++;
    try {
      const r = await this.#loginOnce();
      if (r.ok) counts.succeeded++;
      else counts.failed++;
      return r;
    } catch (err) {
      counts.failed++;
      throw err;
    }
  }

  /**
   * The first login, tried again while the target is missing or unreachable
   * (a failover), up to ConnectionBorrowTimeout as a borrow would wait; a
   * refusal by a server that answered is the client's error at once.
   */
  async #firstReady(): Promise<{ ok: true } | PoolReadyFailure> {
    const r = await this.#firstReadyOnce().catch((err: unknown) => {
      this.#opts.unused?.();
      throw err;
    });
    if (!r.ok) this.#opts.unused?.();
    return r;
  }

  async #firstReadyOnce(): Promise<{ ok: true } | PoolReadyFailure> {
    const until = Date.now() + this.#settings.borrowTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      // Room under the bound first, as a waiting client would have (the group's other pools may hold it all).
      if (!(await this.#roomForLogin(until))) return { ok: false, error: decodeErrorFields(this.#opts.timeoutError.subarray(5)) };
      let r: LoginResult | undefined;
      let thrown: unknown;
      let added = false;
      try {
        r = await this.#login();
        if (r.ok) {
          this.#add(r, true);
          added = true;
          return { ok: true };
        }
      } catch (err) {
        // Unreachable, or the server went away right after the login: a failover may be under way.
        thrown = err;
        r = undefined;
      } finally {
        // The room the native side counted for this login is free again.
        if (!added) this.#control.failed();
      }
      if (r !== undefined && (r.final === true || !targetUnavailable(r.error))) return { ok: false, error: r.error, ...(r.audit ? { audit: r.audit } : {}) };
      this.#opts.targetFailed?.();
      if (this.#closed || Date.now() >= until) {
        if (thrown !== undefined) throw thrown;
        return { ok: false, error: r!.error };
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
      this.#control.reserve();
    });
  }

  /** The pool's server connections per instance id (for spreading readers). */
  #load(): Map<string, number> {
    const load = new Map<string, number>();
    for (const k of this.#keys.values()) load.set(k.instance.id, (load.get(k.instance.id) ?? 0) + 1);
    return load;
  }

  async #loginOnce(): Promise<LoginResult> {
    const o = this.#opts;
    const target = o.target(this.#load());
    if (target === undefined) return { ok: false, error: NO_TARGET };
    if ('refused' in target) return { ok: false, error: target.refused, final: true };
    const creds = await o.credentials();
    // TLS as targetTls says, run by the native side: the pool takes the link with the connection.
    let link: UpstreamLink;
    try {
      link = await openUpstream(target, o.loginTimeoutMs, nativeUpstreamTls(o.native));
    } catch (err) {
      if (!permanentTlsFailure(err)) throw err;
      // Configuration, not an outage: say so now (target health looks again and shows it too).
      o.targetFailed?.();
      const error: ErrorFields = { severity: 'FATAL', code: '08001', message: (err as Error).message };
      this.#lastError = error;
      return { ok: false, error, final: true, audit: 'UpstreamUnavailable' };
    }
    const r = await loginUpstream(target, link, {
      user: creds.username,
      database: o.database,
      params: new Map([['application_name', 'iamdb-proxy']]),
      password: creds.password,
      maxMessageBytes: o.maxMessageBytes,
      saltedPasswordCache: o.saltedPasswordCache,
    });
    if (!r.ok) {
      this.#lastError = r.error;
      return r;
    }
    if (this.#serverMax === undefined) {
      // RDS Proxy's base: max_connections less what the server keeps for superusers.
      const max = await runQuery(r.session, "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int", o.maxMessageBytes);
      this.#serverMax = Number(max.value ?? '100') || 100;
      if (o.limitGroup !== undefined) o.limitGroup.serverMax ??= this.#serverMax;
      this.#applySize();
    }
    if (o.initQuery) {
      const { error } = await runQuery(r.session, o.initQuery, o.maxMessageBytes);
      if (error !== undefined) {
        r.session.socket.destroy();
        this.#lastError = error;
        return { ok: false, error };
      }
    }
    this.#view ??= { parameters: r.session.parameters };
    this.#lastError = undefined;
    return { ...r, instance: target, ...(link.nativeTls !== undefined ? { nativeTls: link.nativeTls } : {}) };
  }

  #add(login: { session: UpstreamSession; instance: DbInstance; nativeTls?: number }, requested: boolean): void {
    const { session, instance } = login;
    const id = ++PostgresPool.#serverIds;
    // The handoff throws if the server spoke after its login (it is going away: a failover); then it is not the pool's.
    if (session.leftover.some((b) => b.length > 0)) {
      session.socket.destroy();
      throw new IamdbError('GATEWAY_NATIVE_HANDOFF', { what: 'the server spoke after its login' });
    }
    this.#control.add(id, session.socket, this.#neutral, requested, login.nativeTls);
    this.#keys.set(id, { ...session.backendKey, instance });
  }

  /**
   * Cancels what the pooled session (its native id) is running, on the
   * server connection it holds at this moment; nothing if it holds none. The
   * native side keeps that connection from changing hands until the cancel
   * has gone out, so it cannot reach the next client's transaction.
   */
  async cancel(nativeSessionId: number): Promise<void> {
    const native = this.#opts.native;
    const serverId = await native.cancelTarget(nativeSessionId);
    if (serverId === 0) return;
    try {
      const key = this.#keys.get(serverId);
      if (key !== undefined) await sendUpstreamCancel(key.instance, key);
    } finally {
      native.cancelDone(serverId);
    }
  }

  /** The native side asked for one more server connection. */
  async #open(): Promise<void> {
    if (this.#closed) return this.#control.failed();
    try {
      const r = await this.#login();
      if (r.ok) {
        this.#failures = 0;
        this.#add(r, true);
        return;
      }
      this.#opts.logger.warn({ user: this.#opts.user, code: r.error.code, message: r.error.message }, 'proxy could not log in a server connection');
      if (r.final !== true && targetUnavailable(r.error)) this.#opts.targetFailed?.();
    } catch (err) {
      this.#opts.logger.warn({ err: String(err) }, 'proxy could not reach the server');
      this.#opts.targetFailed?.();
    }
    // Pace retries: the native side asks again while clients wait.
    this.#failures++;
    const delay = Math.min(2000, 50 * 2 ** Math.min(this.#failures, 6));
    setTimeout(() => this.#control.failed(), delay).unref();
  }

  /**
   * Closes this pool's server connections to the instances `gone` names (idle
   * ones now, borrowed ones when their client gives them back): a replica
   * promoted under a READ_ONLY pool, a target deregistered. Returns how many.
   */
  retire(gone: (instanceId: string) => boolean): number {
    let n = 0;
    for (const [id, key] of this.#keys) {
      if (!gone(key.instance.id)) continue;
      this.#control.retire(id);
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
    this.#control.configure({ maxServers: this.maxServers, maxIdleServers: maxIdle, borrowTimeoutMs: st.borrowTimeoutMs, idleClientTimeoutMs: st.idleClientTimeoutMs, idleServerMs: st.idleServerMs, debugSql: st.debugSql });
    // The bound is the group's (one per proxy and target), sized as this pool's would be.
    const group = this.#opts.limitGroup;
    if (group !== undefined && this.#serverMax !== undefined) this.#control.limit(group.id, this.maxServers);
  }

  close(): void {
    this.#closed = true;
    this.#control.close();
  }
}

/** Runs one simple query on a fresh connection: the server's error, or the first column of the first row. */
export async function runQuery(session: UpstreamSession, sql: string, maxMessageBytes: number): Promise<{ error?: ErrorFields; value?: string }> {
  const reader = new MessageReader(session.socket, maxMessageBytes, 'upstream', Buffer.concat(session.leftover));
  session.socket.resume();
  session.socket.write(encodeQuery(sql));
  let error: ErrorFields | undefined;
  let value: string | undefined;
  for (;;) {
    const frame = await reader.next();
    if (frame.type === 0x45 /* E */) error = decodeErrorFields(frame.body);
    if (frame.type === 0x44 /* D */ && value === undefined) value = firstColumn(frame.body);
    if (frame.type === 0x5a /* Z */) break;
  }
  // Nothing follows ReadyForQuery on a connection nobody has used yet.
  (session.leftover as Buffer[]).splice(0, session.leftover.length, ...reader.handOff());
  session.socket.pause();
  return { ...(error ? { error } : {}), ...(value !== undefined ? { value } : {}) };
}

/** The first column of a DataRow as text (NULL: undefined). */
function firstColumn(body: Buffer): string | undefined {
  if (body.length < 6 || body.readUInt16BE(0) < 1) return undefined;
  const len = body.readInt32BE(2);
  return len < 0 ? undefined : body.toString('utf8', 6, 6 + len);
}

function decodeErrorFields(body: Buffer): ErrorFields {
  return decodeErrorResponse(new ByteReader(body)).fields;
}

/** An ErrorResponse for the native side to send (FATAL: the client's session ends). */
export function fatalBytes(code: string, message: string): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code, message });
}
