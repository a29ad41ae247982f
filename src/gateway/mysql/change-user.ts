/**
 * COM_CHANGE_USER after login: a full new authentication of the new user,
 * with the same checks as a login, on the session's own server connection.
 *
 * - IAM users: the token is asked for in clear (mysql_clear_password) only
 *   over TLS, verified and authorized (`rds-db:connect` for the new user);
 *   only then does the gateway send the server its own COM_CHANGE_USER with
 *   the account's managed credential (session.ts's authenticateManaged).
 * - Password users (the master included, never an IAM user): the gateway
 *   sends the server COM_CHANGE_USER; MariaDB answers it with an
 *   AuthSwitchRequest carrying a fresh scramble (the login's is spent), which
 *   goes to the client, and the client's answers go back, as at login.
 *
 * The command relay runs this while it holds every other command, feeding
 * the exchange's packets from both sides into two inboxes. Whatever the
 * outcome, the caller changes the session's identity only on `changed`.
 */
import { IamdbError } from '../../errors/index.js';
import {
  AuthPlugin,
  Capability,
  MYSQL_PRE_AUTH_MAX_PACKET_BYTES,
  PacketHeader,
  charsetOfCollationId,
  decodeAuthSwitchRequest,
  decodeClearPassword,
  decodeComChangeUser,
  encodeAuthSwitchRequest,
  encodeComChangeUser,
  isFastAuthSuccess,
  decodeConnectAttributesBlock,
  encodeConnectAttributesBlock,
  encodePacket,
  errPacketFor,
  scrambleNativePassword,
  isAsciiTransparentCollationId,
  type ComChangeUser,
  type MysqlPacket,
} from '../../protocol/mysql/index.js';
import { Secret } from '../../util/index.js';
import { mysqlConnectAttributes, type SessionIdentity } from '../server-views.js';
import { LoginFailed, asAuditReason, identityFields, type SessionAudit } from '../session-common.js';
import { accessDenied, authenticateManaged, clearPasswordRisk, type MysqlSessionDeps } from './session.js';
import { serverHandshake, type ServerLink } from './upstream.js';

/**
 * Packets handed over by the relay, read one at a time. Nothing is read
 * ahead during the exchange: a peer that sends a second packet before the
 * first was asked for is out of protocol.
 */
export class PacketInbox {
  readonly #ready: MysqlPacket[] = [];
  #waiter: { resolve: (p: MysqlPacket) => void; reject: (e: Error) => void } | undefined;
  #failed: Error | undefined;

  constructor(private readonly maxPayload: number) {}

  push(packet: MysqlPacket): void {
    if (packet.payload.length > this.maxPayload) return this.fail(new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length: packet.payload.length, max: this.maxPayload }));
    if (this.#ready.length > 0) return this.fail(new IamdbError('GATEWAY_UNSUPPORTED', { what: 'pipelining during COM_CHANGE_USER' }));
    const copy = { ...packet, payload: Buffer.from(packet.payload) };
    const w = this.#waiter;
    if (w !== undefined) {
      this.#waiter = undefined;
      w.resolve(copy);
    } else this.#ready.push(copy);
  }

  fail(err: Error): void {
    this.#failed ??= err;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.reject(err);
  }

  async next(expectedSequenceId?: number): Promise<MysqlPacket> {
    let p = this.#ready.shift();
    if (p === undefined) {
      if (this.#failed !== undefined) throw this.#failed;
      p = await new Promise<MysqlPacket>((resolve, reject) => (this.#waiter = { resolve, reject }));
    }
    if (expectedSequenceId !== undefined && p.sequenceId !== expectedSequenceId) {
      throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: p.sequenceId, expected: expectedSequenceId });
    }
    return p;
  }

  get pendingBytes(): number {
    return this.#ready.reduce((n, p) => n + p.payload.length + 4, 0);
  }

  detach(): void {
    this.fail(new IamdbError('GATEWAY_PEER_CLOSED', {}));
  }
}

