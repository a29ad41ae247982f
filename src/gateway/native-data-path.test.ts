/**
 * The native data path with real sockets on loopback: a TLS client (Node's
 * tls.connect, verifying the certificate), the gateway side driven the way
 * a session drives it, and a plain TCP "server".
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCertificates, type TestCertificates } from '../../test/support/certs.js';
import { TcpState, tcpSocketState, untilTcpSocket, type TcpSocketState } from '../../test/support/tcp-state.js';
import { isIamdbError } from '../errors/index.js';
import { encodeErrorResponse, encodeQuery } from '../protocol/postgres/index.js';
import { Secret } from '../util/index.js';
import type { ClientTlsSession, ClientTlsTerminator, RelayPending } from './client-tls.js';
import { nativeDataPath } from './native-data-path.js';

// A full collection on demand, to see what a pooled session still keeps reachable.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let certs: TestCertificates;
let terminator: ClientTlsTerminator;
let ca: Buffer;
const closeables: Array<{ close(): unknown } | { destroy(): unknown }> = [];

beforeAll(async () => {
  certs = await createTestCertificates();
  ca = readFileSync(certs.caCert);
  const loaded = nativeDataPath();
  // The suite runs where `npm ci` built the addon; a missing build must fail here, not fall back.
  expect(loaded.error?.message).toBeUndefined();
  terminator = loaded.path!.terminator(readFileSync(certs.serverCert, 'utf8'), new Secret(readFileSync(certs.serverKey, 'utf8')));
});
afterAll(async () => {
  for (const c of closeables.splice(0)) ('destroy' in c ? c.destroy() : c.close());
  await certs.remove();
});

function listen(onSocket: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  return new Promise((resolve) => {
    const server = createServer(onSocket);
    closeables.push(server);
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port }));
  });
}

/**
 * A gateway endpoint: accepts, answers the clear request byte, hands TLS to the terminator.
 * `hold`, when given, runs between the request byte and the hand-over with Node no longer
 * reading the socket, as in the moment after a session's check for pending bytes: whatever
 * the client sends meanwhile reaches the native side first.
 */
async function gateway(hold?: (raw: Socket) => Promise<void>): Promise<{ port: number; sessions: AsyncIterator<ClientTlsSession | Error> }> {
  const queue: Array<ClientTlsSession | Error> = [];
  const waiters: Array<(v: IteratorResult<ClientTlsSession | Error>) => void> = [];
  const push = (v: ClientTlsSession | Error): void => {
    const w = waiters.shift();
    if (w) w({ value: v, done: false });
    else queue.push(v);
  };
  const { port } = await listen((raw) => {
    raw.once('data', (first) => {
      expect(first.toString()).toBe('?');
      if (!hold) return void terminator.accept(raw, Buffer.from('S'), 2_000).then(push, push);
      raw.pause();
      (raw as unknown as { _handle: { readStop(): number } })._handle.readStop();
      hold(raw)
        .then(() => terminator.accept(raw, Buffer.from('S'), 2_000))
        .then(push, push);
    });
  });
  return {
    port,
    sessions: { next: () => (queue.length > 0 ? Promise.resolve({ value: queue.shift()!, done: false }) : new Promise((r) => waiters.push(r))) },
  };
}

/** The TCP socket under each test client's TLS, to reset it. */
const rawOf = new WeakMap<TLSSocket, Socket>();

/** A client: sends '?', expects 'S', then TLS verified against the test CA. */
function client(port: number): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const raw = netConnect(port, '127.0.0.1');
    raw.once('error', reject);
    raw.write('?');
    raw.once('data', (answer) => {
      expect(answer.toString()).toBe('S');
      const tls = tlsConnect({ socket: raw, ca, servername: 'localhost' });
      rawOf.set(tls, raw);
      tls.once('secureConnect', () => resolve(tls));
      tls.once('error', reject);
      closeables.push(tls);
    });
  });
}

