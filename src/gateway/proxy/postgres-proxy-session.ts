/**
 * One PostgreSQL client on a proxy endpoint (RDS Proxy): the startup shared
 * with instance endpoints, RDS Proxy's checks and texts, the client's
 * authentication (an IAM token for the proxy, or the secret's password),
 * then no server of its own: the client joins the pool for its database
 * user and database (postgres-pool.ts), and the native pooled relay lends it
 * a server connection one transaction at a time.
 *
 * The login itself needs no server connection: the pool has logged in at
 * least once (database and credentials known good), and the client gets the
 * server's parameters from that login, its own settings on top.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import { isIamdbError } from '../../errors/index.js';
import {
  FrontendCode,
  SqlState,
  ByteReaderForBody,
  decodePasswordMessage,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
  type StartupMessage,
} from '../../protocol/postgres/index.js';
import type { HostPort, ProxyCredentialOutcome } from '../../rds/index.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import type { IamLogin } from '../iam-login.js';
import type { ConnectionContext } from '../listener.js';
import type { NativeDataPath, PooledClient } from '../native-data-path.js';
import { pooledEndFields, type RelayResult } from '../relay.js';
import type { CancelMap } from '../postgres/cancel-map.js';
import { negotiateIfNeeded, readStartup } from '../postgres/startup-phase.js';
import { LoginFailed, SessionAudit, asAuditReason, identityFields } from '../session-common.js';
import { decideProxyLogin } from './client-login.js';
import { AUTH_FAILURES, type ProxyConnectionEvents } from './connection-events.js';
import { postgresPasswordLogin, type ScramVerifierCache } from './postgres-password-login.js';
import type { PoolReadyFailure, PostgresPool } from './postgres-pool.js';
import { postgresWireError, proxyAuditReason, type ProxyWireFailure } from './wire-errors.js';
import { PIN_REASONS, classifyPostgres, pinReasonOf, type PinReason } from './session-state.js';

/** What a session needs to know of the proxy endpoint it arrived on. */
export interface ProxyEndpointView {
  readonly proxyName: string;
  readonly endpointName: string;
  /** `prx-…`: tokens are for arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-…/USER. */
  readonly resourceId: string;
  /** Names a token may be signed for. */
  readonly endpoints: readonly HostPort[];
  readonly listen: HostPort;
  readonly tags: Readonly<Record<string, string>>;
  readonly requireTls: boolean;
}

export interface PostgresProxyDeps {
  readonly endpoint: ProxyEndpointView;
  readonly logger: Logger;
  readonly audit: AuditSink;
  readonly iamLogin: IamLogin;
  readonly clientTls: ClientTlsTerminator;
  readonly native: NativeDataPath;
  readonly cancelMap: CancelMap;
  readonly loginTimeoutMs: number;
  /** SCRAM verifiers by secret version. */
  readonly verifiers: ScramVerifierCache;
  /** The user's secret, read with the proxy's role (undefined: no Auth entry names the user). */
  credentialFor(user: string): Promise<ProxyCredentialOutcome | undefined>;
  /** The pool for (the proxy's target, user, database). */
  pool(user: string, database: string): PostgresPool;
  /** Metrics of this endpoint's client connections (pins too; the reason also ends up in the session-end record). */
  readonly events: ProxyConnectionEvents;
  /** DebugLogging: a statement's text, while the proxy has it on (undefined text: over 16 KB). */
  debugStatement?(sessionId: string, type: 'Q' | 'P', text: Buffer | undefined): void;
}

/** The parameters a client is told at login: the server's, with the client's own settings on top. */
const REPORTED_NAMES: Readonly<Record<string, string>> = {
  application_name: 'application_name',
  client_encoding: 'client_encoding',
  datestyle: 'DateStyle',
  timezone: 'TimeZone',
};

/**
 * The server's ParameterStatus messages, encoded once per pool login result
 * (a pool's `parameters` map is filled by its first server login, before the
 * pool keeps it, and never changes after) instead of per client.
 * Weakly held: a dropped pool takes its entry with it.
 */
