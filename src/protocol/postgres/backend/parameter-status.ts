/**
 * ParameterStatus ('S'): the server reports a run-time parameter (server
 * version, encoding, TimeZone, ...), at login and whenever one changes.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-PARAMETERSTATUS
 * @module
 */
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { BackendCode } from '../codes.js';

/** A decoded ParameterStatus. */
export interface ParameterStatus {
  readonly type: 'ParameterStatus';
  readonly name: string;
  readonly value: string;
}

/** Encodes a ParameterStatus. */
export function encodeParameterStatus(msg: { name: string; value: string }): Buffer {
  return buildMessage(BackendCode.ParameterStatus, (w) => {
    w.cstring(msg.name, 'parameter name').cstring(msg.value, 'parameter value');
  });
}

/** Decodes a ParameterStatus body: two strings filling it exactly. */
export function decodeParameterStatus(r: ByteReader): ParameterStatus {
  const name = r.cstring({ what: 'parameter name' });
  const value = r.cstring({ what: 'parameter value' });
  r.expectEnd();
  return { type: 'ParameterStatus', name, value };
}
