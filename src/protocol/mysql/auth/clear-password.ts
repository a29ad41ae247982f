/**
 * mysql_clear_password: the password (for iamdb, an IAM token) in clear text
 * followed by one NUL. Only ever accepted over TLS (the gateway's rule).
 *
 * @see https://dev.mysql.com/doc/refman/8.0/en/cleartext-pluggable-authentication.html
 * @see https://mariadb.com/kb/en/authentication-plugin-pam/#mysql_clear_password
 */
import { IamdbError } from '../../../errors/index.js';
import { Limits } from '../constants.js';

const WHAT = 'mysql_clear_password response';

/**
 * The password bytes of a clear-password response: exactly one trailing NUL
 * is stripped (clients that omit it are accepted). At most 8 KiB, and no NUL
 * inside, since the server would read the value as a C string and silently
 * cut it there.
 */
export function decodeClearPassword(payload: Uint8Array): Buffer {
  const end = payload.length > 0 && payload[payload.length - 1] === 0 ? payload.length - 1 : payload.length;
  if (end > Limits.MAX_CLEAR_PASSWORD_BYTES) {
    throw new IamdbError('PROTO_MYSQL_FIELD_TOO_LONG', {
      what: WHAT,
      field: 'password',
      length: end,
      max: Limits.MAX_CLEAR_PASSWORD_BYTES,
    });
  }
  const value = payload.subarray(0, end);
  if (value.includes(0)) {
    throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: WHAT, reason: 'NUL byte inside the password' });
  }
  return Buffer.from(value);
}

/** password + NUL. */
export function encodeClearPassword(password: string | Uint8Array): Buffer {
  const pw = typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
  if (pw.includes(0)) {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: WHAT, reason: 'the password contains a NUL byte' });
  }
  const out = Buffer.alloc(pw.length + 1);
  out.set(pw, 0);
  return out;
}