const serverParameterMessages = new WeakMap<ReadonlyMap<string, string>, ReadonlyMap<string, Buffer>>();

/**
 * The ParameterStatus messages a client is told at login: the server's
 * parameters (`server`, the pool's first login's), with the client's own
 * startup settings of REPORTED_NAMES on top, in the server's order.
 */
export function parameterStatusMessages(server: ReadonlyMap<string, string> | undefined, clientParams: ReadonlyMap<string, string>): Buffer[] {
  const shown = new Map(server ?? []);
  const own = new Set<string>();
  for (const [name, value] of clientParams) {
    const reported = REPORTED_NAMES[name];
    if (reported !== undefined) {
      shown.set(reported, value);
      own.add(reported);
    }
  }
  let encoded = server === undefined ? undefined : serverParameterMessages.get(server);
  if (server !== undefined && encoded === undefined) {
    const m = new Map<string, Buffer>();
    for (const [name, value] of server) m.set(name, encodeParameterStatus({ name, value }));
    serverParameterMessages.set(server, m);
    encoded = m;
  }
  const out: Buffer[] = [];
  for (const [name, value] of shown) out.push((!own.has(name) && encoded?.get(name)) || encodeParameterStatus({ name, value }));
  return out;
}

function refuse(failure: ProxyWireFailure, reason?: string, detail?: string, extra: Record<string, unknown> = {}): LoginFailed {
  return new LoginFailed(asAuditReason(reason ?? proxyAuditReason[failure.kind], 'InternalError'), postgresWireError(failure), detail, extra);
}

function startupChecks(startup: StartupMessage): void {
  if (startup.protocolVersion.major !== 3) throw refuse({ kind: 'UnsupportedProtocolVersion' });
  if (startup.params.has('replication')) throw refuse({ kind: 'ReplicationUnsupported' });
}

/** What the drain deadline ends: the client's socket, its TLS session during the login, the native session once pooled. */
interface CutTarget {
  raw?: Socket;
  tls?: ClientTlsSession;
  pooled?: { readonly native: NativeDataPath; readonly id: number };
}

/** Built outside the session's scope so that the listener's hold on it keeps nothing of the login alive. */
function cutOf(t: CutTarget): () => void {
  return () => {
    if (t.pooled) t.pooled.native.close(t.pooled.id);
    else if (t.tls) t.tls.destroy();
    else t.raw?.destroy();
  };
}

/** A cancel request's target (outside the session's scope, like cutOf). */
function cancelTarget(pool: PostgresPool, nativeId: number | undefined): () => Promise<void> {
  return async () => {
    if (nativeId !== undefined) await pool.cancel(nativeId);
  };
}

/**
 * A client in the native pool: what its events (classify, pinned, statement)
 * and its end need, and nothing of its login. The native data path finds it
 * by the native session's id; methods, not closures, so that one idle client
 * costs this one object.
 */
class PooledSession implements PooledClient {
  readonly settingsId: number;
  readonly settingsQuery: Buffer;
  readonly #audit: SessionAudit;
  readonly #events: ProxyConnectionEvents;
  readonly #logger: Logger;
  readonly #proxyName: string;
  readonly #endpointName: string;
  readonly #debugStatement: PostgresProxyDeps['debugStatement'];
  readonly #release: () => void;
  #pins: PinReason[] | undefined;

  constructor(settings: { id: number; query: Buffer }, audit: SessionAudit, deps: PostgresProxyDeps, release: () => void) {
    this.settingsId = settings.id;
    this.settingsQuery = settings.query;
    this.#audit = audit;
    this.#events = deps.events;
    this.#logger = deps.logger;
    this.#proxyName = deps.endpoint.proxyName;
    this.#endpointName = deps.endpoint.endpointName;
    this.#debugStatement = deps.debugStatement;
    this.#release = release;
  }

