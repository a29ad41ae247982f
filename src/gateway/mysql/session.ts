/**
 * One MySQL/MariaDB client session through an instance endpoint. The gateway
 * opens the server connection first and greets the client with the server's
 * own version, connection id and scramble, so password users authenticate
 * to the server exactly as they would directly (their scramble is relayed).
 * IAM users (accounts created `IDENTIFIED WITH AWSAuthenticationPlugin`) are
 * switched to mysql_clear_password, only over TLS; their token is verified
 * here and the gateway logs in for them with a credential it manages.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { AuditSink } from '../../audit/index.js';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import {
  AuthPlugin,
  Capability,
  Command,
  PacketHeader,
  PacketFramer,
  SSL_REQUEST_LENGTH,
  decodeAuthSwitchRequest,
  decodeClearPassword,
  decodeErrPacket,
  decodeHandshakeResponse41,
  decodeHandshakeV10,
  encodeAuthSwitchRequest,
  errPacketFor,
  encodeHandshakeResponse41,
  encodeHandshakeV10,
  encodePacket,
  encodeSslRequest,
  nativePasswordHash,
  recognizeAccountStatement,
  scrambleNativePassword,
  type HandshakeResponse41,
  type HandshakeV10,
  type MysqlPacket,
  type ErrPacket,
} from '../../protocol/mysql/index.js';
import type { DbInstance, ManagedCredentials } from '../../rds/index.js';
import { Secret } from '../../util/index.js';
import type { IamLogin } from '../iam-login.js';
import { relay } from '../relay.js';
import { LoginFailed, SessionAudit, asAuditReason, connectTarget, identityFields } from '../session-common.js';
import { acceptTls, connectUpstreamTls } from '../tls-upgrade.js';
import type { Account, MysqlIamUsers } from './iam-users.js';
import { PacketReader } from './packets.js';
import { SocketReader } from '../socket-reader.js';

export interface MysqlSessionDeps {
  readonly instance: DbInstance;
  readonly logger: Logger;
  readonly audit: AuditSink;
  readonly iamLogin: IamLogin;
  readonly credentials: ManagedCredentials;
  readonly iamUsers: MysqlIamUsers;
  readonly secureContext: () => SecureContext;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
}

/** Capabilities the gateway never offers: compression (not relayed) and LOCAL INFILE (rogue-server file reads). */
const STRIPPED_CAPS = Capability.CLIENT_COMPRESS | Capability.CLIENT_LOCAL_FILES | Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM;


function accessDenied(user: string, host: string, usingPassword: boolean, seq: number): Buffer {
  return encodePacket(
    errPacketFor('ER_ACCESS_DENIED_ERROR', `Access denied for user '${user}'@'${host}' (using password: ${usingPassword ? 'YES' : 'NO'})`),
    seq,
  );
}

/**
 * Sends the first HandshakeResponse41 to the server and works through its
 * answers until OK (returned): ERR becomes the LoginFailed `refused` makes;
 * anything else (AuthSwitchRequest, AuthMoreData) is answered by `challenge`.
 * Sequence ids continue the server's count.
 */
async function upstreamHandshake(
  upstream: Socket,
  upReader: PacketReader,
  firstSeq: number,
  first: Buffer,
  handlers: { refused: (e: ErrPacket, payload: Buffer) => LoginFailed; challenge: (reply: MysqlPacket) => Promise<Buffer> },
): Promise<Buffer> {
  let upSeq = firstSeq;
  upstream.write(encodePacket(first, upSeq++));
  for (;;) {
    const reply = await upReader.next();
    upSeq = (reply.lastSequenceId + 1) & 0xff;
    if (reply.payload[0] === PacketHeader.OK) return reply.payload;
    if (reply.payload[0] === PacketHeader.ERR) throw handlers.refused(decodeErrPacket(reply.payload), reply.payload);
    upstream.write(encodePacket(await handlers.challenge(reply), upSeq++));
  }
}

