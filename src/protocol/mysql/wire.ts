/**
 * Bounds-checked reader and growable writer for MySQL packet payloads, with
 * one method per wire type of the protocol documentation: fixed-length
 * integers (little-endian), length-encoded integers and strings,
 * NUL-terminated strings, fixed-length strings and rest-of-packet strings.
 *
 * Kept inside protocol/mysql on purpose: the MySQL codecs must not depend on
 * protocol/common while it is being written, and these readers speak only
 * MySQL's wire types.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_data_types.html
 * @see https://mariadb.com/kb/en/protocol-data-types/
 */
import { IamdbError } from '../../errors/index.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a payload front to back. Every read checks the remaining length and
 * throws `PROTO_MYSQL_TRUNCATED` instead of returning undefined; reads return
 * views (`subarray`), never copies, so the payload's `byteOffset` is honoured.
 *
 * @example
 *   const r = new PayloadReader(payload, 'OK packet');
 *   const header = r.readFixedLengthInteger(1);
 */
export class PayloadReader {
  #offset = 0;

  /** @param what names the packet in error messages ("HandshakeResponse41"). */
  constructor(
    readonly bytes: Uint8Array,
    readonly what: string,
  ) {}

  /** Current read position. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes not yet read. */
  get remaining(): number {
    return this.bytes.length - this.#offset;
  }

  /** True when every byte has been read. */
  get atEnd(): boolean {
    return this.#offset >= this.bytes.length;
  }

  /** Next byte without consuming it, or undefined at the end. */
  peekByte(): number | undefined {
    return this.bytes[this.#offset];
  }

  #need(n: number): void {
    if (n > this.remaining) {
      throw new IamdbError('PROTO_MYSQL_TRUNCATED', {
        what: this.what,
        needed: n - this.remaining,
        offset: this.#offset,
      });
    }
  }