  classify(_type: 'Q' | 'P', text: Buffer): number {
    const reason = classifyPostgres(text.toString('utf8'));
    return reason === undefined ? 0 : PIN_REASONS[reason].code;
  }

  statement(type: 'Q' | 'P', text: Buffer | undefined): void {
    this.#debugStatement?.(this.#audit.sessionId, type, text);
  }

  pinned(code: number): void {
    const reason = pinReasonOf(code) ?? 'Unreadable';
    (this.#pins ??= []).push(reason);
    this.#events.pinned(reason);
    this.#logger.info({ proxy: this.#proxyName, endpoint: this.#endpointName, sessionId: this.#audit.sessionId, reason: PIN_REASONS[reason].text }, 'client session pinned to its database connection until it ends');
  }

  /** Resolves when the client has left, its end recorded. */
  follow(done: Promise<RelayResult>): Promise<void> {
    return done.then(
      (stats) => {
        this.#release();
        this.#events.closed();
        this.#audit.end(stats, { ...(this.#pins ? { pinReasons: this.#pins } : {}), ...pooledEndFields(stats) });
      },
      (err: unknown) => {
        this.#release();
        this.#events.closed();
        throw err;
      },
    );
  }
}

/** Handles one client connection on a PostgreSQL proxy endpoint. */
export async function handlePostgresProxySession(raw: Socket, deps: PostgresProxyDeps, context: Partial<ConnectionContext> = {}): Promise<void> {
  const ep = deps.endpoint;
  const events = deps.events;
  events.received();
  let setUp = false;
  const session = new SessionAudit(deps.audit, 'postgres', { id: ep.proxyName, listen: ep.listen, proxy: { endpointName: ep.endpointName } }, raw);
  let client: Socket = raw;
  let tls: ClientTlsSession | undefined;
  let startup: StartupMessage | undefined;
  const cut: CutTarget = { raw };
  context.onCut?.(cutOf(cut));
  const timer = setTimeout(() => {
    if (startup) session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    client.destroy();
    raw.destroy();
  }, deps.loginTimeoutMs);
  try {
    const opened = await readStartup(raw, {
      clientTls: deps.clientTls,
      loginTimeoutMs: deps.loginTimeoutMs,
      onTls: (t) => {
        tls = t;
        cut.tls = t;
        client = t.socket;
        session.tls = true;
        events.tls();
      },
    });
    if (opened.kind === 'cancel') {
      await deps.cancelMap.cancel(opened.processId, opened.secretKey);
      clearTimeout(timer);
      client.destroy();
      return;
    }
    startup = opened.startup;
    session.dbUser = startup.user;
    session.database = startup.database;
    startupChecks(startup);
    negotiateIfNeeded(client, startup, opened.unsupportedOptions);
    const user = startup.user;

    const decision = decideProxyLogin({ engine: 'postgres', tls: session.tls, requireTls: ep.requireTls, user, credential: await deps.credentialFor(user) });
    if (decision.kind === 'refuse') throw refuse(decision.failure, decision.reason, decision.detail);
    let who: Record<string, unknown> = {};
    if (decision.kind === 'iam') {
      session.method = 'iam';
      client.write(encodeAuthenticationCleartextPassword());
      const answer = await opened.reader.next();
      if (answer.type !== FrontendCode.PasswordMessage) {
        clearTimeout(timer);
        client.destroy();
        return;
      }
      const token = decodePasswordMessage(new ByteReaderForBody(answer.body)).password;
      const outcome = await deps.iamLogin.authenticate({ instance: ep, token, dbUser: user, sourceIp: session.sourceIp });
      who = identityFields(outcome);
      if (!outcome.ok) throw refuse({ kind: 'IamAuthFailed', user }, outcome.reason, outcome.detail, who);
    } else {
      session.method = 'password';
      const c = decision.credential;
      const proved = await postgresPasswordLogin(client, opened.reader, {
        user,
        method: decision.method === 'MD5' ? 'MD5' : 'SCRAM-SHA-256',
        password: c.password,
        verifierKey: `${c.secretArn}#${c.versionId}`,
        verifiers: deps.verifiers,
      });
      if (!proved) throw refuse({ kind: 'WrongPassword', user });
    }
    context.authenticated?.();

    // ---- The pool: one good server login before the client hears it is in. ----
    const pool = deps.pool(user, startup.database);
    const ready = await pool.ready().catch((err: unknown): PoolReadyFailure => ({
      ok: false,
      error: { severity: 'FATAL', code: SqlState.CONNECTION_FAILURE, message: isIamdbError(err) ? err.message : String(err) },
      ...(isIamdbError(err) && err.audit === 'UpstreamUnavailable' ? { audit: 'UpstreamUnavailable' as const } : {}),
    }));
    if (!ready.ok) {
      const e = ready.error;
      throw refuse({ kind: 'DatabaseError', sqlState: e.code, message: e.message.replace(/\.$/, '') }, ready.audit ?? 'UpstreamRefused', `${e.code}: ${e.message}`, who);
    }
    const settings = pool.settingsFor(opened.params);
    let readAhead: Buffer[] | undefined;
    if (!tls && deps.clientTls.adoptPlain) {
      // A clear client (only while RequireTLS is off: the decision above refuses it otherwise) joins the
      // same native pool: it becomes a native session now, its login's read-ahead kept for the server.
      readAhead = opened.reader.handOff();
      tls = await deps.clientTls.adoptPlain(raw, deps.loginTimeoutMs);
      client = tls.socket;
    }
    const nativeId = tls?.nativeId;
    const cancel = deps.cancelMap.register(cancelTarget(pool, nativeId));
    const out: Buffer[] = [encodeAuthenticationOk()];
    out.push(...parameterStatusMessages(pool.view?.parameters, opened.params));
    out.push(encodeBackendKeyData({ processId: cancel.processId, secretKey: cancel.secretKey }));
    out.push(encodeReadyForQuery({ status: 'I' }));
    clearTimeout(timer);
    if (!tls?.attachToPool || nativeId === undefined) throw refuse({ kind: 'UnknownError' }, 'InternalError', 'proxy endpoints need the native data path');
    session.auth('allow', decision.kind === 'iam' ? 'Allowed' : 'PasswordLogin', who);
    session.start();
    events.setupSucceeded();
    setUp = true;

    // From here the client lives on the native side. This function returns (its frame, the
    // login's sockets, timer and closures can go) with the session's end still to come: all
    // JavaScript keeps of an idle pooled client is the PooledSession record.
    const pooled = new PooledSession(settings, session, deps, cancel.release);
    const done = tls.attachToPool(pool.control, pooled, { toClient: [Buffer.concat(out)], toServer: readAhead ?? opened.reader.handOff() });
    cut.pooled = { native: deps.native, id: nativeId };
    cut.tls = undefined;
    cut.raw = undefined;
    return pooled.follow(done);
  } catch (err) {
    clearTimeout(timer);
    if (setUp) events.closed();
    if (err instanceof LoginFailed) {
      if (AUTH_FAILURES.has(err.reason)) events.setupFailedAuth();
      session.refuse(client, err);
    } else if (isIamdbError(err)) {
      if (startup && err.code !== 'GATEWAY_PEER_CLOSED') session.auth('deny', asAuditReason(err.audit, 'ProtocolViolation'), { detail: err.message });
      if (err.kind === 'ProtocolViolation' && !client.destroyed && startup) client.end(encodeErrorResponse({ severity: 'FATAL', code: SqlState.PROTOCOL_VIOLATION, message: 'invalid message from client' }));
      else client.destroy();
    } else {
      deps.logger.error({ err, proxy: ep.proxyName }, 'unexpected error in a PostgreSQL proxy session');
      if (startup) session.auth('deny', 'InternalError', { detail: 'internal error' });
      client.destroy();
    }
  }
}
