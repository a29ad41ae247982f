/**
 * COM_CHANGE_USER (0x11): a new authentication on an open connection. The
 * gateway decodes the client's, authenticates the new user itself (a token)
 * or has the server do it (a password), and encodes its own toward the
 * server.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html
 * @see https://mariadb.com/kb/en/com_change_user/
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, Command, Limits } from '../constants.js';
import { PayloadReader, PayloadWriter } from '../wire.js';

/** A decoded COM_CHANGE_USER. */
export interface ComChangeUser {
  readonly type: 'ComChangeUser';
  readonly username: string;
  readonly authResponse: Buffer;
  readonly database: string;
  /** Present when the client sent the optional tail. */
  readonly characterSet: number | undefined;
  readonly authPluginName: string | undefined;
  /** The connection attributes as sent (their length-encoded block), passed on unread. */
  readonly connectAttributes: Buffer | undefined;
}

const WHAT = 'COM_CHANGE_USER';

/** Decodes COM_CHANGE_USER under the session's capabilities. */
export function decodeComChangeUser(payload: Uint8Array, capabilityFlags: number): ComChangeUser {
  const r = new PayloadReader(payload, WHAT);
  const command = r.readFixedLengthInteger(1);
  if (command !== Command.COM_CHANGE_USER) {
    throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', { what: WHAT, header: `0x${command.toString(16)}` });
  }
  const username = r.readNulTerminatedString('user name', Limits.MAX_USER_NAME_BYTES);
  const authResponse =
    capabilityFlags & Capability.CLIENT_SECURE_CONNECTION
      ? r.readFixedLengthBytes(r.readFixedLengthInteger(1))
      : r.readNulTerminatedBytes('auth response', Limits.MAX_AUTH_RESPONSE_BYTES);
  const database = r.readNulTerminatedString('database', Limits.MAX_DATABASE_NAME_BYTES);
  let characterSet: number | undefined;
  let authPluginName: string | undefined;
  let connectAttributes: Buffer | undefined;
  if (!r.atEnd) {
    characterSet = r.readFixedLengthInteger(2);
    if (capabilityFlags & Capability.CLIENT_PLUGIN_AUTH && !r.atEnd) {
      authPluginName = r.readNulTerminatedString('auth plugin name', Limits.MAX_PLUGIN_NAME_BYTES);
    }
    if (capabilityFlags & Capability.CLIENT_CONNECT_ATTRS && !r.atEnd) {
      const block = r.readLengthEncodedBytes('connect attributes', Limits.MAX_CONNECT_ATTRS_BYTES);
      const w = new PayloadWriter(`${WHAT} connect attributes`, block.length + 9);
      connectAttributes = w.writeLengthEncodedString(block).finish();
    }
  }
  return {
    type: 'ComChangeUser',
    username,
    authResponse: Buffer.from(authResponse),
    database,
    characterSet,
    authPluginName,
    connectAttributes,
  };
}

/**
 * Encodes COM_CHANGE_USER under the session's capabilities (which must
 * include CLIENT_SECURE_CONNECTION and CLIENT_PROTOCOL_41, as every current
 * client's do): the auth response with a 1-byte length, then the character
 * set, the plugin name and the attributes when the capabilities allow them.
 */
export function encodeComChangeUser(value: Omit<ComChangeUser, 'type'>, capabilityFlags: number): Buffer {
  const bad = (reason: string): never => {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: WHAT, reason });
  };
  if (!(capabilityFlags & Capability.CLIENT_SECURE_CONNECTION)) bad('CLIENT_SECURE_CONNECTION is required');
  if (value.authResponse.length > 255) bad('auth response longer than 255 bytes');
  const w = new PayloadWriter(WHAT, 128);
  w.writeFixedLengthInteger(Command.COM_CHANGE_USER, 1).writeNulTerminatedString(value.username);
  w.writeFixedLengthInteger(value.authResponse.length, 1).writeBytes(value.authResponse);
  w.writeNulTerminatedString(value.database);
  w.writeFixedLengthInteger(value.characterSet ?? 0, 2);
  if (capabilityFlags & Capability.CLIENT_PLUGIN_AUTH) w.writeNulTerminatedString(value.authPluginName ?? '');
  if (capabilityFlags & Capability.CLIENT_CONNECT_ATTRS && value.connectAttributes !== undefined) w.writeBytes(value.connectAttributes);
  return w.finish();
}

/** The name/value pairs of a connection-attributes block as COM_CHANGE_USER carries it (length-encoded). */
export function decodeConnectAttributesBlock(block: Buffer): Array<readonly [string, string]> {
  const outer = new PayloadReader(block, `${WHAT} connect attributes`);
  const a = new PayloadReader(outer.readLengthEncodedBytes('connect attributes', Limits.MAX_CONNECT_ATTRS_BYTES), `${WHAT} connect attributes`);
  const pairs: Array<readonly [string, string]> = [];
  while (!a.atEnd) pairs.push([a.readLengthEncodedString('attribute name'), a.readLengthEncodedString('attribute value')] as const);
  return pairs;
}

/** A connection-attributes block (length-encoded) for COM_CHANGE_USER. */
export function encodeConnectAttributesBlock(pairs: ReadonlyArray<readonly [string, string]>): Buffer {
  const a = new PayloadWriter(`${WHAT} connect attributes`);
  for (const [k, v] of pairs) a.writeLengthEncodedString(k).writeLengthEncodedString(v);
  const block = a.finish();
  return new PayloadWriter(`${WHAT} connect attributes`, block.length + 9).writeLengthEncodedString(block).finish();
}
