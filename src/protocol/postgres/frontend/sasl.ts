/**
 * SASLInitialResponse and SASLResponse: both travel in 'p' messages; the
 * authentication state decides which one a 'p' is.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SASLINITIALRESPONSE
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-SASLRESPONSE
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { FrontendCode } from '../codes.js';

/** A decoded SASLInitialResponse. */
export interface SASLInitialResponse {
  readonly type: 'SASLInitialResponse';
  readonly mechanism: string;
  /** The initial client response, or `null` when the client sent length -1. */
  readonly data: Buffer | null;
}

/** A decoded SASLResponse. */
export interface SASLResponse {
  readonly type: 'SASLResponse';
  readonly data: Buffer;
}

/** Encodes a SASLInitialResponse. */
export function encodeSASLInitialResponse(msg: { mechanism: string; data: Uint8Array | null }): Buffer {
  return buildMessage(FrontendCode.PasswordMessage, (w) => {
    w.cstring(msg.mechanism, 'SASL mechanism');
    if (msg.data === null) w.int32(-1);
    else w.int32(msg.data.length).bytes(msg.data);
  });
}

/** Decodes a SASLInitialResponse body; the data length must match the body exactly. */
export function decodeSASLInitialResponse(r: ByteReader): SASLInitialResponse {
  const mechanism = r.cstring({ max: 256, what: 'SASL mechanism' });
  const length = r.int32();
  if (length === -1) {
    r.expectEnd();
    return { type: 'SASLInitialResponse', mechanism, data: null };
  }
  if (length < 0 || length !== r.remaining) {
    throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'SASLInitialResponse data' });
  }
  return { type: 'SASLInitialResponse', mechanism, data: Buffer.from(r.rest()) };
}

/** Encodes a SASLResponse. */
export function encodeSASLResponse(msg: { data: Uint8Array }): Buffer {
  return buildMessage(FrontendCode.PasswordMessage, (w) => w.bytes(msg.data));
}

/** Decodes a SASLResponse body: all of it is the data. */
export function decodeSASLResponse(r: ByteReader): SASLResponse {
  return { type: 'SASLResponse', data: Buffer.from(r.rest()) };
}
