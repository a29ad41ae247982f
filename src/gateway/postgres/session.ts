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
  StartupDecoder,
  FrontendCode,
  SqlState,
  encodeAuthenticationCleartextPassword,
  encodeAuthenticationOk,
  encodeBackendKeyData,
  encodeErrorResponse,
  encodeNegotiateProtocolVersion,
  encodeParameterStatus,
  encodeReadyForQuery,
  decodePasswordMessage,
  ByteReaderForBody,
  type ErrorFields,
  type SaltedPasswordCache,
  type StartupMessage,
} from '../../protocol/postgres/index.js';
import type { DbInstance, ManagedCredentials } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import type { IamLogin } from '../iam-login.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import { relay } from '../relay.js';
import { LoginFailed, SessionAudit, asAuditReason, identityFields } from '../session-common.js';
import { SocketReader } from '../socket-reader.js';
import type { CancelMap } from './cancel-map.js';
import type { PostgresControl } from './control.js';
import { MessageReader } from './messages.js';
import { loginUpstream, openUpstream, sendUpstreamCancel, type UpstreamSession } from './upstream.js';

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
}

/** Startup parameters forwarded to the server; everything else stays here (CVE-2025-12819 class). */
const FORWARDED_PARAMS = new Set([
  'application_name',
  'client_encoding',
  'DateStyle',
  'TimeZone',
  'extra_float_digits',
  'search_path',
  'options',
  'IntervalStyle',
  'standard_conforming_strings',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'intervalstyle',
  'datestyle',
  'timezone',
  'geqo',
  'work_mem',
  'jit',
]);

function fatal(code: string, message: string, extra: Partial<ErrorFields> = {}): Buffer {
  return encodeErrorResponse({ severity: 'FATAL', code, message, ...extra });
}


