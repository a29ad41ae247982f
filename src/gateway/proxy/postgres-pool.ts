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
import type { NativeDataPath } from '../native-data-path.js';
import { MessageReader } from '../postgres/messages.js';
import { loginUpstream, openUpstream, sendUpstreamCancel, type UpstreamLink, type UpstreamSession } from '../postgres/upstream.js';
import { NativeBackedPool, type PoolReadyFailure as NativeReadyFailure, type PoolCredentials, type PoolLimitGroup, type PoolLogin, type PoolSettings } from './native-backed-pool.js';
import { nativeUpstreamTls, permanentTlsFailure } from './pooled-server-tls.js';

export { POOL_STATS, type PoolCredentials, type PoolLimitGroup, type PoolLoginCounts, type PoolSettings, type PoolStats } from './native-backed-pool.js';

/** The startup parameters a proxy client may set and that follow it from connection to connection (RDS Proxy's list). */
export const TRACKED_SETTINGS = ['application_name', 'client_encoding', 'datestyle', 'timezone', 'extra_float_digits', 'search_path'] as const;

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

/** Why the pool's first login failed, as ready() reports it. */
export type PoolReadyFailure = NativeReadyFailure<ErrorFields>;

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

export class PostgresPool extends NativeBackedPool<ErrorFields> {
  readonly #opts: PostgresPoolOptions;
  /** Startup settings by their query text: one id and one query Buffer shared by every client with them (a Buffer per client would pin a Buffer pool slab each, for the client's life). */
  readonly #interned: Map<string, { readonly id: number; readonly query: Buffer }>;
  readonly #neutral: number;
  /** Each server connection's cancel key and where it is. */
  readonly #keys = new Map<number, { processId: number; secretKey: Buffer; instance: DbInstance; linkWasTls: boolean }>();
  #view: ServerView | undefined;
  #lastError: ErrorFields | undefined;

  constructor(opts: PostgresPoolOptions) {
    const interned = new Map<string, { readonly id: number; readonly query: Buffer }>();
    const neutral = internSettings(interned, new Map()).id;
    super(opts, {
      neutralSettingsId: neutral,
      resetQuery: encodeQuery(`DISCARD ALL;${opts.initQuery ? ` ${opts.initQuery}` : ''}`),
      timeoutError: opts.timeoutError,
      lostError: opts.lostError,
      failedError: opts.failedError,
      mysql: false,
    });
    this.#opts = opts;
    this.#interned = interned;
    this.#neutral = neutral;
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
    return internSettings(this.#interned, params);
  }

  protected targetUnavailable(error: ErrorFields): boolean {
    return targetUnavailable(error);
  }

  protected timeoutFailure(): ErrorFields {
    return decodeErrorFields(this.#opts.timeoutError.subarray(5));
  }

  protected describe(error: ErrorFields): { code: string; message: string } {
    return { code: error.code, message: error.message };
  }

  protected override serverClosed(serverId: number): void {
    this.#keys.delete(serverId);
  }

  protected async loginOnce(learnServerMax: boolean): Promise<PoolLogin<ErrorFields>> {
    const o = this.#opts;
    const target = o.target(this.load());
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
    let serverMax: number | undefined;
    if (learnServerMax) {
      // RDS Proxy's base: max_connections less what the server keeps for superusers.
      const max = await runQuery(r.session, "SELECT current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int", o.maxMessageBytes);
      serverMax = Number(max.value ?? '100') || 100;
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
    const session = r.session;
    return {
      ok: true,
      instance: target,
      ...(serverMax !== undefined ? { serverMax } : {}),
      handOver: (id, requested) => {
        // The handoff throws if the server spoke after its login (it is going away: a failover); then it is not the pool's.
        if (session.leftover.some((b) => b.length > 0)) {
          session.socket.destroy();
          throw new IamdbError('GATEWAY_NATIVE_HANDOFF', { what: 'the server spoke after its login' });
        }
        this.control.add(id, session.socket, this.#neutral, requested, link.nativeTls);
        this.#keys.set(id, { ...session.backendKey, instance: target, linkWasTls: link.serverEndPoint !== undefined || link.nativeTls !== undefined });
      },
    };
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
      if (key !== undefined) await sendUpstreamCancel(key.instance, key, key.linkWasTls);
    } finally {
      native.cancelDone(serverId);
    }
  }
}

/** One id and one Query message per distinct set of tracked startup settings. */
function internSettings(interned: Map<string, { readonly id: number; readonly query: Buffer }>, params: ReadonlyMap<string, string>): { id: number; query: Buffer } {
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
  let found = interned.get(text);
  if (found === undefined) {
    found = { id: interned.size + 1, query: encodeQuery(text) };
    interned.set(text, found);
  }
  return found;
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
