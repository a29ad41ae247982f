/**
 * HandshakeResponse41: the client's login packet (user, auth response,
 * database, plugin, connection attributes). Also the dispatcher that tells it
 * from an SSLRequest, which shares its first 32 bytes.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_response.html
 * @see https://mariadb.com/kb/en/connection/#handshake-response-packet
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, Limits } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';
import {
  SSL_REQUEST_LENGTH,
  decodeSslRequest,
  readClientHandshakePrefix,
  writeClientHandshakePrefix,
  type SslRequest,
} from './ssl-request.js';

/** A decoded or to-be-encoded HandshakeResponse41. */
export interface HandshakeResponse41 {
  readonly type: 'HandshakeResponse41';
  readonly capabilityFlags: number;
  readonly maxPacketSize: number;
  readonly characterSet: number;
  readonly mariadbCapabilities: number;
  /** At most Limits.MAX_USER_NAME_BYTES bytes of UTF-8. */
  readonly username: string;
  /** Scramble response (or clear text, for clients that start with mysql_clear_password). */
  readonly authResponse: Buffer;
  /** Present exactly when CLIENT_CONNECT_WITH_DB is set. */
  readonly database: string | undefined;
  /** Present when CLIENT_PLUGIN_AUTH is set and the client named a plugin. */
  readonly authPluginName: string | undefined;
  /** Present when CLIENT_CONNECT_ATTRS is set and the client sent attributes; in wire order. */
  readonly connectAttributes: ReadonlyArray<readonly [string, string]> | undefined;
}

const WHAT = 'HandshakeResponse41';

/**
 * Decodes a HandshakeResponse41. Every field is bounded (Limits); fields the
 * capabilities announce must be present, except the plugin name and the
 * attributes, which servers also treat as optional at the end of the packet.
 * Bytes after the last known field are ignored, as both servers do.
 */
export function decodeHandshakeResponse41(payload: Uint8Array): HandshakeResponse41 {
  const r = new PayloadReader(payload, WHAT);
  const prefix = readClientHandshakePrefix(r);
  const caps = prefix.capabilityFlags;
  if (!(caps & Capability.CLIENT_PROTOCOL_41)) {
    throw new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: WHAT, feature: 'protocol 3.20 (no CLIENT_PROTOCOL_41)' });
  }
  const username = r.readNulTerminatedString('user name', Limits.MAX_USER_NAME_BYTES);
  let authResponse: Uint8Array;
  if (caps & Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    authResponse = r.readLengthEncodedBytes('auth response', Limits.MAX_AUTH_RESPONSE_BYTES);
  } else if (caps & Capability.CLIENT_SECURE_CONNECTION) {
    authResponse = r.readFixedLengthBytes(r.readFixedLengthInteger(1));
  } else {
    authResponse = r.readNulTerminatedBytes('auth response', Limits.MAX_AUTH_RESPONSE_BYTES);
  }
  let database: string | undefined;
  if (caps & Capability.CLIENT_CONNECT_WITH_DB) {
    database = r.readNulTerminatedString('database', Limits.MAX_DATABASE_NAME_BYTES);
  }
  let authPluginName: string | undefined;
  if (caps & Capability.CLIENT_PLUGIN_AUTH && !r.atEnd) {
    authPluginName = r.readNulTerminatedString('auth plugin name', Limits.MAX_PLUGIN_NAME_BYTES);
  }
  let connectAttributes: [string, string][] | undefined;
  if (caps & Capability.CLIENT_CONNECT_ATTRS && !r.atEnd) {
    const block = r.readLengthEncodedBytes('connect attributes', Limits.MAX_CONNECT_ATTRS_BYTES);
    const a = new PayloadReader(block, `${WHAT} connect attributes`);
    connectAttributes = [];
    while (!a.atEnd) {
      const key = a.readLengthEncodedString('attribute name');
      const value = a.readLengthEncodedString('attribute value');
      connectAttributes.push([key, value]);
    }
  }
  return {
    type: 'HandshakeResponse41',
    ...prefix,
    username,
    authResponse: Buffer.from(authResponse),
    database,
    authPluginName,
    connectAttributes,
  };
}

/**
 * Encodes a HandshakeResponse41. The auth response is written length-encoded
 * under CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, else with a 1-byte length
 * (CLIENT_SECURE_CONNECTION, at most 255 bytes), else NUL-terminated.
 */
export function encodeHandshakeResponse41(value: Omit<HandshakeResponse41, 'type'>): Buffer {
  const caps = value.capabilityFlags >>> 0;
  const bad = (reason: string): never => {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: WHAT, reason });
  };
  if (!(caps & Capability.CLIENT_PROTOCOL_41)) bad('CLIENT_PROTOCOL_41 is required');
  if ((caps & Capability.CLIENT_CONNECT_WITH_DB) !== 0 !== (value.database !== undefined)) {
    bad('database must be given exactly when CLIENT_CONNECT_WITH_DB is set');
  }
  const w = new PayloadWriter(WHAT, 128);
  writeClientHandshakePrefix(w, value);
  w.writeNulTerminatedString(value.username);
  if (caps & Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) {
    w.writeLengthEncodedString(value.authResponse);
  } else if (caps & Capability.CLIENT_SECURE_CONNECTION) {
    if (value.authResponse.length > 255) bad('auth response longer than 255 bytes needs CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA');
    w.writeFixedLengthInteger(value.authResponse.length, 1).writeBytes(value.authResponse);
  } else {
    w.writeNulTerminatedString(value.authResponse);
  }
  if (value.database !== undefined) w.writeNulTerminatedString(value.database);
  if (caps & Capability.CLIENT_PLUGIN_AUTH) {
    if (value.authPluginName !== undefined) w.writeNulTerminatedString(value.authPluginName);
    else if (value.connectAttributes !== undefined) bad('connectAttributes after CLIENT_PLUGIN_AUTH need a plugin name');
  } else if (value.authPluginName !== undefined) bad('authPluginName needs CLIENT_PLUGIN_AUTH');
  if (value.connectAttributes !== undefined) {
    if (!(caps & Capability.CLIENT_CONNECT_ATTRS)) bad('connectAttributes need CLIENT_CONNECT_ATTRS');
    const a = new PayloadWriter(`${WHAT} connect attributes`);
    for (const [k, v] of value.connectAttributes) a.writeLengthEncodedString(k).writeLengthEncodedString(v);
    w.writeLengthEncodedString(a.finish());
  }
  return w.finish();
}

/**
 * The client's first packet after the greeting (or its second, after TLS):
 * an SSLRequest when it is exactly 32 bytes with CLIENT_SSL, else a
 * HandshakeResponse41. A response shorter than 32 bytes is truncated.
 */
export function decodeClientHandshake(payload: Uint8Array): SslRequest | HandshakeResponse41 {
  if (payload.length === SSL_REQUEST_LENGTH && payload.length >= 4) {
    const caps = new PayloadReader(payload, WHAT).readFixedLengthInteger(4);
    if (caps & Capability.CLIENT_SSL) return decodeSslRequest(payload);
  }
  return decodeHandshakeResponse41(payload);
}
