/**
 * A cheap incremental scanner for the client → server direction of the
 * command phase. It reports each new command (the first payload byte of a
 * sequence-0 packet) and hands over, whole, the packets of the commands the
 * gateway may want to intercept (COM_QUERY, COM_CHANGE_USER,
 * COM_STMT_PREPARE, COM_INIT_DB by default) when they fit a bound; all other
 * bytes come back as views of the input chunks, to forward unchanged.
 *
 * maxAllowedPacket is enforced across 0xFFFFFF continuations, from the
 * headers alone, before waiting for the bytes.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html
 */
import { IamdbError } from '../../errors/index.js';
import { Command, Limits } from './constants.js';

/** Output of {@link CommandTracker.push}, in stream order. */
export type TrackedSegment =
  /** Bytes to forward as they are (views of the input, or the 4 header bytes when a header straddled chunks). */
  | { readonly type: 'bytes'; readonly bytes: Buffer }
  /**
   * A new command. When `packet` is set it holds the whole framed packet
   * (header included) and these bytes appear in no 'bytes' segment: forward
   * it, or answer instead. When it is undefined (a command not captured, or
   * one too large for the bound), the packet's bytes follow as 'bytes'.
   */
  | {
      readonly type: 'command';
      readonly command: number;
      /** Length of the first frame's payload; 0xFFFFFF means continuation frames follow. */
      readonly firstFrameLength: number;
      readonly packet: Buffer | undefined;
      /** The payload (view into `packet`), when captured. */
      readonly payload: Buffer | undefined;
    };

/** Options of {@link CommandTracker}. */
export interface CommandTrackerOptions {
  /** Default 64 MiB. */
  readonly maxAllowedPacket?: number;
  /** Largest payload captured whole; default 64 KiB, at most 0xFFFFFE (so captured packets are one frame). */
  readonly captureBytes?: number;
  /** Commands to capture; default COM_QUERY, COM_CHANGE_USER, COM_STMT_PREPARE, COM_INIT_DB. */
  readonly captureCommands?: Iterable<number>;
}

const HEADER = 4;

/**
 * @example
 *   const tracker = new CommandTracker({ maxAllowedPacket });
 *   for (const s of tracker.push(chunk)) {
 *     if (s.type === 'bytes') server.write(s.bytes);
 *     else if (s.packet !== undefined) decide(s.command, s.payload!, s.packet);
 *     else if (s.command === Command.COM_QUERY) closeBecauseTooLargeToInspect();
 *   }
 */
export class CommandTracker {
  readonly maxAllowedPacket: number;
  readonly captureBytes: number;
  readonly #capture: Set<number>;
  /** Header bytes collected so far when a header straddles chunks. */
  #header = Buffer.alloc(HEADER);
  #headerHave = 0;
  /** Payload bytes still to pass through for the current frame. */
  #frameLeft = 0;
  /** Running logical-packet total and last sequence id, while frames of 0xFFFFFF continue it. */
  #continuing = false;
  #total = 0;
  #lastSeq = 0;
  /** Capture in progress: the packet buffer and bytes filled. */
  #captureBuf: Buffer | undefined;
  #captureHave = 0;