function readExactly(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer): void => {
      chunks.push(c);
      got += c.length;
      if (got >= n) {
        socket.off('data', onData);
        const all = Buffer.concat(chunks);
        if (all.length > n) socket.unshift(all.subarray(n));
        resolve(all.subarray(0, n));
      }
    };
    socket.on('data', onData);
    socket.resume();
    socket.once('close', () => reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}

function ended(socket: Socket): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    socket.on('data', (c) => chunks.push(c));
    socket.resume();
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** A server connection as a session would hold it after login: a plain socket. */
async function serverPair(): Promise<{ gatewaySide: Socket; serverSide: Socket }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const gatewaySide = netConnect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise<void>((r) => gatewaySide.once('connect', () => r()));
  const serverSide = await accepted;
  server.close();
  closeables.push(serverSide, gatewaySide);
  return { gatewaySide, serverSide };
}

type Gateway = Awaited<ReturnType<typeof gateway>>;

/** A client through the TLS handshake, and the gateway's session for it. */
async function tlsSession(gw?: Gateway): Promise<{ c: TLSSocket; session: ClientTlsSession }> {
  const g = gw ?? (await gateway());
  const c = await client(g.port);
  return { c, session: (await g.sessions.next()).value as ClientTlsSession };
}

/** The same, handed over to the relay with a fresh server connection. */
async function relayed(pending: RelayPending = { toClient: [], toServer: [] }, gw?: Gateway) {
  const { c, session } = await tlsSession(gw);
  const { gatewaySide, serverSide } = await serverPair();
  return { c, session, serverSide, done: session.relayTo(gatewaySide, pending) };
}

