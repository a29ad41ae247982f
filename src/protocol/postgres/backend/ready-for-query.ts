/**
 * ReadyForQuery ('Z'): the server is idle and says whether a transaction is
 * open ('T'), failed ('E') or not ('I').
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-READYFORQUERY
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { BackendCode, TransactionStatus, type TransactionStatusLetter } from '../codes.js';

/** A decoded ReadyForQuery. */
export interface ReadyForQuery {
  readonly type: 'ReadyForQuery';
  readonly status: TransactionStatusLetter;
}

/** Maps a status byte to its letter, or `undefined` when it is none of I/T/E. */
export function transactionStatusLetter(byte: number): TransactionStatusLetter | undefined {
  switch (byte) {
    case TransactionStatus.Idle:
      return 'I';
    case TransactionStatus.InTransaction:
      return 'T';
    case TransactionStatus.Failed:
      return 'E';
    default:
      return undefined;
  }
}

/** Encodes a ReadyForQuery. */
export function encodeReadyForQuery(msg: { status: TransactionStatusLetter }): Buffer {
  return buildMessage(BackendCode.ReadyForQuery, (w) => w.int8(msg.status.charCodeAt(0)));
}

/** Decodes a ReadyForQuery body: exactly one status byte, I, T or E. */
export function decodeReadyForQuery(r: ByteReader): ReadyForQuery {
  const byte = r.uint8();
  r.expectEnd();
  const status = transactionStatusLetter(byte);
  if (status === undefined) {
    throw new IamdbError('PROTO_MALFORMED_MESSAGE', { what: 'ReadyForQuery', reason: `status byte ${byte}` });
  }
  return { type: 'ReadyForQuery', status };
}
