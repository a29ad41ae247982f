/**
 * One MySQL/MariaDB client session through an instance endpoint.
 *
 * The gateway greets the client itself (greeting.ts) and opens no server
 * connection until the client has proven something:
 * - IAM users (accounts created `IDENTIFIED WITH AWSAuthenticationPlugin`)
 *   are switched to mysql_clear_password, only over TLS; once their token is
 *   verified, the gateway logs in for them with a credential it manages.
 * - Password users have sent their login answer; the gateway then connects,
 *   switches the client to the server's own scramble (an AuthSwitchRequest
 *   for the plugin the client chose) and relays the exchange, so the server
 *   checks the password as it would directly.
 * The server connections open for logins in progress are bounded per
 * endpoint (server-login-slots.ts).
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import {
  AuthPlugin,
  Capability,
  isFastAuthSuccess,
  isFullAuthRequest,
  Command,
  PacketHeader,
  decodeErrPacket,
  decodeAuthSwitchRequest,
  encodeAuthSwitchRequest,
  encodeHandshakeResponse41,
  encodeHandshakeV10,
  encodePacket,
  errPacketFor,
  decodeOkPacket,
  type HandshakeResponse41,
} from '../../protocol/mysql/index.js';
import type { CredentialLease, DbInstance, ManagedCredentials } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import type { IamLogin } from '../iam-login.js';
import type { ConnectionContext } from '../listener.js';
import type { ServerLoginSlots } from '../server-login-slots.js';
import { sourceKey } from '../pre-auth.js';
import { LoginCancel, LoginFailed, SessionAudit, asAuditReason, identityFields } from '../session-common.js';
import { clientCharset, readClearPassword, readClientLogin, type ClientLogin } from './client-handshake.js';
import { mysqlConnectAttributes, type SessionIdentity } from '../server-views.js';
import { relayCommands } from './command-relay.js';
import type { MysqlConnectionIds } from './connection-ids.js';
import type { MysqlControl } from './control.js';
import { GREETING_PROFILE_WAIT_MS, STRIPPED_CAPS, gatewayGreeting, type ServerProfileCache } from './greeting.js';
import type { MysqlIamUsers } from './iam-users.js';
import { abandonServerLink, configuredServerKey, openServer, passwordHandshake, serverCapabilities, serverHandshake, startServerTls, type ServerLink } from './upstream.js';

export interface MysqlSessionDeps {
  readonly instance: DbInstance;
  readonly logger: Logger;
  readonly audit: AuditSink;
  readonly iamLogin: IamLogin;
  readonly credentials: ManagedCredentials;
  readonly iamUsers: MysqlIamUsers;
  readonly control: MysqlControl;
  readonly profile: ServerProfileCache;
  readonly connectionIds: MysqlConnectionIds;
  readonly secureContext: () => SecureContext;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly serverLogins: ServerLoginSlots;
}

/**
 * How long a password user may take to answer while the gateway holds a server connection for
 * it: well under the servers' default connect_timeout (10 s), after which the server would count
 * the unfinished handshake as a connection error of the gateway's host.
 */
const CLIENT_ANSWER_MS = 5_000;

/** `p`, or the error `late()` makes when it takes longer than `ms`. */
function within<T>(p: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(late()), ms)))]).finally(() => clearTimeout(timer));
}

export function accessDenied(user: string, host: string, usingPassword: boolean, seq: number): Buffer {
  return encodePacket(
    errPacketFor('ER_ACCESS_DENIED_ERROR', `Access denied for user '${user}'@'${host}' (using password: ${usingPassword ? 'YES' : 'NO'})`),
    seq,
  );
}

/** What a successful server login leaves for the relay. */
interface LoggedIn {
  readonly link: ServerLink;
  readonly ok: Buffer;
  /** Capabilities of the client link (the client's within what the gateway offered). */
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
}

/** The server status an OK packet reports (after affected rows and last insert id), or autocommit when it says none. */
function okStatusFlags(ok: Buffer): number {
  try {
    return decodeOkPacket(ok, Capability.CLIENT_PROTOCOL_41).statusFlags;
  } catch {
    return 0x0002;
  }
}

