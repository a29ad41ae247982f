/**
 * The command phase of a MySQL session: bytes flow between client and server
 * in order, while the gateway keeps two things true.
 *
 * 1. Every server response is credited to its own command
 *    (protocol/mysql/response-tracker.ts follows the server's side).
 * 2. A statement that may manage accounts (or KILL a connection) is held
 *    until the server has answered everything sent before it, then read in
 *    the session's real backslash mode (the server's status flags say it)
 *    and passed on, rewritten, or refused (account-policy.ts). While it is
 *    held, and until its own response is back, nothing after it is passed
 *    on, so pipelined commands keep their order and the gateway's own
 *    answers land where the client expects them. Its response reaches the
 *    client only once the IAM records agree with what the server did.
 *
 * Commands whose responses cannot be followed (replication, COM_MULTI,
 * unknown bytes) are answered by the gateway with ERR 1047, as a server
 * that does not know them would.
 */
import type { Socket } from 'node:net';
import { IamdbError } from '../../errors/index.js';
import {
  Command,
  PacketFramer,
  ResponseTracker,
  accountKey,
  backslashModeFromStatus,
  classifyStatement,
  commandDisposition,
  encodePacket,
  errPacketFor,
  needsClassification,
  type Account,
  type MysqlPacket,
  type ResponseEnd,
} from '../../protocol/mysql/index.js';
import type { CredentialDraft, DbInstance } from '../../rds/index.js';
import { MYSQL_PRE_AUTH_MAX_PACKET_BYTES, decodeOkPacket, Capability } from '../../protocol/mysql/index.js';
import { relay, type RelayResult } from '../relay.js';
import type { SessionAudit } from '../session-common.js';
import { decideStatement, isAccountAdmin, type AccountDecision, type RecordChange, type SessionRole } from './account-policy.js';
import { MAX_REWRITTEN_RESPONSE_BYTES, pluginClause, rewriteAccountLine, rewriteTextResultSet, showsAccounts } from './account-visibility.js';
import { PacketInbox, changeUser } from './change-user.js';
import { rewriteUserTableQuery, userTableReference } from './user-table-view.js';
import { MysqlConnectionIds } from './connection-ids.js';
import { credentialFormatFor } from './credential-format.js';
import type { MysqlSessionDeps } from './session.js';
import type { ServerLink } from './upstream.js';

export interface CommandRelayOptions {
  readonly deps: MysqlSessionDeps;
  readonly session: SessionAudit;
  readonly user: string;
  /** Capabilities of the session (the same toward the client and the server for everything framing depends on). */
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  /** Server status after login (autocommit, backslash mode). */
  readonly statusFlags: number;
  /** The server connection as the login left it: its greeting for COM_CHANGE_USER, its TLS for an IAM account's REQUIRE SSL. */
  readonly link: ServerLink;
}

/** Refused COM_CHANGE_USERs a connection may make; after them the command is unknown (MariaDB's brute-force bound). */
const MAX_FAILED_CHANGE_USER = 3;

/** Server rows are never buffered, so this is only a sanity bound on declared lengths (MySQL's own max_allowed_packet ceiling). */
const SERVER_MAX_PACKET = 1 << 30;
/** Client bytes queued behind a held statement before the client socket is paused. */
const HELD_QUEUE_BYTES = 1 << 20;

/** What the relay waits for before it lets the client's next command through. */
type Hold =
  | { readonly kind: 'idle'; readonly then: () => void }
  | { readonly kind: 'response'; readonly ticket: number; readonly then: (end: ResponseEnd) => Promise<void>; readonly transform?: (response: Buffer) => Buffer }
  | { readonly kind: 'async' };

export function relayCommands(client: Socket, server: Socket, options: CommandRelayOptions): Promise<RelayResult> {
  return new CommandRelay(client, server, options).run();
}

class CommandRelay {
  readonly #deps: MysqlSessionDeps;
  readonly #instance: DbInstance;
  readonly #session: SessionAudit;
  #role: SessionRole;
  readonly #framer: PacketFramer;
  #tracker: ResponseTracker;
  readonly #capabilities: number;
  readonly #mariadbCapabilities: number;
  readonly #link: ServerLink;
  /** While a COM_CHANGE_USER runs: where each side's packets go. */
  #exchange: { readonly client: PacketInbox; readonly server: PacketInbox; readonly framer: PacketFramer } | undefined;
  #failedChangeUser = 0;
  #hold: Hold | undefined;
  readonly #queue: MysqlPacket[] = [];
  #queuedBytes = 0;
  /** Server bytes of a held statement's response, kept until its record changes are done. */
  #heldResponse: Buffer[] = [];
  #ended = false;

