/**
 * Follows the server → client direction of the MySQL/MariaDB command phase
 * and says, for each command forwarded to the server, where its response
 * ends in the byte stream and how it ended (OK, ERR with errno and SQLSTATE,
 * EOF, or other), with the server status flags it left behind (transaction,
 * autocommit, NO_BACKSLASH_ESCAPES, cursor). A relay uses the end offsets to
 * hold back or split at a response boundary; a pooler uses the status flags
 * to find transaction boundaries.
 *
 * Cost: it reads frame headers and, for each packet, at most the first
 * {@link RESPONSE_HEAD_BYTES} bytes (an OK packet's fields); those are
 * copied only when they straddle two chunks. Rows are skipped by length,
 * never copied or allocated for; the only per-row work is a header and one
 * byte. Nothing is sized from a peer's length.
 *
 * Telling a row from a terminator: in a result set a packet starting 0xFF is
 * an ERR (no row starts with it: binary rows start 0x00, text rows with a
 * length-encoded string, where 0xFF is not a valid prefix). A packet
 * starting 0xFE ends the rows only when its first frame is shorter than
 * 0xFFFFFF bytes: a text row can start with 0xFE (a value of 16 MiB or more,
 * whose 8-byte length makes the packet span frames), a terminator never
 * spans frames. A terminator is then an OK packet with a 0xFE header when
 * CLIENT_DEPRECATE_EOF is on and it has at least 7 bytes, otherwise an EOF
 * packet, which must be 5 to 8 bytes long; anything else is refused.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_query_response.html
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_binary_resultset.html
 * @see https://mariadb.com/kb/en/result-set-packets/
 * @see https://mariadb.com/kb/en/progress-reporting/
 */
import { IamdbError } from '../../errors/index.js';
import { Capability, Command, Limits, MariadbCapability, ServerStatus, commandName } from './constants.js';

const MAX_FRAME = Limits.MAX_FRAME_PAYLOAD;
/**
 * Bytes of a packet's start the tracker reads: an OK packet's header, two
 * 9-byte length-encoded integers, status and warnings (1 + 9 + 9 + 2 + 2).
 */
export const RESPONSE_HEAD_BYTES = 23;
/** Bytes of a command packet {@link ResponseTracker.sent} needs: COM_STMT_EXECUTE's cursor flags are byte 5. */
export const COMMAND_HEAD_BYTES = 6;
/** Columns of one result set; MySQL and MariaDB stop at 4096, so more means a misread stream. */
const MAX_COLUMNS = 0xffff;
/** COM_STMT_EXECUTE flags that ask for a cursor (READ_ONLY, FOR_UPDATE, SCROLLABLE). */
const CURSOR_FLAGS = 0x07;
/** Capabilities that change framing in ways the tracker does not follow; the gateway strips them. */
const REFUSED_CAPABILITIES = [
  ['CLIENT_COMPRESS', Capability.CLIENT_COMPRESS],
  ['CLIENT_ZSTD_COMPRESSION_ALGORITHM', Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM],
  ['CLIENT_LOCAL_FILES', Capability.CLIENT_LOCAL_FILES],
  ['CLIENT_OPTIONAL_RESULTSET_METADATA', Capability.CLIENT_OPTIONAL_RESULTSET_METADATA],
] as const;
const KNOWN_MARIADB_CAPABILITIES = Object.values(MariadbCapability).reduce((a, b) => a | b, 0);

/** What the server sends for a command: a response, nothing, or (for commands the gateway must refuse) unknown. */
export type CommandDisposition = 'response' | 'no-response' | 'refuse';

/** Response shapes, one per family of commands. */
const Shape = {
  REFUSE: 0,
  NONE: 1,
  /** OK | ERR | text result sets chained by SERVER_MORE_RESULTS_EXISTS. */
  RESULT: 2,
  /** As RESULT with binary rows, and a cursor may end it after the column definitions. */
  EXECUTE: 3,
  PREPARE: 4,
  /** Binary rows then a terminator, no column count. */
  FETCH: 5,
  /** Column definitions then a terminator. */
  FIELD_LIST: 6,
  /** One OK, ERR or EOF packet. */
  SIMPLE: 7,
  /** One packet of text (COM_STATISTICS). */
  STRING: 8,
} as const;
type Shape = (typeof Shape)[keyof typeof Shape];

