/**
 * AuthSwitchRequest (0xFE, plugin name, plugin data): the server asks the
 * client to authenticate with another plugin. iamdb sends it to switch IAM
 * users to mysql_clear_password, and reads it from upstream servers.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_request.html
 * @see https://mariadb.com/kb/en/connection/#authentication-switch-request
 */
import { IamdbError } from '../../../errors/index.js';
import { Limits, PacketHeader } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded or to-be-encoded AuthSwitchRequest. */
export interface AuthSwitchRequest {
  readonly type: 'AuthSwitchRequest';
  readonly pluginName: string;
  /**
   * Plugin data as sent, usually the 20-byte scramble followed by a NUL that
   * native and sha2 plugins ignore; kept byte-exact.
   */
  readonly pluginData: Buffer;
}

const WHAT = 'AuthSwitchRequest';

/** Decodes an AuthSwitchRequest. The pre-4.1 one-byte form (0xFE alone) is unsupported. */
export function decodeAuthSwitchRequest(payload: Uint8Array): AuthSwitchRequest {
  const r = new PayloadReader(payload, WHAT);
  const header = r.readFixedLengthInteger(1);
  if (header !== PacketHeader.EOF) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${header.toString(16)}` });
  }
  if (r.atEnd) {
    throw new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: WHAT, feature: 'old auth switch (mysql_old_password)' });
  }
  const pluginName = r.readNulTerminatedString('plugin name', Limits.MAX_PLUGIN_NAME_BYTES);
  return { type: 'AuthSwitchRequest', pluginName, pluginData: Buffer.from(r.readRestOfPacketBytes()) };
}

/** Encodes an AuthSwitchRequest. */
export function encodeAuthSwitchRequest(value: Omit<AuthSwitchRequest, 'type'>): Buffer {
  return new PayloadWriter(WHAT)
    .writeFixedLengthInteger(PacketHeader.EOF, 1)
    .writeNulTerminatedString(value.pluginName)
    .writeBytes(value.pluginData)
    .finish();
}
