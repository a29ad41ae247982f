/**
 * One randomized PostgreSQL client connection for the native data path's
 * driver (native-data-path-chaos.test.ts): a fault picked at random and put
 * at its moment (before the SSLRequest, racing the answer byte, after it,
 * mid-handshake, during the login, in the relay), TLS records written a few
 * bytes at a time, or a normal IAM login that must work. The client speaks
 * the protocol itself, over Node's TLS on a socket it can chop, end or reset.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { encodePasswordMessage, encodeSSLRequest, encodeStartupMessage, encodeTerminate, FrameDecoder, type Frame } from '../../src/protocol/postgres/index.js';
import { Secret } from '../../src/util/index.js';
import type { SeededRandom } from './seeded-random.js';

/** Every misbehaviour the driver draws from; `none` is a normal login that must succeed. */
export const FAULTS = [
  'none',
  'bytes-before-sslrequest',
  'bytes-with-sslrequest',
  'bytes-racing-the-answer',
  'reset-racing-the-answer',
  'non-tls-after-answer',
  'close-after-answer',
  'reset-after-answer',
  'garbage-record-instead-of-hello',
  'reset-mid-handshake',
  'half-open-mid-handshake',
  'reset-during-login',
  'half-open-during-login',
  'garbage-record-during-login',
  'wrong-token',
  'reset-during-relay',
  'half-open-during-relay',
  'garbage-record-during-relay',
] as const;

export type Fault = (typeof FAULTS)[number];

/** Where and as whom the driver connects. */
export interface ChaosTarget {
  readonly host: string;
  readonly port: number;
  readonly ca: Buffer;
  readonly user: string;
  /** A fresh IAM token for `user` on this endpoint. */
  token(): string;
  /** How long one connection may take before the driver calls it stuck. */
  readonly budgetMs: number;
}

/** What happened to one connection: `problem` is set when the gateway misbehaved. */
export interface ChaosOutcome {
  readonly fault: Fault;
  readonly chopped: number;
  readonly problem?: string;
}

const HTTP = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');

function turns(n: number): Promise<void> {
  return n <= 0 ? Promise.resolve() : new Promise((r) => setImmediate(() => void turns(n - 1).then(r)));
}

/**
 * The client's TCP socket as its TLS layer sees it. Writes go out in pieces
 * of 1..`maxPiece` bytes with a turn of the event loop between them (0: as
 * they come); `cut` ends the stream after that many bytes, with a reset or a
 * FIN (half-open: the client still reads).
 */
class ChoppedSocket extends Duplex {
  readonly #raw: Socket;
  readonly #rng: SeededRandom;
  readonly #maxPiece: number;
  readonly #cut: { readonly after: number; readonly how: 'reset' | 'end' } | undefined;
  #written = 0;

  constructor(raw: Socket, rng: SeededRandom, maxPiece: number, cut?: { after: number; how: 'reset' | 'end' }) {
    super({ allowHalfOpen: true });
    this.#raw = raw;
    this.#rng = rng;
    this.#maxPiece = maxPiece;
    this.#cut = cut;
    raw.on('data', (d: Buffer) => {
      if (!this.push(d)) raw.pause();
    });
    raw.on('end', () => this.push(null));
    raw.on('close', () => this.destroy());
  }

  override _read(): void {
    this.#raw.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.#send(chunk).then(() => done(), done);
  }

