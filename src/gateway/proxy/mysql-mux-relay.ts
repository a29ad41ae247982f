/**
 * The command phase of one MySQL proxy client, transaction multiplexing:
 * the client holds a server connection only while a transaction is open
 * (autocommit: one statement), or for good once pinned. Sockets and order
 * only; the decisions are pure and live elsewhere:
 *
 * - what a statement does to the session: mysql-session-state.ts
 *   (tracked, or pinned with a reason);
 * - what the client carries between connections, the transaction rule and
 *   the prepared statement maps: mysql-client-state.ts;
 * - packet layouts: protocol/mysql (ResponseTracker finds each response's
 *   end and status flags; stmt-packets.ts rewrites statement ids).
 *
 * Commands are handled one at a time (the client is paused meanwhile):
 * MySQL clients wait for each answer, and one command in flight is what
 * lets a server connection change hands at any answer's end.
 *
 * Before a client's command runs on a connection it has just borrowed, the
 * connection is made to carry the client's settings (plan(): its SETs, its
 * database, autocommit; after COM_RESET_CONNECTION when the connection
 * carries other SETs). A binary prepared statement the connection lacks is
 * prepared there first (reply swallowed), with the client's parameter types
 * and long data; the client sees only the ids the proxy gave it.
 */
import type { Socket } from 'node:net';
import {
  Command,
  PacketFramer,
  ResponseTracker,
  ServerStatus,
  commandDisposition,
  decodePrepareOk,
  encodeErrPacket,
  encodeOkPacket,
  encodePacket,
  encodeStmtClose,
  errPacketFor,
  executeLayout,
  rewriteExecute,
  rewritePrepareOkId,
  statementIdOf,
  withStatementId,
  type MysqlPacket,
  type ResponseEnd,
} from '../../protocol/mysql/index.js';
import type { RelayResult } from '../relay.js';
import { ClientStatements, Transaction, neutralSettings, plan, settingsKey, withSets, type ClientStatement, type ServerStatement, type SessionSettings } from './mysql-client-state.js';
import type { MysqlPool } from './mysql-pool.js';
import { applyPlan, prepareOn, type PooledServer, type ServerShape } from './mysql-server-link.js';
import { classifyMysql, type MysqlPinReason, type StatementEffect } from './mysql-session-state.js';

export interface MuxResult extends RelayResult {
  /** The client was let go after IdleClientTimeout without a command. */
  readonly idledOut: boolean;
  /** The client reached the 24-hour limit. */
  readonly expired: boolean;
  /** How the server connection it held at the end went back ('none': it held none). */
  readonly serverGivenBack: 'none' | 'keep' | 'reset' | 'close';
}

export interface MuxOptions {
  readonly pool: MysqlPool;
  readonly shape: ServerShape;
  /** Distinguishes clients of the pool (a client's last connection is preferred). */
  readonly clientId: number;
  /** The capabilities negotiated with the client (for the OK packets the proxy writes itself). */
  readonly clientCapabilities: number;
  /** The pool's database ('' none): what a fresh connection has selected. */
  readonly database: string;
  readonly initQuery?: string;
  readonly maxMessageBytes: number;
  /** IdleClientTimeout (0: never). */
  readonly idleClientTimeoutMs: number;
  /** RDS Proxy's fixed 24 hours. */
  readonly maxLifeMs: number;
  /** SessionPinningFilters has EXCLUDE_VARIABLE_SETS (read per statement: ModifyDBProxyTargetGroup applies at once). */
  excludeVariableSets(): boolean;
  /** DebugLogging is on now. */
  debugSql(): boolean;
  statement?(type: 'Q' | 'P', text: Buffer | undefined): void;
  /** The client was pinned (once per session). */
  pinned(reason: MysqlPinReason): void;
}

/** Statements a server connection keeps prepared for clients; the least recently used beyond are closed. */
const MAX_SERVER_STATEMENTS = 256;
/** COM_STMT_SEND_LONG_DATA kept per client statement until its execute. */
const MAX_LONG_DATA_BYTES = 64 * 1024 * 1024;
const DEBUG_TEXT_MAX = 16 * 1024;
/** Borrows tried when connections turn out unusable (closed meanwhile, a plan that fails). */
const BORROW_ATTEMPTS = 3;

