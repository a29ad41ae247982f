/**
 * HandshakeV10: the server's greeting, the first packet on a connection.
 * Decoded when iamdb connects upstream; encoded when iamdb greets a client.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_handshake_v10.html
 * @see https://mariadb.com/kb/en/connection/#initial-handshake-packet
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, Limits } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded or to-be-encoded HandshakeV10. */
export interface HandshakeV10 {
  readonly type: 'HandshakeV10';
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The full scramble (nonce), normally 20 bytes, without the trailing NUL. */
  readonly authPluginData: Buffer;
  /** 32-bit capability flags (lower and upper halves joined). */
  readonly capabilityFlags: number;
  readonly characterSet: number;
  readonly statusFlags: number;
  /** MariaDB extended capabilities; meaningful only when CLIENT_MYSQL (bit 0) is clear. */
  readonly mariadbCapabilities: number;
  /** Default auth plugin, present when CLIENT_PLUGIN_AUTH is set. */
  readonly authPluginName: string | undefined;
}

const WHAT = 'HandshakeV10';

/**
 * Decodes a server greeting. An ERR packet here (0xFF, e.g. "too many
 * connections") is reported as PROTO_MYSQL_UNEXPECTED_PACKET; callers that
 * want its text check for 0xFF first and use decodeErrPacket.
 */
export function decodeHandshakeV10(payload: Uint8Array): HandshakeV10 {
  const r = new PayloadReader(payload, WHAT);
  const version = r.readFixedLengthInteger(1);
  if (version !== 10) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${version.toString(16)}` });
  }
  const serverVersion = r.readNulTerminatedString('server version', Limits.MAX_SERVER_VERSION_BYTES);
  const connectionId = r.readFixedLengthInteger(4);
  const part1 = r.readFixedLengthBytes(8);
  r.skip(1); // filler
  let capabilityFlags = r.readFixedLengthInteger(2);
  let characterSet = 0;
  let statusFlags = 0;
  let mariadbCapabilities = 0;
  let authPluginName: string | undefined;
  let scramble: Buffer = Buffer.from(part1);
  if (!r.atEnd) {
    characterSet = r.readFixedLengthInteger(1);
    statusFlags = r.readFixedLengthInteger(2);
    capabilityFlags = (capabilityFlags + r.readFixedLengthInteger(2) * 0x10000) >>> 0;
    const authDataLength = r.readFixedLengthInteger(1);
    r.skip(6);
    const ext = r.readFixedLengthInteger(4);
    if ((capabilityFlags & Capability.CLIENT_LONG_PASSWORD) === 0) mariadbCapabilities = ext;
    if (capabilityFlags & Capability.CLIENT_SECURE_CONNECTION) {
      const part2Length = Math.max(13, authDataLength - 8);
      let part2 = r.readFixedLengthBytes(part2Length);
      // The part ends with a NUL that is not part of the scramble.
      if (part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
      scramble = Buffer.concat([part1, part2]);
    }
    if (capabilityFlags & Capability.CLIENT_PLUGIN_AUTH) {
      // Some servers (MySQL bug #59453) omit the final NUL: the name then runs to the end.
      const rest = r.readRestOfPacketBytes();
      const nul = rest.indexOf(0);
      const name = nul === -1 ? rest : rest.subarray(0, nul);
      if (name.length > Limits.MAX_PLUGIN_NAME_BYTES) {
        throw new IamdbError('PROTO_MYSQL_FIELD_TOO_LONG', {
          what: WHAT,
          field: 'auth plugin name',
          length: name.length,
          max: Limits.MAX_PLUGIN_NAME_BYTES,
        });
      }
      authPluginName = r.text(name, 'auth plugin name');
    }
  }
  return {
    type: 'HandshakeV10',
    serverVersion,
    connectionId,
    authPluginData: scramble,
    capabilityFlags,
    characterSet,
    statusFlags,
    mariadbCapabilities,
    authPluginName,
  };
}

/**
 * Encodes a greeting. The scramble must be 20 bytes with no NUL byte (clients
 * read its second part as a NUL-terminated string). CLIENT_PROTOCOL_41 and
 * CLIENT_SECURE_CONNECTION are required: iamdb speaks nothing older.
 */
export function encodeHandshakeV10(value: Omit<HandshakeV10, 'type'>): Buffer {
  const caps = value.capabilityFlags >>> 0;
  const bad = (reason: string): never => {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: WHAT, reason });
  };
  if (value.authPluginData.length !== 20 || value.authPluginData.includes(0)) {
    bad('the scramble must be 20 bytes without NUL');
  }
  if (!(caps & Capability.CLIENT_PROTOCOL_41) || !(caps & Capability.CLIENT_SECURE_CONNECTION)) {
    bad('CLIENT_PROTOCOL_41 and CLIENT_SECURE_CONNECTION are required');
  }
  const plugin = caps & Capability.CLIENT_PLUGIN_AUTH;
  if (plugin && value.authPluginName === undefined) bad('CLIENT_PLUGIN_AUTH needs an auth plugin name');
  const w = new PayloadWriter(WHAT, 128);
  w.writeFixedLengthInteger(10, 1)
    .writeNulTerminatedString(value.serverVersion)
    .writeFixedLengthInteger(value.connectionId, 4)
    .writeBytes(value.authPluginData.subarray(0, 8))
    .writeZeros(1)
    .writeFixedLengthInteger(caps & 0xffff, 2)
    .writeFixedLengthInteger(value.characterSet, 1)
    .writeFixedLengthInteger(value.statusFlags, 2)
    .writeFixedLengthInteger(caps >>> 16, 2)
    .writeFixedLengthInteger(plugin ? value.authPluginData.length + 1 : 0, 1)
    .writeZeros(6);
  if (caps & Capability.CLIENT_LONG_PASSWORD) w.writeZeros(4);
  else w.writeFixedLengthInteger(value.mariadbCapabilities >>> 0, 4);
  w.writeBytes(value.authPluginData.subarray(8)).writeZeros(1);
  if (plugin) w.writeNulTerminatedString(value.authPluginName as string);
  return w.finish();
}