  override _final(done: (err?: Error | null) => void): void {
    if (!this.#raw.destroyed) this.#raw.end();
    done();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.#raw.destroy();
    done(err);
  }

  async #send(chunk: Buffer): Promise<void> {
    let off = 0;
    while (off < chunk.length) {
      const raw = this.#raw;
      if (raw.destroyed || raw.writableEnded) return;
      let n = Math.min(chunk.length - off, this.#maxPiece > 0 ? this.#rng.int(1, this.#maxPiece) : chunk.length);
      const cut = this.#cut;
      if (cut && this.#written + n >= cut.after) {
        n = cut.after - this.#written;
        if (n > 0) raw.write(chunk.subarray(off, off + n));
        this.#written = cut.after;
        if (cut.how === 'reset') raw.resetAndDestroy();
        else raw.end();
        return;
      }
      raw.write(chunk.subarray(off, off + n));
      this.#written += n;
      off += n;
      if (this.#maxPiece > 0) await turns(1);
    }
  }
}

/** Backend messages as they arrive on the client's TLS socket. */
class Inbox {
  readonly #frames: Frame[] = [];
  #wake: (() => void) | undefined;
  #ended = false;
  #broken: Error | undefined;

  constructor(stream: TLSSocket) {
    const decoder = new FrameDecoder({ what: 'backend' });
    stream.on('data', (chunk: Buffer) => {
      try {
        for (const f of decoder.feed(chunk)) this.#frames.push({ type: f.type, body: Buffer.from(f.body) });
      } catch (err) {
        this.#broken = err as Error;
      }
      this.#poke();
    });
    stream.on('close', () => {
      this.#ended = true;
      this.#poke();
    });
  }

  #poke(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  /** The next message of type `letter`, skipping others; throws on an ErrorResponse or the end. */
  async until(letter: string): Promise<Frame> {
    for (;;) {
      if (this.#broken) throw this.#broken;
      const f = this.#frames.shift();
      if (f) {
        if (f.type === 'E'.charCodeAt(0)) throw new Error(`ErrorResponse while waiting for '${letter}': ${errorText(f.body)}`);
        if (f.type === letter.charCodeAt(0)) return f;
        continue;
      }
      if (this.#ended) throw new Error(`connection closed while waiting for '${letter}'`);
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  /** The next message, whatever its type (an ErrorResponse included). */
  async any(): Promise<Frame> {
    for (;;) {
      if (this.#broken) throw this.#broken;
      const f = this.#frames.shift();
      if (f) return f;
      if (this.#ended) throw new Error('connection closed while waiting for a message');
      await new Promise<void>((r) => (this.#wake = r));
    }
  }
}

function errorText(body: Buffer): string {
  const fields = body.toString('utf8').split('\0');
  return fields.find((f) => f.startsWith('M'))?.slice(1) ?? 'unknown error';
}

function query(sql: string): Buffer {
  const text = Buffer.from(`${sql}\0`);
  const out = Buffer.alloc(5 + text.length);
  out.write('Q', 0);
  out.writeInt32BE(4 + text.length, 1);
  text.copy(out, 5);
  return out;
}

function firstColumn(dataRow: Buffer): string {
  const len = dataRow.readInt32BE(2);
  return dataRow.subarray(6, 6 + len).toString('utf8');
}

/** Resolves when the socket has closed (the gateway hung up, or we did); reads on until then, or the end would go unseen. */
function closed(raw: Socket): Promise<void> {
  if (raw.closed) return Promise.resolve();
  const done = new Promise<void>((r) => raw.once('close', () => r()));
  raw.resume();
  return done;
}

function once(raw: Socket, event: 'connect' | 'data'): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const onClose = (): void => reject(new Error(`closed while waiting for ${event}`));
    raw.once('close', onClose);
    raw.once(event, (d?: Buffer) => {
      raw.off('close', onClose);
      // Nothing may flow past us before the next reader is attached.
      if (event === 'data') raw.pause();
      resolve(d);
    });
  });
}

/** A whole record, its header as plausible as not, with a random body: no TLS peer can take it. */
function garbageRecord(rng: SeededRandom): Buffer {
  const body = rng.bytes(rng.int(0, 64));
  const header = Buffer.from([rng.pick([0x14, 0x15, 0x16, 0x17, 0x18, rng.int(0, 255)]), 0x03, rng.int(0, 4), body.length >> 8, body.length & 0xff]);
  return Buffer.concat([header, body]);
}

/**
 * Garbage under the TLS layer: a whole bad record, or random bytes and then a
 * FIN. Random bytes alone may read as the start of a long record, which the
 * gateway rightly waits for (after the login, nothing times out an idle client).
 */
function garbage(raw: Socket, rng: SeededRandom): Promise<void> {
  if (rng.chance(0.5)) {
    raw.write(garbageRecord(rng));
  } else {
    raw.write(rng.bytes(rng.int(1, 80)));
    raw.end();
  }
  return closed(raw);
}

/**
 * Runs one connection with a fault drawn from `rng` and reports whether the
 * gateway behaved: a normal login works, and after a fault the gateway closes
 * the connection (or the client has reset it) within the budget.
 */
export async function chaosConnection(target: ChaosTarget, rng: SeededRandom, index: number): Promise<ChaosOutcome> {
  const fault = rng.chance(0.25) ? 'none' : rng.pick(FAULTS);
  const chopped = rng.chance(0.6) ? rng.int(1, 7) : 0;
  const raw = netConnect(target.port, target.host);
  raw.setNoDelay(true);
  raw.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  const budget = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no end after ${target.budgetMs} ms`), target.budgetMs);
  });
  try {
    const problem = await Promise.race([run(target, rng, index, fault, chopped, raw).then(() => undefined, (err: Error) => err.message), budget]);
    return problem === undefined ? { fault, chopped } : { fault, chopped, problem };
  } finally {
    clearTimeout(timer);
    raw.destroy();
  }
}

/** The connection's steps; throws where the gateway failed a client that had done nothing wrong yet. */
async function run(target: ChaosTarget, rng: SeededRandom, index: number, fault: Fault, chopped: number, raw: Socket): Promise<void> {
  await once(raw, 'connect');

  // ---- Before TLS: the clear SSLRequest and the answer byte.
  switch (fault) {
    case 'bytes-before-sslrequest':
      raw.write(rng.chance(0.5) ? HTTP : rng.bytes(rng.int(1, 16)));
      if (rng.chance(0.5)) raw.write(encodeSSLRequest());
      return closed(raw);
    case 'bytes-with-sslrequest':
      raw.write(Buffer.concat([encodeSSLRequest(), rng.chance(0.5) ? HTTP : rng.bytes(rng.int(1, 16))]));
      return closed(raw);
    case 'bytes-racing-the-answer':
      raw.write(encodeSSLRequest());
      await turns(rng.int(0, 3));
      raw.write(rng.pick([HTTP, Buffer.from('G'), rng.bytes(rng.int(1, 40)), garbageRecord(rng)]));
      if (rng.chance(0.3)) raw.end();
      return closed(raw);
    case 'reset-racing-the-answer':
      raw.write(encodeSSLRequest());
      await turns(rng.int(0, 3));
      raw.resetAndDestroy();
      return;
    default:
      raw.write(encodeSSLRequest());
  }
  const answer = await once(raw, 'data');
  if (answer?.toString() !== 'S') throw new Error(`answer to SSLRequest: ${JSON.stringify(answer?.toString())}`);
  switch (fault) {
    case 'non-tls-after-answer':
      raw.write(rng.pick([HTTP, Buffer.from('G'), rng.bytes(rng.int(1, 40))]));
      if (rng.chance(0.5)) raw.end();
      return closed(raw);
    case 'close-after-answer':
      raw.end();
      return closed(raw);
    case 'reset-after-answer':
      raw.resetAndDestroy();
      return;
    case 'garbage-record-instead-of-hello':
      raw.write(garbageRecord(rng));
      if (rng.chance(0.3)) raw.end();
      return closed(raw);
    default:
  }

  // ---- The handshake, its records chopped; a cut stops it part-way.
  const cutHow = fault === 'reset-mid-handshake' ? 'reset' : fault === 'half-open-mid-handshake' ? 'end' : undefined;
  const socket = new ChoppedSocket(raw, rng, chopped, cutHow ? { after: rng.int(1, 400), how: cutHow } : undefined);
  const tls = tlsConnect({ socket, ca: target.ca, servername: 'localhost' });
  tls.on('error', () => undefined);
  if (cutHow) return closed(raw);
  await new Promise<void>((resolve, reject) => {
    tls.once('secureConnect', () => resolve());
    raw.once('close', () => reject(new Error('closed during the TLS handshake')));
  });
  const inbox = new Inbox(tls);

  // ---- The login: StartupMessage, the password request, the token.
  tls.write(encodeStartupMessage({ params: { user: target.user, database: 'postgres' } }));
  if (fault === 'reset-during-login' && rng.chance(0.3)) return void raw.resetAndDestroy();
  const request = await inbox.until('R');
  if (request.body.readInt32BE(0) !== 3) throw new Error(`expected a cleartext password request, got authentication type ${request.body.readInt32BE(0)}`);
  switch (fault) {
    case 'reset-during-login':
      raw.resetAndDestroy();
      return;
    case 'half-open-during-login':
      // With close_notify (tls.end) or a bare FIN under it.
      if (rng.chance(0.5)) tls.end();
      else raw.end();
      return closed(raw);
    case 'garbage-record-during-login':
      return garbage(raw, rng);
    case 'wrong-token': {
      tls.write(encodePasswordMessage({ password: new Secret(target.token().replace(/Signature=[0-9a-f]+/, `Signature=${'0'.repeat(64)}`)) }));
      const reply = await inbox.any();
      if (reply.type !== 'E'.charCodeAt(0)) throw new Error(`a wrong token was answered with '${String.fromCharCode(reply.type)}'`);
      return closed(raw);
    }
    default:
  }
  tls.write(encodePasswordMessage({ password: new Secret(target.token()) }));
  await inbox.until('Z');

  // ---- The relay: a query, sometimes a large answer.
  const size = rng.chance(0.2) ? rng.int(1, 300_000) : 0;
  // Written through before anything else goes under it.
  await new Promise<void>((resolve) => tls.write(query(size > 0 ? `select repeat('x', ${size})` : `select ${index}`), () => resolve()));
  switch (fault) {
    case 'reset-during-relay':
      if (rng.chance(0.5)) await inbox.any();
      raw.resetAndDestroy();
      return;
    case 'half-open-during-relay':
      if (rng.chance(0.5)) tls.end();
      else raw.end();
      return closed(raw);
    case 'garbage-record-during-relay':
      return garbage(raw, rng);
    default:
  }
  const row = firstColumn((await inbox.until('D')).body);
  const expected = size > 0 ? 'x'.repeat(size) : String(index);
  if (row !== expected) throw new Error(`query answered ${row.length > 40 ? `${row.length} bytes` : JSON.stringify(row)}, expected ${size > 0 ? `${size} bytes` : expected}`);
  await inbox.until('Z');
  tls.end(encodeTerminate());
  return closed(raw);
}