describe('native data path', () => {
  it('runs a login over the socketpair, then relays, keeping the login’s last bytes ahead of the server’s', async () => {
    const { c, session } = await tlsSession();
    // Login phase: plaintext both ways on the socketpair.
    c.write('startup');
    expect((await readExactly(session.socket, 7)).toString()).toBe('startup');
    session.socket.write('auth?');
    expect((await readExactly(c, 5)).toString()).toBe('auth?');
    c.write('token');
    expect((await readExactly(session.socket, 5)).toString()).toBe('token');

    const { gatewaySide, serverSide } = await serverPair();
    // The server has already spoken; it must reach the client after the login's end.
    serverSide.write('server-first');
    const done = session.relayTo(gatewaySide, { toClient: [Buffer.from('ready')], toServer: [Buffer.from('ahead')] });
    expect((await readExactly(c, 'ready'.length + 'server-first'.length)).toString()).toBe('readyserver-first');
    expect((await readExactly(serverSide, 5)).toString()).toBe('ahead');
    c.write('query');
    expect((await readExactly(serverSide, 5)).toString()).toBe('query');
    serverSide.write('rows');
    expect((await readExactly(c, 4)).toString()).toBe('rows');
    const serverEnd = ended(serverSide);
    c.end();
    const result = await done;
    expect(result.endedBy).toBe('client');
    expect(result.bytesFromClient).toBe('ahead'.length + 'query'.length);
    expect(result.bytesFromServer).toBe('server-first'.length + 'rows'.length);
    await serverEnd;
  });

  it('moves megabytes both ways at once with backpressure, byte for byte', async () => {
    const { c, serverSide, done } = await relayed();
    const up = randomBytes(24 << 20);
    const down = randomBytes(24 << 20);
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    // Both sides write everything before reading anything: the relay must hold, not drop or deadlock.
    c.write(up);
    serverSide.write(down);
    const [gotUp, gotDown] = await Promise.all([readExactly(serverSide, up.length), readExactly(c, down.length)]);
    expect(hash(gotUp)).toBe(hash(up));
    expect(hash(gotDown)).toBe(hash(down));
    const clientEnd = ended(c);
    serverSide.end();
    const result = await done;
    expect(result.endedBy).toBe('server');
    expect(result.bytesFromServer).toBe(down.length);
    await clientEnd;
  });

  it('goes on byte for byte after a quiet spell in which it gave its buffers back (idle sweep)', async () => {
    const { c, serverSide, done } = await relayed();
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    // Traffic first, so that the plaintext and record buffers exist.
    c.write('before');
    expect((await readExactly(serverSide, 6)).toString()).toBe('before');
    serverSide.write('reply');
    expect((await readExactly(c, 5)).toString()).toBe('reply');
    // The quiet spell is what is under test: the sweep runs each second and frees after a full second of silence.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    // More than one buffer and one TLS record each way, so both are allocated again and refilled.
    const up = randomBytes(200_000);
    const down = randomBytes(200_000);
    c.write(up);
    serverSide.write(down);
    const [gotUp, gotDown] = await Promise.all([readExactly(serverSide, up.length), readExactly(c, down.length)]);
    expect(hash(gotUp)).toBe(hash(up));
    expect(hash(gotDown)).toBe(hash(down));
    const serverEnd = ended(serverSide);
    c.end();
    const result = await done;
    expect(result.endedBy).toBe('client');
    expect(result.bytesFromClient).toBe(6 + up.length);
    expect(result.bytesFromServer).toBe(5 + down.length);
    await serverEnd;
  });

  it('delivers what the server said last before closing the client (a FATAL before exit)', async () => {
    const { c, serverSide, done } = await relayed();
    const tail = ended(c);
    serverSide.end('goodbye');
    expect((await tail).toString()).toBe('goodbye');
    expect((await done).endedBy).toBe('server');
  });

  it('sends what the login read ahead from the client to the server before anything newer', async () => {
    const { c, session } = await tlsSession();
    c.write('early');
    // The login's reader has taken the bytes off the socketpair without consuming them.
    await new Promise<void>((resolve) => session.socket.once('readable', () => resolve()));
    const { gatewaySide, serverSide } = await serverPair();
    const done = session.relayTo(gatewaySide, { toClient: [], toServer: [] });
    c.write('later');
    expect((await readExactly(serverSide, 10)).toString()).toBe('earlylater');
    c.end();
    expect((await done).endedBy).toBe('client');
  });

  it('closes both sides when the gateway cuts the session (drain deadline)', async () => {
    const { c, session, serverSide, done } = await relayed();
    const clientEnd = ended(c);
    const serverEnd = ended(serverSide);
    session.destroy();
    expect((await done).endedBy).toBe('error');
    await Promise.all([clientEnd, serverEnd]);
  });

  it('closes the client when the login gives up (the socketpair end closes)', async () => {
    const { c, session } = await tlsSession();
    const clientEnd = ended(c);
    session.socket.end('FATAL: no');
    expect((await clientEnd).toString()).toBe('FATAL: no');
  });

  it('tells the login when the client hangs up mid-login', async () => {
    const { c, session } = await tlsSession();
    const loginEnd = ended(session.socket);
    c.end('bye');
    expect((await loginEnd).toString()).toBe('bye');
  });

  it('tells a client reset from a clean close', async () => {
    const { c, serverSide, done } = await relayed({ toClient: [Buffer.from('ok')], toServer: [] });
    expect((await readExactly(c, 2)).toString()).toBe('ok');
    const serverEnd = ended(serverSide);
    rawOf.get(c)!.resetAndDestroy();
    expect((await done).endedBy).toBe('error');
    await serverEnd;
  });

  it('leaves no file descriptor behind once its sessions are over', async () => {
    const gw = await gateway();
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const oneSession = async (): Promise<void> => {
      const { c, serverSide, done } = await relayed({ toClient: [Buffer.from('ok')], toServer: [] }, gw);
      expect((await readExactly(c, 2)).toString()).toBe('ok');
      const serverEnd = ended(serverSide);
      c.end();
      expect((await done).endedBy).toBe('client');
      await serverEnd;
      serverSide.destroy();
      c.destroy();
    };
    await oneSession();
    const before = fds();
    for (let i = 0; i < 10; i++) await oneSession();
    expect(fds()).toBeLessThanOrEqual(before);
  });

  describe('refuses a client that does not speak TLS, whenever its bytes or its reset arrive, and goes on serving', () => {
    const http = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    /**
     * `before`: the client acts after the session's check for pending bytes and before the
     * native side writes the answer byte, and its act has reached the gateway's socket when
     * the native side starts (it then fails at its first send or its first SSL_accept).
     * Otherwise the client acts once it has read the answer byte.
     */
    const cases: Array<{ name: string; before: boolean; act: (raw: Socket) => void; arrived: (s: TcpSocketState | undefined) => boolean }> = [
      { name: 'non-TLS bytes before the answer byte', before: true, act: (raw) => raw.write(http), arrived: (s) => (s?.rxQueue ?? 0) >= http.length },
      { name: 'one non-TLS byte and a close before the answer byte', before: true, act: (raw) => raw.end('G'), arrived: (s) => s?.state === TcpState.CloseWait && s.rxQueue >= 1 },
      { name: 'a reset before the answer byte', before: true, act: (raw) => raw.resetAndDestroy(), arrived: (s) => s === undefined || s.state === TcpState.Close },
      { name: 'non-TLS bytes after the answer byte', before: false, act: (raw) => raw.write(http), arrived: () => true },
      { name: 'one non-TLS byte and a close after the answer byte', before: false, act: (raw) => raw.end('G'), arrived: () => true },
      { name: 'a reset after the answer byte', before: false, act: (raw) => raw.resetAndDestroy(), arrived: () => true },
    ];
    for (const tc of cases) {
      it(tc.name, async () => {
        let client: Socket | undefined;
        let pendingAct = tc.before;
        const gw = await gateway(async (srv) => {
          if (!pendingAct) return;
          pendingAct = false;
          // The server side of this connection, as the kernel holds it: present, not yet read.
          expect(tcpSocketState(srv.localPort!, srv.remotePort!)?.state).toBe(TcpState.Established);
          tc.act(client!);
          await untilTcpSocket(srv.localPort!, srv.remotePort!, tc.name, tc.arrived);
        });
        client = netConnect(gw.port, '127.0.0.1');
        client.on('error', () => undefined);
        closeables.push(client);
        const clientEnd = ended(client);
        client.write('?');
        if (!tc.before) {
          expect((await readExactly(client, 1)).toString()).toBe('S');
          tc.act(client);
        }
        const failure = (await gw.sessions.next()).value;
        expect(isIamdbError(failure) && failure.code).toBe('GATEWAY_TLS_HANDSHAKE_FAILED');
        // The native side has closed the client: it sees the end (or had reset it itself).
        await clientEnd;
        // The data path still serves the next client on the same endpoint.
        const { c, session } = await tlsSession(gw);
        c.write('hello');
        expect((await readExactly(session.socket, 5)).toString()).toBe('hello');
      });
    }
  });

  it('gives up on a handshake that never comes (login timeout)', async () => {
    const gw = await gateway();
    const raw = netConnect(gw.port, '127.0.0.1');
    closeables.push(raw);
    raw.write('?');
    await readExactly(raw, 1);
    const rawEnd = ended(raw);
    const failure = (await gw.sessions.next()).value;
    expect(isIamdbError(failure) && failure.code).toBe('GATEWAY_LOGIN_TIMEOUT');
    await rawEnd;
  });

  it('keeps nothing of the login once a session is in a pool: its socketpair end can be collected while the client stays', async () => {
    const error = encodeErrorResponse({ severity: 'FATAL', code: '08006', message: 'lost' });
    const control = nativeDataPath().path!.createPool({
      maxServers: 1,
      borrowTimeoutMs: 5_000,
      neutralSettingsId: 1,
      resetQuery: encodeQuery('DISCARD ALL'),
      timeoutError: error,
      lostError: error,
      failedError: error,
      stats: new Float64Array(16),
      events: { need: () => undefined, serverClosed: () => undefined, closed: () => undefined },
    });
    // In a function of its own, so that nothing of the session stays on this test's frame.
    const attach = async () => {
      const { c, session } = await tlsSession();
      const socketClosed = once(session.socket, 'close');
      const socket = new WeakRef(session.socket);
      const done = session.attachToPool!(control, { settingsId: 1, settingsQuery: Buffer.alloc(0), classify: () => 0, pinned: () => undefined }, { toClient: [], toServer: [] });
      await socketClosed;
      return { c, socket, done };
    };
    const { c, socket, done } = await attach();
    let alive = true;
    for (let i = 0; i < 10 && alive; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      gc();
      await new Promise((resolve) => setImmediate(resolve));
      alive = socket.deref() !== undefined;
    }
    expect(alive).toBe(false);
    // The session itself is still there: the client's leaving ends it.
    c.destroy();
    expect((await done).endedBy).toBe('client');
    control.close();
  });
});