/** Response shape by command byte; every byte not listed is refused. */
const shapes = new Uint8Array(256).fill(Shape.REFUSE);
for (const [command, shape] of [
  [Command.COM_QUIT, Shape.NONE],
  [Command.COM_STMT_SEND_LONG_DATA, Shape.NONE],
  [Command.COM_STMT_CLOSE, Shape.NONE],
  [Command.COM_QUERY, Shape.RESULT],
  [Command.COM_PROCESS_INFO, Shape.RESULT],
  [Command.COM_STMT_EXECUTE, Shape.EXECUTE],
  [Command.COM_STMT_BULK_EXECUTE, Shape.EXECUTE],
  [Command.COM_STMT_PREPARE, Shape.PREPARE],
  [Command.COM_STMT_FETCH, Shape.FETCH],
  [Command.COM_FIELD_LIST, Shape.FIELD_LIST],
  [Command.COM_INIT_DB, Shape.SIMPLE],
  [Command.COM_REFRESH, Shape.SIMPLE],
  [Command.COM_SHUTDOWN, Shape.SIMPLE],
  [Command.COM_PROCESS_KILL, Shape.SIMPLE],
  [Command.COM_DEBUG, Shape.SIMPLE],
  [Command.COM_PING, Shape.SIMPLE],
  [Command.COM_STMT_RESET, Shape.SIMPLE],
  [Command.COM_SET_OPTION, Shape.SIMPLE],
  [Command.COM_RESET_CONNECTION, Shape.SIMPLE],
  [Command.COM_STATISTICS, Shape.STRING],
] as const) {
  shapes[command] = shape;
}

/** Why a refused command is refused, for the error and the audit log. */
function refusalReason(command: number): string {
  switch (command) {
    case Command.COM_CHANGE_USER:
      return 'COM_CHANGE_USER would change identity; the gateway answers it itself';
    case Command.COM_BINLOG_DUMP:
    case Command.COM_BINLOG_DUMP_GTID:
    case Command.COM_REGISTER_SLAVE:
    case Command.COM_TABLE_DUMP:
      return 'replication is not relayed';
    case Command.COM_MULTI:
      return 'COM_MULTI is not relayed';
    default:
      return commandName(command) === undefined ? 'unknown command' : 'internal or obsolete command';
  }
}

/**
 * What a command gets from the server. `refuse`: replication and internal
 * commands, COM_CHANGE_USER, COM_MULTI and every unknown byte; the gateway
 * answers those itself (ERR 1047 ER_UNKNOWN_COM_ERROR, 08S01, as the server
 * does for unknown commands) instead of relaying a response it cannot frame.
 *
 * @example if (commandDisposition(payload[0]) === 'refuse') client.write(errPacketFor('ER_UNKNOWN_COM_ERROR', 'Unknown command'))
 */
export function commandDisposition(command: number): CommandDisposition {
  const shape = shapes[command & 0xff] as Shape;
  return shape === Shape.REFUSE ? 'refuse' : shape === Shape.NONE ? 'no-response' : 'response';
}

/** How a response ended; see {@link ResponseEnd}. */
export type ResponseOutcome = 'ok' | 'err' | 'eof' | 'other';

/** Fields of every response end. */
interface ResponseEndFields {
  readonly type: 'response';
  /** The ticket {@link ResponseTracker.sent} returned for the command. */
  readonly ticket: number;
  /** The command byte. */
  readonly command: number;
  /** Offset in the chunk given to push() just after the response's last byte. */
  readonly end: number;
  /**
   * Server status flags after the response: from its last packet when that
   * carried them (`statusReported`), else the latest seen before (an ERR
   * carries none: a deadlock, 1213, has rolled the transaction back although
   * SERVER_STATUS_IN_TRANS is still set here).
   */
  readonly statusFlags: number;
  /** True when the response's last packet (an OK or EOF) carried status flags. */
  readonly statusReported: boolean;
  /** Result sets (column-count packets) in the response. */
  readonly resultSets: number;
}

/**
 * The end of one command's response. `ok`: an OK packet (0x00, or 0xFE
 * under CLIENT_DEPRECATE_EOF) ended it, or a COM_STMT_PREPARE succeeded
 * (`statementId` set; its trailing definitions follow the OK); `err`: an ERR
 * packet; `eof`: an EOF packet (result sets, an opened cursor,
 * COM_SET_OPTION, COM_DEBUG, COM_FIELD_LIST, without CLIENT_DEPRECATE_EOF);
 * `other`: COM_STATISTICS's text.
 */
export type ResponseEnd =
  | (ResponseEndFields & {
      readonly outcome: 'ok';
      /** Affected rows (exact up to 2^53). 0 for a prepare. */
      readonly affectedRows: number;
      readonly lastInsertId: number;
      /** The new statement's id, for COM_STMT_PREPARE. */
      readonly statementId: number | undefined;
    })
  | (ResponseEndFields & {
      readonly outcome: 'err';
      readonly errno: number;
      /** Undefined when the server sent no '#' marker. */
      readonly sqlState: string | undefined;
    })
  | (ResponseEndFields & { readonly outcome: 'eof' })
  | (ResponseEndFields & { readonly outcome: 'other' });

/**
 * A packet that no command asked for: nothing was outstanding (MySQL 8.0.24+
 * sends ERR 4031 before closing an idle connection; a server shutting down
 * may send ERR 1053), or a response was awaited and the packet carried
 * sequence id 0, which no response starts with. Not matched to any command;
 * the server usually closes the connection next.
 */
export interface UnsolicitedPacket {
  readonly type: 'unsolicited';
  /** Offset in the chunk just after the packet. */
  readonly end: number;
  /** As for responses; `other` also covers packets too short to read. */
  readonly outcome: ResponseOutcome;
  /** For `err`. */
  readonly errno: number | undefined;
  readonly sqlState: string | undefined;
}

