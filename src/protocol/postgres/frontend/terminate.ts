/**
 * Terminate ('X'): the client is leaving. Body is empty.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-TERMINATE
 * @module
 */
import type { ByteReader } from '../../common/byte-reader.js';
import { FrontendCode } from '../codes.js';

/** A decoded Terminate. */
export interface Terminate {
  readonly type: 'Terminate';
}

const TERMINATE = Buffer.from([FrontendCode.Terminate, 0, 0, 0, 4]);

/** The 5 bytes of a Terminate (a fresh copy each call). */
export function encodeTerminate(): Buffer {
  return Buffer.from(TERMINATE);
}

/** Decodes a Terminate body, which must be empty. */
export function decodeTerminate(r: ByteReader): Terminate {
  r.expectEnd();
  return { type: 'Terminate' };
}
