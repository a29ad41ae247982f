/**
 * Growable big-endian writer for building wire messages.
 *
 * A message's length is known only once its body is written, so the writer
 * reserves the length word up front and fills it in at the end (the
 * pg-protocol habit) instead of measuring every field twice.
 *
 * @module
 */
import { IamdbError } from '../../errors/index.js';

/**
 * @example
 *   const w = new ByteWriter();
 *   w.beginMessage(0x53); // 'S' ParameterStatus
 *   w.cstring('TimeZone').cstring('UTC');
 *   w.endMessage();
 *   socketWrite(w.finish());
 */
export class ByteWriter {
  #buf: Buffer;
  #len = 0;
  #lengthAt = -1;

  constructor(initialSize = 256) {
    this.#buf = Buffer.allocUnsafe(Math.max(16, initialSize));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#len;
  }

  #ensure(n: number): number {
    const at = this.#len;
    const need = at + n;
    if (need > this.#buf.length) {
      let size = this.#buf.length * 2;
      while (size < need) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.#buf.copy(next, 0, 0, at);
      this.#buf = next;
    }
    this.#len = need;
    return at;
  }

  /** Appends one byte (0..255, or -128..127). */
  int8(v: number): this {
    const at = this.#ensure(1);
    this.#buf[at] = v & 0xff;
    return this;
  }

  /** Appends a big-endian 16-bit integer (signed or unsigned range). */
  int16(v: number): this {
    const at = this.#ensure(2);
    this.#buf.writeUInt16BE(v & 0xffff, at);
    return this;
  }

  /** Appends a big-endian 32-bit integer (signed or unsigned range). */
  int32(v: number): this {
    const at = this.#ensure(4);
    this.#buf.writeUInt32BE(v >>> 0, at);
    return this;
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): this {
    const at = this.#ensure(b.length);
    this.#buf.set(b, at);
    return this;
  }

  /** Appends a UTF-8 string without terminator. */
  string(s: string): this {
    const n = Buffer.byteLength(s, 'utf8');
    const at = this.#ensure(n);
    this.#buf.write(s, at, n, 'utf8');
    return this;
  }

  /**
   * Appends a NUL-terminated UTF-8 string. A string holding NUL is refused
   * (`PROTO_UNENCODABLE`): it would end the field early and let the rest be
   * read as the next field, which is how startup-parameter injection works.
   */
  cstring(s: string, what = 'string'): this {
    if (s.includes('\0')) {
      throw new IamdbError('PROTO_UNENCODABLE', { what, reason: 'contains a NUL character' });
    }
    this.string(s);
    return this.int8(0);
  }

  /**
   * Starts a message: writes the type byte (omit it for startup packets,
   * which have none) and reserves the Int32 length.
   */
  beginMessage(type?: number): this {
    if (this.#lengthAt !== -1) {
      throw new IamdbError('INTERNAL', { what: 'ByteWriter.beginMessage called inside a message' });
    }
    if (type !== undefined) this.int8(type);
    this.#lengthAt = this.#ensure(4);
    return this;
  }

  /** Fills in the length reserved by {@link beginMessage}: it counts itself and the body, not the type byte. */
  endMessage(): this {
    const at = this.#lengthAt;
    if (at === -1) throw new IamdbError('INTERNAL', { what: 'ByteWriter.endMessage without beginMessage' });
    this.#buf.writeUInt32BE(this.#len - at, at);
    this.#lengthAt = -1;
    return this;
  }

  /** Returns a copy of everything written and empties the writer for reuse. */
  finish(): Buffer {
    if (this.#lengthAt !== -1) throw new IamdbError('INTERNAL', { what: 'ByteWriter.finish inside a message' });
    const out = Buffer.from(this.#buf.subarray(0, this.#len));
    this.#len = 0;
    return out;
  }
}

/**
 * Builds one typed message in a fresh writer and returns its bytes.
 *
 * @example
 *   const terminate = buildMessage(0x58, () => {}); // 'X'
 */
export function buildMessage(type: number | undefined, body: (w: ByteWriter) => void, sizeHint = 64): Buffer {
  const w = new ByteWriter(sizeHint);
  w.beginMessage(type);
  body(w);
  w.endMessage();
  return w.finish();
}
