/**
 * Query ('Q'): a simple-protocol query string. The proxy sends its own (the
 * InitQuery, the cleanup before a connection changes hands, a client's
 * startup settings).
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-QUERY
 * @module
 */
import { IamdbError } from '../../../errors/index.js';

/** A Query message for `sql` (which must not contain NUL). */
export function encodeQuery(sql: string): Buffer {
  const text = Buffer.from(sql, 'utf8');
  if (text.includes(0)) throw new IamdbError('PROTO_UNENCODABLE', { what: 'a query', reason: 'it contains NUL' });
  const out = Buffer.alloc(1 + 4 + text.length + 1);
  out[0] = 0x51; // 'Q'
  out.writeUInt32BE(4 + text.length + 1, 1);
  text.copy(out, 5);
  return out;
}