/** Handles one client connection on a MySQL instance endpoint. */
export async function handleMysqlSession(raw: Socket, deps: MysqlSessionDeps, context: Partial<ConnectionContext> = {}): Promise<void> {
  const { instance } = deps;
  const session = new SessionAudit(deps.audit, 'mysql', instance, raw);
  const { sourceIp } = session;
  let client: Socket = raw;
  let user = '';
  let link: ServerLink | undefined;
  const startedAt = Date.now();
  const loginAbort = new LoginCancel();
  const timer = setTimeout(() => {
    if (user !== '') session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    loginAbort.cancel();
    // The session's pending step fails with the client gone; its catch ends the server link properly.
    client.destroy();
    raw.destroy();
  }, deps.loginTimeoutMs);
  const connectionId = deps.connectionIds.allocate();
  context.onCut?.(() => client.destroy());

  try {
    // ---- Our own greeting: no server connection for a client that has said nothing yet. ----
    // The server's profile is normally known since start; if not, a client waits a moment for it,
    // then is greeted with a conservative default rather than kept waiting on a server that is down.
    await deps.profile.waitKnown(GREETING_PROFILE_WAIT_MS);
    const greeting = gatewayGreeting(deps.profile.current, connectionId);
    raw.write(encodePacket(encodeHandshakeV10(greeting), 0));

    const login: ClientLogin = await readClientLogin(raw, deps.secureContext(), deps.loginTimeoutMs);
    client = login.socket;
    session.tls = login.tls;
    const { response } = login;
    user = response.username;
    session.dbUser = user;
    session.database = response.database;
    // A client character set that hides ASCII bytes would make the server read statements differently from iamdb.
    const charset = clientCharset(response.characterSet, deps.profile.current.characterSet);
    if (charset.unsafe !== undefined) {
      throw new LoginFailed(
        'UnsafeCharset',
        encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `iamdb does not accept the client character set ${charset.unsafe}: use an ASCII-transparent one such as utf8mb4`), login.seq),
        `client character set ${charset.unsafe} is not ASCII-transparent`,
      );
    }
    // The master is never an IAM user: the gateway manages the server with its password.
    const isIam = user !== instance.master.username && deps.iamUsers.isIamUser(instance.id, user);
    session.method = isIam ? 'iam' : 'password';
    const negotiated: Negotiated = {
      capabilities: (response.capabilityFlags & greeting.capabilityFlags) >>> 0,
      mariadbCapabilities: (response.mariadbCapabilities & greeting.mariadbCapabilities) >>> 0,
    };
    const remaining = (): number => Math.max(1, deps.loginTimeoutMs - (Date.now() - startedAt));

    let who: Record<string, unknown> = {};
    let done: LoggedIn;
    if (isIam) {
      const token = await readToken(login, session, user, sourceIp, instance);
      const outcome = await deps.iamLogin.authenticate({ instance, token, dbUser: user, sourceIp });
      who = identityFields(outcome);
      if (!outcome.ok) throw new LoginFailed(asAuditReason(outcome.reason, 'InternalError'), accessDenied(user, sourceIp, true, login.seq), outcome.detail, who);
      context.authenticated?.();
      const release = await deps.serverLogins.acquire(remaining(), loginAbort.signal, sourceKey(sourceIp));
      try {
        const id = outcome.principal !== undefined ? { principalArn: outcome.principal, sessionId: session.sessionId } : undefined;
        done = await loginIamUser(deps, login, negotiated, (l) => (link = l), sourceIp, id);
      } finally {
        release();
      }
    } else {
      if ((response.capabilityFlags & Capability.CLIENT_PLUGIN_AUTH) === 0) {
        throw new LoginFailed('ProtocolViolation', accessDenied(user, sourceIp, response.authResponse.length > 0, login.seq), 'the client cannot switch authentication plugins (no CLIENT_PLUGIN_AUTH)');
      }
      const release = await deps.serverLogins.acquire(remaining(), loginAbort.signal, sourceKey(sourceIp));
      try {
        done = await loginPasswordUser(deps, login, negotiated, (l) => (link = l), session, sourceIp);
      } finally {
        release();
      }
      context.authenticated?.();
    }

    if (login.reader.pendingBytes > 0 || done.link.reader.pendingBytes > 0) {
      throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'pipelining before the login completes' });
    }
    login.reader.detach();
    done.link.reader.detach();
    deps.connectionIds.bind(connectionId, { instanceId: instance.id, threadId: done.link.greeting.connectionId });
    client.write(encodePacket(done.ok, login.seq));
    clearTimeout(timer);
    session.auth('allow', isIam ? 'Allowed' : 'PasswordLogin', who);

    const stats = await relayCommands(client, done.link.socket, {
      deps,
      session,
      user,
      capabilities: done.capabilities,
      mariadbCapabilities: done.mariadbCapabilities,
      statusFlags: okStatusFlags(done.ok),
      link: done.link,
    });
    session.end(stats);
  } catch (err) {
    clearTimeout(timer);
    loginAbort.cancel();
    if (err instanceof LoginFailed) {
      session.refuse(client, err);
    } else if (isIamdbError(err)) {
      if (user !== '' && err.code !== 'GATEWAY_PEER_CLOSED') session.auth('deny', asAuditReason(err.audit, 'ProtocolViolation'), { detail: err.message });
      if (err.kind === 'Unavailable' && err.code !== 'GATEWAY_PEER_CLOSED' && !client.destroyed) {
        client.end(encodePacket(errPacketFor('ER_UNKNOWN_ERROR', 'Unknown error'), 0));
      } else {
        client.destroy();
      }
    } else {
      deps.logger.error({ err, instance: instance.id }, 'unexpected error in MySQL session');
      if (user !== '') session.auth('deny', 'InternalError', { detail: 'internal error' });
      client.destroy();
    }
    if (link !== undefined) abandonServerLink(link);
  } finally {
    deps.connectionIds.release(connectionId);
  }
}