export interface ChangeUserContext {
  readonly deps: MysqlSessionDeps;
  readonly session: SessionAudit;
  /** The session's capabilities (client link; the server link has the framing ones too). */
  readonly capabilities: number;
  /** The session's server connection, its reader being the relay's feed. */
  readonly link: ServerLink;
  readonly toClient: (bytes: Buffer) => void;
  readonly fromClient: PacketInbox;
}

/** How a change ended: the new user is in (the server's OK to pass on), or refused with `wire`. */
export type ChangeUserOutcome =
  | { readonly kind: 'changed'; readonly user: string; readonly iam: boolean; readonly ok: Buffer; readonly seq: number; readonly audit: Record<string, unknown> }
  | { readonly kind: 'refused'; readonly wire: Buffer; readonly serverTouched: boolean };

/** How long the client may take to answer an authentication request during the change. */
const CLIENT_ANSWER_MS = 5_000;

/** The exchange's client side: sequence ids continue from the client's COM_CHANGE_USER (0). */
class ClientSide {
  seq = 1;
  constructor(private readonly ctx: ChangeUserContext) {}

  /** Sends `payload`, expecting no answer. */
  tell(payload: Buffer): void {
    this.ctx.toClient(encodePacket(payload, this.seq));
    this.seq = (this.seq + 1) & 0xff;
  }

  /** Sends `payload`, returns the client's answer. */
  async ask(payload: Buffer, deny: (detail: string) => LoginFailed): Promise<Buffer> {
    this.ctx.toClient(encodePacket(payload, this.seq));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(deny('the client did not answer in time')), CLIENT_ANSWER_MS)));
    try {
      const answer = await Promise.race([this.ctx.fromClient.next((this.seq + 1) & 0xff), late]);
      this.seq = (answer.lastSequenceId + 1) & 0xff;
      return answer.payload;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Runs one COM_CHANGE_USER (`payload`, the client's command). Refusals the
 * client should see come back as `refused` (and are audited here); a throw
 * means the session cannot go on (the server may be mid-exchange).
 */
export async function changeUser(ctx: ChangeUserContext, payload: Buffer): Promise<ChangeUserOutcome> {
  const { deps, session } = ctx;
  const { instance } = deps;
  const sourceIp = session.sourceIp;
  const client = new ClientSide(ctx);
  let request: ComChangeUser;
  try {
    if (payload.length > MYSQL_PRE_AUTH_MAX_PACKET_BYTES) throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length: payload.length, max: MYSQL_PRE_AUTH_MAX_PACKET_BYTES });
    request = decodeComChangeUser(payload, ctx.capabilities);
  } catch (err) {
    return refuse(session, new LoginFailed('ProtocolViolation', accessDenied('', sourceIp, false, 1), err instanceof Error ? err.message : 'malformed COM_CHANGE_USER'), false);
  }
  const user = request.username;
  const iam = user !== instance.master.username && deps.iamUsers.isIamUser(instance.id, user);
  const denied = (reason: Parameters<typeof asAuditReason>[1], detail?: string, extra: Record<string, unknown> = {}): LoginFailed =>
    new LoginFailed(reason, accessDenied(user, sourceIp, true, client.seq), detail, extra);
  const attempt = { user, method: iam ? ('iam' as const) : ('password' as const), database: request.database || undefined };
  try {
    // The new character set becomes the session's: the same rule as at login.
    const charsetId = request.characterSet === undefined || charsetOfCollationId(request.characterSet) === undefined ? undefined : request.characterSet;
    if (charsetId !== undefined && !isAsciiTransparentCollationId(charsetId)) {
      const name = charsetOfCollationId(charsetId) ?? `#${charsetId}`;
      throw new LoginFailed(
        'UnsafeCharset',
        encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `iamdb does not accept the client character set ${name}: use an ASCII-transparent one such as utf8mb4`), client.seq),
        `client character set ${name} is not ASCII-transparent`,
      );
    }
    if ((ctx.capabilities & Capability.CLIENT_PLUGIN_AUTH) === 0) throw denied('ProtocolViolation', 'the client cannot switch authentication plugins (no CLIENT_PLUGIN_AUTH)');
    if (iam) return await changeToIamUser(ctx, request, client, attempt, denied);
    return await changeToPasswordUser(ctx, request, client, denied);
  } catch (err) {
    if (err instanceof LoginFailed) return refuse(session, err, err.extra['serverTouched'] === true, attempt);
    throw err;
  }
}

