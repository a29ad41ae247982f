/**
 * Incremental MySQL packet framing: 3-byte little-endian payload length and a
 * 1-byte sequence id per frame; a frame of exactly 0xFFFFFF bytes is continued
 * by the next one, and the logical payload is the concatenation.
 *
 * Safety: the running total of a logical packet is checked against
 * maxAllowedPacket as soon as each frame header is seen, before the frame's
 * bytes are awaited or any buffer is sized from it. A single-frame payload
 * that arrived in one chunk is returned as a view of that chunk (no copy).
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html
 * @see https://mariadb.com/kb/en/0-packet/
 */
import { IamdbError } from '../../errors/index.js';
import { Limits } from './constants.js';

const HEADER = 4;
const MAX_FRAME = Limits.MAX_FRAME_PAYLOAD;
/** Chunks up to this size are coalesced into a staging buffer of STAGE_SIZE. */
const SMALL_CHUNK = 1024;
const STAGE_SIZE = 16 * 1024;

/** One logical packet: its payload and the sequence ids of its first and last frame. */
export interface MysqlPacket {
  /** Sequence id of the first frame. */
  readonly sequenceId: number;
  /** Sequence id of the last frame; a reply starts at `(lastSequenceId + 1) & 0xff`. */
  readonly lastSequenceId: number;
  /** Reassembled payload (without headers). */
  readonly payload: Buffer;
  /** Number of frames it took (1 unless the payload reached 0xFFFFFF bytes). */
  readonly frames: number;
}

/** Options of {@link PacketFramer}. */
export interface PacketFramerOptions {
  /** Largest logical payload accepted, counted across continuations. Default 64 MiB. */
  readonly maxAllowedPacket?: number;
  /** Sequence id the first frame of the first packet must carry; unchecked when omitted. */
  readonly expectedSequenceId?: number;
}

/**
 * Splits a byte stream, fed in arbitrary chunks, into logical packets.
 *
 * Continuation frames must carry consecutive sequence ids (mod 256). The
 * first frame of a packet is checked only against an expectation set with
 * {@link PacketFramer.expectSequenceId}, because in the command phase the
 * client restarts at 0 while in the handshake it continues the server's count.
 *
 * @example
 *   const framer = new PacketFramer({ maxAllowedPacket: 16 << 20 });
 *   framer.expectSequenceId(1);
 *   for (const packet of framer.push(chunk)) handle(packet.payload);
 */
export class PacketFramer {
  readonly maxAllowedPacket: number;
  #chunks: Buffer[] = [];
  /** Read position inside #chunks[0]. */
  #head = 0;
  /** Unread bytes across #chunks. */
  #available = 0;
  #expected: number | undefined;
  /** Frames of the logical packet being reassembled. */
  #parts: Buffer[] = [];
  #partsTotal = 0;
  #firstSeq = 0;
  #lastSeq = 0;
  #stage: Buffer | undefined;
  #stageStart = 0;
  #stageUsed = 0;
  #stageView: Buffer | undefined;