/**
 * Reads the client's first packet from the raw socket. When it is an
 * SSLRequest, `rest` holds whatever followed it (the start of the TLS
 * handshake); otherwise `rest` holds every byte read, packet included.
 */
async function readFirstClientPacket(socket: Socket): Promise<{ sslRequest: boolean; rest: Buffer }> {
  const reader = new SocketReader(socket);
  let buf = Buffer.alloc(0);
  try {
    while (buf.length < 4) buf = Buffer.concat([buf, await reader.read()]);
    const length = buf.readUIntLE(0, 3);
    if (length === SSL_REQUEST_LENGTH) {
      while (buf.length < 4 + length) buf = Buffer.concat([buf, await reader.read()]);
      if ((buf.readUInt32LE(4) & Capability.CLIENT_SSL) !== 0) {
        socket.pause();
        return { sslRequest: true, rest: Buffer.concat([buf.subarray(4 + length), ...reader.detach()]) };
      }
    }
    return { sslRequest: false, rest: Buffer.concat([buf, ...reader.detach()]) };
  } finally {
    reader.detach();
  }
}

/** Handles one client connection on a MySQL instance endpoint. */
export async function handleMysqlSession(raw: Socket, deps: MysqlSessionDeps): Promise<void> {
  const { instance } = deps;
  const session = new SessionAudit(deps.audit, 'mysql', instance, raw);
  const { sourceIp } = session;
  let client: Socket = raw;
  let user = '';
  let upstream: Socket | undefined;
  const timer = setTimeout(() => {
    if (user !== '') session.auth('deny', 'LoginTimeout', { detail: 'login did not complete in time' });
    client.destroy();
    raw.destroy();
    upstream?.destroy();
  }, deps.loginTimeoutMs);

  try {
    // ---- The server first: its greeting becomes ours. ----
    upstream = await connectTarget(instance, deps.loginTimeoutMs);
    let upReader = new PacketReader(upstream, deps.maxMessageBytes);
    const greetingPacket = await upReader.next();
    if (greetingPacket.payload[0] === PacketHeader.ERR) {
      // e.g. "Too many connections": the client sees the server's own refusal.
      const err = decodeErrPacket(greetingPacket.payload);
      throw new LoginFailed('UpstreamUnavailable', encodePacket(greetingPacket.payload, 0), `${err.errno}: ${err.message}`);
    }
    const greeting: HandshakeV10 = decodeHandshakeV10(greetingPacket.payload);
    let upSeq = 1;
    if (instance.targetTls.mode !== 'disable' && (greeting.capabilityFlags & Capability.CLIENT_SSL) === 0) {
      throw new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: `${instance.target.host}:${instance.target.port}`, reason: 'the server does not offer TLS' });
    }

    const offered = ((greeting.capabilityFlags & ~STRIPPED_CAPS) | Capability.CLIENT_SSL) >>> 0;
    client.write(encodePacket(encodeHandshakeV10({ ...greeting, capabilityFlags: offered }), 0));

    // ---- The client's answer: SSLRequest then HandshakeResponse41, or the response alone. ----
    // MySQL clients start TLS right after SSLRequest without waiting for an
    // answer, so bytes after it are the TLS handshake: they go back to the
    // socket for TLS to read, never to the MySQL parser.
    const first = await readFirstClientPacket(raw);
    let reader: PacketReader;
    let packet: MysqlPacket;
    if (first.sslRequest) {
      if (first.rest.length > 0) raw.unshift(first.rest);
      client = await acceptTls(raw, deps.secureContext(), deps.loginTimeoutMs);
      session.tls = true;
      reader = new PacketReader(client, deps.maxMessageBytes);
      packet = await reader.next();
    } else {
      reader = new PacketReader(client, deps.maxMessageBytes, first.rest);
      packet = await reader.next();
    }
    const response: HandshakeResponse41 = decodeHandshakeResponse41(packet.payload);
    let clientSeq = (packet.lastSequenceId + 1) & 0xff;
    user = response.username;
    session.dbUser = user;
    session.database = response.database;
    const isIam = deps.iamUsers.isIamUser(instance.id, user);
    session.method = isIam ? 'iam' : 'password';

    // Capabilities toward the server: what both sides speak, TLS only if that link has it.
    const upCaps =
      ((response.capabilityFlags & greeting.capabilityFlags & ~STRIPPED_CAPS & ~Capability.CLIENT_SSL) |
        (instance.targetTls.mode !== 'disable' ? Capability.CLIENT_SSL : 0)) >>>
      0;
    const upMariadbCaps = response.mariadbCapabilities & greeting.mariadbCapabilities;
    if (instance.targetTls.mode !== 'disable') {
      // The SSLRequest carries the same capabilities as the response that follows it.
      upReader.detach();
      upstream.write(
        encodePacket(
          encodeSslRequest({ capabilityFlags: upCaps, maxPacketSize: response.maxPacketSize, characterSet: response.characterSet, mariadbCapabilities: upMariadbCaps }),
          upSeq++,
        ),
      );
      upstream = (await connectUpstreamTls(upstream, instance.target, instance.targetTls, deps.loginTimeoutMs)).socket;
      upReader = new PacketReader(upstream, deps.maxMessageBytes);
    }

    let who: Record<string, unknown> = {};
    let okPayload: Buffer;

    if (isIam) {
      if (!instance.iamDatabaseAuthentication) throw new LoginFailed('IamAuthDisabled', accessDenied(user, sourceIp, true, clientSeq));
      if (!session.tls) throw new LoginFailed('TlsRequired', accessDenied(user, sourceIp, response.authResponse.length > 0, clientSeq));
      let tokenBytes: Buffer;
      if (response.authPluginName === AuthPlugin.MYSQL_CLEAR_PASSWORD && response.authResponse.length > 0) {
        tokenBytes = decodeClearPassword(response.authResponse);
      } else {
        client.write(encodePacket(encodeAuthSwitchRequest({ pluginName: AuthPlugin.MYSQL_CLEAR_PASSWORD, pluginData: Buffer.alloc(0) }), clientSeq));
        const answer = await reader.next();
        clientSeq = (answer.lastSequenceId + 1) & 0xff;
        tokenBytes = decodeClearPassword(answer.payload);
      }
      const token = new Secret(tokenBytes.toString('utf8'));
      const outcome = await deps.iamLogin.authenticate({ instance, token, dbUser: user, sourceIp });
      who = identityFields(outcome);
      if (!outcome.ok) throw new LoginFailed(asAuditReason(outcome.reason, 'InternalError'), accessDenied(user, sourceIp, true, clientSeq), outcome.detail, who);
      const password = await deps.credentials.get(instance.id, user);
      if (password === undefined) {
        throw new LoginFailed('UpstreamAuthFailed', accessDenied(user, sourceIp, true, clientSeq), 'no managed credential for this IAM user; create it through the gateway');
      }
      const first = encodeHandshakeResponse41({
        capabilityFlags: (upCaps | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_SECURE_CONNECTION) >>> 0,
        maxPacketSize: response.maxPacketSize,
        characterSet: response.characterSet,
        mariadbCapabilities: upMariadbCaps,
        username: user,
        authResponse: scrambleNativePassword(password.reveal(), greeting.authPluginData),
        database: (upCaps & Capability.CLIENT_CONNECT_WITH_DB) !== 0 ? response.database : undefined,
        authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD,
        connectAttributes: (upCaps & Capability.CLIENT_CONNECT_ATTRS) !== 0 ? response.connectAttributes : undefined,
      });
      const denied = (detail: string): LoginFailed => new LoginFailed('UpstreamAuthFailed', accessDenied(user, sourceIp, true, clientSeq), detail);
      okPayload = await upstreamHandshake(upstream, upReader, upSeq, first, {
        refused: (e) => denied(`${e.errno}: ${e.message}`),
        challenge: async (reply) => {
          if (reply.payload[0] !== PacketHeader.EOF) throw denied('unexpected packet from the server during login');
          const sw = decodeAuthSwitchRequest(reply.payload);
          if (sw.pluginName !== AuthPlugin.MYSQL_NATIVE_PASSWORD) throw denied(`server asked for ${sw.pluginName}`);
          return scrambleNativePassword(password.reveal(), sw.pluginData.subarray(0, 20));
        },
      });
    } else {
      // Password users: relay the exchange, renumbering packets for each side.
      const first = encodeHandshakeResponse41({
        ...response,
        capabilityFlags: upCaps,
        mariadbCapabilities: upMariadbCaps,
        database: (upCaps & Capability.CLIENT_CONNECT_WITH_DB) !== 0 ? response.database : undefined,
        authPluginName: (upCaps & Capability.CLIENT_PLUGIN_AUTH) !== 0 ? response.authPluginName : undefined,
        connectAttributes: (upCaps & Capability.CLIENT_CONNECT_ATTRS) !== 0 ? response.connectAttributes : undefined,
      });
      okPayload = await upstreamHandshake(upstream, upReader, upSeq, first, {
        refused: (e, payload) =>
          new LoginFailed(
            'UpstreamAuthFailed',
            e.errno === 1045 ? accessDenied(user, sourceIp, response.authResponse.length > 0, clientSeq) : encodePacket(payload, clientSeq),
            `${e.errno}: ${e.message}`,
          ),
        challenge: async (reply) => {
          if (reply.payload[0] === PacketHeader.EOF && decodeAuthSwitchRequest(reply.payload).pluginName === AuthPlugin.MYSQL_CLEAR_PASSWORD && !session.tls) {
            // Never let a password cross the client link in clear.
            throw new LoginFailed('TlsRequired', accessDenied(user, sourceIp, true, clientSeq), 'the server asked for a clear-text password on a non-TLS client link');
          }
          // AuthSwitchRequest or AuthMoreData: pass to the client, its answer to the server.
          client.write(encodePacket(reply.payload, clientSeq));
          const answer = await reader.next();
          clientSeq = (answer.lastSequenceId + 1) & 0xff;
          return answer.payload;
        },
      });
    }

    if (reader.pendingBytes > 0 || upReader.pendingBytes > 0) {
      throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'pipelining before the login completes' });
    }
    reader.detach();
    upReader.detach();
    client.write(encodePacket(okPayload, clientSeq));
    clearTimeout(timer);
    session.auth('allow', isIam ? 'Allowed' : 'PasswordLogin', who);

    const stats = await relayCommands(client, upstream, deps, session);
    session.end(stats);
  } catch (err) {
    clearTimeout(timer);
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
    upstream?.destroy();
  }
}

