/**
 * One PostgreSQL client session through an instance endpoint, from the first
 * byte to the last: startup (SSLRequest, GSSENCRequest, CancelRequest),
 * authentication (IAM token or the user's own password), the server login,
 * then the relay. The flow mirrors an RDS instance with IAM authentication:
 * members of `rds_iam` log in only with a token, over TLS; everyone else with
 * their own password.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import {
  FrontendCode,
  SqlState,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeParameterStatus,
  encodeReadyForQuery,
  decodePasswordMessage,
  ByteReaderForBody,
  type ErrorFields,
  type SaltedPasswordCache,
  type StartupMessage,
} from '../../protocol/postgres/index.js';
import type { CredentialLease, DbInstance, ManagedCredentials } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import type { IamLogin } from '../iam-login.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import type { ConnectionContext } from '../listener.js';
import type { ServerLoginSlots } from '../server-login-slots.js';
import { sourceKey } from '../pre-auth.js';
import { relay } from '../relay.js';
import { pgApplicationName, pgStartupOptions, type SessionIdentity } from '../server-views.js';
import { LoginCancel, LoginFailed, SessionAudit, asAuditReason, identityFields } from '../session-common.js';
import type { CancelMap } from './cancel-map.js';
import type { PostgresControl } from './control.js';
import { MessageReader } from './messages.js';
import { negotiateIfNeeded, readStartup } from './startup-phase.js';
import { loginUpstream, openUpstream, refusedForCleartext, sendUpstreamCancel, type UpstreamSession } from './upstream.js';

export interface PostgresSessionDeps {
  readonly instance: DbInstance;
  readonly logger: Logger;
  readonly audit: AuditSink;
  readonly iamLogin: IamLogin;
  readonly credentials: ManagedCredentials;
  readonly control: PostgresControl;
  readonly cancelMap: CancelMap;
  /** Shared across sessions: repeated logins skip SCRAM's PBKDF2. */
  readonly saltedPasswordCache: SaltedPasswordCache;
  /** Terminates client TLS and relays after login (Node's TLS or the native data path). */
  readonly clientTls: ClientTlsTerminator;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  /** Bounds the server connections open for logins not yet complete. */
  readonly serverLogins: ServerLoginSlots;
}

/** Adds the session's principal and id to what the server sees: application_name and custom settings in `options`. */
function tagForServer(params: Map<string, string>, id: SessionIdentity): void {
  params.set('application_name', pgApplicationName(params.get('application_name'), id));
  params.set('options', pgStartupOptions(params.get('options'), id));
}

function fatal(code: string, message: string, extra: Partial<ErrorFields> = {}): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code, message, ...extra });
}


const MASTER_IN_RDS_IAM = 'the master user is a member of rds_iam; iamdb never treats the master as an IAM user';

/** A quick look, for the audit reason only: the master's password is never parsed as a token. */
function looksLikeToken(password: Secret<string>): boolean {
  const p = password.reveal();
  return p.includes('X-Amz-Signature=') && p.includes('Action=connect');
}

type UpstreamLoginResult = Awaited<ReturnType<typeof loginUpstream>>;

/**
 * Logs in with the IAM user's managed credential (created on first use).
 * When the server refuses it (changed behind iamdb's back), it is replaced
 * once and the login retried; concurrent failures share one replacement,
 * and a replacement never cuts off a login still using the old credential.
 */
async function loginWithManagedCredential(
  deps: PostgresSessionDeps,
  user: string,
  login: (pw: Secret<string>) => Promise<UpstreamLoginResult>,
): Promise<UpstreamLoginResult> {
  const install = (pw: Secret<string>): Promise<void> => deps.control.setPassword(user, pw);
  const attempt = async (lease: CredentialLease): Promise<UpstreamLoginResult> => {
    try {
      return await login(lease.password);
    } finally {
      lease.release();
    }
  };
  const first = (await deps.credentials.lease(deps.instance.id, user, install))!;
  const result = await attempt(first);
  if (result.ok || result.error.code !== SqlState.INVALID_PASSWORD) return result;
  return attempt(await deps.credentials.replace(deps.instance.id, user, first.generation, install));
}

