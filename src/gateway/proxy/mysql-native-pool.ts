/**
 * One pool of MySQL/MariaDB server connections lent by the native side
 * (native/my_pool.c): a proxy's endpoint role, a database user, a database,
 * and the shape of responses its clients negotiated (mysql-server-link.ts
 * ServerShape: clients of another shape get a pool of their own, under the
 * same shared bound). This class logs server connections in with the
 * secret's credentials (TLS to the server run natively, as for PostgreSQL),
 * names every distinct client settings with an id and the commands that
 * recreate them (mysql-client-state.ts), and answers the native side's
 * questions about statements its filter could not clear
 * (mysql-session-state.ts) with a verdict: a pin reason, and the settings a
 * tracked SET, USE, COM_INIT_DB or COM_RESET_CONNECTION leaves.
 */
import type { Logger } from 'pino';
import { Capability, Command, ServerStatus, encodeErrPacket, encodePacket } from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { MysqlVerdict, NativeDataPath, PooledClient } from '../native-data-path.js';
import type { ServerProfileCache } from '../mysql/greeting.js';
import { neutralSettings, plan, settingsKey, withSets, type SessionSettings } from './mysql-client-state.js';
import { TRACK_STATE_CHANGES, loginServer, type ServerRefusal, type ServerShape } from './mysql-server-link.js';
import { MYSQL_PIN_CODES, classifyMysql, type MysqlPinReason } from './mysql-session-state.js';
import { NativeBackedPool, type PoolCredentials, type PoolLimitGroup, type PoolLogin, type PoolSettings } from './native-backed-pool.js';
import { nativeUpstreamTls } from './pooled-server-tls.js';

/**
 * Verdict flags (native/my_pool.c MYV_*). RESET_AFTER: the statement may
 * leave what the server does not report (a named lock taken in a procedure):
 * its connection is reset before another client borrows it. HELD_ONLY: the
 * statement reads what the session's previous statement left, which on a
 * connection just borrowed is another client's: refused unless the client
 * already holds its connection. FRESH_ROWS: a stored routine that may read
 * ROW_COUNT() at its start: where another client's command (or the proxy's)
 * ran last on the connection, `DO 0` runs first.
 */
export const MYSQL_VERDICT = { SETTINGS: 1, SETTING_ONLY: 2, PIN_ON_ERROR: 4, AUTOCOMMIT: 8, STICKY: 16, RESET_AFTER: 32, HELD_ONLY: 64, FRESH_ROWS: 128, TRANSIENT: 256 } as const;

export interface MysqlNativePoolOptions {
  readonly native: NativeDataPath;
  readonly limitGroup?: PoolLimitGroup;
  unused?(): void;
  /** As PostgresPool's: the instance a new server connection logs in to, asked at each login. */
  target(load: ReadonlyMap<string, number>): DbInstance | undefined | { readonly refused: ServerRefusal };
  targetFailed?(): void;
  readonly user: string;
  /** The database clients of this pool asked for ('' for none). */
  readonly database: string;
  /** What the pool's server connections answer like (the clients' negotiated capabilities). */
  readonly shape: ServerShape;
  readonly credentials: () => Promise<PoolCredentials>;
  readonly settings: PoolSettings;
  readonly initQuery?: string;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  profileOf(target: DbInstance): ServerProfileCache;
  readonly logger: Logger;
}

/**
 * How many distinct settings a pool names, and how many bytes their commands
 * may take: ids are never reused (a client may hold any of them), so the map
 * only grows, and each distinct literal a client SETs (even one the server
 * then refuses) is a new entry. Beyond, a client changing its settings is
 * pinned instead: its server keeps them.
 */
export const MAX_INTERNED_SETTINGS = 4096;
export const MAX_INTERNED_BYTES = 16 << 20;

/** What a login reports when target choice has no instance now. */
const NO_TARGET: ServerRefusal = { errno: 2003, sqlState: 'HY000', message: 'the proxy has no available target' };

/** As MysqlPool's: the target is gone or changing (no connection, a lost one, a shutdown), worth waiting for. */
function targetUnavailable(r: ServerRefusal): boolean {
  return r === NO_TARGET || r.errno === 2003 || r.errno === 2013 || r.errno === 1053 || r.errno === 1927;
}

const LOST = 'Request returned an error: the connection to the database was lost before the statement completed.';

