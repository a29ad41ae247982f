/**
 * PostgreSQL's MD5 password method, both halves: the answer a client (the
 * gateway logging in to a server) sends, 'md5' + md5hex(md5hex(password +
 * user) + salt), and the check a server (RDS Proxy's POSTGRES_MD5 client
 * logins, holding the cleartext from the secret) makes of it, in constant
 * time. MD5 is weak; PostgreSQL and RDS Proxy keep it for old clients.
 *
 * @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { Secret, constantTimeEqualStrings } from '../../util/secret.js';

/** AuthenticationMD5Password's salt length. */
export const MD5_SALT_BYTES = 4;

/** A fresh salt for AuthenticationMD5Password. */
export function createMd5Salt(): Buffer {
  return randomBytes(MD5_SALT_BYTES);
}

/**
 * The client's answer to AuthenticationMD5Password.
 *
 * @example md5Password(new Secret('pw'), 'alice', salt).reveal() // 'md5' + 32 hex digits
 */
export function md5Password(password: Secret<string>, user: string, salt: Buffer): Secret<string> {
  const inner = createHash('md5').update(password.reveal(), 'utf8').update(user, 'utf8').digest('hex');
  const outer = createHash('md5').update(inner, 'latin1').update(salt).digest('hex');
  return new Secret(`md5${outer}`);
}

/** The server's check of a PasswordMessage answering `salt`, for `user` whose password is `password`. */
export function verifyMd5Password(answer: Secret<string>, user: string, password: Secret<string>, salt: Buffer): boolean {
  return constantTimeEqualStrings(answer.reveal(), md5Password(password, user, salt).reveal());
}
