/**
 * Authentication ('R') messages: one type byte, an Int32 sub-code, then a
 * sub-code specific payload.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-AUTHENTICATIONOK
 * @see https://www.postgresql.org/docs/current/sasl-authentication.html
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { AuthCode, BackendCode } from '../codes.js';

/** Most SASL mechanisms a server may list (PostgreSQL lists at most two). */
export const MAX_SASL_MECHANISMS = 16;
/** Longest mechanism name accepted. */
export const MAX_SASL_MECHANISM_BYTES = 64;

/** Login succeeded. */
export interface AuthenticationOk {
  readonly type: 'AuthenticationOk';
}
/** Server wants the password in cleartext. */
export interface AuthenticationCleartextPassword {
  readonly type: 'AuthenticationCleartextPassword';
}
/** Server wants an MD5-hashed password, salted with these 4 bytes. */
export interface AuthenticationMD5Password {
  readonly type: 'AuthenticationMD5Password';
  readonly salt: Buffer;
}
/** Server starts SASL and lists the mechanisms it accepts, in preference order. */
export interface AuthenticationSASL {
  readonly type: 'AuthenticationSASL';
  readonly mechanisms: readonly string[];
}
/** A SASL challenge (SCRAM server-first-message). */
export interface AuthenticationSASLContinue {
  readonly type: 'AuthenticationSASLContinue';
  readonly data: Buffer;
}
/** SASL outcome data (SCRAM server-final-message). */
export interface AuthenticationSASLFinal {
  readonly type: 'AuthenticationSASLFinal';
  readonly data: Buffer;
}
/** Kerberos, GSSAPI or SSPI: recognised so they can be refused by name. */
export interface AuthenticationUnsupported {
  readonly type: 'AuthenticationUnsupported';
  readonly code: number;
  readonly data: Buffer;
}

/** Any Authentication message. */
export type AuthenticationMessage =
  | AuthenticationOk
  | AuthenticationCleartextPassword
  | AuthenticationMD5Password
  | AuthenticationSASL
  | AuthenticationSASLContinue
  | AuthenticationSASLFinal
  | AuthenticationUnsupported;

/** Human name of an authentication sub-code, for errors. */
export function authMethodName(code: number): string {
  switch (code) {
    case AuthCode.KerberosV5:
      return 'Kerberos V5';
    case AuthCode.GSS:
    case AuthCode.GSSContinue:
      return 'GSSAPI';
    case AuthCode.SSPI:
      return 'SSPI';
    default:
      return `unknown (${code})`;
  }
}

/**
 * Encodes any Authentication message.
 *
 * @example
 *   encodeAuthentication({ type: 'AuthenticationCleartextPassword' });
 */
export function encodeAuthentication(msg: AuthenticationMessage): Buffer {
  return buildMessage(BackendCode.Authentication, (w) => {
    switch (msg.type) {
      case 'AuthenticationOk':
        w.int32(AuthCode.Ok);
        return;
      case 'AuthenticationCleartextPassword':
        w.int32(AuthCode.CleartextPassword);
        return;
      case 'AuthenticationMD5Password':
        if (msg.salt.length !== 4) {
          throw new IamdbError('PROTO_UNENCODABLE', { what: 'AuthenticationMD5Password', reason: 'salt must be 4 bytes' });
        }
        w.int32(AuthCode.MD5Password).bytes(msg.salt);
        return;
      case 'AuthenticationSASL':
        w.int32(AuthCode.SASL);
        for (const m of msg.mechanisms) {
          if (m === '') throw new IamdbError('PROTO_UNENCODABLE', { what: 'AuthenticationSASL', reason: 'empty mechanism' });
          w.cstring(m, 'SASL mechanism');
        }
        w.int8(0);
        return;
      case 'AuthenticationSASLContinue':
        w.int32(AuthCode.SASLContinue).bytes(msg.data);
        return;
      case 'AuthenticationSASLFinal':
        w.int32(AuthCode.SASLFinal).bytes(msg.data);
        return;
      case 'AuthenticationUnsupported':
        w.int32(msg.code).bytes(msg.data);
        return;
    }
  });
}

/** Shorthands for the messages the gateway's front door sends. */
export const encodeAuthenticationOk = (): Buffer => encodeAuthentication({ type: 'AuthenticationOk' });
export const encodeAuthenticationCleartextPassword = (): Buffer =>
  encodeAuthentication({ type: 'AuthenticationCleartextPassword' });
export const encodeAuthenticationMD5Password = (salt: Buffer): Buffer =>
  encodeAuthentication({ type: 'AuthenticationMD5Password', salt });
export const encodeAuthenticationSASL = (mechanisms: readonly string[]): Buffer =>
  encodeAuthentication({ type: 'AuthenticationSASL', mechanisms });
export const encodeAuthenticationSASLContinue = (data: Uint8Array): Buffer =>
  encodeAuthentication({ type: 'AuthenticationSASLContinue', data: Buffer.from(data) });
export const encodeAuthenticationSASLFinal = (data: Uint8Array): Buffer =>
  encodeAuthentication({ type: 'AuthenticationSASLFinal', data: Buffer.from(data) });

/** Decodes an Authentication body. Payloads are copied so they outlive the chunk. */
export function decodeAuthentication(r: ByteReader): AuthenticationMessage {
  const code = r.int32();
  switch (code) {
    case AuthCode.Ok:
      r.expectEnd();
      return { type: 'AuthenticationOk' };
    case AuthCode.CleartextPassword:
      r.expectEnd();
      return { type: 'AuthenticationCleartextPassword' };
    case AuthCode.MD5Password: {
      const salt = Buffer.from(r.bytes(4));
      r.expectEnd();
      return { type: 'AuthenticationMD5Password', salt };
    }
    case AuthCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const m = r.cstring({ max: MAX_SASL_MECHANISM_BYTES, what: 'SASL mechanism' });
        if (m === '') break;
        if (mechanisms.length === MAX_SASL_MECHANISMS) {
          throw new IamdbError('PROTO_MALFORMED_MESSAGE', {
            what: 'AuthenticationSASL',
            reason: `more than ${MAX_SASL_MECHANISMS} mechanisms`,
          });
        }
        mechanisms.push(m);
      }
      r.expectEnd();
      return { type: 'AuthenticationSASL', mechanisms };
    }
    case AuthCode.SASLContinue:
      return { type: 'AuthenticationSASLContinue', data: Buffer.from(r.rest()) };
    case AuthCode.SASLFinal:
      return { type: 'AuthenticationSASLFinal', data: Buffer.from(r.rest()) };
    default:
      return { type: 'AuthenticationUnsupported', code, data: Buffer.from(r.rest()) };
  }
}