/** The IAM user's token: sent up front as a clear password, or asked for with an AuthSwitchRequest; only over TLS. */
async function readToken(login: ClientLogin, session: SessionAudit, user: string, sourceIp: string, instance: DbInstance): Promise<Secret<string>> {
  const { response } = login;
  if (!instance.iamDatabaseAuthentication) throw new LoginFailed('IamAuthDisabled', accessDenied(user, sourceIp, true, login.seq));
  if (!session.tls) throw new LoginFailed('TlsRequired', accessDenied(user, sourceIp, response.authResponse.length > 0, login.seq));
  return new Secret((await readClearPassword(login)).toString('utf8'));
}

/**
 * What both login kinds send first: the client's own fields, with the capabilities toward the
 * server. For an IAM login (`id`), the connection attributes also name the principal and the
 * audit session (server-views.ts), whenever the server takes attributes, even if the client sent none.
 */
function firstResponse(
  response: HandshakeResponse41,
  caps: number,
  mariadbCaps: number,
  auth: { authResponse: Buffer; authPluginName: string },
  link: ServerLink,
  id?: SessionIdentity,
): Buffer {
  const serverTakesAttrs = (link.greeting.capabilityFlags & Capability.CLIENT_CONNECT_ATTRS) !== 0;
  const tagged = id !== undefined && serverTakesAttrs;
  const flags = (caps | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_SECURE_CONNECTION | (tagged ? Capability.CLIENT_CONNECT_ATTRS : 0)) >>> 0;
  const clientAttrs = (caps & Capability.CLIENT_CONNECT_ATTRS) !== 0 ? response.connectAttributes : undefined;
  return encodeHandshakeResponse41({
    ...response,
    capabilityFlags: flags,
    mariadbCapabilities: mariadbCaps,
    authResponse: auth.authResponse,
    authPluginName: auth.authPluginName,
    database: (caps & Capability.CLIENT_CONNECT_WITH_DB) !== 0 ? response.database : undefined,
    connectAttributes: tagged ? mysqlConnectAttributes(clientAttrs, id) : clientAttrs,
  });
}

/** What the client and the gateway agreed on in the greeting exchange. */
interface Negotiated {
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
}