type Deny = (reason: Parameters<typeof asAuditReason>[1], detail?: string, extra?: Record<string, unknown>) => LoginFailed;
interface Attempt {
  readonly user: string;
  readonly method: 'iam' | 'password';
  readonly database: string | undefined;
}

/** Audits a refused change as a refused login of the user asked for, then restores the session's own fields. */
function refuse(session: SessionAudit, err: LoginFailed, serverTouched: boolean, attempt?: Attempt): ChangeUserOutcome {
  const { serverTouched: _, ...extra } = err.extra;
  withAttempt(session, attempt, () =>
    session.auth('deny', err.reason, { ...extra, ...(err.detail !== undefined ? { detail: err.detail } : {}), changeUser: true }),
  );
  return { kind: 'refused', wire: err.wire ?? Buffer.alloc(0), serverTouched };
}

/** Runs `fn` with the audit fields of the attempted user, then puts the session's back (a refusal changes nothing). */
function withAttempt(session: SessionAudit, attempt: Attempt | undefined, fn: () => void): void {
  if (attempt === undefined) return fn();
  const saved = { dbUser: session.dbUser, method: session.method, database: session.database, principal: session.principal };
  session.dbUser = attempt.user;
  session.method = attempt.method;
  session.database = attempt.database;
  try {
    fn();
  } finally {
    Object.assign(session, saved);
  }
}

async function changeToIamUser(ctx: ChangeUserContext, request: ComChangeUser, client: ClientSide, attempt: Attempt, denied: Deny): Promise<ChangeUserOutcome> {
  const { deps, session, link } = ctx;
  const { instance } = deps;
  const user = request.username;
  if (!instance.iamDatabaseAuthentication) throw denied('IamAuthDisabled');
  if (!session.tls) throw denied('TlsRequired', 'an IAM user needs TLS');
  // The token, in clear: sent up front with the clear-text plugin, or asked for.
  const tokenBytes =
    request.authPluginName === AuthPlugin.MYSQL_CLEAR_PASSWORD && request.authResponse.length > 0
      ? decodeClearPassword(request.authResponse)
      : decodeClearPassword(await client.ask(encodeAuthSwitchRequest({ pluginName: AuthPlugin.MYSQL_CLEAR_PASSWORD, pluginData: Buffer.alloc(0) }), (d) => denied('LoginTimeout', d)));
  const outcome = await deps.iamLogin.authenticate({ instance, token: new Secret(tokenBytes.toString('utf8')), dbUser: user, sourceIp: session.sourceIp });
  const who = identityFields(outcome);
  if (!outcome.ok) throw denied(asAuditReason(outcome.reason, 'InternalError'), outcome.detail, who);
  // The server's answer to a COM_CHANGE_USER it refuses leaves its session as it was (the old user).
  let expiredSeen = false;
  const upstreamDenied = (detail: string): LoginFailed => denied('UpstreamAuthFailed', detail, { ...who, serverTouched: true });
  const { ok } = await authenticateManaged(deps, user, upstreamDenied, {
    // The server answers COM_CHANGE_USER against the scramble of the connection's own greeting.
    start: async () => {
      link.seq = 0;
      const connectAttributes = tagAttributes(request, { principalArn: outcome.principal ?? '', sessionId: session.sessionId });
      return { link, first: (auth) => encodeComChangeUser({ ...request, ...auth, connectAttributes }, serverCaps(ctx)) };
    },
    refused: () => undefined,
    expired: () => {
      expiredSeen = true;
    },
  }).catch((err: unknown) => {
    // A server session left as the new user in sandbox mode cannot be handed back to the old one.
    if (expiredSeen) throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: 'the database server', reason: 'COM_CHANGE_USER left an expired credential in place' });
    throw err;
  });
  return { kind: 'changed', user, iam: true, ok, seq: client.seq, audit: who };
}

