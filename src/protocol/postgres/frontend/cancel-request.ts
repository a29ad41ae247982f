/**
 * CancelRequest: sent on a fresh connection to cancel a query on another.
 * Protocol 3.0 keys are 4 bytes (length 16); protocol 3.2 allows keys of up
 * to 256 bytes (length 12 + key).
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-CANCELREQUEST
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { ByteWriter } from '../../common/byte-writer.js';
import { RequestCode } from '../codes.js';

/** Shortest cancel key (protocol 3.0). */
export const MIN_CANCEL_KEY_BYTES = 4;
/** Longest cancel key allowed by protocol 3.2. */
export const MAX_CANCEL_KEY_BYTES = 256;

/** A decoded CancelRequest. */
export interface CancelRequest {
  readonly type: 'CancelRequest';
  readonly processId: number;
  /** 4 bytes (3.0) to 256 bytes (3.2); a copy, safe to keep. */
  readonly secretKey: Buffer;
}

/** Checks a cancel key's size, for both directions. */
export function checkCancelKey(key: Uint8Array, what: string): void {
  if (key.length < MIN_CANCEL_KEY_BYTES || key.length > MAX_CANCEL_KEY_BYTES) {
    throw new IamdbError('PROTO_BAD_LENGTH', { length: key.length, what: `${what} secret key` });
  }
}

/** Encodes a CancelRequest. */
export function encodeCancelRequest(msg: { processId: number; secretKey: Uint8Array }): Buffer {
  checkCancelKey(msg.secretKey, 'CancelRequest');
  const w = new ByteWriter(12 + msg.secretKey.length);
  w.beginMessage().int32(RequestCode.CancelRequest).int32(msg.processId).bytes(msg.secretKey).endMessage();
  return w.finish();
}

/** Decodes a CancelRequest; the reader sits after the request code. */
export function decodeCancelRequest(r: ByteReader): CancelRequest {
  const processId = r.int32();
  const key = r.rest();
  checkCancelKey(key, 'CancelRequest');
  return { type: 'CancelRequest', processId, secretKey: Buffer.from(key) };
}
