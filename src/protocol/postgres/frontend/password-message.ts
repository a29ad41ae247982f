/**
 * PasswordMessage ('p'): a cleartext or MD5-hashed password. For iamdb the
 * cleartext password is the IAM token, so it is decoded straight into a
 * `Secret` and never appears as a plain string field.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PASSWORDMESSAGE
 * @module
 */
import { Secret } from '../../../util/secret.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { FrontendCode } from '../codes.js';

/** A decoded PasswordMessage. */
export interface PasswordMessage {
  readonly type: 'PasswordMessage';
  readonly password: Secret<string>;
}

/** Encodes a PasswordMessage. Throws `PROTO_UNENCODABLE` if the password holds NUL. */
export function encodePasswordMessage(msg: { password: Secret<string> }): Buffer {
  return buildMessage(FrontendCode.PasswordMessage, (w) => w.cstring(msg.password.reveal(), 'password'));
}

/**
 * Decodes a PasswordMessage body. The password must be NUL-terminated and
 * fill the body exactly; bytes are decoded leniently (a token is ASCII, and a
 * bad byte simply fails verification).
 */
export function decodePasswordMessage(r: ByteReader): PasswordMessage {
  const password = new Secret(r.cstring({ what: 'password' }));
  r.expectEnd();
  return { type: 'PasswordMessage', password };
}