  constructor(options: CommandTrackerOptions = {}) {
    this.maxAllowedPacket = options.maxAllowedPacket ?? Limits.DEFAULT_MAX_ALLOWED_PACKET;
    this.captureBytes = options.captureBytes ?? 64 * 1024;
    if (!Number.isSafeInteger(this.maxAllowedPacket) || this.maxAllowedPacket < 1) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'command tracker', reason: 'bad maxAllowedPacket' });
    }
    if (!Number.isSafeInteger(this.captureBytes) || this.captureBytes < 1 || this.captureBytes >= Limits.MAX_FRAME_PAYLOAD) {
      throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'command tracker', reason: 'captureBytes must be 1..0xFFFFFE' });
    }
    this.#capture = new Set(
      options.captureCommands ?? [Command.COM_QUERY, Command.COM_CHANGE_USER, Command.COM_STMT_PREPARE, Command.COM_INIT_DB],
    );
  }

  /** True while inside a packet (header, body or capture incomplete). */
  get hasPartialPacket(): boolean {
    return this.#headerHave > 0 || this.#frameLeft > 0 || this.#captureBuf !== undefined || this.#continuing;
  }

  /** Call when the stream ends: throws PROTO_MYSQL_STREAM_ENDED inside a packet. */
  end(): void {
    if (this.hasPartialPacket) {
      throw new IamdbError('PROTO_MYSQL_STREAM_ENDED', { buffered: this.#headerHave + this.#captureHave });
    }
  }

  /** Scans a chunk. */
  push(chunk: Uint8Array): TrackedSegment[] {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    const out: TrackedSegment[] = [];
    /** Start of the pending pass-through range in buf. */
    let passFrom = 0;
    const flush = (to: number): void => {
      if (to > passFrom) out.push({ type: 'bytes', bytes: buf.subarray(passFrom, to) });
      passFrom = to;
    };
    let i = 0;
    while (i < buf.length) {
      if (this.#captureBuf !== undefined) {
        const take = Math.min(buf.length - i, this.#captureBuf.length - this.#captureHave);
        buf.copy(this.#captureBuf, this.#captureHave, i, i + take);
        this.#captureHave += take;
        i += take;
        passFrom = i;
        if (this.#captureHave === this.#captureBuf.length) this.#emitCapture(out, this.#captureBuf);
        continue;
      }
      if (this.#frameLeft > 0) {
        const take = Math.min(buf.length - i, this.#frameLeft);
        this.#frameLeft -= take;
        i += take;
        continue;
      }
      // Header.
      const headerStart = i;
      const need = HEADER - this.#headerHave;
      const avail = Math.min(need, buf.length - i);
      buf.copy(this.#header, this.#headerHave, i, i + avail);
      this.#headerHave += avail;
      i += avail;
      if (this.#headerHave < HEADER) {
        // Header bytes are held back until the header is complete.
        flush(headerStart);
        passFrom = i;
        continue;
      }
      const straddled = avail < HEADER;
      this.#headerHave = 0;
      const h = this.#header;
      const length = (h[0] as number) | ((h[1] as number) << 8) | ((h[2] as number) << 16);
      const seq = h[3] as number;
      if (this.#continuing) {
        const want = (this.#lastSeq + 1) & 0xff;
        if (seq !== want) throw new IamdbError('PROTO_MYSQL_SEQUENCE_MISMATCH', { actual: seq, expected: want });
        this.#total += length;
      } else {
        this.#total = length;
      }
      if (this.#total > this.maxAllowedPacket) {
        throw new IamdbError('PROTO_MYSQL_PACKET_TOO_LARGE', { length: this.#total, max: this.maxAllowedPacket });
      }
      const startsCommand = !this.#continuing && seq === 0;
      this.#lastSeq = seq;
      this.#continuing = length === Limits.MAX_FRAME_PAYLOAD;
      if (startsCommand) {
        if (length === 0) {
          throw new IamdbError('PROTO_MYSQL_MALFORMED', { what: 'command packet', reason: 'empty payload' });
        }
        // The command byte may not have arrived yet; capture at least it.
        const command = i < buf.length ? (buf[i] as number) : -1;
        const capture =
          length <= this.captureBytes && (command === -1 || this.#capture.has(command));
        if (capture) {
          flush(headerStart);
          const packetLength = HEADER + length;
          if (!straddled && buf.length - headerStart >= packetLength) {
            // Whole packet in this chunk: a view, no copy.
            this.#emitCapture(out, buf.subarray(headerStart, headerStart + packetLength));
            i = headerStart + packetLength;
            passFrom = i;
            continue;
          }
          this.#captureBuf = Buffer.allocUnsafe(packetLength);
          h.copy(this.#captureBuf, 0);
          this.#captureHave = HEADER;
          passFrom = i;
          continue;
        }
        flush(headerStart);
        out.push({ type: 'command', command, firstFrameLength: length, packet: undefined, payload: undefined });
      }
      if (straddled) {
        flush(headerStart);
        out.push({ type: 'bytes', bytes: Buffer.from(h) });
        passFrom = i;
      }
      this.#frameLeft = length;
    }
    flush(buf.length);
    return out;
  }

  /**
   * A capture that began before the command byte was known may turn out to
   * be a command that is not captured; it is then reported without a packet
   * and its bytes are released as pass-through.
   */
  #emitCapture(out: TrackedSegment[], packet: Buffer): void {
    this.#captureBuf = undefined;
    this.#captureHave = 0;
    const command = packet[HEADER] as number;
    const firstFrameLength = packet.length - HEADER;
    if (!this.#capture.has(command)) {
      out.push({ type: 'command', command, firstFrameLength, packet: undefined, payload: undefined });
      out.push({ type: 'bytes', bytes: packet });
      return;
    }
    out.push({ type: 'command', command, firstFrameLength, packet, payload: packet.subarray(HEADER) });
  }
}