/** What {@link ResponseTracker.push} reports, in stream order. */
export type ResponseEvent = ResponseEnd | UnsolicitedPacket;

/** What {@link ResponseTracker.sent} returns. */
export interface SentCommand {
  /** Numbers commands from 1 in the order sent, those without a response included. */
  readonly ticket: number;
  /** False for COM_QUIT, COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA: no event will name this ticket. */
  readonly expectsResponse: boolean;
}

/** Options of {@link ResponseTracker}. */
export interface ResponseTrackerOptions {
  /**
   * Capability flags in effect on the server connection: those the gateway
   * sent in its HandshakeResponse41 ANDed with the server's greeting. Needs
   * CLIENT_PROTOCOL_41; CLIENT_COMPRESS, CLIENT_ZSTD_COMPRESSION_ALGORITHM,
   * CLIENT_LOCAL_FILES and CLIENT_OPTIONAL_RESULTSET_METADATA are refused.
   */
  readonly capabilityFlags: number;
  /** MariaDB extended capabilities in effect (0 for MySQL). Bits unknown to this codec are refused. */
  readonly mariadbCapabilities?: number;
  /** Largest packet accepted from the server, across continuations. Default 64 MiB. */
  readonly maxAllowedPacket?: number;
  /** Status flags of the login OK. Default SERVER_STATUS_AUTOCOMMIT. */
  readonly statusFlags?: number;
  /** Commands awaiting a response at once (pipelining). Default 65536. */
  readonly maxPendingCommands?: number;
}

/** A command awaiting its response. */
interface Pending {
  readonly ticket: number;
  readonly command: number;
  readonly shape: Shape;
  /** Sequence id of the response's first packet: the command's frame count, mod 256. */
  readonly firstSeq: number;
  readonly cursor: boolean;
}

/** What the tracker awaits next inside a response. */
const Awaiting = {
  /** A result's first packet: OK, ERR or a column count. */
  FIRST_PACKET: 0,
  COLUMN_DEFINITIONS: 1,
  COLUMNS_EOF: 2,
  ROWS: 3,
  PREPARE_OK: 4,
  PARAMETER_DEFINITIONS: 5,
  PARAMETERS_EOF: 6,
  PREPARED_COLUMN_DEFINITIONS: 7,
  PREPARED_COLUMNS_EOF: 8,
  FIELD_DEFINITIONS: 9,
  SINGLE_PACKET: 10,
  TEXT: 11,
} as const;
type Awaiting = (typeof Awaiting)[keyof typeof Awaiting];

function firstAwaited(shape: Shape): Awaiting {
  switch (shape) {
    case Shape.PREPARE:
      return Awaiting.PREPARE_OK;
    case Shape.FETCH:
      return Awaiting.ROWS;
    case Shape.FIELD_LIST:
      return Awaiting.FIELD_DEFINITIONS;
    case Shape.SIMPLE:
      return Awaiting.SINGLE_PACKET;
    case Shape.STRING:
      return Awaiting.TEXT;
    default:
      return Awaiting.FIRST_PACKET;
  }
}

/** An event under construction: `end` is filled in when the packet's last byte arrives. */
interface MutableEvent {
  type: 'response' | 'unsolicited';
  end: number;
  [field: string]: unknown;
}

const NO_EVENTS: readonly ResponseEvent[] = Object.freeze([]);

/** Size of the last integer readLenenc() read (module scratch, so reading allocates nothing). */
let lenencSize = 0;

/** `int<lenenc>` at b[o] within b[..limit); -1 when it does not fit or is 0xFB/0xFF (not integers). */
function readLenenc(b: Uint8Array, o: number, limit: number): number {
  if (o >= limit) return -1;
  const first = b[o] as number;
  if (first < 0xfb) {
    lenencSize = 1;
    return first;
  }
  const size = first === 0xfc ? 3 : first === 0xfd ? 4 : first === 0xfe ? 9 : 0;
  if (size === 0 || o + size > limit) return -1;
  lenencSize = size;
  let value = 0;
  for (let k = size - 1; k >= 1; k--) value = value * 256 + (b[o + k] as number);
  return value;
}

function u16(b: Uint8Array, o: number): number {
  return (b[o] as number) | ((b[o + 1] as number) << 8);
}

function hexByte(h: number): string {
  return `0x${h.toString(16).padStart(2, '0')}`;
}

/**
 * One tracker per server connection, fed every server byte of the command
 * phase. Throws only IamdbError (PROTO_MYSQL_*); after a throw it is spent
 * and every call rethrows the same error.
 *
 * @example
 *   const tracker = new ResponseTracker({ capabilityFlags, mariadbCapabilities, maxAllowedPacket });
 *   // client → server, before writing the command to the server:
 *   if (commandDisposition(payload[0]) === 'refuse') refuse(); else { tracker.sent(payload); server.write(frames); }
 *   // server → client:
 *   for (const e of tracker.push(chunk)) {
 *     if (e.type === 'response' && e.ticket === watched && e.outcome === 'ok') apply();
 *   }
 *   client.write(chunk);
 */
