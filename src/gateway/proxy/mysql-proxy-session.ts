/**
 * One MySQL/MariaDB client on a proxy endpoint (RDS Proxy), transaction multiplexing:
 * the proxy's own greeting and the client's login read as on instance
 * endpoints (gateway/mysql/greeting.ts, client-handshake.ts), RDS Proxy's
 * login decision (client-login.ts) and method (an IAM token on the `prx-`
 * resource by mysql_clear_password, or the secret's password by
 * mysql-password-login.ts), then the pool for (proxy, endpoint role, user,
 * database), from which mysql-mux-relay.ts borrows a server connection per
 * transaction.
 *
 * No server connection is touched before the client has authenticated. The
 * client hears OK once a login of its pool has worked (the first client of a
 * pool waits for one, so a server refusal, such as an unknown database, is
 * its error, with RDS Proxy's text).
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import { Capability, ServerStatus, encodeHandshakeV10, encodeOkPacket, encodePacket, type FastAuthCache } from '../../protocol/mysql/index.js';
import type { ProxyCredentialOutcome } from '../../rds/index.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import { Secret } from '../../util/index.js';
import type { IamLogin } from '../iam-login.js';
import type { ConnectionContext } from '../listener.js';
import { clientCharset, readClearPassword, readClientLogin, type ClientLogin } from '../mysql/client-handshake.js';
import { GREETING_PROFILE_WAIT_MS, gatewayGreeting, type ServerProfileCache } from '../mysql/greeting.js';
import { LoginFailed, SessionAudit, asAuditReason, identityFields } from '../session-common.js';
import { checkProxyTls, decideProxyLogin, type ProxyLoginDecision } from './client-login.js';
import { AUTH_FAILURES, type ProxyConnectionEvents } from './connection-events.js';
import { mysqlPasswordLogin } from './mysql-password-login.js';
import { serverShape, type ServerShape } from './mysql-server-link.js';
import { MYSQL_PIN_REASONS, mysqlPinReasonOf, type MysqlPinReason } from './mysql-session-state.js';
import type { MysqlNativePool } from './mysql-native-pool.js';
import { pooledEndFields, type RelayResult } from '../relay.js';
import type { ProxyEndpointView } from './postgres-proxy-session.js';
import { mysqlWireError, proxyAuditReason, type ProxyWireFailure } from './wire-errors.js';

export interface MysqlProxyDeps {
  readonly endpoint: ProxyEndpointView;
  readonly logger: Logger;
  readonly audit: AuditSink;
  readonly iamLogin: IamLogin;
  /**
   * Native client sessions (the native data path's terminator, with the endpoint's certificate):
   * every client, TLS or clear, becomes a native session; the login runs on its plaintext socket,
   * then the session joins the pool's native half.
   */
  readonly clientSessions: ClientTlsTerminator;
  /** What the proxy's greeting says of the server (version, capabilities, character set). */
  readonly profile: ServerProfileCache;
  /** caching_sha2_password's memory of full authentications through this proxy. */
  readonly fastAuth: FastAuthCache;
  /** The greeting's connection id. */
  readonly connectionId: number;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** The user's secret, read with the proxy's role (undefined: no Auth entry names the user). */
  credentialFor(user: string): Promise<ProxyCredentialOutcome | undefined>;
  /** The pool for (the proxy, the endpoint's role, user, database, response shape). */
  pool(user: string, database: string, shape: ServerShape): MysqlNativePool;
  readonly events: ProxyConnectionEvents;
  /** DebugLogging: a statement's text, while the proxy has it on (undefined text: over 16 KB). */
  debugStatement?(sessionId: string, type: 'Q' | 'P', text: Buffer | undefined): void;
}

type Refuse = (failure: ProxyWireFailure, reason?: string, detail?: string, extra?: Record<string, unknown>) => LoginFailed;

/**
 * RDS Proxy's decision for the login, then its method: an IAM token (the
 * proxy's `prx-` resource) or the secret's password. Throws the refusal;
 * returns the decision and the identity fields for the audit log.
 */