/** An ERR packet as the first reply to a command (sequence id 1). */
function errReply(errno: number, sqlState: string, message: string): Buffer {
  return encodePacket(encodeErrPacket({ errno, sqlState, message }), 1);
}

function command(cmd: number, text: string): Buffer {
  return encodePacket(Buffer.concat([Buffer.from([cmd]), Buffer.from(text, 'utf8')]), 0);
}

/** One client's settings as the native side knows them. */
interface Interned {
  readonly id: number;
  readonly settings: SessionSettings;
  /** The commands that make a neutral connection carry them. */
  readonly commands: Buffer;
  /** MYSQL_VERDICT.AUTOCOMMIT and STICKY. */
  readonly flags: number;
}

/** `SET SESSION autocommit = v`: what it sets (undefined: a value the proxy cannot read). */
function autocommitOf(sql: string): boolean | undefined {
  const v = /=\s*(.+?)\s*$/.exec(sql)?.[1]?.toLowerCase().replace(/^'(.*)'$/, '$1');
  if (v === '1' || v === 'on' || v === 'true') return true;
  if (v === '0' || v === 'off' || v === 'false') return false;
  return undefined;
}

export class MysqlNativePool extends NativeBackedPool<ServerRefusal> {
  readonly #opts: MysqlNativePoolOptions;
  readonly #byKey = new Map<string, Interned>();
  readonly #byId = new Map<number, Interned>();
  readonly #neutral: Interned;
  /** Bytes of interned commands (MAX_INTERNED_BYTES). */
  readonly #budget = { bytes: 0 };
  #excludeVariableSets = false;
  #lastError: ServerRefusal | undefined;
  /**
   * The pool's server connections report session state changes
   * (TRACK_STATE_CHANGES, run at login and after every reset): possible only
   * where the clients negotiated CLIENT_SESSION_TRACK, as the server sets the
   * flag for no other connection. A CALL then runs unpinned, and what it
   * changes pins through the flag (StateChange); elsewhere a CALL pins.
   */
  readonly #tracksState: boolean;

  constructor(opts: MysqlNativePoolOptions) {
    const tracksState = (opts.shape.capabilities & Capability.CLIENT_SESSION_TRACK) !== 0;
    const reset = [
      encodePacket(Buffer.from([Command.COM_RESET_CONNECTION]), 0),
      // The reset puts session_track_state_change back to the server's default.
      ...(tracksState ? [command(Command.COM_QUERY, TRACK_STATE_CHANGES)] : []),
      ...(opts.database ? [command(Command.COM_INIT_DB, opts.database)] : []),
      ...(opts.initQuery ? [command(Command.COM_QUERY, opts.initQuery)] : []),
    ];
    const byKey = new Map<string, Interned>();
    const byId = new Map<number, Interned>();
    const neutral = intern(byKey, byId, neutralSettings(opts.database || null), opts.database, undefined)!;
    super(opts, {
      neutralSettingsId: neutral.id,
      resetQuery: Buffer.concat(reset),
      timeoutError: errReply(9501, 'HY000', 'Timed-out waiting to acquire database connection'),
      lostError: errReply(2013, 'HY000', LOST),
      failedError: errReply(2013, 'HY000', LOST),
      mysql: true,
    });
    this.#opts = opts;
    this.#tracksState = tracksState;
    this.#byKey = byKey;
    this.#byId = byId;
    this.#neutral = neutral;
  }

  get lastError(): ServerRefusal | undefined {
    return this.#lastError;
  }

  /** SessionPinningFilters: EXCLUDE_VARIABLE_SETS lets SETs of variables through unpinned. */
  setPinningFilters(filters: readonly string[]): void {
    this.#excludeVariableSets = filters.includes('EXCLUDE_VARIABLE_SETS');
  }

  /** What a new client of the pool starts with: the pool's database, autocommit on. */
  get initialSettings(): { id: number; commands: Buffer; flags: number } {
    return this.#neutral;
  }