  constructor(
    private readonly client: Socket,
    private readonly server: Socket,
    options: CommandRelayOptions,
  ) {
    this.#deps = options.deps;
    this.#instance = options.deps.instance;
    this.#session = options.session;
    this.#role = { user: options.user, master: this.#instance.master.username, accountAdmins: this.#instance.accountAdmins };
    this.#framer = new PacketFramer({ maxAllowedPacket: options.deps.maxMessageBytes });
    this.#capabilities = options.capabilities;
    this.#mariadbCapabilities = options.mariadbCapabilities;
    this.#link = options.link;
    this.#tracker = this.#newTracker(options.statusFlags);
  }

  #newTracker(statusFlags: number): ResponseTracker {
    return new ResponseTracker({
      capabilityFlags: this.#capabilities,
      mariadbCapabilities: this.#mariadbCapabilities,
      statusFlags,
      maxAllowedPacket: SERVER_MAX_PACKET,
    });
  }

  run(): Promise<RelayResult> {
    return relay(this.client, this.server, {
      onClientChunk: (chunk) => {
        for (const packet of this.#framer.push(chunk)) {
          // During COM_CHANGE_USER, the client's answers (never sequence 0) belong to the exchange.
          if (this.#exchange !== undefined && packet.sequenceId !== 0) this.#exchange.client.push(packet);
          else if (this.#hold !== undefined) this.#enqueue(packet);
          else this.#command(packet);
        }
        return 'handled';
      },
      onServerChunk: (chunk) => {
        this.#serverBytes(chunk);
        return 'handled';
      },
    });
  }

  // ---------------------------------------------------------------- client side

  /** Writes toward the server; its backpressure pauses the client (the relay resumes it on drain). */
  #toServer(bytes: Buffer): void {
    if (!this.server.write(bytes)) this.client.pause();
  }

  /** Writes toward the client; its backpressure pauses the server. */
  #toClient(bytes: Buffer): void {
    if (!this.client.write(bytes)) this.server.pause();
  }

  #enqueue(packet: MysqlPacket): void {
    // The framer's views die with their chunk: keep copies while waiting.
    this.#queue.push({ ...packet, payload: Buffer.from(packet.payload) });
    this.#queuedBytes += packet.payload.length;
    if (this.#queuedBytes > HELD_QUEUE_BYTES) this.client.pause();
  }

  /** Handles one client command (a throw ends the session). */
  #command(packet: MysqlPacket): void {
    // Every command starts a sequence; anything else is a client out of protocol (LOCAL INFILE data is never asked for).
    if (packet.sequenceId !== 0) throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: packet.sequenceId, expected: 0 });
    const command = packet.payload[0] as number;
    if (command === Command.COM_CHANGE_USER) {
      const held = Buffer.from(packet.payload);
      this.#hold = { kind: 'idle', then: () => void this.#changeUser(held).catch((err: unknown) => this.#fail(err)) };
      return this.#whenIdle();
    }
    const disposition = commandDisposition(command);
    if (disposition === 'refuse') return this.#refuseCommand(command);
    if ((command === Command.COM_QUERY || command === Command.COM_STMT_PREPARE) && needsClassification(packet.payload.subarray(1))) {
      // Read it only once the server has answered everything before it: then the backslash mode is known.
      const held = { ...packet, payload: Buffer.from(packet.payload) };
      this.#hold = { kind: 'idle', then: () => this.#classified(held) };
      return this.#whenIdle();
    }
    if (command === Command.COM_QUERY && showsAccounts(packet.payload.subarray(1))) {
      // SHOW GRANTS / SHOW CREATE USER: IAM accounts are shown as RDS shows them, never with the managed credential's hash.
      const held = Buffer.from(packet.payload);
      this.#hold = { kind: 'idle', then: () => this.#showAccounts(held) };
      return this.#whenIdle();
    }
    if (command === Command.COM_QUERY && userTableReference(packet.payload.subarray(1).toString('latin1')) !== undefined) {
      // SELECT … FROM mysql.user: read through a view where IAM accounts look as on RDS (user-table-view.ts).
      const held = Buffer.from(packet.payload);
      this.#hold = { kind: 'idle', then: () => void this.#userTable(held).catch((err: unknown) => this.#fail(err)) };
      return this.#whenIdle();
    }
    if (command === Command.COM_PROCESS_KILL && packet.payload.length >= 5) {
      this.#forward(this.#mapProcessKill(packet.payload));
      return;
    }
    this.#forward(packet.payload);
  }

  #refuseCommand(_command: number): void {
    this.#answerInOrder(errPacketFor('ER_UNKNOWN_COM_ERROR', 'Unknown command'));
  }

  // ---------------------------------------------------------------- COM_CHANGE_USER

  /**
   * A new authentication on this connection (change-user.ts), run once the
   * server has answered everything before it, with every later command held.
   * The session's identity (audit, account policy, admin rights) changes only
   * when it succeeds; a refusal leaves the session as it was, as the server
   * does, and after three refusals the command is unknown, as on MariaDB.
   */
  async #changeUser(payload: Buffer): Promise<void> {
    if (this.#failedChangeUser >= MAX_FAILED_CHANGE_USER) {
      this.#session.auth('deny', 'ChangeUserRefused', { detail: `COM_CHANGE_USER after ${MAX_FAILED_CHANGE_USER} refused ones`, changeUser: true });
      this.#toClient(encodePacket(errPacketFor('ER_UNKNOWN_COM_ERROR', 'Unknown command'), 1));
      return this.#release();
    }
    const exchange = {
      client: new PacketInbox(MYSQL_PRE_AUTH_MAX_PACKET_BYTES),
      server: new PacketInbox(this.#deps.maxMessageBytes),
      framer: new PacketFramer({ maxAllowedPacket: this.#deps.maxMessageBytes }),
    };
    this.#exchange = exchange;
    this.#link.reader = exchange.server;
    this.#link.socket = this.server;
    const outcome = await changeUser(
      { deps: this.#deps, session: this.#session, capabilities: this.#capabilities, link: this.#link, toClient: (b) => this.#toClient(b), fromClient: exchange.client },
      payload,
    );
    if (outcome.kind === 'changed') {
      this.#tracker = this.#newTracker(okStatus(outcome.ok));
      this.#adoptIdentity(outcome);
      this.#toClient(encodePacket(outcome.ok, outcome.seq));
    } else {
      this.#failedChangeUser++;
      // The server's refusal resets its session (MariaDB's change_user()): learn its status anew.
      if (outcome.serverTouched) this.#tracker = this.#newTracker(await this.#ping(exchange.server));
      if (outcome.wire.length > 0) this.#toClient(outcome.wire);
    }
    if (exchange.server.pendingBytes > 0 || exchange.framer.bufferedBytes > 0 || exchange.client.pendingBytes > 0) {
      throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'bytes left over after COM_CHANGE_USER' });
    }
    this.#exchange = undefined;
    this.#release();
  }

  /** The session becomes the new user's: audit fields, the account policy's role and admin rights. */
  #adoptIdentity(outcome: Extract<Awaited<ReturnType<typeof changeUser>>, { kind: 'changed' }>): void {
    const from = this.#session.dbUser;
    this.#session.dbUser = outcome.user;
    this.#session.method = outcome.iam ? 'iam' : 'password';
    this.#session.principal = undefined;
    this.#role = { ...this.#role, user: outcome.user };
    this.#session.auth('allow', outcome.iam ? 'Allowed' : 'PasswordLogin', { ...outcome.audit, changeUser: true, detail: `COM_CHANGE_USER from '${from}'` });
  }

  /** The server's status after a refused COM_CHANGE_USER, from a COM_PING's OK. */
  async #ping(server: PacketInbox): Promise<number> {
    this.server.write(encodePacket(Buffer.from([Command.COM_PING]), 0));
    return okStatus((await server.next(1)).payload);
  }

  /** Sends `payload` as a new command and tells the tracker what answer to expect. */
  #forward(payload: Buffer): number {
    const sent = this.#tracker.sent(payload);
    this.#toServer(encodePacket(payload, 0));
    return sent.ticket;
  }

  /** The gateway's own answer to a command, written after every response still owed to the client. */
  #answerInOrder(err: Buffer, after?: () => void): void {
    this.#hold = {
      kind: 'idle',
      then: () => {
        this.#toClient(encodePacket(err, 1));
        if (after !== undefined) return after();
        this.#release();
      },
    };
    this.#whenIdle();
  }

  #whenIdle(): void {
    const hold = this.#hold;
    if (hold?.kind === 'idle' && this.#tracker.idle) {
      this.#hold = { kind: 'async' };
      hold.then();
    }
  }

  /** Lets queued client commands through until one needs holding again. */
  #release(): void {
    if (this.#ended) return;
    this.#hold = undefined;
    while (this.#hold === undefined && this.#queue.length > 0) {
      const packet = this.#queue.shift() as MysqlPacket;
      this.#queuedBytes -= packet.payload.length;
      this.#command(packet);
    }
    if (this.#hold === undefined && this.client.isPaused()) this.client.resume();
  }

  // ---------------------------------------------------------------- statements

  #classified(packet: MysqlPacket): void {
    const prepared = packet.payload[0] === Command.COM_STMT_PREPARE;
    const verdict = classifyStatement(packet.payload.subarray(1), { backslashes: backslashModeFromStatus(this.#tracker.statusFlags) });
    const records = {
      find: (a: Account) => this.#deps.iamUsers.find(this.#instance.id, a),
      accountsOf: (user: string) => this.#deps.iamUsers.accountsOf(this.#instance.id, user),
    };
    const decision = decideStatement(verdict, this.#role, records, prepared, { tls: this.#link.tls });
    this.#act(decision, packet).catch((err: unknown) => this.#fail(err));
  }

  async #act(decision: AccountDecision, packet: MysqlPacket): Promise<void> {
    switch (decision.action) {
      case 'forward':
        this.#forward(packet.payload);
        return this.#release();
      case 'refuse':
        this.#audit('deny', decision.reason, { detail: decision.message });
        this.#toClient(encodePacket(errPacketFor(decision.errno, decision.message), 1));
        return this.#release();
      case 'kill':
        return this.#kill(decision.connectionId, decision.query, packet);
      case 'make-iam':
        return this.#makeIam(decision);
      case 'track':
        return this.#track(decision.changes, packet.payload, decision.verdict.statement);
    }
  }

  /** Sends a statement and holds everything after it until its response is in and `then` has run (and `transform` has rewritten it). */
  #await(payload: Buffer, then: (end: ResponseEnd) => Promise<void>, transform?: (response: Buffer) => Buffer): void {
    this.#hold = { kind: 'response', ticket: this.#forward(payload), then, ...(transform ? { transform } : {}) };
  }

  #showAccounts(payload: Buffer): void {
    const isIam = (a: Account): boolean => this.#deps.iamUsers.find(this.#instance.id, a) !== undefined;
    const clause = pluginClause(this.#instance.engineName);
    this.#await(payload, async () => undefined, (response) =>
      rewriteTextResultSet(response, this.#capabilities, (line) => rewriteAccountLine(line, isIam, clause)),
    );
  }

  async #userTable(payload: Buffer): Promise<void> {
    // Without the server's column list the statement goes as it is: a read is not a security decision.
    const columns = await this.#deps.control.userTableColumns().catch(() => []);
    const text = payload.subarray(1).toString('latin1');
    const rewritten = rewriteUserTableQuery(text, columns, this.#deps.iamUsers.accountsOfInstance(this.#instance.id));
    this.#forward(rewritten === undefined ? payload : Buffer.concat([payload.subarray(0, 1), Buffer.from(rewritten, 'latin1')]));
    this.#release();
  }

  async #makeIam(decision: Extract<AccountDecision, { action: 'make-iam' }>): Promise<void> {
    const instance = this.#instance;
    const drafts = new Map<string, CredentialDraft>();
    for (const a of decision.accounts) if (!drafts.has(a.user)) drafts.set(a.user, await this.#deps.credentials.draft(instance.id, a.user));
    // The syntax and plugin the server takes (MariaDB, MySQL 8+ or older MySQL), by its greeting's version.
    const format = credentialFormatFor(this.#deps.profile.current.serverVersion);
    const hashes = new Map(decision.accounts.map((a) => [accountKey(a), format.hash(drafts.get(a.user)!.password.reveal())]));
    const rewritten = decision.verdict.rewrite!(hashes, format.dialect);
    const payload = Buffer.concat([Buffer.from([Command.COM_QUERY]), rewritten]);
    this.#await(payload, async (end) => {
      if (end.outcome !== 'ok') return;
      // Record only what the server really holds: IF NOT EXISTS may have skipped an existing account.
      const installed = await this.#deps.control.installedHashes(decision.accounts);
      const made = decision.accounts.filter((a) => installed.get(accountKey(a)) === hashes.get(accountKey(a)));
      for (const user of new Set(made.map((a) => a.user))) {
        // A credential that cannot be stored is installed afresh at the account's first IAM login.
        await drafts
          .get(user)!
          .commit()
          .catch((err: unknown) => this.#deps.logger.warn({ err: String(err), instance: instance.id, user }, 'cannot store the credential of a new IAM account'));
      }
      await this.#deps.iamUsers.add(instance.id, made);
      this.#audit('allow', 'AccountChanged', { statement: decision.verdict.statement, accounts: made.map((a) => `'${a.user}'@'${a.host}'`), change: 'becomes-iam' });
    });
  }

  async #track(changes: readonly RecordChange[], payload: Buffer, statement: string): Promise<void> {
    if (changes.length === 0) {
      this.#forward(payload);
      return this.#release();
    }
    this.#await(payload, async (end) => {
      if (end.outcome !== 'ok') return;
      await this.#deps.iamUsers.apply(this.#instance.id, changes);
      this.#audit('allow', 'AccountChanged', {
        statement,
        accounts: changes.map((c) => (c.kind === 'rename' ? `'${c.from.user}'@'${c.from.host}' -> '${c.to.user}'@'${c.to.host}'` : `'${c.account.user}'@'${c.account.host}'`)),
        change: 'leaves-iam',
      });
    });
  }

  /** KILL naming a connection id this gateway handed out goes to that session's server thread. */
  #kill(id: number, query: boolean, packet: MysqlPacket): void {
    if (!MysqlConnectionIds.isGatewayId(id)) {
      this.#forward(packet.payload);
      return this.#release();
    }
    const thread = this.#deps.connectionIds.lookup(id);
    if (thread === undefined || thread.instanceId !== this.#instance.id) {
      this.#toClient(encodePacket(errPacketFor('ER_NO_SUCH_THREAD', `Unknown thread id: ${id}`), 1));
      return this.#release();
    }
    this.#forward(Buffer.from(`\x03KILL ${query ? 'QUERY ' : ''}${thread.threadId}`, 'latin1'));
    this.#release();
  }

  #mapProcessKill(payload: Buffer): Buffer {
    const id = payload.readUInt32LE(1);
    const thread = MysqlConnectionIds.isGatewayId(id) ? this.#deps.connectionIds.lookup(id) : undefined;
    if (thread === undefined || thread.instanceId !== this.#instance.id) return payload;
    const out = Buffer.from(payload);
    out.writeUInt32LE(thread.threadId >>> 0, 1);
    return out;
  }

  // ---------------------------------------------------------------- server side

  #serverBytes(chunk: Buffer): void {
    const exchange = this.#exchange;
    if (exchange !== undefined) {
      for (const packet of exchange.framer.push(chunk)) exchange.server.push(packet);
      return;
    }
    const hold = this.#hold;
    const events = this.#tracker.push(chunk);
    if (hold?.kind !== 'response') {
      this.#toClient(chunk);
      if (this.#tracker.idle) this.#whenIdle();
      return;
    }
    // Everything before the held statement was answered before it was sent: these bytes are its response.
    const end = events.find((e): e is ResponseEnd => e.type === 'response' && e.ticket === hold.ticket);
    // Socket chunks are never reused by Node: keeping them is enough.
    if (end === undefined) {
      this.#heldResponse.push(chunk);
      // A response to rewrite is buffered whole: bounded, and refused (never passed unread) beyond the bound.
      if (hold.transform !== undefined && this.#heldResponse.reduce((n, b) => n + b.length, 0) > MAX_REWRITTEN_RESPONSE_BYTES) {
        throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'an account listing over 1 MiB' });
      }
      return;
    }
    const response = [...this.#heldResponse, chunk.subarray(0, end.end)];
    const after = chunk.subarray(end.end);
    this.#heldResponse = [];
    this.#hold = { kind: 'async' };
    hold
      .then(end)
      .then(() => {
        if (hold.transform !== undefined) this.#toClient(hold.transform(Buffer.concat(response)));
        else for (const b of response) this.#toClient(b);
        if (after.length > 0) this.#toClient(after);
        this.#release();
      })
      .catch((err: unknown) => this.#fail(err));
  }

  #fail(err: unknown): void {
    this.#deps.logger.error({ err: String(err), instance: this.#instance.id, sessionId: this.#session.sessionId }, 'MySQL command relay failed');
    this.client.destroy();
    this.server.destroy();
  }

  #audit(decision: 'allow' | 'deny', reason: string, extra: Record<string, unknown>): void {
    this.#session.account(decision, reason, { ...extra, admin: isAccountAdmin(this.#role) });
  }
}

/** The status flags of an OK packet (anything else is a server out of protocol). */
function okStatus(ok: Buffer): number {
  if (ok[0] !== 0x00) throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: 'the database server', reason: 'expected an OK packet' });
  return decodeOkPacket(ok, Capability.CLIENT_PROTOCOL_41).statusFlags;
}