  /** `int<n>`: fixed-length little-endian unsigned integer, n in 1..6 or 8 (8 must fit a safe integer). */
  readFixedLengthInteger(n: 1 | 2 | 3 | 4 | 6 | 8): number {
    this.#need(n);
    const b = this.bytes;
    const o = this.#offset;
    let value = 0;
    let scale = 1;
    for (let i = 0; i < n; i++) {
      value += (b[o + i] as number) * scale;
      scale *= 256;
    }
    if (!Number.isSafeInteger(value)) {
      throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: this.what, reason: `integer at offset ${o} is too large` });
    }
    this.#offset += n;
    return value;
  }

  /**
   * `int<lenenc>`. 0xFB (NULL in rows) and 0xFF (ERR marker) are not integers
   * here and throw, as do 8-byte values beyond Number.MAX_SAFE_INTEGER.
   */
  readLengthEncodedInteger(): number {
    this.#need(1);
    const first = this.bytes[this.#offset] as number;
    if (first < 0xfb) {
      this.#offset += 1;
      return first;
    }
    const width = first === 0xfc ? 2 : first === 0xfd ? 3 : first === 0xfe ? 8 : 0;
    if (width === 0) {
      throw new IamdbError('PROTO_MYSQL_BAD_LENGTH_ENCODED_INTEGER', {
        what: this.what,
        first: `0x${first.toString(16)}`,
        offset: this.#offset,
      });
    }
    this.#need(1 + width);
    this.#offset += 1;
    return this.readFixedLengthInteger(width as 2 | 3 | 8);
  }

  /** `string<fix>`: exactly n bytes, as a view. */
  readFixedLengthBytes(n: number): Uint8Array {
    this.#need(n);
    const out = this.bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }

  /** Skips n bytes (fillers, reserved areas). */
  skip(n: number): void {
    this.#need(n);
    this.#offset += n;
  }

  /**
   * `string<lenenc>` as bytes. The declared length is checked against the
   * bytes present (and `max`) before any view is taken.
   */
  readLengthEncodedBytes(field: string, max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const length = this.readLengthEncodedInteger();
    if (length > max) {
      throw new IamdbError('PROTO_MYSQL_FIELD_TOO_LONG', { what: this.what, field, length, max });
    }
    return this.readFixedLengthBytes(length);
  }

  /** `string<NUL>` as bytes (without the NUL), searching at most `max` bytes. */
  readNulTerminatedBytes(field: string, max = Number.MAX_SAFE_INTEGER): Uint8Array {
    const start = this.#offset;
    // Search only max+1 bytes so a huge unterminated field costs no more than the bound.
    const window = this.bytes.subarray(start, Math.min(this.bytes.length, start + max + 1));
    const nul = window.indexOf(0);
    if (nul === -1) {
      if (window.length <= max) {
        throw new IamdbError('PROTO_MYSQL_UNTERMINATED_STRING', { what: this.what, offset: start });
      }
      throw new IamdbError('PROTO_MYSQL_FIELD_TOO_LONG', { what: this.what, field, length: window.length, max });
    }
    this.#offset = start + nul + 1;
    return this.bytes.subarray(start, start + nul);
  }

  /** `string<EOF>`: the rest of the payload as bytes. */
  readRestOfPacketBytes(): Uint8Array {
    const out = this.bytes.subarray(this.#offset);
    this.#offset = this.bytes.length;
    return out;
  }

  /** `string<NUL>` decoded as strict UTF-8 (invalid bytes throw, so two byte strings never map to one name). */
  readNulTerminatedString(field: string, max?: number): string {
    return this.text(this.readNulTerminatedBytes(field, max), field);
  }

  /** `string<lenenc>` decoded as strict UTF-8. */
  readLengthEncodedString(field: string, max?: number): string {
    return this.text(this.readLengthEncodedBytes(field, max), field);
  }

  /** `string<EOF>` decoded as strict UTF-8. */
  readRestOfPacketString(field: string): string {
    return this.text(this.readRestOfPacketBytes(), field);
  }

  /** Strict UTF-8 decoding with a protocol error on bad bytes. */
  text(bytes: Uint8Array, field: string): string {
    try {
      return utf8.decode(bytes);
    } catch {
      throw new IamdbError('PROTO_MYSQL_INVALID_TEXT', { what: this.what, field });
    }
  }
}

/**
 * Appends wire types to a growing buffer. `finish()` returns a Buffer holding
 * exactly the bytes written.
 *
 * @example
 *   const w = new PayloadWriter('OK packet');
 *   w.writeFixedLengthInteger(0, 1).writeLengthEncodedInteger(1);
 *   const payload = w.finish();
 */
export class PayloadWriter {
  #buf: Buffer;
  #length = 0;

  constructor(
    readonly what: string,
    initialSize = 64,
  ) {
    this.#buf = Buffer.allocUnsafe(initialSize);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#length;
  }

  #ensure(n: number): void {
    if (this.#length + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#length + n));
    this.#buf.copy(next, 0, 0, this.#length);
    this.#buf = next;
  }

  #bad(reason: string): never {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: this.what, reason });
  }

  /** `int<n>` little-endian; the value must be a non-negative integer that fits n bytes. */
  writeFixedLengthInteger(value: number, n: 1 | 2 | 3 | 4 | 6 | 8): this {
    if (!Number.isSafeInteger(value) || value < 0 || (n < 8 && value >= 2 ** (8 * n))) {
      this.#bad(`${value} does not fit int<${n}>`);
    }
    this.#ensure(n);
    let v = value;
    for (let i = 0; i < n; i++) {
      this.#buf[this.#length + i] = v % 256;
      v = Math.floor(v / 256);
    }
    this.#length += n;
    return this;
  }

  /** `int<lenenc>`: 1, 3, 4 or 9 bytes depending on the value. */
  writeLengthEncodedInteger(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) this.#bad(`${value} is not a length-encoded integer`);
    if (value < 0xfb) return this.writeFixedLengthInteger(value, 1);
    if (value < 0x1_0000) return this.writeFixedLengthInteger(0xfc, 1).writeFixedLengthInteger(value, 2);
    if (value < 0x100_0000) return this.writeFixedLengthInteger(0xfd, 1).writeFixedLengthInteger(value, 3);
    return this.writeFixedLengthInteger(0xfe, 1).writeFixedLengthInteger(value, 8);
  }

  /** `string<fix>` / `string<EOF>`: raw bytes. */
  writeBytes(bytes: Uint8Array): this {
    this.#ensure(bytes.length);
    this.#buf.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** n zero bytes (fillers, reserved areas). */
  writeZeros(n: number): this {
    this.#ensure(n);
    this.#buf.fill(0, this.#length, this.#length + n);
    this.#length += n;
    return this;
  }

  /** `string<lenenc>`; strings are written as UTF-8. */
  writeLengthEncodedString(value: string | Uint8Array): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    return this.writeLengthEncodedInteger(bytes.length).writeBytes(bytes);
  }

  /** `string<NUL>`; the value itself must not contain a NUL byte. */
  writeNulTerminatedString(value: string | Uint8Array): this {
    const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
    if (bytes.includes(0)) this.#bad('a NUL-terminated string contains a NUL byte');
    return this.writeBytes(bytes).writeFixedLengthInteger(0, 1);
  }

  /** `string<EOF>`; strings are written as UTF-8. */
  writeRestOfPacketString(value: string | Uint8Array): this {
    return this.writeBytes(typeof value === 'string' ? Buffer.from(value, 'utf8') : value);
  }

  /** The payload written so far (a copy sized exactly). */
  finish(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#length));
  }
}