/** The server's reply to one command: how it ended, and the bytes when they were held back. */
interface Reply {
  readonly end: ResponseEnd;
  readonly held: Buffer | undefined;
}

/** A command in flight on the server. */
interface InFlight {
  readonly resolve: (r: Reply | undefined) => void;
  readonly held: Buffer[] | undefined;
  /** Bytes of the reply already passed to the client. */
  passed: number;
  readonly tracker: ResponseTracker;
  readonly started: bigint;
}

const LOST_MESSAGE = 'Request returned an error: the connection to the database was lost before the statement completed.';

export function relayMultiplexed(client: Socket, o: MuxOptions): Promise<MuxResult> {
  return new MuxSession(client, o).run();
}

class MuxSession {
  readonly #client: Socket;
  readonly #o: MuxOptions;
  readonly #framer: PacketFramer;
  readonly #queue: MysqlPacket[] = [];
  readonly #leave = new AbortController();
  readonly #tx = new Transaction();
  readonly #statements = new ClientStatements();
  #settings: SessionSettings;
  #status = ServerStatus.SERVER_STATUS_AUTOCOMMIT as number;
  #server: PooledServer | undefined;
  #inFlight: InFlight | undefined;
  /** A command of the proxy's own is running on the held connection (a prepare for an execute). */
  #injecting = false;
  #pinned: MysqlPinReason | undefined;
  #busy = false;
  #done = false;
  #idledOut = false;
  #expired = false;
  #bytesFromClient = 0;
  #bytesFromServer = 0;
  #lifeTimer: NodeJS.Timeout | undefined;
  #resolve!: (r: MuxResult) => void;

  constructor(client: Socket, o: MuxOptions) {
    this.#client = client;
    this.#o = o;
    this.#framer = new PacketFramer({ maxAllowedPacket: o.maxMessageBytes });
    this.#settings = neutralSettings(o.database || null);
  }

