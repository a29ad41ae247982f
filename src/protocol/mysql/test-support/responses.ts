/**
 * Builders of server responses for this folder's tests, laid out as the
 * protocol documentation describes them (column definitions, rows, OK,
 * EOF, ERR, prepare OK, MariaDB progress reports), and a framer that numbers
 * them as a server does.
 */
import { Capability, ServerStatus } from '../constants.js';
import { encodePacket, nextSequenceId } from '../packet-framer.js';
import { encodeEofPacket } from '../packets/eof-packet.js';
import { encodeErrPacket } from '../packets/err-packet.js';
import { encodeOkPacket, type OkPacket } from '../packets/ok-packet.js';

export const AUTOCOMMIT = ServerStatus.SERVER_STATUS_AUTOCOMMIT;
export const IN_TRANS = ServerStatus.SERVER_STATUS_IN_TRANS;
export const MORE = ServerStatus.SERVER_MORE_RESULTS_EXISTS;
export const CURSOR = ServerStatus.SERVER_STATUS_CURSOR_EXISTS;
export const LAST_ROW = ServerStatus.SERVER_STATUS_LAST_ROW_SENT;
export const NO_BACKSLASH = ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES;

/** What a server after the gateway's handshake typically has: 4.1, transactions, multi-results, session tracking. */
export const BASE_CAPS =
  Capability.CLIENT_PROTOCOL_41 |
  Capability.CLIENT_TRANSACTIONS |
  Capability.CLIENT_SECURE_CONNECTION |
  Capability.CLIENT_MULTI_STATEMENTS |
  Capability.CLIENT_MULTI_RESULTS |
  Capability.CLIENT_PS_MULTI_RESULTS |
  Capability.CLIENT_PLUGIN_AUTH |
  Capability.CLIENT_SESSION_TRACK;
export const DEPRECATE_EOF_CAPS = (BASE_CAPS | Capability.CLIENT_DEPRECATE_EOF) >>> 0;

/** Frames payloads with consecutive sequence ids from `seq` (a payload of 0xFFFFFF bytes or more takes several). */
export function framed(seq: number, ...payloads: Buffer[]): Buffer {
  const out: Buffer[] = [];
  for (const p of payloads) {
    out.push(encodePacket(p, seq));
    seq = nextSequenceId(p.length, seq);
  }
  return Buffer.concat(out);
}

function lenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

function lenencString(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([lenenc(b.length), b]);
}

export const packet = {
  ok: (fields: Partial<Omit<OkPacket, 'type'>> = {}, caps = BASE_CAPS): Buffer => encodeOkPacket(fields, caps),
  /** The OK that ends rows under CLIENT_DEPRECATE_EOF. */
  okFe: (statusFlags = AUTOCOMMIT, caps = DEPRECATE_EOF_CAPS): Buffer => encodeOkPacket({ header: 0xfe, statusFlags }, caps),
  eof: (statusFlags = AUTOCOMMIT, warnings = 0): Buffer => encodeEofPacket({ statusFlags, warnings }, BASE_CAPS),
  err: (errno: number, sqlState: string | undefined, message: string): Buffer => encodeErrPacket({ errno, sqlState, message }),
  /** Column count; `metadata` adds MariaDB's metadata-follows byte. */
  columnCount: (n: number, metadata?: 0 | 1): Buffer => (metadata === undefined ? lenenc(n) : Buffer.concat([lenenc(n), Buffer.from([metadata])])),
  /** ColumnDefinition41 for a VARCHAR column. */
  column: (name: string): Buffer =>
    Buffer.concat([
      lenencString('def'),
      lenencString('db'),
      lenencString('t'),
      lenencString('t'),
      lenencString(name),
      lenencString(name),
      Buffer.from([0x0c, 0x2d, 0x00, 0x00, 0x01, 0x00, 0x00, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x00]),
    ]),
  /** A text-protocol row; null is 0xFB. */
  textRow: (...values: Array<string | Buffer | null>): Buffer =>
    Buffer.concat(values.map((v) => (v === null ? Buffer.from([0xfb]) : lenencString(v)))),
  /** A binary-protocol row of VARCHAR values (header 0x00, NULL bitmap offset 2). */
  binaryRow: (...values: Array<string | null>): Buffer => {
    const bitmap = Buffer.alloc((values.length + 9) >> 3);
    values.forEach((v, i) => {
      if (v === null) bitmap[(i + 2) >> 3]! |= 1 << ((i + 2) & 7);
    });
    return Buffer.concat([Buffer.from([0x00]), bitmap, ...values.filter((v) => v !== null).map((v) => lenencString(v))]);
  },
  prepareOk: (statementId: number, columns: number, params: number): Buffer => {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(statementId, 1);
    b.writeUInt16LE(columns, 5);
    b.writeUInt16LE(params, 7);
    return b;
  },
  /** MariaDB progress report: ERR header, errno 0xFFFF, 1, stage, max stage, progress (3 bytes), info. */
  progress: (stage: number, maxStage: number, permille: number, info: string): Buffer =>
    Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 0x01, stage, maxStage, permille & 0xff, (permille >> 8) & 0xff, 0]), lenencString(info)]),
};

/** A text result set as the server sends it: count, definitions, EOF unless deprecated, rows, terminator. */
export function textResultSet(options: {
  columns: string[];
  rows: Array<Array<string | null>>;
  deprecateEof: boolean;
  status?: number;
  metadataByte?: 0 | 1;
}): Buffer[] {
  const status = options.status ?? AUTOCOMMIT;
  const metadataSent = options.metadataByte !== 0;
  return [
    packet.columnCount(options.columns.length, options.metadataByte),
    ...(metadataSent ? options.columns.map((c) => packet.column(c)) : []),
    ...(options.deprecateEof ? [] : [packet.eof(status)]),
    ...options.rows.map((r) => packet.textRow(...r)),
    options.deprecateEof ? packet.okFe(status) : packet.eof(status),
  ];
}

/** Command payloads. */
export const command = {
  query: (sql: string): Buffer => Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]),
  simple: (byte: number): Buffer => Buffer.from([byte]),
  execute: (statementId: number, cursor = false): Buffer => {
    const b = Buffer.alloc(10);
    b[0] = 0x17;
    b.writeUInt32LE(statementId, 1);
    b[5] = cursor ? 1 : 0;
    b.writeUInt32LE(1, 6);
    return b;
  },
  fetch: (statementId: number, rows: number): Buffer => {
    const b = Buffer.alloc(9);
    b[0] = 0x1c;
    b.writeUInt32LE(statementId, 1);
    b.writeUInt32LE(rows, 5);
    return b;
  },
};
