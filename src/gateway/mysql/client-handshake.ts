/**
 * The client's side of a MySQL connection phase, before authentication:
 * its first packet (an SSLRequest or the HandshakeResponse41), TLS, and
 * the login answer. Everything is read on demand and bounded by
 * MYSQL_PRE_AUTH_MAX_PACKET_BYTES, with sequence ids checked from each
 * header before its body is awaited.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import { IamdbError } from '../../errors/index.js';
import {
  AuthPlugin,
  Capability,
  charsetOfCollationId,
  decodeClearPassword,
  isAsciiTransparentCollationId,
  encodeAuthSwitchRequest,
  encodePacket,
  MYSQL_PRE_AUTH_MAX_PACKET_BYTES,
  SSL_REQUEST_LENGTH,
  decodeHandshakeResponse41,
  type HandshakeResponse41,
} from '../../protocol/mysql/index.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import { SocketReader } from '../socket-reader.js';
import { acceptTls } from '../tls-upgrade.js';
import { PacketReader } from './packets.js';

/** The client's login packet and where the rest of its connection phase is read. */
export interface ClientLogin {
  readonly response: HandshakeResponse41;
  /** The client link: the TLS socket after an SSLRequest, else the raw socket. */
  readonly socket: Socket;
  readonly reader: PacketReader;
  readonly tls: boolean;
  /** Sequence id of the gateway's next packet to the client. */
  seq: number;
  /** With `sessions` (native client sessions): the client's session, whose `socket` is `socket`. */
  readonly session?: ClientTlsSession;
}

/**
 * Reads the client's first packet (sequence id 1) from the raw socket.
 * When it is an SSLRequest, `rest` holds whatever followed it (the start of
 * the TLS handshake, which clients send without waiting); otherwise `payload`
 * is the packet and `rest` what came after it.
 */
async function readFirstPacket(socket: Socket): Promise<{ sslRequest: boolean; payload: Buffer; rest: Buffer }> {
  const reader = new SocketReader(socket);
  let buf = Buffer.alloc(0);
  try {
    while (buf.length < 4) buf = Buffer.concat([buf, await reader.read()]);
    const length = buf.readUIntLE(0, 3);
    const seq = buf[3] as number;
    if (seq !== 1) throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: 1 });
    if (length > MYSQL_PRE_AUTH_MAX_PACKET_BYTES) throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length, max: MYSQL_PRE_AUTH_MAX_PACKET_BYTES });
    while (buf.length < 4 + length) buf = Buffer.concat([buf, await reader.read()]);
    const payload = buf.subarray(4, 4 + length);
    const sslRequest = length === SSL_REQUEST_LENGTH && (payload.readUInt32LE(0) & Capability.CLIENT_SSL) !== 0;
    return { sslRequest, payload, rest: Buffer.concat([buf.subarray(4 + length), ...reader.detach()]) };
  } finally {
    reader.detach();
  }
}

/**
 * Reads the client's login up to its HandshakeResponse41, running the TLS
 * handshake in between when the client asks for it. With `sessions` (the
 * native data path's terminator), every client becomes a native session:
 * TLS is terminated there (the bytes after the SSLRequest are the start of
 * its handshake), a clear client is adopted as it is, and the login goes on
 * over the session's plaintext socket.
 */
export async function readClientLogin(raw: Socket, secureContext: SecureContext | undefined, timeoutMs: number, sessions?: ClientTlsTerminator): Promise<ClientLogin> {
  const first = await readFirstPacket(raw);
  if (sessions !== undefined) {
    // MySQL's TLS starts after the proxy's greeting and the client's SSLRequest: nothing to answer.
    const session = first.sslRequest ? await sessions.accept(raw, Buffer.alloc(0), timeoutMs, first.rest) : await sessions.adoptPlain?.(raw, timeoutMs);
    if (session !== undefined) {
      const socket = session.socket;
      if (first.sslRequest) {
        const reader = new PacketReader(socket, MYSQL_PRE_AUTH_MAX_PACKET_BYTES);
        const packet = await reader.next(2);
        return { response: decodeHandshakeResponse41(packet.payload), socket, reader, tls: true, seq: (packet.lastSequenceId + 1) & 0xff, session };
      }
      const reader = new PacketReader(socket, MYSQL_PRE_AUTH_MAX_PACKET_BYTES, first.rest);
      return { response: decodeHandshakeResponse41(first.payload), socket, reader, tls: false, seq: 2, session };
    }
  }
  if (first.sslRequest) {
    // Bytes after the SSLRequest are the TLS handshake: back to the socket for TLS to read.
    if (first.rest.length > 0) raw.unshift(first.rest);
    if (secureContext === undefined) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'TLS without a certificate' });
    const socket = await acceptTls(raw, secureContext, timeoutMs);
    const reader = new PacketReader(socket, MYSQL_PRE_AUTH_MAX_PACKET_BYTES);
    const packet = await reader.next(2);
    return { response: decodeHandshakeResponse41(packet.payload), socket, reader, tls: true, seq: (packet.lastSequenceId + 1) & 0xff };
  }
  const reader = new PacketReader(raw, MYSQL_PRE_AUTH_MAX_PACKET_BYTES, first.rest);
  return { response: decodeHandshakeResponse41(first.payload), socket: raw, reader, tls: false, seq: 2 };
}

/**
 * A clear-text password (an IAM token) over the client's link: the one the
 * client sent up front with mysql_clear_password, or asked for with an
 * AuthSwitchRequest to that plugin. The caller has checked the link is TLS.
 * Shared by instance endpoints (IAM users) and proxy endpoints (IAMAuth REQUIRED).
 */
export async function readClearPassword(login: ClientLogin): Promise<Buffer> {
  const { response } = login;
  if (response.authPluginName === AuthPlugin.MYSQL_CLEAR_PASSWORD && response.authResponse.length > 0) return decodeClearPassword(response.authResponse);
  login.socket.write(encodePacket(encodeAuthSwitchRequest({ pluginName: AuthPlugin.MYSQL_CLEAR_PASSWORD, pluginData: Buffer.alloc(0) }), login.seq));
  const answer = await login.reader.next((login.seq + 1) & 0xff);
  login.seq = (answer.lastSequenceId + 1) & 0xff;
  return decodeClearPassword(answer.payload);
}

/**
 * The character set a login's collation id gives the session (the server's
 * default, which the greeting named, for an id the server does not know),
 * and its name when it is not ASCII-transparent: the server would read
 * statements in it differently from iamdb (gbk, sjis hide ASCII bytes in
 * multi-byte characters), so such a login is refused.
 */
export function clientCharset(collationId: number, serverDefault: number): { readonly id: number; readonly unsafe?: string } {
  const id = charsetOfCollationId(collationId) === undefined ? serverDefault : collationId;
  if (isAsciiTransparentCollationId(id)) return { id };
  return { id, unsafe: charsetOfCollationId(id) ?? `#${id}` };
}
