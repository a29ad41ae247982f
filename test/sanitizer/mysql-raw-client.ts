/**
 * A MySQL client that speaks the protocol itself, for the MySQL proxy's
 * randomized driver (mysql-proxy-chaos.test.ts): a real login (greeting,
 * SSLRequest and TLS when asked, HandshakeResponse41 with
 * mysql_native_password, an auth switch answered), then whole packets the
 * driver builds, legal or not, on a socket it can end, reset or write half
 * a packet to. Responses are read by a reader of its own (not the proxy's
 * tracker, which is what is under test): OK, ERR, result sets (text or
 * binary rows, several with SERVER_MORE_RESULTS_EXISTS) and prepare answers.
 *
 * Well-formed bytes come from the project's codec (src/protocol/mysql:
 * framing, OK/ERR/EOF, length-encoded values, COM_QUERY); the proxy relays
 * commands and responses natively (native/my_pool.c, my_resp.c), so the
 * codec is not what is under test. What the driver garbles stays here:
 * `frame()` writes whatever header it is told (a length the payload does
 * not have, any sequence id), which encodePacket refuses to do, and the
 * driver cuts or fills the commands these encoders return (and `u32()`
 * pieces of its own) as it likes: PayloadWriter refuses nothing it needs.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import {
  Capability,
  Command,
  PacketFramer,
  PayloadReader,
  PayloadWriter,
  ServerStatus,
  decodeEofPacket,
  decodeErrPacket,
  decodeHandshakeV10,
  decodeOkPacket,
  encodeComQuery,
  encodeHandshakeResponse41,
  encodePacket,
  encodeSslRequest,
  isEofPacket,
  scrambleNativePassword,
} from '../../src/protocol/mysql/index.js';

/** One packet as it came: the sequence id of its last frame, and its payload. */
export interface Packet {
  readonly seq: number;
  readonly payload: Buffer;
}

const MORE_RESULTS = ServerStatus.SERVER_MORE_RESULTS_EXISTS;
const CURSOR_EXISTS = ServerStatus.SERVER_STATUS_CURSOR_EXISTS;

/** What one command's response was. */
export type Response =
  | { readonly kind: 'ok'; readonly status: number }
  | { readonly kind: 'err'; readonly errno: number; readonly message: string }
  | { readonly kind: 'rows'; readonly rows: Array<Array<Buffer | null>>; readonly status: number }
  | { readonly kind: 'prepared'; readonly id: number; readonly params: number; readonly columns: number };

/** Thrown when the proxy closed the connection while a packet was awaited. */
export class Closed extends Error {}

/** Packets as they arrive on the connection (clear or TLS). */
class PacketReader {
  /** Packets larger than the driver ever asks for (its statements' values are at most 300 KB) are the proxy's fault: the framer refuses them. */
  readonly #framer = new PacketFramer();
  readonly #packets: Packet[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  attach(stream: Socket | TLSSocket): void {
    stream.on('data', (d: Buffer) => {
      try {
        // Copies: the framer's payloads may be views of a chunk it reuses.
        for (const p of this.#framer.push(d)) this.#packets.push({ seq: p.lastSequenceId, payload: Buffer.from(p.payload) });
      } catch {
        // Bytes that are no packets: the connection is of no further use, as a client would see it.
        stream.destroy();
      }
      this.#poke();
    });
    stream.on('close', () => {
      this.#ended = true;
      this.#poke();
    });
  }

  /** Takes what the reader holds, to hand it to a reader on the TLS layer (nothing is left after a greeting). */
  detach(stream: Socket): void {
    stream.removeAllListeners('data');
    stream.removeAllListeners('close');
  }

