/**
 * Header-walking scanners for the byte relay after login. They see every
 * chunk on the hot path, so they never copy or decode bodies: they read the
 * 5-byte headers (type + Int32 length), which may straddle chunks, and skip
 * bodies by arithmetic. Feeding a chunk allocates nothing; the result object
 * is reused (read it before the next `feed`).
 *
 * Server direction: counts ReadyForQuery and remembers its transaction
 * status, so a pooler can hand the connection back at a transaction boundary
 * ('I' at a message boundary). Client direction: spots Terminate and, both
 * ways, refuses any length below 4 or above the cap before the body arrives
 * (the relay forwards bytes, but the stream must stay framed: nothing goes
 * through unframed).
 *
 * @see https://www.postgresql.org/docs/current/protocol-message-formats.html#PROTOCOL-MESSAGE-FORMATS-READYFORQUERY
 * @module
 */
import { IamdbError } from '../../errors/index.js';
import { checkLimit, PG_DEFAULT_MAX_MESSAGE_BYTES } from '../common/limits.js';
import { BackendCode, FrontendCode, describeCode, type TransactionStatusLetter } from './codes.js';
import { transactionStatusLetter } from './backend/ready-for-query.js';

/** Options for the trackers. */
export interface RelayTrackerOptions {
  /** Largest message accepted, length word included. Default 1 GiB - 1. */
  readonly maxMessageBytes?: number;
}

/** What one server chunk held. The same object is returned by every `feed`. */
export interface ServerFeedResult {
  /** ReadyForQuery messages completed in this chunk. */
  readyForQuery: number;
  /** Status of the last ReadyForQuery in this chunk, if any. */
  lastStatus: TransactionStatusLetter | undefined;
  /** Messages completed in this chunk. */
  messages: number;
  /** True when the chunk ended exactly on a message boundary. */
  atBoundary: boolean;
}

/** What one client chunk held. The same object is returned by every `feed`. */
export interface ClientFeedResult {
  /** A Terminate was completed in this chunk. */
  terminate: boolean;
  /** Messages completed in this chunk. */
  messages: number;
  /** True when the chunk ended exactly on a message boundary. */
  atBoundary: boolean;
}

/**
 * The shared header walker. `onHeader` sees each header as soon as it is
 * complete; `onFirstBodyByte` the first body byte of messages that asked
 * for it; `onEnd` each completed message.
 */
abstract class HeaderWalker {
  readonly #max: number;
  readonly #what: string;
  /** 0: awaiting type byte; 1..4: length bytes read so far + 1; 5: in body. */
  #hdr = 0;
  #type = 0;
  #len = 0;
  #bodyLeft = 0;
  /** Set when the current message wants its first body byte. */
  #wantFirst = false;

  constructor(what: string, options: RelayTrackerOptions) {
    this.#max = checkLimit('maxMessageBytes', options.maxMessageBytes ?? PG_DEFAULT_MAX_MESSAGE_BYTES, 5, PG_DEFAULT_MAX_MESSAGE_BYTES);
    this.#what = what;
  }

  /** Current message type, valid inside hooks. */
  protected get type(): number {
    return this.#type;
  }

  protected abstract onHeader(type: number, length: number): boolean;
  protected abstract onFirstBodyByte(byte: number): void;
  protected abstract onEnd(type: number): void;

  #failed: IamdbError | undefined;

  /**
   * Walks a chunk; returns true when it ended on a message boundary. After a
   * throw the walker stays failed: the stream can no longer be framed.
   */
  protected walk(chunk: Uint8Array): boolean {
    if (this.#failed) throw new IamdbError('PROTO_DECODER_FAILED', { first: this.#failed.code }, { cause: this.#failed });
    try {
      return this.#walk(chunk);
    } catch (err) {
      this.#failed = err instanceof IamdbError ? err : new IamdbError('INTERNAL', { what: 'relay tracker' }, { cause: err });
      throw this.#failed;
    }
  }

  #walk(chunk: Uint8Array): boolean {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.#hdr === 5) {
        if (this.#wantFirst) {
          this.#wantFirst = false;
          this.onFirstBodyByte(chunk[i]!);
        }
        const step = Math.min(this.#bodyLeft, n - i);
        i += step;
        this.#bodyLeft -= step;
        if (this.#bodyLeft === 0) this.#end();
        continue;
      }
      if (this.#hdr === 0 && n - i >= 5) {
        // Fast path: the whole header is in this chunk.
        this.#type = chunk[i]!;
        this.#len = ((chunk[i + 1]! << 24) | (chunk[i + 2]! << 16) | (chunk[i + 3]! << 8) | chunk[i + 4]!) >>> 0;
        i += 5;
        this.#hdr = 5;
        this.#header();
        continue;
      }
      if (this.#hdr === 0) {
        this.#type = chunk[i++]!;
        this.#len = 0;
        this.#hdr = 1;
        continue;
      }
      this.#len = ((this.#len << 8) | chunk[i++]!) >>> 0;
      if (++this.#hdr === 5) this.#header();
    }
    return this.#hdr === 0;
  }

  #header(): void {
    const len = this.#len;
    if (len < 4) {
      throw new IamdbError('PROTO_BAD_LENGTH', { length: len, what: `${this.#what} ${describeCode(this.#type)}` });
    }
    if (len > this.#max) {
      throw new IamdbError('PROTO_MESSAGE_TOO_LARGE', {
        what: `${this.#what} ${describeCode(this.#type)}`,
        length: len,
        limit: this.#max,
      });
    }
    this.#bodyLeft = len - 4;
    this.#wantFirst = this.onHeader(this.#type, len);
    if (this.#bodyLeft === 0) this.#end();
  }

  #end(): void {
    this.#hdr = 0;
    this.#wantFirst = false;
    this.onEnd(this.#type);
  }
}

/**
 * Scans server → client bytes.
 *
 * @example
 *   const t = new ServerStreamTracker({ maxMessageBytes });
 *   const r = t.feed(chunk);
 *   if (r.readyForQuery > 0 && r.lastStatus === 'I' && r.atBoundary) pool.release(conn);
 */
export class ServerStreamTracker extends HeaderWalker {
  readonly #result: ServerFeedResult = { readyForQuery: 0, lastStatus: undefined, messages: 0, atBoundary: true };
  #status: TransactionStatusLetter | undefined;
  #total = 0;