  run(): Promise<MuxResult> {
    return new Promise((resolve) => {
      this.#resolve = resolve;
      const c = this.#client;
      c.on('data', this.#onClientData);
      c.on('end', this.#onClientGone);
      c.on('close', this.#onClientGone);
      c.on('error', this.#onClientGone);
      if (this.#o.idleClientTimeoutMs > 0) {
        c.setTimeout(this.#o.idleClientTimeoutMs);
        c.on('timeout', this.#onIdle);
      }
      this.#lifeTimer = setTimeout(() => {
        this.#expired = true;
        if (this.#server === undefined && !this.#busy) this.#end('hook');
      }, this.#o.maxLifeMs);
      this.#lifeTimer.unref();
      this.#o.pool.counters.clients++;
      c.resume();
    });
  }

  // ---- Client side ----

  readonly #onClientData = (chunk: Buffer): void => {
    this.#bytesFromClient += chunk.length;
    try {
      for (const p of this.#framer.push(chunk)) this.#queue.push({ ...p, payload: Buffer.from(p.payload) });
    } catch {
      return this.#end('error');
    }
    if (!this.#busy) void this.#pump();
  };

  readonly #onClientGone = (): void => this.#end('client');

  /** Inactivity both ways; a command still running keeps the client (the timer fires again after its answer). */
  readonly #onIdle = (): void => {
    if (this.#busy || this.#framer.hasPartialPacket) return;
    this.#idledOut = true;
    this.#end('hook');
  };

  async #pump(): Promise<void> {
    this.#busy = true;
    this.#client.pause();
    try {
      while (this.#queue.length > 0 && !this.#done) await this.#command(this.#queue.shift()!);
    } catch {
      this.#end('error');
    }
    this.#busy = false;
    if (this.#done) return;
    if (this.#expired && this.#server === undefined) return this.#end('hook');
    this.#client.resume();
  }

  #write(b: Buffer): void {
    if (!this.#client.destroyed) this.#client.write(b);
  }

  #err(seq: number, errno: number, sqlState: string, message: string): void {
    this.#write(encodePacket(encodeErrPacket({ errno, sqlState, message }), seq));
  }

  /** What a local OK says: the status the client last saw, with the transaction it is in. */
  #localOk(seq: number): void {
    const status = (this.#status & ~ServerStatus.SERVER_MORE_RESULTS_EXISTS & ~ServerStatus.SERVER_SESSION_STATE_CHANGED) >>> 0;
    this.#write(encodePacket(encodeOkPacket({ statusFlags: status }, this.#o.clientCapabilities), seq));
  }

  #pin(reason: MysqlPinReason): void {
    if (this.#pinned !== undefined) return;
    this.#pinned = reason;
    if (this.#server !== undefined) this.#server.pinned = true;
    this.#o.pinned(reason);
  }

  /** One client command (see the top of this file). */
  async #command(p: MysqlPacket): Promise<void> {
    if (p.sequenceId !== 0) return this.#end('error');
    const payload = p.payload;
    const seq = (p.lastSequenceId + 1) & 0xff;
    const cmd = payload[0] as number;
    switch (cmd) {
      case Command.COM_QUIT:
        return this.#end('client');
      case Command.COM_PING:
        if (this.#server === undefined) return this.#localOk(seq);
        return void (await this.#forward(payload, seq));
      case Command.COM_STMT_CLOSE:
        return this.#statements.close(statementIdOf(payload));
      case Command.COM_STMT_SEND_LONG_DATA:
        return this.#longData(payload);
      case Command.COM_STMT_RESET:
        return this.#stmtReset(payload, seq);
      case Command.COM_RESET_CONNECTION:
        return this.#resetConnection(seq);
      case Command.COM_STMT_PREPARE:
        return this.#prepare(payload, seq);
      case Command.COM_STMT_EXECUTE:
        return this.#execute(payload, seq);
      case Command.COM_STMT_FETCH:
        return this.#fetch(payload, seq);
      case Command.COM_STMT_BULK_EXECUTE:
        return this.#bulkExecute(payload, seq);
      case Command.COM_QUERY:
        return this.#query(payload, seq);
      case Command.COM_INIT_DB:
        return this.#initDb(payload, seq);
      case Command.COM_SET_OPTION:
        this.#pin('SetOption');
        return void (await this.#forward(payload, seq));
    }
    if (commandDisposition(cmd) === 'refuse') return this.#write(encodePacket(errPacketFor('ER_UNKNOWN_COM_ERROR', 'Unknown command'), seq));
    await this.#forward(payload, seq);
    this.#maybeRelease();
  }

  #debug(type: 'Q' | 'P', payload: Buffer): void {
    if (this.#o.statement !== undefined && this.#o.debugSql()) this.#o.statement(type, payload.length - 1 > DEBUG_TEXT_MAX ? undefined : Buffer.from(payload.subarray(1)));
  }

  async #query(payload: Buffer, seq: number): Promise<void> {
    this.#debug('Q', payload);
    const noBackslash = (this.#status & ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0;
    const effect = classifyMysql(payload.toString('utf8', 1), { excludeVariableSets: this.#o.excludeVariableSets() }, noBackslash);
    if (effect.kind === 'pin') this.#pin(effect.reason);
    this.#o.pool.counters.queries++;
    const reply = await this.#forward(payload, seq);
    if (reply === undefined) return;
    this.#afterStatement(reply.end, effect);
  }

  async #initDb(payload: Buffer, seq: number): Promise<void> {
    const reply = await this.#forward(payload, seq);
    if (reply === undefined) return;
    this.#afterStatement(reply.end, { kind: 'use', schema: payload.toString('utf8', 1) });
  }

  /** A statement's reply: its effect on the settings (when it succeeded), the transaction, and maybe the connection back. */
  #afterStatement(end: ResponseEnd, effect: StatementEffect): void {
    const server = this.#server;
    const ok = end.outcome === 'ok' || end.outcome === 'eof';
    if (ok) {
      let s = { ...this.#settings, autocommit: (end.statusFlags & ServerStatus.SERVER_STATUS_AUTOCOMMIT) !== 0 };
      if (effect.kind === 'set' || effect.kind === 'excluded-set') s = withSets(s, effect.sets);
      else if (effect.kind === 'use') s = { ...s, schema: effect.schema };
      else if (effect.kind === 'drop-database' && effect.schema === s.schema) s = { ...s, schema: null };
      this.#settings = s;
      if (server !== undefined) server.settings = s;
      // A change the server reports (session tracking) that no statement the proxy read explains: pinned, as it cannot be carried.
      if (effect.kind === 'none' && (end.statusFlags & ServerStatus.SERVER_SESSION_STATE_CHANGED) !== 0) this.#pin('StateChange');
    } else if (end.outcome === 'err' && (effect.kind === 'set' || effect.kind === 'excluded-set') && effect.sets.length > 1) {
      // Some items of a failed SET may have applied: what the connection carries is no longer known.
      this.#pin('SessionVariable');
    }
    const settingOnly = effect.kind === 'set' || effect.kind === 'use' || effect.kind === 'excluded-set';
    this.#tx.afterStatement(end.statusFlags, settingOnly);
    if (server !== undefined) server.inTransaction = this.#tx.open;
    this.#maybeRelease();
  }

  // ---- Binary prepared statements ----

  async #prepare(payload: Buffer, seq: number): Promise<void> {
    this.#debug('P', payload);
    const text = payload.subarray(1);
    const effect = classifyMysql(text.toString('utf8'), { excludeVariableSets: this.#o.excludeVariableSets() });
    // A prepared statement that changes settings does so with values the proxy never sees.
    if (effect.kind === 'pin') this.#pin(effect.reason);
    else if (effect.kind === 'set' || effect.kind === 'use' || effect.kind === 'drop-database') this.#pin('SessionVariable');
    const reply = await this.#forward(payload, seq, true);
    if (reply === undefined) return;
    const held = reply.held!;
    const server = this.#server!;
    const ok = reply.end.outcome === 'ok' ? decodePrepareOk(held.subarray(4)) : undefined;
    if (ok !== undefined) {
      const st = { text: Buffer.from(text), key: settingsKey(this.#settings), params: ok.params, types: undefined, longData: [], longDataBytes: 0 };
      const before = server.statements.get(st);
      // The same text prepared again on this connection: the older server statement goes.
      if (before !== undefined) this.#sendNoReply(encodeStmtClose(before.id));
      server.statements.add(st, ok.id);
      for (const id of server.statements.evict(MAX_SERVER_STATEMENTS)) this.#sendNoReply(encodeStmtClose(id));
      rewritePrepareOkId(held, this.#statements.add(st));
    }
    this.#write(held);
    this.#maybeRelease();
  }

  #longData(payload: Buffer): void {
    const st = this.#statements.get(statementIdOf(payload));
    // Unknown statement: the server ignores it too (no reply exists to carry an error).
    if (st === undefined) return;
    st.longDataBytes += payload.length;
    if (st.longDataBytes > MAX_LONG_DATA_BYTES) return this.#end('error');
    st.longData.push(payload);
  }

  #stmtReset(payload: Buffer, seq: number): void {
    const st = this.#statements.get(statementIdOf(payload));
    if (st === undefined) return this.#err(seq, 1243, 'HY000', `Unknown prepared statement handler (${statementIdOf(payload)}) given to mysqld_stmt_reset`);
    st.longData = [];
    st.longDataBytes = 0;
    // Cursors pin, so no other connection holds one of this client's; what is left to reset is the long data, kept here.
    this.#localOk(seq);
  }

  async #execute(payload: Buffer, seq: number): Promise<void> {
    const id = statementIdOf(payload);
    const st = this.#statements.get(id);
    if (st === undefined) return this.#err(seq, 1243, 'HY000', `Unknown prepared statement handler (${id}) given to mysqld_stmt_execute`);
    const layout = executeLayout(payload, st.params);
    if (layout === undefined) return this.#end('error');
    if (layout.types !== undefined) st.types = Buffer.from(layout.types);
    if (layout.cursor) this.#pin('Cursor');
    this.#o.pool.counters.queries++;
    const sst = await this.#ensurePrepared(st, seq);
    if (sst === undefined) return;
    for (const chunk of st.longData) this.#sendNoReply(withStatementId(chunk, sst.id));
    st.longData = [];
    st.longDataBytes = 0;
    // Types the client sent once, bound again where this server statement last had others (or none).
    const supply = layout.types === undefined && st.types !== undefined && !(sst.types?.equals(st.types) ?? false) ? st.types : undefined;
    if (layout.types !== undefined || supply !== undefined) sst.types = st.types;
    const reply = await this.#forward(rewriteExecute(payload, layout, sst.id, supply), seq);
    if (reply === undefined) return;
    this.#afterStatement(reply.end, { kind: 'none' });
  }

  /** The held connection's statement for `st`, prepared there first when it lacks it; undefined: the client has been answered. */
  async #ensurePrepared(st: ClientStatement, seq: number): Promise<ServerStatement | undefined> {
    if (!(await this.#acquire(seq))) return undefined;
    const server = this.#server!;
    const found = server.statements.get(st);
    if (found !== undefined) return found;
    const evict = server.statements.evict(MAX_SERVER_STATEMENTS - 1);
    this.#detachServer();
    this.#injecting = true;
    const r = await prepareOn(server, st.text, evict, this.#o.maxMessageBytes).catch(() => undefined);
    this.#injecting = false;
    if (this.#done) return undefined;
    if (r === undefined) {
      this.#serverLost(seq, false);
      return undefined;
    }
    this.#attachServer();
    if (!r.ok) {
      this.#write(encodePacket(r.packet, seq));
      this.#maybeRelease();
      return undefined;
    }
    return server.statements.add(st, r.id);
  }

  /** MariaDB's COM_STMT_BULK_EXECUTE: as an execute, the id mapped (its parameters carry their own types). */
  async #bulkExecute(payload: Buffer, seq: number): Promise<void> {
    const st = this.#statements.get(statementIdOf(payload));
    if (st === undefined) return this.#err(seq, 1243, 'HY000', `Unknown prepared statement handler (${statementIdOf(payload)}) given to mysqld_stmt_bulk_execute`);
    this.#o.pool.counters.queries++;
    const sst = await this.#ensurePrepared(st, seq);
    if (sst === undefined) return;
    const reply = await this.#forward(withStatementId(payload, sst.id), seq);
    if (reply === undefined) return;
    this.#afterStatement(reply.end, { kind: 'none' });
  }

  async #fetch(payload: Buffer, seq: number): Promise<void> {
    const st = this.#statements.get(statementIdOf(payload));
    const sst = st === undefined ? undefined : this.#server?.statements.get(st);
    if (sst === undefined) return this.#err(seq, 1243, 'HY000', `Unknown prepared statement handler (${statementIdOf(payload)}) given to mysqld_stmt_fetch`);
    await this.#forward(withStatementId(payload, sst.id), seq);
    this.#maybeRelease();
  }

  /**
   * The client's COM_RESET_CONNECTION: its session starts again (settings,
   * statements, pin); a connection it held goes back to be cleaned. The
   * current database stays, as MariaDB's reset keeps it.
   */
  #resetConnection(seq: number): void {
    this.#statements.clear();
    this.#settings = { ...neutralSettings(this.#settings.schema) };
    this.#tx.reset();
    this.#pinned = undefined;
    this.#status = ServerStatus.SERVER_STATUS_AUTOCOMMIT;
    const server = this.#server;
    if (server !== undefined) {
      this.#detachServer();
      this.#server = undefined;
      this.#o.pool.giveBack(server, 'reset');
    }
    this.#localOk(seq);
  }

  // ---- Server side ----

  /** A server connection carrying the client's settings; false when none came (the client has been answered). */
  async #acquire(seq: number): Promise<boolean> {
    if (this.#server !== undefined) return true;
    const key = settingsKey(this.#settings);
    for (let attempt = 0; attempt < BORROW_ATTEMPTS; attempt++) {
      const b = await this.#o.pool.borrow(this.#o.shape, this.#leave.signal, { settingsKey: (s) => settingsKey(s.settings) === key, client: this.#o.clientId });
      if (this.#done) {
        if (b.kind === 'server') this.#o.pool.giveBack(b.server, 'keep');
        return false;
      }
      if (b.kind === 'timeout') {
        // RDS Proxy's answer, and the client is let go (as PostgreSQL proxies do).
        this.#err(seq, 9501, 'HY000', 'Timed-out waiting to acquire database connection');
        this.#end('hook');
        return false;
      }
      if (b.kind === 'refused') {
        this.#err(seq, 1105, 'HY000', `Request returned an error: ${b.refusal.message}`);
        return false;
      }
      const server = b.server;
      const steps = plan(server.settings, this.#settings);
      if (steps !== 'drop' && steps.length > 0) {
        const r = await applyPlan(server, steps, { ...(this.#o.initQuery ? { initQuery: this.#o.initQuery } : {}), maxMessageBytes: this.#o.maxMessageBytes });
        if (!r.ok) {
          this.#o.pool.giveBack(server, 'close');
          if (this.#done) return false;
          continue;
        }
      }
      if (steps === 'drop' || server.socket.destroyed) {
        this.#o.pool.giveBack(server, 'close');
        continue;
      }
      if (this.#done) {
        this.#o.pool.giveBack(server, 'keep');
        return false;
      }
      server.settings = this.#settings;
      server.lastClient = this.#o.clientId;
      server.pinned = this.#pinned !== undefined;
      this.#server = server;
      this.#attachServer();
      return true;
    }
    this.#err(seq, 1105, 'HY000', 'Request returned an error: no usable database connection');
    return false;
  }

  #attachServer(): void {
    const s = this.#server!.socket;
    s.on('data', this.#onServerData);
    s.on('end', this.#onServerGone);
    s.on('close', this.#onServerGone);
    s.resume();
  }

  #detachServer(): void {
    const s = this.#server?.socket;
    if (s === undefined) return;
    s.off('data', this.#onServerData);
    s.off('end', this.#onServerGone);
    s.off('close', this.#onServerGone);
    this.#client.off('drain', this.#resumeServer);
    s.pause();
  }

  readonly #resumeServer = (): void => void this.#server?.socket.resume();

  /** A command with no reply (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA) on the held connection. */
  #sendNoReply(payload: Buffer): void {
    this.#server!.socket.write(encodePacket(payload, 0));
  }

  /**
   * Sends one command (borrowing first when needed) and waits for its
   * reply, passed to the client as it comes, or held back whole (`hold`).
   * Undefined: no reply (the client has been answered, or the session ended).
   */
  async #forward(payload: Buffer, seq: number, hold = false): Promise<Reply | undefined> {
    if (!(await this.#acquire(seq))) return undefined;
    const server = this.#server!;
    const tracker = new ResponseTracker({ capabilityFlags: server.capabilities, mariadbCapabilities: server.mariadbCapabilities, statusFlags: server.statusFlags, maxAllowedPacket: 1 << 30 });
    tracker.sent(payload);
    const reply = new Promise<Reply | undefined>((resolve) => {
      this.#inFlight = { resolve, held: hold ? [] : undefined, passed: 0, tracker, started: process.hrtime.bigint() };
    });
    server.socket.write(encodePacket(payload, 0));
    const r = await reply;
    if (r === undefined) {
      if (!this.#done) this.#serverLost(seq, this.#lostPassed > 0);
      return undefined;
    }
    server.statusFlags = r.end.statusFlags;
    if (r.end.statusReported) this.#status = r.end.statusFlags;
    server.inTransaction = this.#tx.open || (r.end.statusFlags & ServerStatus.SERVER_STATUS_IN_TRANS) !== 0;
    return r;
  }

  /** Reply bytes already passed to the client when its server connection was lost. */
  #lostPassed = 0;

  readonly #onServerData = (chunk: Buffer): void => {
    this.#bytesFromServer += chunk.length;
    const f = this.#inFlight;
    if (f === undefined) return this.#onServerGone();
    let end: ResponseEnd | undefined;
    try {
      for (const ev of f.tracker.push(chunk)) {
        if (ev.type === 'unsolicited') return this.#onServerGone();
        end = ev;
      }
    } catch {
      return this.#onServerGone();
    }
    const part = end === undefined ? chunk : chunk.subarray(0, end.end);
    // Anything after the reply's end is a packet no command asked for.
    if (end !== undefined && end.end < chunk.length) return this.#onServerGone();
    if (f.held !== undefined) f.held.push(part);
    else {
      f.passed += part.length;
      if (!this.#client.destroyed && !this.#client.write(part)) {
        this.#server!.socket.pause();
        this.#client.once('drain', this.#resumeServer);
      }
    }
    if (end === undefined) return;
    this.#inFlight = undefined;
    const c = this.#o.pool.counters;
    c.responses++;
    c.responseMicros += Number((process.hrtime.bigint() - f.started) / 1000n);
    f.resolve({ end, held: f.held === undefined ? undefined : Buffer.concat(f.held) });
  };

  /** The held connection closed or spoke out of turn: it is dropped; the command in flight, if any, learns of it. */
  readonly #onServerGone = (): void => {
    const server = this.#server;
    if (server === undefined) return;
    this.#detachServer();
    this.#server = undefined;
    this.#o.pool.giveBack(server, 'close');
    const f = this.#inFlight;
    this.#inFlight = undefined;
    if (f !== undefined) {
      this.#lostPassed = f.passed;
      return f.resolve(undefined);
    }
    // Between commands: a transaction or pinned state went with it, which cannot be said in-band.
    if (this.#tx.open || this.#pinned !== undefined) this.#end('server');
  };

  /**
   * A command's connection was lost. Outside a transaction, with nothing
   * of the reply passed on: an error, and the client stays (its next
   * command borrows another). Otherwise the client is let go.
   */
  #serverLost(seq: number, partial: boolean): void {
    const server = this.#server;
    if (server !== undefined) {
      this.#detachServer();
      this.#server = undefined;
      this.#o.pool.giveBack(server, 'close');
    }
    this.#lostPassed = 0;
    if (partial) return this.#end('server');
    this.#err(seq, 2013, 'HY000', LOST_MESSAGE);
    const fatal = this.#tx.open || this.#pinned !== undefined;
    this.#tx.reset();
    if (fatal) this.#end('server');
  }

  /** Between transactions and not pinned: the connection goes back as it is. */
  #maybeRelease(): void {
    const server = this.#server;
    if (server === undefined || this.#pinned !== undefined || this.#tx.open || this.#inFlight !== undefined) return;
    if ((this.#status & ServerStatus.SERVER_STATUS_CURSOR_EXISTS) !== 0) return;
    this.#detachServer();
    this.#server = undefined;
    server.inTransaction = false;
    this.#o.pool.giveBack(server, 'keep');
  }

  #end(endedBy: RelayResult['endedBy']): void {
    if (this.#done) return;
    this.#done = true;
    this.#leave.abort();
    const c = this.#client;
    c.off('data', this.#onClientData);
    c.off('end', this.#onClientGone);
    c.off('close', this.#onClientGone);
    c.off('error', this.#onClientGone);
    c.off('timeout', this.#onIdle);
    c.setTimeout(0);
    clearTimeout(this.#lifeTimer);
    this.#o.pool.counters.clients--;
    let serverGivenBack: MuxResult['serverGivenBack'] = 'none';
    const server = this.#server;
    if (server !== undefined) {
      this.#detachServer();
      this.#server = undefined;
      const f = this.#inFlight;
      this.#inFlight = undefined;
      // A reply in flight cannot be given to anyone else; a transaction or pinned state is undone first.
      serverGivenBack = f !== undefined || this.#injecting || this.#framer.hasPartialPacket ? 'close' : this.#tx.open || this.#pinned !== undefined ? 'reset' : 'keep';
      this.#o.pool.giveBack(server, serverGivenBack);
      f?.resolve(undefined);
    }
    c.end(() => c.destroy());
    this.#resolve({ bytesFromClient: this.#bytesFromClient, bytesFromServer: this.#bytesFromServer, endedBy, idledOut: this.#idledOut, expired: this.#expired, serverGivenBack });
  }
}
