/**
 * Incremental framer for typed PostgreSQL messages: Byte1 type, Int32 length
 * (counting itself, not the type byte), then the body.
 *
 * The length is checked the moment the 5-byte header is complete, before a
 * single body byte is waited for: `< 4` is malformed, `> maxMessageBytes` is
 * refused (the length is read unsigned, so 0xffffffff is 4 GiB, not -1).
 * Nothing is allocated from the declared length: chunks are kept as they
 * arrive and joined only when the whole message is there, so a peer that
 * declares 1 GiB and sends 10 bytes costs 10 bytes.
 *
 * A message lying inside one chunk comes out as a view into that chunk (no
 * copy); only messages that straddle chunks are joined.
 *
 * @see https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS
 * @module
 */
import { IamdbError, isIamdbError } from '../../errors/index.js';
import { asBuffer } from '../common/byte-reader.js';
import { checkLimit, PG_DEFAULT_MAX_MESSAGE_BYTES } from '../common/limits.js';
import { describeCode } from './codes.js';

const EMPTY = Buffer.alloc(0);

/** One typed message. `body` excludes the type byte and the length word. */
export interface Frame {
  /** The type byte, e.g. 0x5a for 'Z'. */
  readonly type: number;
  /** The body: a view into the pushed chunk when possible; copy it to keep it past the chunk's life. */
  readonly body: Buffer;
}

/** Options for {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest message accepted, length word included (type byte excluded). Default 1 GiB - 1. */
  readonly maxMessageBytes?: number;
  /** Names the stream in errors, e.g. `'upstream'` or `'client'`. */
  readonly what?: string;
}

/**
 * @example
 *   const frames = new FrameDecoder({ maxMessageBytes: 1 << 20 });
 *   socket.on('data', (chunk) => {
 *     for (const frame of frames.feed(chunk)) handle(frame);
 *   });
 */
export class FrameDecoder {
  readonly #max: number;
  readonly #what: string;
  #chunks: Buffer[] = [];
  /** Read position inside `#chunks[0]`. */
  #head = 0;
  /** Bytes buffered from `#head` on. */
  #total = 0;
  /** Header of the message being waited for, once known. */
  #type = -1;
  #length = 0;
  #failed: IamdbError | undefined;
  #header = Buffer.alloc(5);

  constructor(options: FrameDecoderOptions = {}) {
    this.#max = checkLimit('maxMessageBytes', options.maxMessageBytes ?? PG_DEFAULT_MAX_MESSAGE_BYTES, 5, PG_DEFAULT_MAX_MESSAGE_BYTES);
    this.#what = options.what ?? 'message';
  }

  /** Buffers a chunk (kept by reference, not copied) and checks any header it completes. */
  push(chunk: Uint8Array): void {
    this.#throwIfFailed();
    if (chunk.length === 0) return;
    this.#chunks.push(asBuffer(chunk));
    this.#total += chunk.length;
    if (this.#type === -1) this.#guard(() => this.#readHeader());
  }

  /**
   * The next complete message, or `undefined` until more bytes arrive.
   * Throws `PROTO_BAD_LENGTH` or `PROTO_MESSAGE_TOO_LARGE`; the decoder then
   * stays failed, as the stream can no longer be framed.
   */
  next(): Frame | undefined {
    this.#throwIfFailed();
    return this.#guard(() => {
      if (this.#type === -1 && !this.#readHeader()) return undefined;
      const bodyLength = this.#length - 4;
      if (this.#total < 5 + bodyLength) return undefined;
      this.#skip(5);
      const body = this.#take(bodyLength);
      const frame: Frame = { type: this.#type, body };
      this.#type = -1;
      return frame;
    });
  }

  /** Pushes a chunk and yields every message it completes. */
  *feed(chunk: Uint8Array): Generator<Frame, void, undefined> {
    this.push(chunk);
    for (let f = this.next(); f !== undefined; f = this.next()) yield f;
  }

  /** Bytes buffered but not yet returned in a message. */
  pendingBytes(): number {
    return this.#total;
  }

  /**
   * Removes and returns every buffered byte (joined): when login ends, bytes
   * already read belong to the relay, which forwards them unparsed.
   */
  takePending(): Buffer {
    const out = this.#chunks.length === 0 ? EMPTY : Buffer.concat(this.#chunks).subarray(this.#head);
    this.#chunks = [];
    this.#head = 0;
    this.#total = 0;
    this.#type = -1;
    return out;
  }

  /** True when no partial message is buffered (the stream sits on a message boundary). */
  atBoundary(): boolean {
    return this.#total === 0;
  }

  /** Reads and checks the 5-byte header if it is all there; true when it is. */
  #readHeader(): boolean {
    if (this.#total < 5) return false;
    const first = this.#chunks[0]!;
    if (first.length - this.#head >= 5) {
      const type = first[this.#head]!;
      const length = first.readUInt32BE(this.#head + 1);
      return this.#acceptHeader(type, length);
    }
    const h = this.#header;
    this.#peek(h, 5);
    return this.#acceptHeader(h[0]!, h.readUInt32BE(1));
  }

  #acceptHeader(type: number, length: number): boolean {
    if (length < 4) {
      throw new IamdbError('PROTO_BAD_LENGTH', { length, what: `${this.#what} ${describeCode(type)}` });
    }
    if (length > this.#max) {
      throw new IamdbError('PROTO_MESSAGE_TOO_LARGE', {
        what: `${this.#what} ${describeCode(type)}`,
        length,
        limit: this.#max,
      });
    }
    this.#type = type;
    this.#length = length;
    return true;
  }

  /** Copies the first `n` buffered bytes into `out` without consuming them. */
  #peek(out: Buffer, n: number): void {
    let copied = 0;
    let offset = this.#head;
    for (const c of this.#chunks) {
      const k = Math.min(n - copied, c.length - offset);
      c.copy(out, copied, offset, offset + k);
      copied += k;
      offset = 0;
      if (copied === n) return;
    }
  }

  #skip(n: number): void {
    this.#take(n);
  }

  /** Consumes `n` bytes: a view when they sit in one chunk, else one joined copy. */
  #take(n: number): Buffer {
    this.#total -= n;
    const first = this.#chunks[0];
    if (n === 0) return EMPTY;
    if (first !== undefined && first.length - this.#head >= n) {
      const out = first.subarray(this.#head, this.#head + n);
      this.#head += n;
      if (this.#head === first.length) this.#dropFirst();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const c = this.#chunks[0]!;
      const k = Math.min(n - copied, c.length - this.#head);
      c.copy(out, copied, this.#head, this.#head + k);
      copied += k;
      this.#head += k;
      if (this.#head === c.length) this.#dropFirst();
    }
    return out;
  }

  #dropFirst(): void {
    this.#chunks.shift();
    this.#head = 0;
  }

  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      this.#failed = isIamdbError(err) ? err : new IamdbError('INTERNAL', { what: 'frame decoder' }, { cause: err });
      this.#chunks = [];
      this.#total = 0;
      this.#head = 0;
      throw this.#failed;
    }
  }

  #throwIfFailed(): void {
    if (this.#failed) throw new IamdbError('PROTO_DECODER_FAILED', { first: this.#failed.code }, { cause: this.#failed });
  }
}