export class ResponseTracker {
  readonly capabilityFlags: number;
  readonly mariadbCapabilities: number;
  readonly maxAllowedPacket: number;
  readonly maxPendingCommands: number;
  readonly #deprecateEof: boolean;
  readonly #cacheMetadata: boolean;
  readonly #progressReports: boolean;

  #failure: unknown;
  #status: number;
  #nextTicket = 1;
  #queue: Array<Pending | undefined> = [];
  #queueHead = 0;

  // The response in progress (the command at the queue's head).
  #awaiting: Awaiting = Awaiting.FIRST_PACKET;
  #shape: Shape = Shape.RESULT;
  #cursor = false;
  #remaining = 0;
  #columnsAfterParameters = 0;
  #resultSets = 0;
  #statementId: number | undefined;
  #affectedRows = 0;
  #lastInsertId = 0;
  /** True once a packet of the current response has been accepted. */
  #started = false;
  /** Sequence id the next packet of the response must carry. */
  #expectSeq = 0;

  // Framing.
  readonly #header = new Uint8Array(4);
  #headerHave = 0;
  /** Payload bytes of the current frame not yet seen. */
  #frameLeft = 0;
  /** The current frame is 0xFFFFFF bytes: the packet continues in the next frame. */
  #continuing = false;
  /** Payload bytes of the current logical packet so far. */
  #total = 0;
  /** Sequence id the next continuation frame must carry. */
  #continuationSeq = 0;
  #firstFrameLength = 0;
  readonly #head = new Uint8Array(RESPONSE_HEAD_BYTES);
  #headHave = 0;
  #headWant = 0;
  /** The current packet is unsolicited. */
  #unsolicited = false;
  /** Reported when the current packet's last byte arrives. */
  #ending: MutableEvent | undefined;