  /**
   * The verdict on a command the native side asked about ('Q' COM_QUERY,
   * 'P' COM_STMT_PREPARE, 'D' COM_INIT_DB, 'R' COM_RESET_CONNECTION), for a
   * client whose settings are `settingsId` and whose server reads strings
   * with `statusFlags`.
   */
  classify(type: string, text: Buffer, settingsId: number, statusFlags: number): MysqlVerdict {
    const current = this.#byId.get(settingsId)?.settings ?? this.#neutral.settings;
    const o = { excludeVariableSets: this.#excludeVariableSets };
    switch (type) {
      case 'D':
        return this.#change({ ...current, schema: text.toString('utf8') }, MYSQL_VERDICT.SETTING_ONLY);
      case 'R':
        // Past the bounds too: the native side drops the client's session whatever the verdict, and its settings must follow.
        return this.#change(neutralSettings(current.schema), 0, true);
      case 'P': {
        // A prepared statement that changes settings does so with values the proxy never sees.
        const effect = classifyMysql(text.toString('utf8'), o);
        // Its first execute reads what the statement before the prepare left (a prepare changes no ROW_COUNT()): refused where that is another client's.
        if (effect.kind === 'pin') return pinnedEffect(effect);
        if (effect.kind === 'set' || effect.kind === 'use' || effect.kind === 'drop-database') return pinned('SessionVariable');
        // Its executes carry no verdict, so nothing would reset the connection after them (named locks): pinned, tracking or not.
        if (effect.kind === 'call') return routinePin(effect);
        return NO_VERDICT;
      }
      default:
        return this.#query(current, classifyMysql(text.toString('utf8'), o, (statusFlags & ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0));
    }
  }

  #query(current: SessionSettings, effect: ReturnType<typeof classifyMysql>): MysqlVerdict {
    switch (effect.kind) {
      case 'pin':
        return pinnedEffect(effect);
      case 'call':
        // Session tracking shows what the routine changed (StateChange pins); what it does not show, a named lock, session
        // tracking turned off, goes with a reset. Either way ROW_COUNT() at its start is not another client's (FRESH_ROWS).
        return this.#tracksState ? { ...NO_VERDICT, flags: MYSQL_VERDICT.RESET_AFTER | MYSQL_VERDICT.FRESH_ROWS } : routinePin(effect);
      case 'set':
      case 'excluded-set': {
        let next = withSets(current, effect.sets);
        const ac = effect.sets.find((s) => s.name === 'autocommit');
        if (ac !== undefined) {
          const on = autocommitOf(ac.sql);
          if (on === undefined) return pinned('SessionVariable');
          next = { ...next, autocommit: on };
        }
        return this.#change(next, MYSQL_VERDICT.SETTING_ONLY | (effect.sets.length > 1 ? MYSQL_VERDICT.PIN_ON_ERROR : 0));
      }
      case 'use':
        return this.#change({ ...current, schema: effect.schema }, MYSQL_VERDICT.SETTING_ONLY);
      case 'drop-database':
        return effect.schema === current.schema ? this.#change({ ...current, schema: null }, 0) : NO_VERDICT;
      case 'transient-set':
        // MariaDB reports SET STATEMENT's values as a state change, though they are gone when the statement ends. That
        // report is also the only sign of what a view's stored function or a trigger left (SET @x in f_uv behind
        // SELECT … FROM v): with it ignored, the connection is reset before another client borrows it.
        return { ...NO_VERDICT, flags: MYSQL_VERDICT.TRANSIENT | (this.#tracksState ? MYSQL_VERDICT.RESET_AFTER : 0) };
      default:
        return NO_VERDICT;
    }
  }

  #change(next: SessionSettings, flags: number, always = false): MysqlVerdict {
    const n = intern(this.#byKey, this.#byId, next, this.#opts.database, always ? undefined : this.#budget);
    if (n === undefined) return pinned('SessionVariable');
    return { pin: 0, flags: flags | MYSQL_VERDICT.SETTINGS | n.flags, settingsId: n.id, settings: n.commands };
  }

  /** The PooledClient fields a session attaches with (classify is the pool's). */
  client(capabilities: number): Pick<PooledClient, 'settingsId' | 'settingsQuery' | 'classify' | 'mysql'> {
    return {
      settingsId: this.#neutral.id,
      settingsQuery: this.#neutral.commands,
      classify: (type, text, settingsId, status) => this.classify(type, text, settingsId, status),
      mysql: { capabilities, settingsFlags: this.#neutral.flags },
    };
  }

  protected targetUnavailable(error: ServerRefusal): boolean {
    return targetUnavailable(error);
  }

  protected timeoutFailure(): ServerRefusal {
    return { errno: 9501, sqlState: 'HY000', message: 'Timed-out waiting to acquire database connection' };
  }

  protected describe(error: ServerRefusal): { code: string; message: string } {
    return { code: String(error.errno), message: error.message };
  }

  protected async loginOnce(learnServerMax: boolean): Promise<PoolLogin<ServerRefusal>> {
    const o = this.#opts;
    const target = o.target(this.load());
    if (target === undefined) return { ok: false, error: NO_TARGET };
    if ('refused' in target) return { ok: false, error: target.refused, final: true };
    const creds = await o.credentials();
    const r = await loginServer(target, o.shape, {
      username: creds.username,
      password: creds.password,
      database: o.database,
      loginTimeoutMs: o.loginTimeoutMs,
      maxMessageBytes: o.maxMessageBytes,
      profile: o.profileOf(target),
      ...(o.initQuery ? { initQuery: o.initQuery } : {}),
      trackStateChanges: this.#tracksState,
      learnMaxConnections: learnServerMax,
      tls: nativeUpstreamTls(o.native),
    });
    if (!r.ok) {
      this.#lastError = r.refusal;
      const final = r.permanentTls;
      return { ok: false, error: r.refusal, ...(final ? { final: true, audit: 'UpstreamUnavailable' as const } : {}) };
    }
    this.#lastError = undefined;
    const server = r.server;
    return {
      ok: true,
      instance: target,
      ...(r.maxConnections !== undefined ? { serverMax: r.maxConnections } : {}),
      handOver: (id, requested) => {
        this.control.add(id, server.socket, this.#neutral.id, requested, server.nativeTls, {
          capabilities: server.capabilities,
          mariadbCapabilities: server.mariadbCapabilities,
          statusFlags: server.statusFlags,
        });
      },
    };
  }
}

const NO_VERDICT: MysqlVerdict = { pin: 0, flags: 0, settingsId: 0, settings: Buffer.alloc(0) };

function pinned(reason: MysqlPinReason): MysqlVerdict {
  return { pin: MYSQL_PIN_CODES[reason], flags: 0, settingsId: 0, settings: NO_VERDICT.settings };
}

/** A CALL or stored function where nothing reports what it does: pinned, on a connection whose ROW_COUNT() is the client's or 0. */
function routinePin(effect: { readonly function?: true }): MysqlVerdict {
  return { ...pinned(effect.function ? 'StoredFunction' : 'StoredProcedure'), flags: MYSQL_VERDICT.FRESH_ROWS };
}

/** A pin the classifier found; one that reads the previous statement's leftovers is refused on a connection not yet held. */
function pinnedEffect(effect: { readonly reason: MysqlPinReason; readonly previous?: true }): MysqlVerdict {
  return effect.previous ? { ...pinned(effect.reason), flags: MYSQL_VERDICT.HELD_ONLY } : pinned(effect.reason);
}

/** The id and commands for `s` (made once per distinct settings of the pool); undefined past the bounds. */
function intern(byKey: Map<string, Interned>, byId: Map<number, Interned>, s: SessionSettings, database: string, budget: { bytes: number } | undefined): Interned | undefined {
  const key = settingsKey(s);
  let found = byKey.get(key);
  if (found !== undefined) return found;
  if (budget !== undefined && byId.size >= MAX_INTERNED_SETTINGS) return undefined;
  const steps = plan(neutralSettings(database || null), s);
  const commands =
    steps === 'drop'
      ? Buffer.alloc(0)
      : Buffer.concat(steps.map((step) => (step.kind === 'init-db' ? command(Command.COM_INIT_DB, step.schema) : step.kind === 'query' ? command(Command.COM_QUERY, step.sql) : encodePacket(Buffer.from([Command.COM_RESET_CONNECTION]), 0))));
  const flags = (s.autocommit ? MYSQL_VERDICT.AUTOCOMMIT : 0) | (!database && s.schema !== null ? MYSQL_VERDICT.STICKY : 0);
  if (budget !== undefined) {
    if (budget.bytes + commands.length + key.length > MAX_INTERNED_BYTES) return undefined;
    budget.bytes += commands.length + key.length;
  }
  found = { id: byId.size + 1, settings: s, commands, flags };
  byKey.set(key, found);
  byId.set(found.id, found);
  return found;
}
