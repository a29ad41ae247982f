/**
 * ErrorResponse ('E') and NoticeResponse ('N'): a list of (letter, string)
 * fields closed by a zero byte. Both share one shape, {@link NoticeFields}.
 *
 * The gateway decodes the upstream's errors during login and re-encodes its
 * own; an upstream that leaves out the severity, SQLSTATE or message (seen in
 * the wild, PgBouncer CVE-2026-6666) is survived: missing required fields
 * are filled with 'ERROR'/'NOTICE', 'XX000' (internal_error) and ''.
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-ERRORRESPONSE
 * @see https://www.postgresql.org/docs/current/protocol-error-fields.html
 * @module
 */
import { IamdbError } from '../../../errors/index.js';
import type { ByteReader } from '../../common/byte-reader.js';
import { buildMessage } from '../../common/byte-writer.js';
import { BackendCode, SqlState } from '../codes.js';

/** The fields of an ErrorResponse or NoticeResponse. */
export interface ErrorFields {
  /** 'ERROR', 'FATAL', 'PANIC', 'WARNING', 'NOTICE', ... possibly localised. */
  readonly severity: string;
  /** Severity never localised (PostgreSQL 9.6+). */
  readonly severityNonLocalized?: string;
  /** SQLSTATE. */
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly position?: string;
  readonly internalPosition?: string;
  readonly internalQuery?: string;
  readonly where?: string;
  readonly schema?: string;
  readonly table?: string;
  readonly column?: string;
  readonly dataType?: string;
  readonly constraint?: string;
  readonly file?: string;
  readonly line?: string;
  readonly routine?: string;
  /** Fields whose letter this code does not know, keyed by the letter; kept so nothing is lost. */
  readonly other?: Readonly<Record<string, string>>;
}

/** Same shape as {@link ErrorFields}; the name reads better for notices. */
export type NoticeFields = ErrorFields;

/** A decoded ErrorResponse. */
export interface ErrorResponse {
  readonly type: 'ErrorResponse';
  readonly fields: NoticeFields;
}

/** A decoded NoticeResponse. */
export interface NoticeResponse {
  readonly type: 'NoticeResponse';
  readonly fields: NoticeFields;
}

type NamedField = Exclude<keyof NoticeFields, 'other'>;

/** Field name ↔ letter, in the order PostgreSQL writes them. */
const FIELD_LETTERS: ReadonlyArray<readonly [NamedField, string]> = [
  ['severity', 'S'],
  ['severityNonLocalized', 'V'],
  ['code', 'C'],
  ['message', 'M'],
  ['detail', 'D'],
  ['hint', 'H'],
  ['position', 'P'],
  ['internalPosition', 'p'],
  ['internalQuery', 'q'],
  ['where', 'W'],
  ['schema', 's'],
  ['table', 't'],
  ['column', 'c'],
  ['dataType', 'd'],
  ['constraint', 'n'],
  ['file', 'F'],
  ['line', 'L'],
  ['routine', 'R'],
];
const NAME_BY_LETTER = new Map<number, NamedField>(FIELD_LETTERS.map(([name, letter]) => [letter.charCodeAt(0), name]));

/** Most fields read from one message; PostgreSQL sends at most 18. */
export const MAX_NOTICE_FIELDS = 64;

function encodeFields(type: number, fields: NoticeFields): Buffer {
  return buildMessage(
    type,
    (w) => {
      for (const [name, letter] of FIELD_LETTERS) {
        const value = fields[name];
        if (value !== undefined) w.int8(letter.charCodeAt(0)).cstring(value, `${name} field`);
      }
      for (const [letter, value] of Object.entries(fields.other ?? {})) {
        if (letter.length === 1 && letter !== '\0') w.int8(letter.charCodeAt(0)).cstring(value, 'error field');
      }
      w.int8(0);
    },
    256,
  );
}

/**
 * Encodes an ErrorResponse. Use real SQLSTATEs only ({@link SqlState}).
 *
 * @example
 *   encodeErrorResponse({ severity: 'FATAL', code: SqlState.INVALID_AUTHORIZATION_SPECIFICATION,
 *     message: 'PAM authentication failed for user "app"' });
 */
export function encodeErrorResponse(fields: NoticeFields): Buffer {
  return encodeFields(BackendCode.ErrorResponse, fields);
}

/** Encodes a NoticeResponse. */
export function encodeNoticeResponse(fields: NoticeFields): Buffer {
  return encodeFields(BackendCode.NoticeResponse, fields);
}

/**
 * Decodes the field list. A repeated letter keeps its first value; more than
 * {@link MAX_NOTICE_FIELDS} fields, a missing terminator or trailing bytes
 * are protocol violations.
 */
export function decodeNoticeFields(r: ByteReader, defaultSeverity: string): NoticeFields {
  const out: { -readonly [K in keyof NoticeFields]?: NoticeFields[K] } = {};
  let other: Record<string, string> | undefined;
  for (let count = 0; ; count++) {
    const letter = r.uint8();
    if (letter === 0) break;
    if (count === MAX_NOTICE_FIELDS) {
      throw new IamdbError('PROTO_MALFORMED_MESSAGE', { what: r.what, reason: `more than ${MAX_NOTICE_FIELDS} fields` });
    }
    const value = r.cstring({ what: `${r.what} field` });
    const name = NAME_BY_LETTER.get(letter);
    if (name !== undefined) {
      out[name] ??= value;
    } else {
      other ??= Object.create(null) as Record<string, string>;
      other[String.fromCharCode(letter)] ??= value;
    }
  }
  r.expectEnd();
  return {
    ...out,
    severity: out.severity ?? defaultSeverity,
    code: out.code ?? SqlState.INTERNAL_ERROR,
    message: out.message ?? '',
    ...(other ? { other: { ...other } } : {}),
  };
}

/** Decodes an ErrorResponse body. */
export function decodeErrorResponse(r: ByteReader): ErrorResponse {
  return { type: 'ErrorResponse', fields: decodeNoticeFields(r, 'ERROR') };
}

/** Decodes a NoticeResponse body. */
export function decodeNoticeResponse(r: ByteReader): NoticeResponse {
  return { type: 'NoticeResponse', fields: decodeNoticeFields(r, 'NOTICE') };
}
