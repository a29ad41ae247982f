/**
 * A PostgreSQL client that speaks the frontend protocol message by message,
 * for tests that need what drivers never send on their own: a series left
 * open without Sync, FunctionCall, names the server never saw, a pipeline
 * cut mid-message. It logs in over verified TLS with a cleartext password (an
 * IAM token), then sends exactly the bytes a test builds.
 */
import type { TLSSocket } from 'node:tls';
import { FrameDecoder, type Frame } from '../../src/protocol/postgres/frame-decoder.js';
import { encodeQuery, encodeStartupMessage, encodeTerminate } from '../../src/protocol/postgres/frontend/index.js';
import { UpstreamLogin } from '../../src/protocol/postgres/upstream-login.js';
import { Secret } from '../../src/util/secret.js';
import { pgTls, type Endpoint } from './gateway-clients.js';

/** One frontend message: the type byte, then the length word and the body. */
function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(4 + body.length, 1);
  return Buffer.concat([head, body]);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, 'utf8');
const i16 = (n: number): Buffer => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

/** Encoders for the messages tests send (text parameters, text results). */
export const msg = {
  query: encodeQuery,
  parse: (name: string, sql: string): Buffer => message('P', cstr(name), cstr(sql), i16(0)),
  bind(portal: string, stmt: string, params: (string | null)[] = []): Buffer {
    const values = params.map((p) => (p === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(p)), Buffer.from(p)])));
    return message('B', cstr(portal), cstr(stmt), i16(0), i16(params.length), ...values, i16(0));
  },
  describe: (kind: 'S' | 'P', name: string): Buffer => message('D', Buffer.from(kind), cstr(name)),
  execute: (portal: string, maxRows = 0): Buffer => message('E', cstr(portal), i32(maxRows)),
  close: (kind: 'S' | 'P', name: string): Buffer => message('C', Buffer.from(kind), cstr(name)),
  sync: (): Buffer => message('S'),
  flush: (): Buffer => message('H'),
  /** FunctionCall with text arguments and a text result. */
  functionCall(oid: number, args: string[] = []): Buffer {
    const values = args.map((a) => Buffer.concat([i32(Buffer.byteLength(a)), Buffer.from(a)]));
    return message('F', i32(oid), i16(0), i16(args.length), ...values, i16(0));
  },
  terminate: encodeTerminate,
};

/** A backend message, its type as a letter. */
export interface BackendMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** The fields of an ErrorResponse or NoticeResponse, by field letter. */
export function errorFields(m: BackendMessage): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < m.body.length && m.body[i] !== 0) {
    const end = m.body.indexOf(0, i + 1);
    out[String.fromCharCode(m.body[i]!)] = m.body.subarray(i + 1, end).toString('utf8');
    i = end + 1;
  }
  return out;
}

/** The text values of a DataRow. */
export function rowValues(m: BackendMessage): (string | null)[] {
  const n = m.body.readUInt16BE(0);
  const out: (string | null)[] = [];
  let at = 2;
  for (let i = 0; i < n; i++) {
    const len = m.body.readInt32BE(at);
    at += 4;
    out.push(len < 0 ? null : m.body.subarray(at, at + len).toString('utf8'));
    if (len > 0) at += len;
  }
  return out;
}

export class PgWire {
  readonly #socket: TLSSocket;
  readonly #frames = new FrameDecoder({ what: 'backend' });
  readonly #queue: BackendMessage[] = [];
  #waiter: (() => void) | undefined;
  #closed = false;

  private constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.#frames.feed(chunk)) this.#queue.push(copy(f));
      this.#wake();
    });
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
    socket.on('error', () => undefined);
  }

  /** Logs in with a cleartext password (an IAM token) and reads up to the first ReadyForQuery. */
  static async login(endpoint: Endpoint, caPath: string, user: string, database: string, password: string): Promise<PgWire> {
    const w = new PgWire(await pgTls(endpoint, caPath));
    w.send(encodeStartupMessage({ params: { user, database } }));
    const auth = await w.next();
    if (auth.type !== 'R' || auth.body.readInt32BE(0) !== 3) throw new Error(`expected a cleartext password request, got ${auth.type}`);
    w.send(message('p', cstr(password)));
    const rest = await w.until('Z');
    const err = rest.find((m) => m.type === 'E');
    if (err !== undefined) throw new Error(`login refused: ${errorFields(err)['M']}`);
    return w;
  }

  /**
   * Logs in straight to a PostgreSQL server (TLS, whatever method it asks for), to compare what
   * the proxy answers with what the server itself answers a direct client.
   */
  static async direct(endpoint: Endpoint, caPath: string, user: string, database: string, password: string): Promise<PgWire> {
    const w = new PgWire(await pgTls(endpoint, caPath));
    const login = new UpstreamLogin({ user, database, password: new Secret(password), channelBinding: 'disable' });
    w.send(login.start());
    for (;;) {
      const m = await w.next();
      const step = login.receive({ type: m.type.charCodeAt(0), body: m.body });
      for (const b of step.send ?? []) w.send(b);
      if (step.error !== undefined) throw new Error(`login refused: ${JSON.stringify(step.error)}`);
      if (step.done !== undefined) return w;
    }
  }

  send(...messages: Buffer[]): void {
    this.#socket.write(Buffer.concat(messages));
  }

  /** The next backend message; rejects when the connection closes first. */
  async next(): Promise<BackendMessage> {
    for (;;) {
      const m = this.#queue.shift();
      if (m !== undefined) return m;
      if (this.#closed) throw new Error('the connection closed');
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  /** Messages up to and including the first of `type`. */
  async until(type: string): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (m.type === type) return out;
    }
  }

  /** A simple query's messages, through its ReadyForQuery. */
  async query(sql: string): Promise<BackendMessage[]> {
    this.send(msg.query(sql));
    return this.until('Z');
  }

  /** Drops the connection without Terminate (a client that crashed). */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Resolves once the connection has closed (from either side). */
  closed(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#socket.once('close', () => resolve()));
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

function copy(f: Frame): BackendMessage {
  return { type: String.fromCharCode(f.type), body: Buffer.from(f.body) };
}