async function changeToPasswordUser(ctx: ChangeUserContext, request: ComChangeUser, client: ClientSide, denied: Deny): Promise<ChangeUserOutcome> {
  const { session, link } = ctx;
  const user = request.username;
  // The client's answer was made with the gateway's scramble, which the server never saw: the
  // server answers with an AuthSwitchRequest and a fresh scramble, which the client answers.
  const plugin = request.authPluginName === AuthPlugin.CACHING_SHA2_PASSWORD ? AuthPlugin.CACHING_SHA2_PASSWORD : AuthPlugin.MYSQL_NATIVE_PASSWORD;
  link.seq = 0;
  // No IAM principal: an empty one, so the client's attributes cannot claim one.
  const connectAttributes = tagAttributes(request, { principalArn: '', sessionId: session.sessionId });
  const first = encodeComChangeUser({ ...request, authResponse: Buffer.alloc(0), authPluginName: plugin, connectAttributes }, serverCaps(ctx));
  let answered = false;
  const ok = await serverHandshake(link, first, {
    refused: (e, payload) =>
      e.errno === 1045
        ? new LoginFailed('UpstreamAuthFailed', accessDenied(user, session.sourceIp, answered, client.seq), `${e.errno}: ${e.message}`, { serverTouched: true })
        : new LoginFailed('UpstreamAuthFailed', encodePacket(payload, client.seq), `${e.errno}: ${e.message}`, { serverTouched: true }),
    challenge: async (reply) => {
      // Never let a password cross either link in clear; the server waits mid-exchange, so the session ends.
      const risk = clearPasswordRisk(reply.payload, { client: session.tls, server: link.tls });
      if (risk !== undefined) {
        throw risk.link === 'client'
          ? new IamdbError('GATEWAY_UNSUPPORTED', { what: 'a clear-text password on a non-TLS client link' })
          : new IamdbError('GATEWAY_UPSTREAM_TLS_REQUIRED', { dbUser: user, requirement: risk.what });
      }
      if (isFastAuthSuccess(reply.payload)) {
        // caching_sha2_password's fast path (MySQL 8): the client answers nothing, the server's OK follows.
        client.tell(reply.payload);
        return undefined;
      }
      const answer = await client.ask(reply.payload, (d) => denied('LoginTimeout', d));
      answered ||= answer.length > 0;
      return answer;
    },
  }).catch((err: unknown) => {
    // A client that does not answer leaves the server mid-exchange: the session cannot go on.
    if (err instanceof LoginFailed && err.reason === 'LoginTimeout') throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'a COM_CHANGE_USER the client left unanswered' });
    throw err;
  });
  return { kind: 'changed', user, iam: false, ok, seq: client.seq, audit: {} };
}

/** The client's connection attributes with iamdb's first, as at login (server-views.ts): a client cannot set iamdb's names. */
function tagAttributes(request: ComChangeUser, id: SessionIdentity): Buffer {
  const own = request.connectAttributes === undefined ? undefined : decodeConnectAttributesBlock(request.connectAttributes);
  return encodeConnectAttributesBlock(mysqlConnectAttributes(own, id));
}

/** The capabilities the server link was opened with, as far as COM_CHANGE_USER's layout depends on them. */
function serverCaps(ctx: ChangeUserContext): number {
  return (ctx.capabilities & ctx.link.greeting.capabilityFlags) >>> 0;
}