/** Opens the server connection (TLS as configured) and works out the capabilities toward it. */
async function openFor(
  deps: MysqlSessionDeps,
  login: ClientLogin,
  negotiated: Negotiated,
  track: (l: ServerLink) => void,
  withheld = 0,
): Promise<{ link: ServerLink; caps: number; mariadbCaps: number }> {
  const link = await openServer(deps.instance, deps.loginTimeoutMs, deps.profile, deps.maxMessageBytes);
  track(link);
  const caps = (serverCapabilities(negotiated.capabilities, link, deps.instance, STRIPPED_CAPS) & ~withheld) >>> 0;
  const missing = negotiated.mariadbCapabilities & ~link.greeting.mariadbCapabilities;
  if (missing !== 0) {
    throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: `${deps.instance.target.host}:${deps.instance.target.port}`, reason: `the server no longer offers MariaDB capabilities 0x${missing.toString(16)}` });
  }
  const mariadbCaps = negotiated.mariadbCapabilities;
  await startServerTls(link, deps.instance, caps, login.response, mariadbCaps, deps.loginTimeoutMs, deps.maxMessageBytes);
  return { link, caps, mariadbCaps };
}

/**
 * Logs in as an IAM user with its managed credential, on a new server
 * connection (see authenticateManaged).
 */
async function loginIamUser(
  deps: MysqlSessionDeps,
  login: ClientLogin,
  negotiated: Negotiated,
  track: (l: ServerLink) => void,
  sourceIp: string,
  id: SessionIdentity | undefined,
): Promise<LoggedIn> {
  const user = login.response.username;
  const denied = (detail: string): LoginFailed => new LoginFailed('UpstreamAuthFailed', accessDenied(user, sourceIp, true, login.seq), detail);
  let mariadbCapabilities = 0;
  const { link, ok } = await authenticateManaged(deps, user, denied, {
    // Without CAN_HANDLE_EXPIRED_PASSWORDS the server refuses an expired credential at login
    // (1862) instead of letting a session in that can run nothing: the gateway then replaces it.
    start: async () => {
      const { link, caps, mariadbCaps } = await openFor(deps, login, negotiated, track, Capability.CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS);
      mariadbCapabilities = mariadbCaps;
      return { link, first: (auth) => firstResponse(login.response, caps, mariadbCaps, auth, link, id) };
    },
    refused: (link) => link.socket.destroy(),
    expired: (link) => link.socket.end(encodePacket(Buffer.from([Command.COM_QUIT]), 0)),
  });
  return { link, ok, capabilities: negotiated.capabilities, mariadbCapabilities };
}

/** How authenticateManaged reaches the server: a new connection's login, or COM_CHANGE_USER on the session's own. */
export interface ManagedAuthSteps {
  /** The link, and the first packet of the exchange around the plugin's first answer. */
  start(): Promise<{ link: ServerLink; first: (auth: { authPluginName: string; authResponse: Buffer }) => Buffer }>;
  /** The server refused the credential (its ERR has been read). */
  refused(link: ServerLink): void;
  /** The server let the expired credential in, in sandbox mode. */
  expired(link: ServerLink): void;
}

/**
 * Authenticates an IAM account to the server with its managed credential.
 * When the server refuses it (1045: changed behind the gateway's back) or
 * has expired it, the credential is replaced through the control
 * connection, once however many logins fail together, and the exchange is
 * tried once more; unless the account's TLS requirement explains the 1045.
 * `denied` makes the client's refusal.
 */
