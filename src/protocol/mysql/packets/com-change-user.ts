/**
 * COM_CHANGE_USER (0x11): decoded only to recognise and reject it; iamdb
 * never lets a session change identity without a new IAM login.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html
 * @see https://mariadb.com/kb/en/com_change_user/
 */
import { IamdbError } from '../../../errors/index.js';
import { Capability, Command, Limits } from '../constants.js';
import { PayloadReader } from '../wire.js';

/** A decoded COM_CHANGE_USER. */
export interface ComChangeUser {
  readonly type: 'ComChangeUser';
  readonly username: string;
  readonly authResponse: Buffer;
  readonly database: string;
  /** Present when the client sent the optional tail. */
  readonly characterSet: number | undefined;
  readonly authPluginName: string | undefined;
}

const WHAT = 'COM_CHANGE_USER';

/** Decodes COM_CHANGE_USER under the session's capabilities; attributes, if any, are skipped. */
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
  if (!r.atEnd) {
    characterSet = r.readFixedLengthInteger(2);
    if (capabilityFlags & Capability.CLIENT_PLUGIN_AUTH && !r.atEnd) {
      authPluginName = r.readNulTerminatedString('auth plugin name', Limits.MAX_PLUGIN_NAME_BYTES);
    }
  }
  return {
    type: 'ComChangeUser',
    username,
    authResponse: Buffer.from(authResponse),
    database,
    characterSet,
    authPluginName,
  };
}