async function authenticate(
  login: ClientLogin,
  greetingScramble: Buffer,
  deps: MysqlProxyDeps,
  session: SessionAudit,
  refuse: Refuse,
): Promise<{ decision: Exclude<ProxyLoginDecision, { kind: 'refuse' }>; who: Record<string, unknown> }> {
  const ep = deps.endpoint;
  const user = login.response.username;
  const decision = decideProxyLogin({ engine: 'mysql', tls: login.tls, requireTls: ep.requireTls, user, credential: await deps.credentialFor(user) });
  if (decision.kind === 'refuse') throw refuse(decision.failure, decision.reason, decision.detail);
  if (decision.kind === 'iam') {
    session.method = 'iam';
    const token = new Secret((await readClearPassword(login)).toString('utf8'));
    const outcome = await deps.iamLogin.authenticate({ instance: ep, token, dbUser: user, sourceIp: session.sourceIp });
    const who = identityFields(outcome);
    if (!outcome.ok) throw refuse({ kind: 'IamAuthFailed', user }, outcome.reason, outcome.detail, who);
    return { decision, who };
  }
  session.method = 'password';
  const proved = await mysqlPasswordLogin(login, {
    method: decision.method === 'mysql_native_password' ? 'mysql_native_password' : 'caching_sha2_password',
    password: decision.credential.password,
    greetingScramble,
    cache: deps.fastAuth,
    proxyId: ep.resourceId,
  });
  if (!proved.ok) throw refuse({ kind: 'WrongPassword', user, usingPassword: proved.usingPassword }, proved.reason);
  return { decision, who: {} };
}

/** What relayNative needs of the session it continues. */
interface NativeRelayContext {
  readonly deps: MysqlProxyDeps;
  readonly session: SessionAudit;
  readonly refuse: Refuse;
  readonly who: Record<string, unknown>;
  readonly leave: AbortSignal;
  readonly decision: Exclude<ProxyLoginDecision, { kind: 'refuse' }>;
  setUp(): void;
}

/**
 * The native pooled relay (native/my_pool.c): one good server login of the
 * pool first, then the client's OK goes out and the native side takes the
 * client. Resolves when the client leaves (undefined: it left while waiting).
 */
async function relayNative(
  attach: NonNullable<ClientTlsSession['attachToPool']>,
  pool: MysqlNativePool,
  ok: Buffer,
  capabilities: number,
  x: NativeRelayContext,
): Promise<{ stats: RelayResult; pins: MysqlPinReason[] } | undefined> {
  const { deps, session } = x;
  const ep = deps.endpoint;
  const ready = await pool.ready().catch((err: unknown) => ({ ok: false as const, error: { errno: 2003, sqlState: 'HY000', message: err instanceof Error ? err.message : String(err) } }));
  // The client left while it waited: nothing to answer.
  if (x.leave.aborted) return undefined;
  if (!ready.ok) {
    const r = ready.error;
    if (r.errno === 9501) throw x.refuse({ kind: 'BorrowTimeout' }, 'BorrowTimeout', `no server connection within ConnectionBorrowTimeout (pool of ${pool.maxServers})`, x.who);
    throw x.refuse({ kind: 'DatabaseError', sqlState: r.sqlState, message: r.message }, 'UpstreamRefused', `${r.errno} (${r.sqlState}): ${r.message}`, x.who);
  }
  session.auth('allow', x.decision.kind === 'iam' ? 'Allowed' : 'PasswordLogin', x.who);
  deps.events.setupSucceeded();
  x.setUp();
  const pins: MysqlPinReason[] = [];
  const stats = await attach(
    pool.control,
    {
      ...pool.client(capabilities),
      pinned: (code) => {
        const reason = mysqlPinReasonOf(code) ?? 'Unreadable';
        pins.push(reason);
        deps.events.pinned(reason);
        deps.logger.info({ proxy: ep.proxyName, endpoint: ep.endpointName, sessionId: session.sessionId, reason: MYSQL_PIN_REASONS[reason] }, 'client session pinned to its database connection until it ends');
      },
      statement: (type, text) => deps.debugStatement?.(session.sessionId, type, text),
    },
    { toClient: [ok], toServer: [] },
  );
  return { stats, pins };
}