describe('native clear sessions and early TLS bytes', () => {
  /** An endpoint whose clients speak first; `take` decides, from the first bytes Node read, how the session is made. */
  async function endpoint(take: (raw: Socket, first: Buffer) => Promise<ClientTlsSession>): Promise<{ port: number; session: Promise<ClientTlsSession> }> {
    let resolveSession!: (s: ClientTlsSession) => void;
    let rejectSession!: (e: unknown) => void;
    const session = new Promise<ClientTlsSession>((res, rej) => ((resolveSession = res), (rejectSession = rej)));
    const { port } = await listen((raw) => {
      raw.once('data', (first) => {
        raw.pause();
        take(raw, first).then(resolveSession, rejectSession);
      });
    });
    return { port, session };
  }

  it('adopts a clear client: what Node read ahead comes first on the socketpair, then a relay byte for byte, also after an idle sweep', async () => {
    const path = nativeDataPath().path!;
    const { port, session: sessionP } = await endpoint(async (raw, first) => {
      // The login consumed 'hello'; the rest of the chunk is still Node's, unread.
      expect(first.subarray(0, 5).toString()).toBe('hello');
      raw.unshift(first.subarray(5));
      return path.adoptPlain(raw, 2_000);
    });
    const c = netConnect(port, '127.0.0.1');
    closeables.push(c);
    c.write('hello, startup');
    const session = await sessionP;
    expect(session.nativeId).toBeGreaterThan(0);
    expect((await readExactly(session.socket, ', startup'.length)).toString()).toBe(', startup');
    c.write('token');
    expect((await readExactly(session.socket, 5)).toString()).toBe('token');
    session.socket.write('auth ok');
    expect((await readExactly(c, 7)).toString()).toBe('auth ok');

    const { gatewaySide, serverSide } = await serverPair();
    const done = session.relayTo(gatewaySide, { toClient: [Buffer.from('ready')], toServer: [Buffer.from('ahead')] });
    expect((await readExactly(c, 5)).toString()).toBe('ready');
    expect((await readExactly(serverSide, 5)).toString()).toBe('ahead');
    const hash = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    const up = randomBytes(8 << 20);
    const down = randomBytes(8 << 20);
    c.write(up);
    serverSide.write(down);
    const [gotUp, gotDown] = await Promise.all([readExactly(serverSide, up.length), readExactly(c, down.length)]);
    expect(hash(gotUp)).toBe(hash(up));
    expect(hash(gotDown)).toBe(hash(down));
    // A quiet spell: the sweep gives the session's buffers back (a clear session has no OpenSSL ones).
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    c.write('after');
    expect((await readExactly(serverSide, 5)).toString()).toBe('after');
    serverSide.write('reply');
    expect((await readExactly(c, 5)).toString()).toBe('reply');
    const serverEnd = ended(serverSide);
    c.end();
    const result = await done;
    expect(result.endedBy).toBe('client');
    expect(result.bytesFromClient).toBe(5 + up.length + 5);
    expect(result.bytesFromServer).toBe(down.length + 5);
    await serverEnd;
  });

  it('ends a clear session whose client leaves during the login, and tells the login (EOF)', async () => {
    const path = nativeDataPath().path!;
    const { port, session: sessionP } = await endpoint((raw) => path.adoptPlain(raw, 2_000));
    const c = netConnect(port, '127.0.0.1');
    c.write('x');
    const session = await sessionP;
    const eof = ended(session.socket);
    c.end();
    await eof;
  });

  it('takes the TLS bytes a client sent without waiting for an answer (MySQL after its SSLRequest) as the start of the handshake, the rest from the socket', async () => {
    let handedOver!: () => void;
    const handed = new Promise<void>((r) => (handedOver = r));
    const { port, session: sessionP } = await endpoint(async (raw, first) => {
      // The request ('?') and the first 20 bytes of the ClientHello: a record cut in two.
      let buf = first;
      while (buf.length < 21) {
        raw.resume();
        buf = Buffer.concat([buf, await new Promise<Buffer>((r) => raw.once('data', r))]);
        raw.pause();
      }
      expect(buf.length).toBe(21);
      expect(buf[0]).toBe(0x3f);
      expect(buf[1]).toBe(0x16); // a handshake record
      const s = terminator.accept(raw, Buffer.alloc(0), 2_000, buf.subarray(1));
      handedOver();
      return s;
    });
    const raw = netConnect(port, '127.0.0.1');
    closeables.push(raw);
    await new Promise<void>((r) => raw.once('connect', () => r()));
    // Between TLS and the socket: the request goes out with the ClientHello's first 20 bytes, its
    // remainder only once the gateway has handed the early bytes over, so the native side reads
    // a record begun in memory on from the socket.
    let writes = 0;
    const link = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        if (writes++ > 0) return void raw.write(chunk, cb);
        raw.write(Buffer.concat([Buffer.from('?'), chunk.subarray(0, 20)]));
        void handed.then(() => raw.write(chunk.subarray(20), cb));
      },
    });
    raw.on('data', (d) => link.push(d));
    raw.on('end', () => link.push(null));
    const connected = new Promise<TLSSocket>((resolve, reject) => {
      const tls = tlsConnect({ socket: link, ca, servername: 'localhost' });
      tls.once('secureConnect', () => resolve(tls));
      tls.once('error', reject);
      closeables.push(tls);
    });
    // A handshake that stalls ends with the session's timeout, not the test's.
    const [c, session] = await Promise.all([connected, sessionP]);
    c.write('login');
    expect((await readExactly(session.socket, 5)).toString()).toBe('login');
    session.socket.write('ok');
    expect((await readExactly(c, 2)).toString()).toBe('ok');
    const { gatewaySide, serverSide } = await serverPair();
    const done = session.relayTo(gatewaySide, { toClient: [], toServer: [] });
    c.write('query');
    expect((await readExactly(serverSide, 5)).toString()).toBe('query');
    c.end();
    expect((await done).endedBy).toBe('client');
  });

  it('still refuses unread bytes before TLS when the protocol has the client wait (no early bytes given)', async () => {
    const { port, session } = await endpoint(async (raw, first) => {
      raw.unshift(first.subarray(1));
      return terminator.accept(raw, Buffer.from('S'), 2_000);
    });
    const c = netConnect(port, '127.0.0.1');
    closeables.push(c);
    c.write('?injected');
    const err = await session.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isIamdbError(err) && err.code).toBe('GATEWAY_BYTES_BEFORE_TLS');
  });
});