interface PendingStatement {
  readonly apply: () => Promise<void>;
}

/**
 * The command phase: bytes flow through untouched except for commands the
 * gateway must see. Client bytes are framed so that a whole command is
 * forwarded (or rewritten) at once; server bytes are only framed while the
 * answer to an intercepted account statement is awaited.
 */
function relayCommands(
  client: Socket,
  server: Socket,
  deps: MysqlSessionDeps,
  session: SessionAudit,
): ReturnType<typeof relay> {
  const clientFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
  let serverFramer: PacketFramer | undefined;
  let pending: PendingStatement | undefined;
  const { instance } = deps;

  const handleCommand = (packet: MysqlPacket, toServer: (b: Buffer) => void): boolean => {
    const command = packet.payload[0];
    if (command === Command.COM_CHANGE_USER) {
      session.auth('deny', 'ChangeUserRefused', { detail: 'COM_CHANGE_USER refused after login' });
      client.end(
        encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `This version of ${serverName(instance)} doesn't yet support 'COM_CHANGE_USER through the iamdb gateway'`), 1),
      );
      return false;
    }
    if (command === Command.COM_QUERY && packet.frames === 1 && mayBeAccountStatement(packet.payload)) {
      const sql = packet.payload.subarray(1).toString('utf8');
      const st = recognizeAccountStatement(sql);
      if (st.kind === 'create-iam-user' || st.kind === 'alter-iam-user') {
        if (st.multiStatement) {
          client.write(encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `This version of ${serverName(instance)} doesn't yet support 'AWSAuthenticationPlugin in a multi-statement query'`), 1));
          return true;
        }
        const accounts: Account[] = st.accounts.map((a) => ({ user: a.user, host: a.host }));
        // Hold the client until the statement is rewritten and answered.
        client.pause();
        void (async () => {
          const hashes = new Map<string, string>();
          for (const a of accounts) {
            // The statement itself installs the credential (as a hash), so there is nothing to apply first.
            const pw = await deps.credentials.getOrCreate(instance.id, a.user, async () => undefined);
            hashes.set(a.user, nativePasswordHash(pw.reveal()));
          }
          const rewritten = st.rewrite!((a) => hashes.get(a.user));
          pending = { apply: () => deps.iamUsers.add(instance.id, accounts) };
          serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
          toServer(encodePacket(Buffer.concat([Buffer.from([Command.COM_QUERY]), Buffer.from(rewritten, 'utf8')]), 0));
        })().catch((err: unknown) => {
          deps.logger.error({ err: String(err) }, 'cannot rewrite an IAM account statement');
          client.write(encodePacket(errPacketFor('ER_UNKNOWN_ERROR', 'Unknown error'), 1));
          client.resume();
        });
        return true;
      }
      if (st.kind === 'drop-user' || st.kind === 'set-password-user') {
        const accounts: Account[] = st.accounts.map((a) => ({ user: a.user, host: a.host }));
        pending = { apply: () => deps.iamUsers.remove(instance.id, accounts) };
        serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
      } else if (st.kind === 'rename-user' && st.renames) {
        const renames = st.renames;
        pending = { apply: () => deps.iamUsers.rename(instance.id, renames) };
        serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
      }
    }
    toServer(encodePacket(packet.payload, packet.sequenceId));
    return true;
  };

  return relay(client, server, {
    onClientChunk: (chunk, toServer) => {
      for (const packet of clientFramer.push(chunk)) {
        if (packet.sequenceId === 0) {
          if (!handleCommand(packet, toServer)) return false;
        } else {
          // Continuation of a command (e.g. LOAD DATA, long data): pass through.
          toServer(encodePacket(packet.payload, packet.sequenceId));
        }
      }
      return 'handled';
    },
    onServerChunk: (chunk) => {
      if (serverFramer !== undefined && pending !== undefined) {
        for (const packet of serverFramer.push(chunk)) {
          const p = pending;
          pending = undefined;
          serverFramer = undefined;
          if (packet.payload[0] === PacketHeader.OK) {
            p.apply().catch((err: unknown) => deps.logger.error({ err: String(err) }, 'cannot record an IAM account change'));
          }
          client.resume();
          break;
        }
      }
      return true;
    },
  });
}

/** The server's name as its own messages say it. */
function serverName(instance: DbInstance): string {
  return instance.engineName === 'mysql' ? 'MySQL' : 'MariaDB';
}

const ACCOUNT_WORDS = /\b(?:user|password)\b/i;

/**
 * Cheap first look so ordinary queries never reach the statement
 * recognizer: every account statement names USER or PASSWORD, whatever
 * comments come before it.
 */
function mayBeAccountStatement(payload: Buffer): boolean {
  return ACCOUNT_WORDS.test(payload.subarray(1, Math.min(payload.length, 64 * 1024)).toString('latin1'));
}
