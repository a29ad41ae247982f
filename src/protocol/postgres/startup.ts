/**
 * Incremental framer for the untyped startup phase: SSLRequest,
 * GSSENCRequest, CancelRequest and StartupMessage, which carry no type byte,
 * only an Int32 length.
 *
 * Why `push` and `next` are separate: after an SSLRequest the gateway must
 * check {@link StartupDecoder.pendingBytes} before it starts TLS. Bytes that
 * arrived after the request in cleartext would otherwise be read as if they
 * had come through TLS (STARTTLS buffer stuffing, CVE-2021-23214 and
 * PgBouncer CVE-2021-3935). Handing out one packet at a time makes that check
 * the natural next step.
 *
 * @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 * @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
 * @module
 */
import { IamdbError, isIamdbError } from '../../errors/index.js';
import { asBuffer } from '../common/byte-reader.js';
import { checkLimit, PG_MAX_STARTUP_BYTES, PG_MIN_STARTUP_BYTES } from '../common/limits.js';
import { decodeStartupPacket, type StartupPacket } from './frontend/startup-message.js';

const EMPTY = Buffer.alloc(0);

/** Options for {@link StartupDecoder}. */
export interface StartupDecoderOptions {
  /** Largest packet accepted, length word included; at most (and by default) 10,000. */
  readonly maxStartupBytes?: number;
}

/**
 * @example
 *   const d = new StartupDecoder();
 *   d.push(chunk);
 *   const packet = d.next();
 *   if (packet?.type === 'SSLRequest' && d.pendingBytes() > 0) closeConnection();
 */
export class StartupDecoder {
  readonly #max: number;
  #buf: Buffer = EMPTY;
  #failed: IamdbError | undefined;

  constructor(options: StartupDecoderOptions = {}) {
    this.#max = checkLimit('maxStartupBytes', options.maxStartupBytes ?? PG_MAX_STARTUP_BYTES, PG_MIN_STARTUP_BYTES, PG_MAX_STARTUP_BYTES);
  }

  /**
   * Buffers a chunk. As soon as 4 bytes are in, the declared length is
   * checked, so an absurd length fails here instead of waiting for bytes that
   * would never be accepted.
   */
  push(chunk: Uint8Array): void {
    this.#throwIfFailed();
    if (chunk.length === 0) return;
    const c = asBuffer(chunk);
    this.#buf = this.#buf.length === 0 ? c : Buffer.concat([this.#buf, c]);
    this.#guard(() => this.#declaredLength());
  }

  /**
   * The next complete packet, or `undefined` until enough bytes arrive.
   * Throws `IamdbError` (`PROTO_BAD_LENGTH`, `PROTO_MESSAGE_TOO_LARGE`,
   * `PROTO_UNSUPPORTED_VERSION`, `PROTO_BAD_STARTUP_PARAMS`,
   * `PROTO_DUPLICATE_PARAM`, `PROTO_MISSING_USER`, ...); after a throw the
   * decoder stays failed, since the stream can no longer be framed.
   */
  next(): StartupPacket | undefined {
    this.#throwIfFailed();
    return this.#guard(() => {
      const length = this.#declaredLength();
      if (length === undefined || this.#buf.length < length) return undefined;
      const packet = this.#buf.subarray(0, length);
      this.#buf = this.#buf.length === length ? EMPTY : this.#buf.subarray(length);
      return decodeStartupPacket(packet);
    });
  }

  /** Bytes buffered but not yet returned as a packet. */
  pendingBytes(): number {
    return this.#buf.length;
  }

  /**
   * Removes and returns the buffered bytes: after a StartupMessage, they
   * belong to the typed-message framer ({@link FrameDecoder}).
   */
  takePending(): Buffer {
    const rest = this.#buf;
    this.#buf = EMPTY;
    return rest;
  }

  #declaredLength(): number | undefined {
    if (this.#buf.length < 4) return undefined;
    const length = this.#buf.readUInt32BE(0);
    if (length < PG_MIN_STARTUP_BYTES) throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'startup packet' });
    if (length > this.#max) {
      throw new IamdbError('PROTO_MESSAGE_TOO_LARGE', { what: 'startup packet', length, limit: this.#max });
    }
    return length;
  }

  #guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      this.#failed = isIamdbError(err) ? err : new IamdbError('INTERNAL', { what: 'startup decoder' }, { cause: err });
      this.#buf = EMPTY;
      throw this.#failed;
    }
  }

  #throwIfFailed(): void {
    if (this.#failed) throw new IamdbError('PROTO_DECODER_FAILED', { first: this.#failed.code }, { cause: this.#failed });
  }
}