  constructor(options: RelayTrackerOptions = {}) {
    super('server', options);
  }

  /** Status of the last ReadyForQuery seen over the whole stream. */
  get transactionStatus(): TransactionStatusLetter | undefined {
    return this.#status;
  }

  /** ReadyForQuery messages seen over the whole stream. */
  get readyForQueryCount(): number {
    return this.#total;
  }

  /** Scans a chunk. Throws `PROTO_BAD_LENGTH`, `PROTO_MESSAGE_TOO_LARGE` or `PROTO_MALFORMED_MESSAGE`. */
  feed(chunk: Uint8Array): Readonly<ServerFeedResult> {
    const r = this.#result;
    r.readyForQuery = 0;
    r.lastStatus = undefined;
    r.messages = 0;
    r.atBoundary = this.walk(chunk);
    return r;
  }

  protected onHeader(type: number, length: number): boolean {
    if (type !== BackendCode.ReadyForQuery) return false;
    if (length !== 5) throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'server ReadyForQuery' });
    return true;
  }

  protected onFirstBodyByte(byte: number): void {
    const status = transactionStatusLetter(byte);
    if (status === undefined) {
      throw new IamdbError('PROTO_MALFORMED_MESSAGE', { what: 'ReadyForQuery', reason: `status byte ${byte}` });
    }
    this.#status = status;
    this.#result.lastStatus = status;
  }

  protected onEnd(type: number): void {
    this.#result.messages++;
    if (type === BackendCode.ReadyForQuery) {
      this.#result.readyForQuery++;
      this.#total++;
    }
  }
}

/**
 * Scans client → server bytes (after login: typed messages only).
 *
 * @example
 *   const t = new ClientStreamTracker({ maxMessageBytes });
 *   if (t.feed(chunk).terminate) closeAfterForwarding();
 */
export class ClientStreamTracker extends HeaderWalker {
  readonly #result: ClientFeedResult = { terminate: false, messages: 0, atBoundary: true };
  #terminated = false;

  constructor(options: RelayTrackerOptions = {}) {
    super('client', options);
  }

  /** A Terminate has been seen on this stream. */
  get terminated(): boolean {
    return this.#terminated;
  }

  /** Scans a chunk. Throws `PROTO_BAD_LENGTH` or `PROTO_MESSAGE_TOO_LARGE`. */
  feed(chunk: Uint8Array): Readonly<ClientFeedResult> {
    const r = this.#result;
    r.terminate = false;
    r.messages = 0;
    r.atBoundary = this.walk(chunk);
    return r;
  }

  protected onHeader(type: number, length: number): boolean {
    if (type === FrontendCode.Terminate && length !== 4) {
      throw new IamdbError('PROTO_BAD_LENGTH', { length, what: 'client Terminate' });
    }
    return false;
  }

  protected onFirstBodyByte(): void {}

  protected onEnd(type: number): void {
    this.#result.messages++;
    if (type === FrontendCode.Terminate) {
      this.#result.terminate = true;
      this.#terminated = true;
    }
  }
}

/**
 * Both directions of one relayed session.
 *
 * @example
 *   const tracker = new RelayTracker({ maxMessageBytes });
 *   relay(client, server, { onServerChunk: (c) => (tracker.feedServer(c), true) });
 */
export class RelayTracker {
  readonly server: ServerStreamTracker;
  readonly client: ClientStreamTracker;

  constructor(options: RelayTrackerOptions = {}) {
    this.server = new ServerStreamTracker(options);
    this.client = new ClientStreamTracker(options);
  }

  /** Scans a server → client chunk. */
  feedServer(chunk: Uint8Array): Readonly<ServerFeedResult> {
    return this.server.feed(chunk);
  }

  /** Scans a client → server chunk. */
  feedClient(chunk: Uint8Array): Readonly<ClientFeedResult> {
    return this.client.feed(chunk);
  }
}