/** Handles one client connection on a PostgreSQL instance endpoint. */
export async function handlePostgresSession(raw: Socket, deps: PostgresSessionDeps, context: Partial<ConnectionContext> = {}): Promise<void> {
  const { instance } = deps;
  const session = new SessionAudit(deps.audit, 'postgres', instance, raw);
  const { sourceIp } = session;
  let client: Socket = raw;
  let tls: ClientTlsSession | undefined;
  context.onCut?.(() => (tls ? tls.destroy() : raw.destroy()));
  let startup: StartupMessage | undefined;

  const startedAt = Date.now();
  // Aborted when the login ends without success: a login waiting for a server slot stops waiting.
  const loginAbort = new LoginCancel();
  const timer = setTimeout(() => {
    if (startup) session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    loginAbort.cancel();
    client.destroy();
    raw.destroy();
  }, deps.loginTimeoutMs);

  let upstream: UpstreamSession | undefined;
  let clientReader: MessageReader | undefined;
  try {
    // ---- Startup phase: untyped packets until a StartupMessage. ----
    const opened = await readStartup(raw, {
      clientTls: deps.clientTls,
      loginTimeoutMs: deps.loginTimeoutMs,
      onTls: (t) => {
        tls = t;
        client = t.socket;
        session.tls = true;
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
    clientReader = opened.reader;
    const params = opened.params;

    if (startup.protocolVersion.major !== 3) {
      throw new LoginFailed('ProtocolViolation', fatal(SqlState.FEATURE_NOT_SUPPORTED, `unsupported frontend protocol ${startup.protocolVersion.major}.${startup.protocolVersion.minor}: server supports 3.0 to 3.0`));
    }
    if (startup.params.has('replication')) {
      throw new LoginFailed('ProtocolViolation', fatal(SqlState.FEATURE_NOT_SUPPORTED, 'replication connections are not supported through iamdb'));
    }
    negotiateIfNeeded(client, startup, opened.unsupportedOptions);

    // ---- Which method: IAM for rds_iam members (when IAM auth is on), else the password. ----
    let isIamUser = false;
    try {
      isIamUser = await deps.control.isIamUser(startup.user);
    } catch (err) {
      deps.logger.warn({ err: String(err), instance: instance.id }, 'cannot query rds_iam membership');
      throw new LoginFailed('UpstreamUnavailable', fatal(SqlState.CONNECTION_FAILURE, 'the database server is not available'), 'cannot query rds_iam membership');
    }
    // The master is never an IAM user: iamdb would overwrite the password it manages the server with.
    const masterInRdsIam = isIamUser && startup.user === instance.master.username;
    if (masterInRdsIam) {
      isIamUser = false;
      deps.logger.warn({ instance: instance.id, user: startup.user }, 'the master user is a member of rds_iam; iamdb treats it as a password user (REVOKE rds_iam FROM it)');
    }
    session.method = isIamUser ? 'iam' : 'password';
    const pamFailed = fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, `PAM authentication failed for user "${startup.user}"`);
    if (isIamUser && !instance.iamDatabaseAuthentication) throw new LoginFailed('IamAuthDisabled', pamFailed);
    if (!session.tls) {
      // IAM users need TLS (rds.force_ssl); a password must not cross the wire in clear either
      // (libpq retries with TLS under sslmode=prefer).
      throw new LoginFailed(
        'TlsRequired',
        fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, `pg_hba.conf rejects connection for host "${sourceIp}", user "${startup.user}", database "${startup.database}", SSL off`),
      );
    }

    // ---- Ask for the password (a token for IAM users); TLS is on here. ----
    client.write(encodeAuthenticationCleartextPassword());
    const answer = await clientReader.next();
    if (answer.type !== FrontendCode.PasswordMessage) {
      // Terminate ('X') is how libpq hangs up to prompt for a password: not an attempt.
      clearTimeout(timer);
      client.destroy();
      return;
    }
    const password: Secret<string> = decodePasswordMessage(new ByteReaderForBody(answer.body)).password;
    const masterNote = masterInRdsIam ? { detail: MASTER_IN_RDS_IAM } : {};
    if (masterInRdsIam && looksLikeToken(password)) {
      throw new LoginFailed('MasterNotIamUser', pamFailed, `${MASTER_IN_RDS_IAM}; a token is not its password`);
    }

    let who: Record<string, unknown> = {};
    let tagged = false;
    if (isIamUser) {
      const outcome = await deps.iamLogin.authenticate({ instance, token: password, dbUser: startup.user, sourceIp });
      who = identityFields(outcome);
      if (!outcome.ok) {
        throw new LoginFailed(asAuditReason(outcome.reason, 'InternalError'), pamFailed, outcome.detail, who);
      }
      // The client has proven who it is: it no longer counts as unauthenticated.
      context.authenticated?.();
      // The server's own views (pg_stat_activity, %a in the log) show who is behind the session.
      if (outcome.principal !== undefined) {
        tagForServer(params, { principalArn: outcome.principal, sessionId: session.sessionId });
        tagged = true;
      }
    } else {
      // No IAM principal: an empty one after the client's options, so they cannot claim one.
      params.set('options', pgStartupOptions(params.get('options'), { principalArn: '', sessionId: session.sessionId }));
    }

    // ---- Log in to the real server (a bounded number of these at once per endpoint). ----
    const remaining = Math.max(1, deps.loginTimeoutMs - (Date.now() - startedAt));
    const releaseSlot = await deps.serverLogins.acquire(remaining, loginAbort.signal, sourceKey(sourceIp));
    let result: Awaited<ReturnType<typeof loginUpstream>>;
    try {
      const login = async (pw: Secret<string>) =>
        loginUpstream(instance, await openUpstream(instance, deps.loginTimeoutMs), {
          user: startup!.user,
          database: startup!.database,
          params,
          password: pw,
          maxMessageBytes: deps.maxMessageBytes,
          saltedPasswordCache: deps.saltedPasswordCache,
        });
      result = isIamUser ? await loginWithManagedCredential(deps, startup.user, login) : await login(password);
    } finally {
      releaseSlot();
    }
    if (!result.ok) {
      const e = result.error;
      const authFailure = e.code === SqlState.INVALID_PASSWORD || e.code === SqlState.INVALID_AUTHORIZATION_SPECIFICATION;
      // hostssl-only pg_hba.conf and a link in clear: say so in the audit log (the wire stays as it is).
      const forTls = refusedForCleartext(e);
      throw new LoginFailed(
        forTls ? 'UpstreamTlsRequired' : isIamUser ? 'UpstreamAuthFailed' : authFailure ? 'UpstreamAuthFailed' : 'UpstreamRefused',
        // IAM users see the PAM failure for auth problems; other server errors pass through as the server said them.
        isIamUser && authFailure ? pamFailed : encodeErrorResponse({ ...e, severity: 'FATAL' }),
        `${e.code}: ${e.message}`,
        { ...who, ...masterNote },
      );
    }
    context.authenticated?.();
    upstream = result.session;

    // ---- Logged in: our own cancel key, the server's parameters, ready. ----
    const upstreamKey = upstream.backendKey;
    const linkWasTls = (upstream.socket as { encrypted?: boolean }).encrypted === true;
    const cancel = deps.cancelMap.register(() => sendUpstreamCancel(instance, upstreamKey, linkWasTls));
    const out: Buffer[] = [encodeAuthenticationOk()];
    for (const [name, value] of upstream.parameters) {
      // The client sees its own application_name, not the tag the server was given.
      const shown = name === 'application_name' && tagged ? (startup.params.get('application_name') ?? '') : value;
      out.push(encodeParameterStatus({ name, value: shown }));
    }
    out.push(encodeBackendKeyData({ processId: cancel.processId, secretKey: cancel.secretKey }));
    out.push(encodeReadyForQuery({ status: upstream.transactionStatus as 'I' | 'T' | 'E' }));
    clearTimeout(timer);
    session.auth('allow', isIamUser ? 'Allowed' : 'PasswordLogin', { ...who, ...masterNote });

    // ---- Relay until either side leaves. ----
    // The login's last messages go out through the relay so that nothing the
    // server says next can overtake them. A 1:1 session needs no framing of
    // the relayed bytes.
    const pending = { toServer: clientReader.handOff(), toClient: [Buffer.concat(out), ...upstream.leftover] };
    const stats = tls ? await tls.relayTo(upstream.socket, pending) : await relay(client, upstream.socket, {}, pending);
    cancel.release();
    session.end(stats);
  } catch (err) {
    clearTimeout(timer);
    loginAbort.cancel();
    if (err instanceof LoginFailed) {
      session.refuse(client, err);
    } else if (isIamdbError(err)) {
      if (startup && err.code !== 'GATEWAY_PEER_CLOSED') session.auth('deny', asAuditReason(err.audit, 'ProtocolViolation'), { detail: err.message });
      if (err.kind === 'ProtocolViolation' && !client.destroyed && startup) {
        client.end(fatal(SqlState.PROTOCOL_VIOLATION, 'invalid message from client'));
      } else if (err.kind === 'Unavailable' && !client.destroyed && startup && err.code !== 'GATEWAY_PEER_CLOSED') {
        client.end(fatal(SqlState.CONNECTION_FAILURE, 'the database server is not available'));
      } else {
        client.destroy();
      }
    } else {
      deps.logger.error({ err, instance: instance.id }, 'unexpected error in PostgreSQL session');
      if (startup) session.auth('deny', 'InternalError', { detail: 'internal error' });
      client.destroy();
    }
    upstream?.socket.destroy();
  }
}