  get ended(): boolean {
    return this.#ended && this.#packets.length === 0;
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async next(): Promise<Packet> {
    for (;;) {
      const p = this.#packets.shift();
      if (p) return p;
      if (this.#ended) throw new Closed('connection closed while a packet was awaited');
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** Resolves once the connection has closed; packets that come meanwhile are dropped. */
  async closed(): Promise<void> {
    while (!this.#ended) {
      this.#packets.length = 0;
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

/** The capabilities the raw client logs in with (without multi-statements and TLS, which a login adds): its responses' shape. */
const CAPABILITIES =
  (Capability.CLIENT_LONG_PASSWORD |
    Capability.CLIENT_PROTOCOL_41 |
    Capability.CLIENT_SECURE_CONNECTION |
    Capability.CLIENT_PLUGIN_AUTH |
    Capability.CLIENT_CONNECT_WITH_DB |
    Capability.CLIENT_TRANSACTIONS |
    Capability.CLIENT_MULTI_RESULTS |
    Capability.CLIENT_PS_MULTI_RESULTS) >>>
  0;

/**
 * A packet with header written as told: `len` overrides the header's length (a bogus one), `seq` the
 * sequence id. Not encodePacket: that one writes the payload's true length and splits long payloads.
 */
export function frame(payload: Buffer, seq = 0, len = payload.length): Buffer {
  const h = Buffer.from([len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, seq & 0xff]);
  return Buffer.concat([h, payload]);
}

/** A length-encoded value of a row: NULL (0xFB) or its bytes (a copy). */
function cell(r: PayloadReader): Buffer | null {
  if (r.peekByte() === 0xfb) {
    r.skip(1);
    return null;
  }
  return Buffer.from(r.readLengthEncodedBytes('column value'));
}

function err(p: Buffer): Response {
  const e = decodeErrPacket(p);
  return { kind: 'err', errno: e.errno, message: e.message };
}

function eofStatus(p: Buffer): number {
  return decodeEofPacket(p, CAPABILITIES).statusFlags;
}

/** Where and as whom the raw client logs in. */
export interface RawLogin {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** The endpoint's CA: TLS when set, clear otherwise. */
  readonly ca?: Buffer;
  readonly multiStatements?: boolean;
}

/** A logged-in connection. */
export class RawMysql {
  readonly raw: Socket;
  readonly stream: Socket | TLSSocket;
  readonly #reader: PacketReader;

  private constructor(raw: Socket, stream: Socket | TLSSocket, reader: PacketReader) {
    this.raw = raw;
    this.stream = stream;
    this.#reader = reader;
  }

  /** Connects and logs in; throws with the proxy's error when it refuses. */
  static async login(opts: RawLogin): Promise<RawMysql> {
    const raw = netConnect(opts.port, opts.host);
    raw.setNoDelay(true);
    raw.on('error', () => undefined);
    let reader = new PacketReader();
    reader.attach(raw);
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', () => resolve());
      raw.once('close', () => reject(new Closed('closed before the greeting')));
    });
    const greetingPacket = await reader.next();
    if (greetingPacket.payload[0] === 0xff) throw new Error(`greeting: ${(err(greetingPacket.payload) as { message: string }).message}`);
    const greeting = decodeHandshakeV10(greetingPacket.payload);
    const caps = (CAPABILITIES | (opts.multiStatements ? Capability.CLIENT_MULTI_STATEMENTS : 0)) >>> 0;
    let seq = 1;
    let stream: Socket | TLSSocket = raw;
    if (opts.ca) {
      raw.write(encodePacket(encodeSslRequest({ capabilityFlags: caps, maxPacketSize: 1 << 24, characterSet: 45, mariadbCapabilities: 0 }), seq++));
      reader.detach(raw);
      reader = new PacketReader();
      const tls = tlsConnect({ socket: raw, ca: opts.ca, servername: 'localhost' });
      tls.on('error', () => undefined);
      reader.attach(tls);
      await new Promise<void>((resolve, reject) => {
        tls.once('secureConnect', () => resolve());
        tls.once('close', () => reject(new Closed('closed during the TLS handshake')));
      });
      stream = tls;
    }
    const response = encodeHandshakeResponse41({
      capabilityFlags: (caps | (opts.ca ? Capability.CLIENT_SSL : 0)) >>> 0,
      maxPacketSize: 1 << 24,
      characterSet: 45,
      mariadbCapabilities: 0,
      username: opts.user,
      authResponse: scrambleNativePassword(opts.password, greeting.authPluginData),
      database: opts.database,
      authPluginName: 'mysql_native_password',
      connectAttributes: undefined,
    });
    stream.write(encodePacket(response, seq++));
    for (;;) {
      const p = await reader.next();
      const b = p.payload;
      if (b[0] === 0x00) break;
      if (b[0] === 0xff) throw new Error(`login refused: ${(err(b) as { message: string }).message}`);
      if (b[0] === 0xfe) {
        const nul = b.indexOf(0, 1);
        const plugin = b.subarray(1, nul).toString();
        const data = b.subarray(nul + 1, b[b.length - 1] === 0 ? b.length - 1 : b.length);
        const answer = plugin === 'mysql_clear_password' ? Buffer.from(`${opts.password}\0`) : scrambleNativePassword(opts.password, data);
        stream.write(encodePacket(answer, (p.seq + 1) & 0xff));
        continue;
      }
      throw new Error(`unexpected login packet 0x${b[0]?.toString(16)}`);
    }
    return new RawMysql(raw, stream, reader);
  }

  /** Writes bytes as they are (whole packets, or not). */
  write(bytes: Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.stream.destroyed || this.stream.writableEnded) return resolve();
      this.stream.write(bytes, () => resolve());
    });
  }

  /** A command packet (sequence id 0), framed as the protocol says whatever the payload holds. */
  send(payload: Buffer): Promise<void> {
    return this.write(encodePacket(payload, 0));
  }

  next(): Promise<Packet> {
    return this.#reader.next();
  }

  get ended(): boolean {
    return this.#reader.ended;
  }

  closed(): Promise<void> {
    return this.#reader.closed();
  }

  /** One command's whole response (a prepare's with `prepare`; rows of the binary protocol with `binary`). */
  async response(opts: { prepare?: boolean; binary?: boolean } = {}): Promise<Response> {
    const rows: Array<Array<Buffer | null>> = [];
    for (;;) {
      const first = (await this.next()).payload;
      if (first[0] === 0xff) return err(first);
      if (first[0] === 0x00 && opts.prepare) {
        const id = first.readUInt32LE(1);
        const columns = first.readUInt16LE(5);
        const params = first.readUInt16LE(7);
        if (params > 0) await this.#definitions(params);
        if (columns > 0) await this.#definitions(columns);
        return { kind: 'prepared', id, params, columns };
      }
      if (first[0] === 0x00) {
        const status = decodeOkPacket(first, CAPABILITIES).statusFlags;
        if (status & MORE_RESULTS) continue;
        return rows.length > 0 ? { kind: 'rows', rows, status } : { kind: 'ok', status };
      }
      if (first[0] === 0xfb) throw new Error('LOCAL INFILE request: the driver never asks for one');
      // A result set: its column count, definitions, EOF, rows, EOF.
      const n = new PayloadReader(first, 'column count').readLengthEncodedInteger();
      let status = await this.#definitions(n);
      // An execute that opened a cursor ends with the definitions: its rows come with COM_STMT_FETCH.
      if (status & CURSOR_EXISTS) return { kind: 'rows', rows, status };
      for (;;) {
        const p = (await this.next()).payload;
        if (p[0] === 0xff) return err(p);
        if (isEofPacket(p)) {
          status = eofStatus(p);
          break;
        }
        rows.push(opts.binary ? binaryRow(p, n) : textRow(p, n));
      }
      if (status & MORE_RESULTS) continue;
      return { kind: 'rows', rows, status };
    }
  }

  /** A COM_STMT_FETCH's rows (binary) up to its EOF, or its ERR. */
  async fetched(columns: number): Promise<Response> {
    const rows: Array<Array<Buffer | null>> = [];
    for (;;) {
      const p = (await this.next()).payload;
      if (p[0] === 0xff) return err(p);
      if (isEofPacket(p)) return { kind: 'rows', rows, status: eofStatus(p) };
      rows.push(binaryRow(p, columns));
    }
  }

  /** `n` column or parameter definitions and their EOF, whose status it returns. */
  async #definitions(n: number): Promise<number> {
    for (let i = 0; i < n; i++) await this.next();
    const eof = (await this.next()).payload;
    if (!isEofPacket(eof)) throw new Error(`expected EOF after ${n} definitions, got 0x${eof[0]?.toString(16)}`);
    return eofStatus(eof);
  }
}

function textRow(p: Buffer, n: number): Array<Buffer | null> {
  const r = new PayloadReader(p, 'text row');
  return Array.from({ length: n }, () => cell(r));
}

/** A binary row whose columns are all strings (what the driver selects): lenenc values after the NULL bitmap. */
function binaryRow(p: Buffer, n: number): Array<Buffer | null> {
  const r = new PayloadReader(p, 'binary row');
  r.skip(1);
  // The bitmap's first two bits are reserved in rows: column i is bit i + 2.
  const bitmap = r.readFixedLengthBytes(Math.floor((n + 7 + 2) / 8));
  return Array.from({ length: n }, (_, i) => (bitmap[(i + 2) >> 3]! & (1 << ((i + 2) & 7)) ? null : cell(r)));
}

/** COM_STMT_EXECUTE of a statement whose parameters are all strings (NULL where null; `longData`: sent before, not here). */
export function encodeExecute(id: number, values: ReadonlyArray<Buffer | null | 'long'>, opts: { flags?: number; bindTypes?: boolean } = {}): Buffer {
  const w = new PayloadWriter('COM_STMT_EXECUTE').writeFixedLengthInteger(Command.COM_STMT_EXECUTE, 1).writeFixedLengthInteger(id >>> 0, 4);
  w.writeFixedLengthInteger(opts.flags ?? 0, 1).writeFixedLengthInteger(1, 4); // iteration count
  if (values.length > 0) {
    const bitmap = Buffer.alloc(Math.floor((values.length + 7) / 8));
    values.forEach((v, i) => {
      if (v === null) bitmap[i >> 3]! |= 1 << (i & 7);
    });
    w.writeBytes(bitmap);
    const bind = opts.bindTypes ?? true;
    w.writeFixedLengthInteger(bind ? 1 : 0, 1);
    // MYSQL_TYPE_VAR_STRING (0xfd); MYSQL_TYPE_BLOB (0xfc) for long data.
    if (bind) for (const v of values) w.writeFixedLengthInteger(v === 'long' ? 0xfc : 0xfd, 1).writeFixedLengthInteger(0, 1);
    for (const v of values) if (v !== null && v !== 'long') w.writeLengthEncodedString(v);
  }
  return w.finish();
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** COM_STMT_SEND_LONG_DATA: a piece of parameter `param`. */
export function encodeLongData(id: number, param: number, data: Buffer): Buffer {
  return new PayloadWriter('COM_STMT_SEND_LONG_DATA').writeFixedLengthInteger(Command.COM_STMT_SEND_LONG_DATA, 1).writeFixedLengthInteger(id >>> 0, 4).writeFixedLengthInteger(param, 2).writeBytes(data).finish();
}

/** COM_QUERY of any bytes (the statement filter's token soup too: encodeComQuery writes them as they are). */
export const encodeQuery = encodeComQuery;
