/**
 * A MySQL client that speaks the protocol itself, for the MySQL proxy's
 * randomized driver (mysql-proxy-chaos.test.ts): a real login (greeting,
 * SSLRequest and TLS when asked, HandshakeResponse41 with
 * mysql_native_password, an auth switch answered), then whole packets the
 * driver builds, legal or not, on a socket it can end, reset or write half
 * a packet to. Responses are read by a reader of its own (not the proxy's
 * tracker, which is what is under test): OK, ERR, result sets (text or
 * binary rows, several with SERVER_MORE_RESULTS_EXISTS) and prepare answers.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Capability, decodeHandshakeV10, encodeHandshakeResponse41, encodeSslRequest, scrambleNativePassword } from '../../src/protocol/mysql/index.js';

/** One packet as it came: sequence id and payload (a frame of 16 MB - 1 is not joined: the driver never asks for one). */
export interface Packet {
  readonly seq: number;
  readonly payload: Buffer;
}

const MORE_RESULTS = 0x0008;
const CURSOR_EXISTS = 0x0040;

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
  #buf: Buffer = Buffer.alloc(0);
  readonly #packets: Packet[] = [];
  #wake: (() => void) | undefined;
  #ended = false;

  attach(stream: Socket | TLSSocket): void {
    stream.on('data', (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      while (this.#buf.length >= 4) {
        const len = this.#buf.readUIntLE(0, 3);
        if (this.#buf.length < 4 + len) break;
        this.#packets.push({ seq: this.#buf[3]!, payload: Buffer.from(this.#buf.subarray(4, 4 + len)) });
        this.#buf = this.#buf.subarray(4 + len);
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

function lenenc(p: Buffer, at: number): { value: number | null; next: number } {
  const b = p[at]!;
  if (b < 0xfb) return { value: b, next: at + 1 };
  if (b === 0xfb) return { value: null, next: at + 1 };
  if (b === 0xfc) return { value: p.readUInt16LE(at + 1), next: at + 3 };
  if (b === 0xfd) return { value: p.readUIntLE(at + 1, 3), next: at + 4 };
  return { value: Number(p.readBigUInt64LE(at + 1)), next: at + 9 };
}

function lenencBytes(p: Buffer, at: number): { value: Buffer | null; next: number } {
  const { value, next } = lenenc(p, at);
  if (value === null) return { value: null, next };
  return { value: p.subarray(next, next + value), next: next + value };
}

/** Encodes a length-encoded integer. */
export function encodeLenenc(n: number): Buffer {
  if (n < 0xfb) return Buffer.from([n]);
  if (n < 0x10000) return Buffer.from([0xfc, n & 0xff, n >> 8]);
  if (n < 0x1000000) return Buffer.from([0xfd, n & 0xff, (n >> 8) & 0xff, n >> 16]);
  const b = Buffer.alloc(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(BigInt(n), 1);
  return b;
}

/** A packet with header: `len` overrides the header's length (a bogus one), `seq` the sequence id. */
export function frame(payload: Buffer, seq = 0, len = payload.length): Buffer {
  const h = Buffer.from([len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, seq & 0xff]);
  return Buffer.concat([h, payload]);
}

function isEof(p: Buffer): boolean {
  return p[0] === 0xfe && p.length < 9;
}

function err(p: Buffer): Response {
  return { kind: 'err', errno: p.readUInt16LE(1), message: p.subarray(p[3] === 0x23 ? 9 : 3).toString('utf8') };
}

function okStatus(p: Buffer): number {
  const rows = lenenc(p, 1);
  const id = lenenc(p, rows.next);
  return p.readUInt16LE(id.next);
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
    const caps =
      (Capability.CLIENT_LONG_PASSWORD |
        Capability.CLIENT_PROTOCOL_41 |
        Capability.CLIENT_SECURE_CONNECTION |
        Capability.CLIENT_PLUGIN_AUTH |
        Capability.CLIENT_CONNECT_WITH_DB |
        Capability.CLIENT_TRANSACTIONS |
        Capability.CLIENT_MULTI_RESULTS |
        Capability.CLIENT_PS_MULTI_RESULTS |
        (opts.multiStatements ? Capability.CLIENT_MULTI_STATEMENTS : 0)) >>>
      0;
    let seq = 1;
    let stream: Socket | TLSSocket = raw;
    if (opts.ca) {
      raw.write(frame(encodeSslRequest({ capabilityFlags: caps, maxPacketSize: 1 << 24, characterSet: 45, mariadbCapabilities: 0 }), seq++));
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
    stream.write(frame(response, seq++));
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
        stream.write(frame(answer, p.seq + 1));
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

  /** A command packet (sequence id 0). */
  send(payload: Buffer): Promise<void> {
    return this.write(frame(payload));
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
        const status = okStatus(first);
        if (status & MORE_RESULTS) continue;
        return rows.length > 0 ? { kind: 'rows', rows, status } : { kind: 'ok', status };
      }
      if (first[0] === 0xfb) throw new Error('LOCAL INFILE request: the driver never asks for one');
      // A result set: its column count, definitions, EOF, rows, EOF.
      const n = lenenc(first, 0).value ?? 0;
      let status = await this.#definitions(n);
      // An execute that opened a cursor ends with the definitions: its rows come with COM_STMT_FETCH.
      if (status & CURSOR_EXISTS) return { kind: 'rows', rows, status };
      for (;;) {
        const p = (await this.next()).payload;
        if (p[0] === 0xff) return err(p);
        if (isEof(p)) {
          status = p.readUInt16LE(3);
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
      if (isEof(p)) return { kind: 'rows', rows, status: p.readUInt16LE(3) };
      rows.push(binaryRow(p, columns));
    }
  }

  /** `n` column or parameter definitions and their EOF, whose status it returns. */
  async #definitions(n: number): Promise<number> {
    for (let i = 0; i < n; i++) await this.next();
    const eof = (await this.next()).payload;
    if (!isEof(eof)) throw new Error(`expected EOF after ${n} definitions, got 0x${eof[0]?.toString(16)}`);
    return eof.readUInt16LE(3);
  }
}

function textRow(p: Buffer, n: number): Array<Buffer | null> {
  const out: Array<Buffer | null> = [];
  let at = 0;
  for (let i = 0; i < n; i++) {
    const v = lenencBytes(p, at);
    out.push(v.value === null ? null : Buffer.from(v.value));
    at = v.next;
  }
  return out;
}

/** A binary row whose columns are all strings (what the driver selects): lenenc values after the NULL bitmap. */
function binaryRow(p: Buffer, n: number): Array<Buffer | null> {
  const bitmap = p.subarray(1, 1 + Math.floor((n + 7 + 2) / 8));
  let at = 1 + bitmap.length;
  const out: Array<Buffer | null> = [];
  for (let i = 0; i < n; i++) {
    if (bitmap[(i + 2) >> 3]! & (1 << ((i + 2) & 7))) {
      out.push(null);
      continue;
    }
    const v = lenencBytes(p, at);
    out.push(Buffer.from(v.value ?? Buffer.alloc(0)));
    at = v.next;
  }
  return out;
}

/** COM_STMT_EXECUTE of a statement whose parameters are all strings (NULL where null; `longData`: sent before, not here). */
export function encodeExecute(id: number, values: ReadonlyArray<Buffer | null | 'long'>, opts: { flags?: number; bindTypes?: boolean } = {}): Buffer {
  const parts: Buffer[] = [Buffer.from([0x17]), u32(id), Buffer.from([opts.flags ?? 0]), u32(1)];
  if (values.length > 0) {
    const bitmap = Buffer.alloc(Math.floor((values.length + 7) / 8));
    values.forEach((v, i) => {
      if (v === null) bitmap[i >> 3]! |= 1 << (i & 7);
    });
    parts.push(bitmap);
    const bind = opts.bindTypes ?? true;
    parts.push(Buffer.from([bind ? 1 : 0]));
    // MYSQL_TYPE_VAR_STRING (0xfd); MYSQL_TYPE_BLOB (0xfc) for long data.
    if (bind) for (const v of values) parts.push(Buffer.from([v === 'long' ? 0xfc : 0xfd, 0]));
    for (const v of values) if (v !== null && v !== 'long') parts.push(encodeLenenc(v.length), v);
  }
  return Buffer.concat(parts);
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** COM_STMT_SEND_LONG_DATA: a piece of parameter `param`. */
export function encodeLongData(id: number, param: number, data: Buffer): Buffer {
  const p = Buffer.alloc(2);
  p.writeUInt16LE(param);
  return Buffer.concat([Buffer.from([0x18]), u32(id), p, data]);
}

export function encodeQuery(sql: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x03]), typeof sql === 'string' ? Buffer.from(sql) : sql]);
}
