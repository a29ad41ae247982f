/**
 * BackendKeyData ('K'): the process id and secret key a client needs to
 * cancel queries on this session. Protocol 3.2 lets the key be up to 256
 * bytes; 3.0 keys are 4 bytes.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-BACKENDKEYDATA
 * @module
 */
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { BackendCode } from '../codes.js';
import { checkCancelKey } from '../frontend/cancel-request.js';

/** A decoded BackendKeyData. */
export interface BackendKeyData {
  readonly type: 'BackendKeyData';
  readonly processId: number;
  /** 4 to 256 bytes; a copy. */
  readonly secretKey: Buffer;
}

/** Encodes a BackendKeyData. */
export function encodeBackendKeyData(msg: { processId: number; secretKey: Uint8Array }): Buffer {
  checkCancelKey(msg.secretKey, 'BackendKeyData');
  return buildMessage(BackendCode.BackendKeyData, (w) => w.int32(msg.processId).bytes(msg.secretKey));
}

/** Decodes a BackendKeyData body. */
export function decodeBackendKeyData(r: ByteReader): BackendKeyData {
  const processId = r.int32();
  const key = r.rest();
  checkCancelKey(key, 'BackendKeyData');
  return { type: 'BackendKeyData', processId, secretKey: Buffer.from(key) };
}