export async function authenticateManaged(
  deps: MysqlSessionDeps,
  user: string,
  denied: (detail: string) => LoginFailed,
  steps: ManagedAuthSteps,
): Promise<{ link: ServerLink; ok: Buffer }> {
  const { instance } = deps;
  const install = async (pw: Secret<string>): Promise<void> => {
    const accounts = deps.iamUsers.accountsOf(instance.id, user);
    if (accounts.length === 0) throw denied('the account is no longer an IAM user');
    await deps.control.setPassword(accounts, pw);
  };
  type Attempt =
    | { readonly kind: 'ok'; readonly link: ServerLink; readonly ok: Buffer }
    | { readonly kind: 'refused'; readonly errno: number; readonly detail: string; readonly tls: boolean };
  const attempt = async (lease: CredentialLease): Promise<Attempt> => {
    try {
      const { link, first } = await steps.start();
      let refused: Attempt | undefined;
      const serverPublicKey = configuredServerKey(instance, link);
      // The plugin the greeting names and every later answer (caching_sha2_password's fast path, full
      // authentication over TLS or with the server's RSA key, switches): upstream.ts / server-auth.ts.
      const ok = await passwordHandshake(link, lease.password.reveal(), first, {
        refused: (e) => {
          refused = { kind: 'refused', errno: e.errno, detail: `${e.errno}: ${e.message}`, tls: link.tls };
          return denied(refused.detail);
        },
        failed: (reason) => denied(reason),
        ...(serverPublicKey !== undefined ? { serverPublicKey } : {}),
      }).catch((err: unknown) => {
        if (refused !== undefined) return undefined;
        throw err;
      });
      if (ok === undefined) {
        steps.refused(link);
        return refused!;
      }
      if (await credentialExpired(link)) {
        steps.expired(link);
        return { kind: 'refused', errno: 1862, detail: '1820: the managed credential has expired (the server runs the session in sandbox mode)', tls: link.tls };
      }
      return { kind: 'ok', link, ok };
    } finally {
      lease.release();
    }
  };
  // An IAM account without a credential (its first one could not be stored) gets one installed now.
  const lease = (await deps.credentials.lease(instance.id, user, install))!;
  let result = await attempt(lease);
  // A TLS requirement the link cannot meet explains a 1045: a new credential would not help.
  if (result.kind === 'refused' && result.errno === 1045) await explainTlsRefusal(deps, user, result.tls, result.detail, denied);
  // 1045: the server no longer takes the credential; 1862: it has expired (PASSWORD EXPIRE, default_password_lifetime).
  if (result.kind === 'refused' && (result.errno === 1045 || result.errno === 1862)) {
    result = await attempt(await deps.credentials.replace(instance.id, user, lease.generation, install));
  }
  if (result.kind === 'refused') throw denied(result.detail);
  return { link: result.link, ok: result.ok };
}

/**
 * After the server refused an IAM login with 1045, asks it (control link)
 * whether the account requires what this link cannot give: TLS over a link
 * in clear, or a client certificate, which the gateway never has. If so the
 * login fails with its own audit reason (the wire stays Access denied).
 */
async function explainTlsRefusal(deps: MysqlSessionDeps, user: string, tls: boolean, serverSaid: string, denied: (detail: string) => LoginFailed): Promise<void> {
  const requirement = await deps.control.tlsRequirement(deps.iamUsers.accountsOf(deps.instance.id, user)).catch(() => undefined);
  const unmet =
    requirement === 'client-certificate'
      ? 'REQUIRE X509, ISSUER or SUBJECT (a client certificate, which iamdb never presents for IAM users)'
      : requirement === 'ssl' && !tls
        ? "REQUIRE SSL, and iamdb's link to the server is in clear (targetTls is disable, or the server offers no TLS)"
        : undefined;
  if (unmet === undefined) return;
  const e = new IamdbError('GATEWAY_UPSTREAM_TLS_REQUIRED', { dbUser: user, requirement: unmet });
  const base = denied(`${e.message} (${serverSaid})`);
  throw new LoginFailed(asAuditReason(e.audit, 'UpstreamAuthFailed'), base.wire, base.detail);
}

/**
 * Whether the server let the login in with an expired password, in sandbox
 * mode, where every statement fails with 1820 (MariaDB does so by default,
 * disconnect_on_expired_password=OFF, whatever the client's capabilities).
 * One statement that does nothing tells; its OK leaves the session as it was.
 */
export async function credentialExpired(link: ServerLink): Promise<boolean> {
  link.socket.write(encodePacket(Buffer.concat([Buffer.from([Command.COM_QUERY]), Buffer.from('DO 1')]), 0));
  const reply = await link.reader.next(1);
  if (reply.payload[0] === PacketHeader.OK) return false;
  if (reply.payload[0] === PacketHeader.ERR && decodeErrPacket(reply.payload).errno === 1820) return true;
  throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: 'the database server', reason: 'unexpected answer to the login check' });
}

/**
 * Why a server's challenge to a password user must not be relayed: the
 * client would answer with its password in clear, on a link in clear. A
 * client decides for its own link (to the gateway), the server's answer goes
 * over the gateway's link to the server, which under `targetTls: prefer`
 * (or `disable`) may be in clear; so:
 * - clear-text plugins (mysql_clear_password, MariaDB's dialog) need TLS on both links;
 * - sha256_password and caching_sha2_password's full authentication make a
 *   client on TLS send its password as is (it RSA-encrypts it only in
 *   clear): refused when the client link is TLS and the server link is not.
 * Undefined when the challenge may go to the client.
 */