  constructor(options: ResponseTrackerOptions) {
    const caps = options.capabilityFlags;
    const mariadb = options.mariadbCapabilities ?? 0;
    const max = options.maxAllowedPacket ?? Limits.DEFAULT_MAX_ALLOWED_PACKET;
    const pending = options.maxPendingCommands ?? 65536;
    const status = options.statusFlags ?? ServerStatus.SERVER_STATUS_AUTOCOMMIT;
    const bad = (reason: string): IamdbError =>
      new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'response tracker', reason });
    if (!Number.isInteger(caps) || caps < 0 || caps > 0xffffffff) throw bad('capabilityFlags must be a 32-bit unsigned integer');
    if (!Number.isInteger(mariadb) || mariadb < 0 || mariadb > 0xffffffff) throw bad('mariadbCapabilities must be a 32-bit unsigned integer');
    if (!Number.isSafeInteger(max) || max < 1) throw bad('maxAllowedPacket must be a positive integer');
    if (!Number.isSafeInteger(pending) || pending < 1) throw bad('maxPendingCommands must be a positive integer');
    if (!Number.isInteger(status) || status < 0 || status > 0xffff) throw bad('statusFlags must be a 16-bit unsigned integer');
    const unsupported = (feature: string): IamdbError =>
      new IamdbError('PROTO_MYSQL_UNSUPPORTED', { what: 'response tracker', feature });
    if (!(caps & Capability.CLIENT_PROTOCOL_41)) throw unsupported('protocol 3.20 (no CLIENT_PROTOCOL_41)');
    for (const [name, bit] of REFUSED_CAPABILITIES) if (caps & bit) throw unsupported(name);
    if (mariadb & ~KNOWN_MARIADB_CAPABILITIES) throw unsupported(`MariaDB extended capability bits ${hexByte(mariadb & ~KNOWN_MARIADB_CAPABILITIES)}`);
    this.capabilityFlags = caps >>> 0;
    this.mariadbCapabilities = mariadb >>> 0;
    this.maxAllowedPacket = max;
    this.maxPendingCommands = pending;
    this.#status = status;
    this.#deprecateEof = (caps & Capability.CLIENT_DEPRECATE_EOF) !== 0;
    this.#cacheMetadata = (mariadb & MariadbCapability.MARIADB_CLIENT_CACHE_METADATA) !== 0;
    this.#progressReports = (mariadb & MariadbCapability.MARIADB_CLIENT_PROGRESS) !== 0;
  }

  /** Latest server status flags seen (OK and EOF packets, including those inside a response). */
  get statusFlags(): number {
    return this.#status;
  }

  /** SERVER_STATUS_IN_TRANS in the latest status flags. */
  get inTransaction(): boolean {
    return (this.#status & ServerStatus.SERVER_STATUS_IN_TRANS) !== 0;
  }

  /** SERVER_STATUS_AUTOCOMMIT in the latest status flags. */
  get autocommit(): boolean {
    return (this.#status & ServerStatus.SERVER_STATUS_AUTOCOMMIT) !== 0;
  }

  /** SERVER_STATUS_NO_BACKSLASH_ESCAPES in the latest status flags: how the server reads string literals now. */
  get noBackslashEscapes(): boolean {
    return (this.#status & ServerStatus.SERVER_STATUS_NO_BACKSLASH_ESCAPES) !== 0;
  }

  /** Commands sent whose response has not ended yet. */
  get outstanding(): number {
    return this.#queue.length - this.#queueHead;
  }

  /** True when no response is outstanding. */
  get idle(): boolean {
    return this.#queue.length === this.#queueHead;
  }

  /**
   * Records a command forwarded to the server; call it before the command's
   * bytes are written, so its response cannot arrive first.
   *
   * @param payload the command packet's payload (first byte the command), or
   *   at least its first {@link COMMAND_HEAD_BYTES} bytes
   * @param payloadLength the whole payload's length when `payload` is only
   *   its start; a payload of 0xFFFFFF bytes or more spans frames, which
   *   moves the response's first sequence id
   * @throws PROTO_MYSQL_COMMAND_REFUSED for a command the gateway must refuse ({@link commandDisposition})
   * @throws PROTO_MYSQL_TOO_MANY_PENDING past maxPendingCommands
   */
  sent(payload: Uint8Array, payloadLength: number = payload.length): SentCommand {
    this.#throwIfSpent();
    if (!Number.isSafeInteger(payloadLength) || payloadLength < 1 || payloadLength < payload.length) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'response tracker', reason: 'bad command payload length' });
    }
    if (payload.length < Math.min(payloadLength, COMMAND_HEAD_BYTES)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
        what: 'response tracker',
        reason: `sent() needs the command's first ${COMMAND_HEAD_BYTES} bytes`,
      });
    }
    const command = payload[0] as number;
    const shape = shapes[command] as Shape;
    if (shape === Shape.REFUSE) {
      throw new IamdbError('PROTO_MYSQL_COMMAND_REFUSED', {
        command: commandName(command) ?? hexByte(command),
        reason: refusalReason(command),
      });
    }
    const ticket = this.#nextTicket++;
    if (shape === Shape.NONE) return { ticket, expectsResponse: false };
    if (this.outstanding >= this.maxPendingCommands) {
      const error = new IamdbError('PROTO_MYSQL_TOO_MANY_PENDING', { max: this.maxPendingCommands });
      this.#failure = error;
      throw error;
    }
    const firstSeq = (Math.floor(payloadLength / MAX_FRAME) + 1) & 0xff;
    const cursor = shape === Shape.EXECUTE && command === Command.COM_STMT_EXECUTE && payload.length > 5 && ((payload[5] as number) & CURSOR_FLAGS) !== 0;
    const wasIdle = this.idle;
    this.#queue.push({ ticket, command, shape, firstSeq, cursor });
    if (wasIdle) this.#begin();
    return { ticket, expectsResponse: true };
  }

  /**
   * Reads server bytes; returns, in order, the responses and unsolicited
   * packets whose last byte is in this chunk. The chunk is only read, never
   * kept; at most a frame header and a packet's first bytes are carried over.
   */
  push(chunk: Uint8Array): readonly ResponseEvent[] {
    this.#throwIfSpent();
    try {
      return this.#scan(chunk);
    } catch (err) {
      this.#failure = err;
      throw err;
    }
  }

  /** Call when the server's stream ends: throws PROTO_MYSQL_STREAM_ENDED inside a packet. Outstanding responses are not an error here (see `idle`). */
  end(): void {
    this.#throwIfSpent();
    if (this.#headerHave > 0 || this.#frameLeft > 0 || this.#continuing) {
      throw new IamdbError('PROTO_MYSQL_STREAM_ENDED', { buffered: this.#headerHave + this.#headHave });
    }
  }

  #throwIfSpent(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** The tight loop: frame headers, the head of each packet, and skipping the rest. */
  #scan(b: Uint8Array): readonly ResponseEvent[] {
    const n = b.length;
    let i = 0;
    let out: ResponseEvent[] | undefined;
    while (i < n) {
      if (this.#frameLeft > 0) {
        if (this.#headWant > 0) {
          // A packet's head straddles chunks: collect it (at most RESPONSE_HEAD_BYTES).
          const head = this.#head;
          let have = this.#headHave;
          const stop = Math.min(n, i + this.#headWant - have);
          this.#frameLeft -= stop - i;
          while (i < stop) head[have++] = b[i++] as number;
          this.#headHave = have;
          if (have === this.#headWant) {
            this.#headWant = 0;
            this.#onHead(head, 0, have);
          }
        } else {
          const take = Math.min(this.#frameLeft, n - i);
          i += take;
          this.#frameLeft -= take;
        }
        if (this.#frameLeft === 0 && !this.#continuing) out = this.#complete(i, out);
        continue;
      }
      let length: number;
      let seq: number;
      if (this.#headerHave === 0 && n - i >= 4) {
        length = (b[i] as number) | ((b[i + 1] as number) << 8) | ((b[i + 2] as number) << 16);
        seq = b[i + 3] as number;
        i += 4;
      } else {
        const h = this.#header;
        while (this.#headerHave < 4 && i < n) h[this.#headerHave++] = b[i++] as number;
        if (this.#headerHave < 4) break;
        this.#headerHave = 0;
        length = (h[0] as number) | ((h[1] as number) << 8) | ((h[2] as number) << 16);
        seq = h[3] as number;
      }
      if (this.#continuing) {
        this.#onContinuationFrame(length, seq);
      } else {
        this.#onFirstFrame(length, seq);
        const want = Math.min(length, RESPONSE_HEAD_BYTES);
        if (n - i >= want) {
          this.#onHead(b, i, want);
        } else {
          this.#headWant = want;
          this.#headHave = 0;
        }
      }
      if (this.#frameLeft === 0 && !this.#continuing) out = this.#complete(i, out);
    }
    return out ?? NO_EVENTS;
  }

  #onContinuationFrame(length: number, seq: number): void {
    if (seq !== this.#continuationSeq) {
      throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: this.#continuationSeq });
    }
    this.#total += length;
    if (this.#total > this.maxAllowedPacket) {
      throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length: this.#total, max: this.maxAllowedPacket });
    }
    this.#continuing = length === MAX_FRAME;
    this.#frameLeft = length;
    this.#continuationSeq = (seq + 1) & 0xff;
  }

  /** A packet's first frame: bounds, sequence id, and whether any command asked for it. */
  #onFirstFrame(length: number, seq: number): void {
    if (length === 0) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'server packet', reason: 'empty payload' });
    }
    if (length > this.maxAllowedPacket) {
      throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length, max: this.maxAllowedPacket });
    }
    this.#total = length;
    this.#firstFrameLength = length;
    this.#continuing = length === MAX_FRAME;
    this.#frameLeft = length;
    this.#continuationSeq = (seq + 1) & 0xff;
    if (this.idle || (!this.#started && seq === 0 && this.#expectSeq !== 0)) {
      // Nothing asked for it, or no response starts at sequence id 0 (the
      // server numbers a response after the command's frames).
      this.#unsolicited = true;
      return;
    }
    if (seq !== this.#expectSeq) {
      throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: this.#expectSeq });
    }
    this.#started = true;
  }

  /** The packet's last byte is at `end`: report what it ended, and move to the next command. */
  #complete(end: number, out: ResponseEvent[] | undefined): ResponseEvent[] | undefined {
    const event = this.#ending;
    if (this.#unsolicited) {
      this.#unsolicited = false;
    } else {
      this.#expectSeq = this.#continuationSeq;
    }
    if (event === undefined) return out;
    this.#ending = undefined;
    event.end = end;
    (out ??= []).push(event as unknown as ResponseEvent);
    if (event.type === 'response') {
      this.#queue[this.#queueHead++] = undefined;
      if (this.#queueHead === this.#queue.length) {
        this.#queue = [];
        this.#queueHead = 0;
      } else {
        this.#begin();
      }
    }
    return out;
  }

  /** Prepares for the response of the command at the queue's head. */
  #begin(): void {
    const p = this.#queue[this.#queueHead] as Pending;
    this.#shape = p.shape;
    this.#cursor = p.cursor;
    this.#awaiting = firstAwaited(p.shape);
    this.#expectSeq = p.firstSeq;
    this.#started = false;
    this.#remaining = 0;
    this.#resultSets = 0;
    this.#statementId = undefined;
    this.#affectedRows = 0;
    this.#lastInsertId = 0;
  }

  /** The first bytes of a packet (b[o..o+n), n = min(first frame, RESPONSE_HEAD_BYTES)). */
  #onHead(b: Uint8Array, o: number, n: number): void {
    if (this.#unsolicited) {
      this.#ending = this.#describeUnsolicited(b, o, n);
      return;
    }
    const h = b[o] as number;
    if (h === 0xff) {
      this.#onErr(b, o, n);
      return;
    }
    switch (this.#awaiting) {
      case Awaiting.ROWS:
        if (h === 0xfe && this.#firstFrameLength < MAX_FRAME) this.#onRowsEnd(b, o, n);
        return;
      case Awaiting.FIRST_PACKET:
        this.#onFirstPacket(b, o, n, h);
        return;
      case Awaiting.COLUMN_DEFINITIONS:
        this.#onDefinition(h, 'column definition');
        if (--this.#remaining === 0) this.#awaiting = this.#deprecateEof ? Awaiting.ROWS : Awaiting.COLUMNS_EOF;
        return;
      case Awaiting.COLUMNS_EOF:
        this.#readEof(b, o, n, 'EOF after column definitions');
        // A cursor was opened: the rows stay on the server until COM_STMT_FETCH.
        if (this.#cursor && this.#status & ServerStatus.SERVER_STATUS_CURSOR_EXISTS) this.#finish('eof', true);
        else this.#awaiting = Awaiting.ROWS;
        return;
      default:
        this.#onOtherShapes(b, o, n, h);
    }
  }

  /** Prepare, field list, single-packet and text responses. */
  #onOtherShapes(b: Uint8Array, o: number, n: number, h: number): void {
    switch (this.#awaiting) {
      case Awaiting.PREPARE_OK:
        this.#onPrepareOk(b, o, n, h);
        return;
      case Awaiting.PARAMETER_DEFINITIONS:
        this.#onDefinition(h, 'parameter definition');
        if (--this.#remaining === 0) {
          if (this.#deprecateEof) this.#afterParameters(false);
          else this.#awaiting = Awaiting.PARAMETERS_EOF;
        }
        return;
      case Awaiting.PARAMETERS_EOF:
        this.#readEof(b, o, n, 'EOF after parameter definitions');
        this.#afterParameters(true);
        return;
      case Awaiting.PREPARED_COLUMN_DEFINITIONS:
        this.#onDefinition(h, 'column definition');
        if (--this.#remaining === 0) {
          if (this.#deprecateEof) this.#finish('ok', false);
          else this.#awaiting = Awaiting.PREPARED_COLUMNS_EOF;
        }
        return;
      case Awaiting.PREPARED_COLUMNS_EOF:
        this.#readEof(b, o, n, 'EOF after column definitions');
        this.#finish('ok', true);
        return;
      case Awaiting.FIELD_DEFINITIONS:
        if (h === 0xfe && this.#firstFrameLength < MAX_FRAME) this.#finish(this.#readTerminator(b, o, n), true);
        else this.#onDefinition(h, 'column definition');
        return;
      case Awaiting.SINGLE_PACKET:
        if (h === 0x00) {
          this.#readOk(b, o, n);
          this.#finish('ok', true);
        } else if (h === 0xfe && this.#firstFrameLength < MAX_FRAME) {
          this.#finish(this.#readTerminator(b, o, n), true);
        } else {
          throw this.#unexpected('OK, ERR or EOF packet', h);
        }
        return;
      default:
        // Awaiting.TEXT: COM_STATISTICS answers with one packet of text.
        this.#finish('other', false);
    }
  }

  /** OK, ERR (handled before), LOCAL INFILE or a column count. */
  #onFirstPacket(b: Uint8Array, o: number, n: number, h: number): void {
    if (h === 0x00) {
      this.#readOk(b, o, n);
      // Multi-statements and CALL chain results; the last one clears the flag.
      if (!(this.#status & ServerStatus.SERVER_MORE_RESULTS_EXISTS)) this.#finish('ok', true);
      return;
    }
    if (h === 0xfb) throw new IamdbError('PROTO_MYSQL_LOCAL_INFILE_REQUEST', {});
    if (h === 0xfe) throw this.#unexpected('OK, ERR or column count', h);
    const count = readLenenc(b, o, o + n);
    const size = lenencSize;
    if (count < 1 || count > MAX_COLUMNS) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'column count packet', reason: `column count ${count}` });
    }
    let metadata = true;
    let length = size;
    if (this.#cacheMetadata) {
      // MARIADB_CLIENT_CACHE_METADATA: a byte after the count says whether column definitions follow.
      const follows = n > size ? (b[o + size] as number) : -1;
      if (follows !== 0 && follows !== 1) {
        throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'column count packet', reason: 'no metadata-follows byte (0 or 1)' });
      }
      metadata = follows === 1;
      length++;
    }
    if (this.#firstFrameLength !== length) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', {
        what: 'column count packet',
        reason: `${this.#firstFrameLength} bytes, expected ${length}`,
      });
    }
    this.#resultSets++;
    if (metadata) {
      this.#remaining = count;
      this.#awaiting = Awaiting.COLUMN_DEFINITIONS;
    } else {
      this.#awaiting = this.#deprecateEof ? Awaiting.ROWS : Awaiting.COLUMNS_EOF;
    }
  }

  /** A terminator (EOF, or OK with 0xFE) after rows: the result set ends; another may follow. */
  #onRowsEnd(b: Uint8Array, o: number, n: number): void {
    const outcome = this.#readTerminator(b, o, n);
    if (this.#shape !== Shape.FETCH && this.#status & ServerStatus.SERVER_MORE_RESULTS_EXISTS) {
      this.#awaiting = Awaiting.FIRST_PACKET;
      return;
    }
    this.#finish(outcome, true);
  }

  #onPrepareOk(b: Uint8Array, o: number, n: number, h: number): void {
    if (h !== 0x00) throw this.#unexpected('COM_STMT_PREPARE OK or ERR', h);
    if (n < 9) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'COM_STMT_PREPARE OK', reason: `${n} bytes, at least 9 expected` });
    }
    this.#statementId = ((b[o + 1] as number) | ((b[o + 2] as number) << 8) | ((b[o + 3] as number) << 16)) + (b[o + 4] as number) * 0x1000000;
    this.#columnsAfterParameters = u16(b, o + 5);
    this.#remaining = u16(b, o + 7);
    if (this.#remaining > 0) this.#awaiting = Awaiting.PARAMETER_DEFINITIONS;
    else this.#afterParameters(false);
  }

  /** Column definitions follow the parameters', or the prepare ends with the packet just read. */
  #afterParameters(statusReported: boolean): void {
    this.#remaining = this.#columnsAfterParameters;
    if (this.#remaining > 0) this.#awaiting = Awaiting.PREPARED_COLUMN_DEFINITIONS;
    else this.#finish('ok', statusReported);
  }

  /** A parameter or column definition; only its first byte is checked (0xFF was taken as ERR already). */
  #onDefinition(h: number, what: string): void {
    if (h === 0xfe) throw this.#unexpected(what, h);
  }

  /** ERR, or a MariaDB progress report (errno 0xFFFF), which does not end anything. */
  #onErr(b: Uint8Array, o: number, n: number): void {
    if (n < 3) throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'ERR packet', reason: 'no error number' });
    const errno = u16(b, o + 1);
    if (errno === 0xffff) {
      if (this.#progressReports) return;
      throw new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', {
        what: 'response (a progress report needs MARIADB_CLIENT_PROGRESS)',
        header: '0xff',
      });
    }
    this.#ending = {
      type: 'response',
      ...this.#endFields(false),
      outcome: 'err',
      errno,
      sqlState: sqlStateOf(b, o, n),
    };
  }

  /** Marks the response as ending with the current packet. */
  #finish(outcome: 'ok' | 'eof' | 'other', statusReported: boolean): void {
    this.#ending =
      outcome === 'ok'
        ? {
            type: 'response',
            ...this.#endFields(statusReported),
            outcome,
            affectedRows: this.#affectedRows,
            lastInsertId: this.#lastInsertId,
            statementId: this.#statementId,
          }
        : { type: 'response', ...this.#endFields(statusReported), outcome };
  }

  #endFields(statusReported: boolean): { ticket: number; command: number; end: number; statusFlags: number; statusReported: boolean; resultSets: number } {
    const p = this.#queue[this.#queueHead] as Pending;
    return { ticket: p.ticket, command: p.command, end: -1, statusFlags: this.#status, statusReported, resultSets: this.#resultSets };
  }

  /** OK packet fields up to the status flags; the rest (warnings, info, session state) is not needed. */
  #readOk(b: Uint8Array, o: number, n: number): void {
    const limit = o + n;
    const affected = readLenenc(b, o + 1, limit);
    const at = o + 1 + lenencSize;
    const insertId = affected < 0 ? -1 : readLenenc(b, at, limit);
    const statusAt = at + lenencSize;
    if (affected < 0 || insertId < 0 || statusAt + 2 > limit) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'OK packet', reason: 'truncated before the status flags' });
    }
    this.#affectedRows = affected;
    this.#lastInsertId = insertId;
    this.#status = u16(b, statusAt);
  }

  /** An EOF packet: 0xFE, warnings, status flags; shorter than 9 bytes. */
  #readEof(b: Uint8Array, o: number, n: number, what: string): void {
    const h = b[o] as number;
    if (h !== 0xfe || this.#firstFrameLength >= 9 || n < 5) throw this.#unexpected(what, h);
    this.#status = u16(b, o + 3);
  }

  /** The 0xFE packet that ends rows or a field list: OK under CLIENT_DEPRECATE_EOF (7+ bytes), else EOF. */
  #readTerminator(b: Uint8Array, o: number, n: number): 'ok' | 'eof' {
    if (this.#deprecateEof && this.#firstFrameLength >= 7) {
      this.#readOk(b, o, n);
      return 'ok';
    }
    this.#readEof(b, o, n, this.#deprecateEof ? 'OK packet (0xFE)' : 'EOF packet');
    return 'eof';
  }

  #unexpected(what: string, h: number): IamdbError {
    return new IamdbError('PROTO_MYSQL_UNEXPECTED_PACKET', {
      what,
      header: `${hexByte(h)} (${this.#firstFrameLength} bytes)`,
    });
  }

  /** Describes an unsolicited packet without trusting it: nothing here throws. */
  #describeUnsolicited(b: Uint8Array, o: number, n: number): MutableEvent {
    const h = b[o] as number;
    let outcome: ResponseOutcome = 'other';
    let errno: number | undefined;
    let sqlState: string | undefined;
    if (h === 0xff && n >= 3) {
      outcome = 'err';
      errno = u16(b, o + 1);
      sqlState = sqlStateOf(b, o, n);
    } else if (h === 0x00 && n >= 7) {
      outcome = 'ok';
    } else if (h === 0xfe && this.#firstFrameLength < MAX_FRAME && n >= 5) {
      outcome = this.#deprecateEof && n >= 7 ? 'ok' : 'eof';
    }
    return { type: 'unsolicited', end: -1, outcome, errno, sqlState };
  }
}

/** The five characters after '#' in an ERR packet, when present. */
function sqlStateOf(b: Uint8Array, o: number, n: number): string | undefined {
  if (n < 9 || b[o + 3] !== 0x23) return undefined;
  return String.fromCharCode(b[o + 4] as number, b[o + 5] as number, b[o + 6] as number, b[o + 7] as number, b[o + 8] as number);
}