  constructor(options: PacketFramerOptions = {}) {
    const max = options.maxAllowedPacket ?? Limits.DEFAULT_MAX_ALLOWED_PACKET;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', {
        what: 'packet framer',
        reason: 'maxAllowedPacket must be a positive integer',
      });
    }
    this.maxAllowedPacket = max;
    if (options.expectedSequenceId !== undefined) this.expectSequenceId(options.expectedSequenceId);
  }

  /** Requires the next packet's first frame to carry `sequenceId` (0-255); `undefined` stops checking. */
  expectSequenceId(sequenceId: number | undefined): void {
    if (sequenceId !== undefined && !(Number.isInteger(sequenceId) && sequenceId >= 0 && sequenceId <= 255)) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'packet framer', reason: 'sequence id must be 0-255' });
    }
    this.#expected = sequenceId;
  }

  /** Bytes received but not yet returned in a packet. */
  get bufferedBytes(): number {
    return this.#available + this.#partsTotal + (this.#parts.length > 0 ? HEADER * this.#parts.length : 0);
  }

  /** True while part of a packet has been received. */
  get hasPartialPacket(): boolean {
    return this.#available > 0 || this.#parts.length > 0;
  }

  /** Feeds a chunk; returns the packets it completed, in order. */
  push(chunk: Uint8Array): MysqlPacket[] {
    if (chunk.length > 0) {
      const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
      if (buf.length <= SMALL_CHUNK) this.#pushSmall(buf);
      else this.#chunks.push(buf);
      this.#available += buf.length;
    }
    const out: MysqlPacket[] = [];
    for (;;) {
      const packet = this.#next();
      if (packet === undefined) break;
      out.push(packet);
    }
    return out;
  }

  /**
   * Small chunks are copied into a shared staging buffer so that a peer
   * trickling one byte per segment cannot make the queue hold millions of
   * tiny Buffers (each costs far more than its byte).
   */
  #pushSmall(buf: Buffer): void {
    const last = this.#chunks[this.#chunks.length - 1];
    const stage = this.#stage;
    if (stage !== undefined && last === this.#stageView && stage.length - this.#stageUsed >= buf.length) {
      buf.copy(stage, this.#stageUsed);
      this.#stageUsed += buf.length;
      this.#stageView = stage.subarray(this.#stageStart, this.#stageUsed);
      this.#chunks[this.#chunks.length - 1] = this.#stageView;
      return;
    }
    const next = Buffer.allocUnsafe(STAGE_SIZE);
    buf.copy(next, 0);
    this.#stage = next;
    this.#stageStart = 0;
    this.#stageUsed = buf.length;
    this.#stageView = next.subarray(0, buf.length);
    this.#chunks.push(this.#stageView);
  }

  /** Call when the stream ends: throws PROTO_MYSQL_STREAM_ENDED if a packet was cut short. */
  end(): void {
    if (this.hasPartialPacket) {
      throw new IamdbError('PROTO_MYSQL_STREAM_ENDED', { buffered: this.bufferedBytes });
    }
  }

  #next(): MysqlPacket | undefined {
    for (;;) {
      if (this.#available < HEADER) return undefined;
      const length = this.#peekByte(0) | (this.#peekByte(1) << 8) | (this.#peekByte(2) << 16);
      const seq = this.#peekByte(3);
      const continuing = this.#parts.length > 0;
      if (continuing) {
        const want = (this.#lastSeq + 1) & 0xff;
        if (seq !== want) {
          throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: want });
        }
      } else if (this.#expected !== undefined && seq !== this.#expected) {
        throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: this.#expected });
      }
      // Checked before waiting for the body: a peer cannot make us buffer past the limit.
      const total = this.#partsTotal + length;
      if (total > this.maxAllowedPacket) {
        throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length: total, max: this.maxAllowedPacket });
      }
      if (this.#available < HEADER + length) return undefined;
      this.#consume(HEADER);
      const body = this.#take(length);
      if (!continuing) this.#firstSeq = seq;
      this.#lastSeq = seq;
      if (length === MAX_FRAME) {
        this.#parts.push(body);
        this.#partsTotal = total;
        continue;
      }
      let payload = body;
      let frames = 1;
      if (continuing) {
        this.#parts.push(body);
        frames = this.#parts.length;
        payload = Buffer.concat(this.#parts, total);
        this.#parts = [];
        this.#partsTotal = 0;
      }
      this.#expected = undefined;
      return { sequenceId: this.#firstSeq, lastSequenceId: seq, payload, frames };
    }
  }

  #peekByte(i: number): number {
    let index = this.#head + i;
    for (const chunk of this.#chunks) {
      if (index < chunk.length) return chunk[index] as number;
      index -= chunk.length;
    }
    return 0; // unreachable: callers check #available first
  }

  #consume(n: number): void {
    this.#available -= n;
    let left = n;
    while (left > 0) {
      const first = this.#chunks[0] as Buffer;
      const inFirst = first.length - this.#head;
      if (left < inFirst) {
        this.#head += left;
        return;
      }
      left -= inFirst;
      this.#chunks.shift();
      this.#head = 0;
    }
  }

  /** Takes n available bytes: a view when they sit in one chunk, else one exact-size copy. */
  #take(n: number): Buffer {
    const first = this.#chunks[0];
    if (n === 0) return Buffer.alloc(0);
    if (first !== undefined && first.length - this.#head >= n) {
      const view = first.subarray(this.#head, this.#head + n);
      this.#consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0] as Buffer;
      const take = Math.min(n - filled, chunk.length - this.#head);
      chunk.copy(out, filled, this.#head, this.#head + take);
      filled += take;
      this.#consume(take);
    }
    return out;
  }
}

/**
 * Frames a payload: frames of 0xFFFFFF bytes while that much remains, then a
 * final frame with the rest, which is empty when the length is an exact
 * multiple of 0xFFFFFF (so the peer knows the packet ended).
 *
 * @example encodePacket(Buffer.from([0x0e]), 0) // COM_PING: 01 00 00 00 0e
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_basic_packets.html#sect_protocol_basic_packets_sending_mt_16mb
 */
export function encodePacket(payload: Uint8Array, sequenceId: number): Buffer {
  if (!(Number.isInteger(sequenceId) && sequenceId >= 0 && sequenceId <= 255)) {
    throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'packet', reason: 'sequence id must be 0-255' });
  }
  const frames = Math.floor(payload.length / MAX_FRAME) + 1;
  const out = Buffer.allocUnsafe(payload.length + HEADER * frames);
  let at = 0;
  let from = 0;
  for (let i = 0; i < frames; i++) {
    const length = Math.min(MAX_FRAME, payload.length - from);
    out.writeUIntLE(length, at, 3);
    out[at + 3] = (sequenceId + i) & 0xff;
    out.set(payload.subarray(from, from + length), at + HEADER);
    at += HEADER + length;
    from += length;
  }
  return out;
}

/** Sequence id to use after sending `payloadLength` bytes starting at `sequenceId`. */
export function nextSequenceId(payloadLength: number, sequenceId: number): number {
  return (sequenceId + Math.floor(payloadLength / MAX_FRAME) + 1) & 0xff;
}