export function clearPasswordRisk(payload: Buffer, links: { readonly client: boolean; readonly server: boolean }): { readonly link: 'client' | 'server'; readonly what: string } | undefined {
  if (payload[0] === PacketHeader.EOF) {
    const plugin = decodeAuthSwitchRequest(payload).pluginName;
    if (plugin === AuthPlugin.MYSQL_CLEAR_PASSWORD || plugin === 'dialog') {
      if (!links.client) return { link: 'client', what: `the server asked for a clear-text password (${plugin}) on a non-TLS client link` };
      if (!links.server) return { link: 'server', what: `the server asked for a clear-text password (${plugin}) and iamdb's link to the server is in clear` };
    }
    if (plugin === AuthPlugin.SHA256_PASSWORD && links.client && !links.server) {
      return { link: 'server', what: "the server switched to sha256_password, whose client sends its password as is over TLS, and iamdb's link to the server is in clear" };
    }
    return undefined;
  }
  if (isFullAuthRequest(payload) && links.client && !links.server) {
    return { link: 'server', what: "caching_sha2_password full authentication: a client on TLS answers with its password as is, and iamdb's link to the server is in clear" };
  }
  return undefined;
}

/**
 * Logs in as a password user: connects, switches the client to the
 * server's scramble for the plugin it chose, and relays the exchange.
 */
async function loginPasswordUser(
  deps: MysqlSessionDeps,
  login: ClientLogin,
  negotiated: Negotiated,
  track: (l: ServerLink) => void,
  session: SessionAudit,
  sourceIp: string,
): Promise<LoggedIn> {
  const { response } = login;
  const user = response.username;
  const { link, caps, mariadbCaps } = await openFor(deps, login, negotiated, track);
  // The client answered our scramble; the server needs an answer to its own. Same plugin when
  // its first answer depends only on the scramble, else the one every server knows.
  const plugin =
    response.authPluginName === AuthPlugin.CACHING_SHA2_PASSWORD ? AuthPlugin.CACHING_SHA2_PASSWORD : AuthPlugin.MYSQL_NATIVE_PASSWORD;
  // The server waits for us meanwhile: a client that takes longer than the server's own
  // connect_timeout (10 s by default) would make the server count a connection error against us.
  const clientAnswer = async (): Promise<Buffer> => {
    const answer = await within(login.reader.next((login.seq + 1) & 0xff), CLIENT_ANSWER_MS, () =>
      new LoginFailed('LoginTimeout', accessDenied(user, sourceIp, true, login.seq), "the client did not answer the server's challenge in time"),
    );
    login.seq = (answer.lastSequenceId + 1) & 0xff;
    return answer.payload;
  };
  login.socket.write(encodePacket(encodeAuthSwitchRequest({ pluginName: plugin, pluginData: Buffer.concat([link.greeting.authPluginData, Buffer.alloc(1)]) }), login.seq));
  const answer = await clientAnswer();
  const ok = await serverHandshake(link, firstResponse(response, caps, mariadbCaps, { authResponse: answer, authPluginName: plugin }, link, { principalArn: '', sessionId: session.sessionId }), {
    refused: (e, payload) =>
      new LoginFailed(
        'UpstreamAuthFailed',
        e.errno === 1045 ? accessDenied(user, sourceIp, answer.length > 0, login.seq) : encodePacket(payload, login.seq),
        `${e.errno}: ${e.message}`,
      ),
    challenge: async (reply) => {
      // Never let a password cross either link in clear.
      const risk = clearPasswordRisk(reply.payload, { client: session.tls, server: link.tls });
      if (risk !== undefined) throw new LoginFailed(risk.link === 'client' ? 'TlsRequired' : 'UpstreamTlsRequired', accessDenied(user, sourceIp, true, login.seq), risk.what);
      // AuthSwitchRequest or AuthMoreData: to the client, its answer to the server.
      login.socket.write(encodePacket(reply.payload, login.seq));
      if (isFastAuthSuccess(reply.payload)) {
        // caching_sha2_password's fast path (MySQL 8): the client answers nothing, the server's OK follows.
        login.seq = (login.seq + 1) & 0xff;
        return undefined;
      }
      return clientAnswer();
    },
  });
  return { link, ok, capabilities: negotiated.capabilities, mariadbCapabilities: mariadbCaps };
}

