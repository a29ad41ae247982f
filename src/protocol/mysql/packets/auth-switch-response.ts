/**
 * AuthSwitchResponse: the client's answer to an AuthSwitchRequest, raw
 * plugin data with no header (for mysql_clear_password: password + NUL).
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_packets_protocol_auth_switch_response.html
 */
import { IamdbError } from '../../../errors/index.js';

/** A decoded AuthSwitchResponse. */
export interface AuthSwitchResponse {
  readonly type: 'AuthSwitchResponse';
  readonly data: Buffer;
}

/** Wraps the payload, refusing more than `max` bytes (default 16 KiB: scrambles or a token). */
export function decodeAuthSwitchResponse(payload: Uint8Array, max = 16 * 1024): AuthSwitchResponse {
  if (payload.length > max) {
    throw new IamdbError('PROTO_MYSQL_FIELD_TOO_LONG', {
      what: 'AuthSwitchResponse',
      field: 'auth data',
      length: payload.length,
      max,
    });
  }
  return { type: 'AuthSwitchResponse', data: Buffer.from(payload) };
}

/** The payload is the data itself. */
export function encodeAuthSwitchResponse(value: { readonly data: Uint8Array }): Buffer {
  return Buffer.from(value.data);
}
