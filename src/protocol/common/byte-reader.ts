/**
 * Bounds-checked big-endian reader over one message body.
 *
 * Why not a DataView on `.buffer`: Node hands out pooled Buffers whose
 * `byteOffset` is not 0, and reading the backing ArrayBuffer directly reads
 * some other connection's bytes (the pg-gateway bug). Every read here goes
 * through a Buffer view that starts at the right offset, and every read is
 * checked against the view's end first, so running off the end is an
 * `IamdbError('PROTO_TRUNCATED')`, never `undefined` or a RangeError.
 *
 * One reader can be reused across frames with {@link ByteReader.reset} so the
 * hot path allocates nothing per message.
 *
 * @module
 */
import { IamdbError } from '../../errors/index.js';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Wraps any Uint8Array as a Buffer over the same bytes (no copy, offset kept). */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Options for {@link ByteReader.cstring}. */
export interface CStringOptions {
  /** Most bytes the string may hold, NUL excluded. Default: the rest of the body. */
  readonly max?: number;
  /** Reject invalid UTF-8 with `PROTO_BAD_ENCODING` instead of replacing it with U+FFFD. */
  readonly strict?: boolean;
  /** Names the field in errors. */
  readonly what?: string;
}

/**
 * Reads integers, NUL-terminated strings and byte runs from a body.
 *
 * @example
 *   const r = new ByteReader(frame.body, 'ParameterStatus');
 *   const name = r.cstring({ max: 1024 });
 *   const value = r.cstring();
 *   r.expectEnd();
 */
export class ByteReader {
  #buf: Buffer;
  #pos: number;
  #end: number;
  #what: string;

  /**
   * @param bytes the body; only `bytes[start, end)` is readable
   * @param what names the message in errors (e.g. `'ErrorResponse'`)
   */
  constructor(bytes: Uint8Array, what = 'message', start = 0, end = bytes.length) {
    this.#buf = asBuffer(bytes);
    this.#pos = 0;
    this.#end = 0;
    this.#what = what;
    this.reset(bytes, what, start, end);
  }

  /** Points the reader at a new body, reusing this object. */
  reset(bytes: Uint8Array, what = this.#what, start = 0, end = bytes.length): this {
    if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && start <= end && end <= bytes.length)) {
      throw new IamdbError('INTERNAL', { what: `ByteReader range ${start}..${end} outside ${bytes.length}` });
    }
    this.#buf = asBuffer(bytes);
    this.#pos = start;
    this.#end = end;
    this.#what = what;
    return this;
  }

  /** Current read position, relative to the wrapped bytes. */
  get offset(): number {
    return this.#pos;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.#end - this.#pos;
  }

  /** The name used in this reader's errors. */
  get what(): string {
    return this.#what;
  }

  #need(n: number): number {
    const at = this.#pos;
    if (n > this.#end - at) {
      throw new IamdbError('PROTO_TRUNCATED', {
        what: this.#what,
        needed: n,
        offset: at,
        available: this.#end - at,
      });
    }
    this.#pos = at + n;
    return at;
  }

  /** Unsigned byte. */
  uint8(): number {
    return this.#buf[this.#need(1)]!;
  }

  /** Signed byte. */
  int8(): number {
    return this.#buf.readInt8(this.#need(1));
  }

  /** Signed 16-bit big-endian (PostgreSQL `Int16`). */
  int16(): number {
    return this.#buf.readInt16BE(this.#need(2));
  }

  /** Unsigned 16-bit big-endian. */
  uint16(): number {
    return this.#buf.readUInt16BE(this.#need(2));
  }

  /** Signed 32-bit big-endian (PostgreSQL `Int32`). */
  int32(): number {
    return this.#buf.readInt32BE(this.#need(4));
  }

  /** Unsigned 32-bit big-endian; lengths are read this way so 0xffffffff stays huge, not -1. */
  uint32(): number {
    return this.#buf.readUInt32BE(this.#need(4));
  }

  /** Next `n` bytes as a view (no copy): keep it only as long as the input buffer. */
  bytes(n: number): Buffer {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new IamdbError('PROTO_BAD_LENGTH', { length: n, what: this.#what });
    }
    const at = this.#need(n);
    return this.#buf.subarray(at, at + n);
  }

  /** Everything left, as a view. */
  rest(): Buffer {
    return this.bytes(this.remaining);
  }

  /**
   * A NUL-terminated string (PostgreSQL `String`), decoded as UTF-8.
   * Throws `PROTO_STRING_TOO_LONG` when no NUL comes within `max` bytes and
   * `PROTO_TRUNCATED` when the body ends first.
   */
  cstring(options: CStringOptions = {}): string {
    return this.#decode(this.cstringBytes(options), options);
  }

  /** Like {@link cstring} but returns the raw bytes (NUL excluded) as a view. */
  cstringBytes(options: CStringOptions = {}): Buffer {
    const start = this.#pos;
    const max = options.max ?? Number.MAX_SAFE_INTEGER;
    const limit = Math.min(this.#end, start + max + 1);
    const found = this.#buf.subarray(start, limit).indexOf(0);
    if (found === -1) {
      // No NUL in reach: either the string runs past `max` or the body ends first.
      if (limit < this.#end) {
        throw new IamdbError('PROTO_STRING_TOO_LONG', { what: options.what ?? `string in ${this.#what}`, max });
      }
      throw new IamdbError('PROTO_TRUNCATED', {
        what: options.what ?? `string in ${this.#what}`,
        needed: this.#end - start + 1,
        offset: start,
        available: this.#end - start,
      });
    }
    const nul = start + found;
    this.#pos = nul + 1;
    return this.#buf.subarray(start, nul);
  }

  /** A fixed-length run of bytes decoded as UTF-8. */
  string(n: number, options: Pick<CStringOptions, 'strict' | 'what'> = {}): string {
    return this.#decode(this.bytes(n), options);
  }

  #decode(bytes: Buffer, options: Pick<CStringOptions, 'strict' | 'what'>): string {
    if (!options.strict) return bytes.toString('utf8');
    try {
      return strictUtf8.decode(bytes);
    } catch (cause) {
      throw new IamdbError('PROTO_BAD_ENCODING', { what: options.what ?? `string in ${this.#what}` }, { cause });
    }
  }

  /** Throws `PROTO_TRAILING_BYTES` unless the body is fully consumed. */
  expectEnd(): void {
    if (this.#pos !== this.#end) {
      throw new IamdbError('PROTO_TRAILING_BYTES', { what: this.#what, count: this.#end - this.#pos });
    }
  }
}