/** Handles one client connection on a PostgreSQL instance endpoint. */
export async function handlePostgresSession(raw: Socket, deps: PostgresSessionDeps, onCut: (cut: () => void) => void = () => undefined): Promise<void> {
  const { instance } = deps;
  const session = new SessionAudit(deps.audit, 'postgres', instance, raw);
  const { sourceIp } = session;
  let client: Socket = raw;
  let tls: ClientTlsSession | undefined;
  onCut(() => (tls ? tls.destroy() : raw.destroy()));
  let startup: StartupMessage | undefined;

  const timer = setTimeout(() => {
    if (startup) session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    client.destroy();
    raw.destroy();
  }, deps.loginTimeoutMs);

  let upstream: UpstreamSession | undefined;
  let clientReader: MessageReader | undefined;
  try {
    // ---- Startup phase: untyped packets until a StartupMessage. ----
    let reader = new SocketReader(raw);
    const decoder = new StartupDecoder();
    while (startup === undefined) {
      decoder.push(await reader.read());
      for (let packet = decoder.next(); packet !== undefined; packet = decoder.next()) {
        if (packet.type === 'SSLRequest') {
          if (session.tls) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'a second SSLRequest' });
          const pending = decoder.pendingBytes() + reader.buffered;
          if (pending > 0) throw new IamdbError('GATEWAY_BYTES_BEFORE_TLS', { count: pending });
          reader.detach();
          tls = await deps.clientTls.accept(raw, Buffer.from('S'), deps.loginTimeoutMs);
          client = tls.socket;
          session.tls = true;
          reader = new SocketReader(client);
          break;
        }
        if (packet.type === 'GSSENCRequest') {
          client.write('N');
          continue;
        }
        if (packet.type === 'CancelRequest') {
          await deps.cancelMap.cancel(packet.processId, Buffer.from(packet.secretKey));
          clearTimeout(timer);
          client.destroy();
          return;
        }
        startup = packet;
        session.dbUser = packet.user;
        session.database = packet.database;
        break;
      }
    }
    const leftoverStartup = decoder.takePending();
    const leftoverChunks = reader.detach();
    clientReader = new MessageReader(client, deps.maxMessageBytes, 'client', Buffer.concat([leftoverStartup, ...leftoverChunks]));

    if (startup.protocolVersion.major !== 3) {
      throw new LoginFailed('ProtocolViolation', fatal(SqlState.FEATURE_NOT_SUPPORTED, `unsupported frontend protocol ${startup.protocolVersion.major}.${startup.protocolVersion.minor}: server supports 3.0 to 3.0`));
    }
    if (startup.params.has('replication')) {
      throw new LoginFailed('ProtocolViolation', fatal(SqlState.FEATURE_NOT_SUPPORTED, 'replication connections are not supported through iamdb'));
    }
    const unsupportedOptions = [...startup.params.keys()].filter((k) => k.startsWith('_pq_.'));
    if (startup.protocolVersion.minor > 0 || unsupportedOptions.length > 0) {
      client.write(encodeNegotiateProtocolVersion({ newestMinor: 0, unrecognizedOptions: unsupportedOptions }));
    }
    const params = new Map<string, string>();
    for (const [k, v] of startup.params) if (FORWARDED_PARAMS.has(k)) params.set(k, v);

    // ---- Which method: IAM for rds_iam members (when IAM auth is on), else the password. ----
    let isIamUser = false;
    try {
      isIamUser = await deps.control.isIamUser(startup.user);
    } catch (err) {
      deps.logger.warn({ err: String(err), instance: instance.id }, 'cannot query rds_iam membership');
      throw new LoginFailed('UpstreamUnavailable', fatal(SqlState.CONNECTION_FAILURE, 'the database server is not available'), 'cannot query rds_iam membership');
    }
    session.method = isIamUser ? 'iam' : 'password';
    const pamFailed = fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, `PAM authentication failed for user "${startup.user}"`);
    if (isIamUser && !instance.iamDatabaseAuthentication) throw new LoginFailed('IamAuthDisabled', pamFailed);
    if (isIamUser && !session.tls) {
      throw new LoginFailed(
        'TlsRequired',
        fatal(SqlState.INVALID_AUTHORIZATION_SPECIFICATION, `pg_hba.conf rejects connection for host "${sourceIp}", user "${startup.user}", database "${startup.database}", SSL off`),
      );
    }
    if (!isIamUser && !session.tls) {
      // A password must not cross the wire in clear; libpq retries with TLS under sslmode=prefer.
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

    let serverPassword: Secret<string>;
    let who: Record<string, unknown> = {};
    if (isIamUser) {
      const outcome = await deps.iamLogin.authenticate({ instance, token: password, dbUser: startup.user, sourceIp });
      who = identityFields(outcome);
      if (!outcome.ok) {
        throw new LoginFailed(asAuditReason(outcome.reason, 'InternalError'), pamFailed, outcome.detail, who);
      }
      const user = startup.user;
      serverPassword = await deps.credentials.getOrCreate(instance.id, user, (pw) => deps.control.setPassword(user, pw));
    } else {
      serverPassword = password;
    }

    // ---- Log in to the real server. ----
    const login = async (pw: Secret<string>) =>
      loginUpstream(instance, await openUpstream(instance, deps.loginTimeoutMs), {
        user: startup!.user,
        database: startup!.database,
        params,
        password: pw,
        maxMessageBytes: deps.maxMessageBytes,
        saltedPasswordCache: deps.saltedPasswordCache,
      });
    let result = await login(serverPassword);
    if (!result.ok && isIamUser && result.error.code === SqlState.INVALID_PASSWORD) {
      // The managed credential was changed behind our back: install a new one and retry once.
      const user = startup.user;
      serverPassword = await deps.credentials.rotate(instance.id, user, (pw) => deps.control.setPassword(user, pw));
      result = await login(serverPassword);
    }
    if (!result.ok) {
      const e = result.error;
      const authFailure = e.code === SqlState.INVALID_PASSWORD || e.code === SqlState.INVALID_AUTHORIZATION_SPECIFICATION;
      throw new LoginFailed(
        isIamUser ? 'UpstreamAuthFailed' : authFailure ? 'UpstreamAuthFailed' : 'UpstreamRefused',
        // IAM users see the PAM failure for auth problems; other server errors pass through as the server said them.
        isIamUser && authFailure ? pamFailed : encodeErrorResponse({ ...e, severity: 'FATAL' }),
        `${e.code}: ${e.message}`,
        who,
      );
    }
    upstream = result.session;

    // ---- Logged in: our own cancel key, the server's parameters, ready. ----
    const upstreamKey = upstream.backendKey;
    const cancel = deps.cancelMap.register({
      upstream: upstreamKey,
      send: (key) => sendUpstreamCancel(instance, key),
    });
    const out: Buffer[] = [encodeAuthenticationOk()];
    for (const [name, value] of upstream.parameters) out.push(encodeParameterStatus({ name, value }));
    out.push(encodeBackendKeyData({ processId: cancel.processId, secretKey: cancel.secretKey }));
    out.push(encodeReadyForQuery({ status: upstream.transactionStatus as 'I' | 'T' | 'E' }));
    clearTimeout(timer);
    session.auth('allow', isIamUser ? 'Allowed' : 'PasswordLogin', who);

    // ---- Relay until either side leaves. ----
    // The login's last messages go out through the relay so that nothing the
    // server says next can overtake them. A 1:1 session needs no framing of
    // the relayed bytes; the pooler will add protocol/postgres's RelayTracker
    // to find transaction ends.
    const pending = { toServer: clientReader.handOff(), toClient: [Buffer.concat(out), ...upstream.leftover] };
    const stats = tls ? await tls.relayTo(upstream.socket, pending) : await relay(client, upstream.socket, {}, pending);
    cancel.release();
    session.end(stats);
  } catch (err) {
    clearTimeout(timer);
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