/** Handles one client connection on a MySQL proxy endpoint. */
export async function handleMysqlProxySession(raw: Socket, deps: MysqlProxyDeps, context: Partial<ConnectionContext> = {}): Promise<void> {
  const ep = deps.endpoint;
  const events = deps.events;
  events.received();
  const session = new SessionAudit(deps.audit, 'mysql', { id: ep.proxyName, listen: ep.listen, proxy: { endpointName: ep.endpointName } }, raw);
  let client: Socket = raw;
  let native: ClientTlsSession | undefined;
  let user = '';
  let setUp = false;
  const leave = new AbortController();
  context.onCut?.(() => (native ? native.destroy() : client.destroy()));
  const timer = setTimeout(() => {
    if (user !== '') session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    leave.abort();
    client.destroy();
    raw.destroy();
  }, deps.loginTimeoutMs);
  try {
    // As on instance endpoints: a profile not known yet is asked for, briefly, before the default is used.
    await deps.profile.waitKnown(GREETING_PROFILE_WAIT_MS);
    const greeting = gatewayGreeting(deps.profile.current, deps.connectionId);
    raw.write(encodePacket(encodeHandshakeV10(greeting), 0));
    const login = await readClientLogin(raw, undefined, deps.loginTimeoutMs, deps.clientSessions);
    client = login.socket;
    native = login.session;
    client.once('close', () => leave.abort());
    session.tls = login.tls;
    if (login.tls) events.tls();
    const { response } = login;
    user = response.username;
    session.dbUser = user;
    session.database = response.database;
    const refuse: Refuse = (failure, reason, detail, extra = {}) =>
      new LoginFailed(asAuditReason(reason ?? proxyAuditReason[failure.kind], 'InternalError'), mysqlWireError(failure, login.seq), detail, extra);

    // RequireTLS before anything else, as RDS Proxy answers.
    const early = checkProxyTls({ requireTls: ep.requireTls, tls: login.tls });
    if (early?.kind === 'refuse') throw refuse(early.failure, early.reason);
    // As on instance endpoints: a character set that hides ASCII bytes is refused (RDS Proxy's 1231 text).
    const charset = clientCharset(response.characterSet, deps.profile.current.characterSet);
    if (charset.unsafe !== undefined) throw refuse({ kind: 'CharsetRefused', value: charset.unsafe }, 'UnsafeCharset', `client character set ${charset.unsafe} is not ASCII-transparent`);
    const charsetId = charset.id;

    const { decision, who } = await authenticate(login, greeting.authPluginData, deps, session, refuse);
    context.authenticated?.();
    // Authenticated: from here the wait is ConnectionBorrowTimeout's, not the login's.
    clearTimeout(timer);

    // ---- The pool: one good server login before the client hears it is in; no server of its own. ----
    const negotiated = {
      capabilities: (response.capabilityFlags & greeting.capabilityFlags) >>> 0,
      mariadbCapabilities: (response.mariadbCapabilities & greeting.mariadbCapabilities) >>> 0,
    };
    const database = (negotiated.capabilities & Capability.CLIENT_CONNECT_WITH_DB) !== 0 ? (response.database ?? '') : '';
    const shape = serverShape(negotiated, charsetId, response.maxPacketSize);
    // Every client is a native session (TLS or clear): it joins the pool's native half.
    if (native?.attachToPool === undefined) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'a MySQL proxy client that is not a native session' });
    if (login.reader.pendingBytes > 0) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'pipelining before the login completes' });
    login.reader.detach();
    const pool = deps.pool(user, database, shape);
    const ok = encodePacket(encodeOkPacket({ statusFlags: ServerStatus.SERVER_STATUS_AUTOCOMMIT }, negotiated.capabilities), login.seq);
    const r = await relayNative(native.attachToPool, pool, ok, negotiated.capabilities, { deps, session, refuse, who, leave: leave.signal, decision, setUp: () => (setUp = true) });
    if (r === undefined) return;
    events.closed();
    const stats = r.stats;
    session.end(stats, {
      ...(r.pins.length ? { pinReasons: r.pins } : {}),
      ...pooledEndFields(stats),
    });
  } catch (err) {
    clearTimeout(timer);
    if (setUp) events.closed();
    if (err instanceof LoginFailed) {
      if (AUTH_FAILURES.has(err.reason)) events.setupFailedAuth();
      session.refuse(client, err);
    } else if (isIamdbError(err)) {
      if (user !== '' && err.code !== 'GATEWAY_PEER_CLOSED') session.auth('deny', asAuditReason(err.audit, 'ProtocolViolation'), { detail: err.message });
      client.destroy();
    } else {
      deps.logger.error({ err, proxy: ep.proxyName }, 'unexpected error in a MySQL proxy session');
      if (user !== '') session.auth('deny', 'InternalError', { detail: 'internal error' });
      client.destroy();
    }
  }
}
