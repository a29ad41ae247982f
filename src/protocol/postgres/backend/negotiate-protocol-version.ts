/**
 * NegotiateProtocolVersion ('v'): the server supports an older minor version
 * than requested and/or did not recognise some `_pq_.` startup options.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-NEGOTIATEPROTOCOLVERSION
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { BackendCode } from '../codes.js';

/** Most unrecognised options accepted in one message. */
export const MAX_NEGOTIATE_OPTIONS = 256;

/** A decoded NegotiateProtocolVersion. */
export interface NegotiateProtocolVersion {
  readonly type: 'NegotiateProtocolVersion';
  /** Newest minor version the server supports for the requested major. */
  readonly newestMinor: number;
  /** Option names the server did not recognise. */
  readonly unrecognizedOptions: readonly string[];
}

/** Encodes a NegotiateProtocolVersion. */
export function encodeNegotiateProtocolVersion(msg: { newestMinor: number; unrecognizedOptions: readonly string[] }): Buffer {
  return buildMessage(BackendCode.NegotiateProtocolVersion, (w) => {
    w.int32(msg.newestMinor).int32(msg.unrecognizedOptions.length);
    for (const o of msg.unrecognizedOptions) w.cstring(o, 'protocol option');
  });
}

/** Decodes a NegotiateProtocolVersion body; the option count must match the strings present. */
export function decodeNegotiateProtocolVersion(r: ByteReader): NegotiateProtocolVersion {
  const newestMinor = r.int32();
  const count = r.int32();
  if (count < 0 || count > MAX_NEGOTIATE_OPTIONS || count > r.remaining) {
    throw new IamdbError('PROTO_MALFORMED_MESSAGE', { what: 'NegotiateProtocolVersion', reason: `option count ${count}` });
  }
  const unrecognizedOptions: string[] = [];
  for (let i = 0; i < count; i++) unrecognizedOptions.push(r.cstring({ what: 'protocol option' }));
  r.expectEnd();
  return { type: 'NegotiateProtocolVersion', newestMinor, unrecognizedOptions };
}
