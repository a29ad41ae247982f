/**
 * The native data path (native/data_path.c): client TLS and the post-login
 * relay on a libuv loop of their own, with OpenSSL from Node's own build.
 * JavaScript still runs every login, on one end of a socketpair whose other
 * end the native side bridges to the client's TLS; once the server login is
 * done, the server connection's fd is handed over and bytes flow between
 * the two sockets without touching the event loop.
 *
 * The addon is built by `npm ci` (node-gyp, binding.gyp). Where it cannot
 * be loaded, `gateway.dataPath: auto` falls back to Node's TLS.
 *
 * `IAMDB_NATIVE_ADDON`, when set, names another build of the same addon to
 * load instead, such as the AddressSanitizer build
 * (`npm run build:native:asan`, see scripts/native-sanitizer-check). It is
 * read here rather than in config/ because it picks the binary the process
 * loads once for all its endpoints, like LD_PRELOAD, not a gateway setting.
 */
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { TLSSocket } from 'node:tls';
import { IamdbError } from '../errors/index.js';
import type { Secret } from '../util/index.js';
import type { ClientTlsSession, ClientTlsTerminator, RelayPending } from './client-tls.js';
import { HeapRelease } from './heap-release.js';
import { relay, type RelayResult } from './relay.js';

interface Binding {
  start(onEvent: (kind: string, id: number, fromClient: number, fromServer: number, reason: string, a: number, payload: Buffer | undefined) => void): void;
  tlsContext(certChainPem: string, keyPem: string): object;
  /** ctx null: a clear session (no TLS). `early`: TLS bytes already read from the client. */
  acceptTls(ctx: object | null, fd: number, answer: Buffer, early?: Buffer): [number, number];
  splice(id: number, fd: number, pendingForServer: Buffer, bytesJsReceived: number): void;
  close(id: number): void;
  // The pooled relay (native/pg_pool.c).
  scanWords(words: ReadonlyArray<readonly [string, number]>, mysql?: boolean): void;
  scan(text: Buffer, mysql: boolean): number;
  poolCreate(id: number, maxServers: number, borrowTimeoutMs: number, neutralSettingsId: number, resetQuery: Buffer, timeoutError: Buffer, lostError: Buffer, failedError: Buffer, stats: Float64Array, mysql?: boolean): void;
  poolConfigure(id: number, maxServers: number, maxIdleServers: number, borrowTimeoutMs: number, idleClientTimeoutMs: number, idleServerMs: number, clientStallMs: number, debugSql: boolean): void;
  poolAdd(poolId: number, serverId: number, fd: number, settingsId: number, requested: boolean, mysql?: number[]): void;
  poolFailed(poolId: number, errorForWaiters: Buffer): void;
  /** Starts V8's memory-reducing collection (native/v8_heap.cc); absent from builds older than it. */
  releaseHeap?(): void;
  poolClose(poolId: number): void;
  attach(sessionId: number, poolId: number, settingsId: number, settingsQuery: Buffer, pendingForServer: Buffer, bytesJsReceived: number, mysql?: number[]): void;
  verdict(sessionId: number, pinReason: number): void;
  /** The verdict on a MySQL command (native/my_pool.c): flags MYSQL_VERDICT_*, and the client's settings after it when it succeeds. */
  mysqlVerdict(sessionId: number, pinReason: number, flags: number, settingsId: number, settings: Buffer): void;
  cancelLookup(sessionId: number, requestId: number): void;
  cancelDone(serverId: number): void;
  poolLimit(poolId: number, limitId: number, maxServers: number): void;
  poolRetire(poolId: number, serverId: number): void;
  poolReserve(poolId: number): void;
  // TLS toward servers for pooled connections (native/pg_server_tls.c).
  clientTlsContext(caPem: string | null, verify: boolean): object;
  connectTls(ctx: object, fd: number, sniName: string, expectedHost: string): [number, number];
  poolAddTls(poolId: number, serverId: number, linkId: number, bytesJsReceived: number, settingsId: number, requested: boolean, mysql?: number[]): void;
  // Tests only: the C MySQL response tracker (native/my_resp.c) over a script of commands and server bytes.
  mysqlTrack(caps: number, mariadbCaps: number, status: number, maxPacket: number, ops: ReadonlyArray<MysqlTrackOp>): MysqlTrackResult;
}

/** A mysqlTrack op: server bytes to push, or a command sent ([its first bytes, its whole payload length]). */
export type MysqlTrackOp = Buffer | readonly [Buffer, number];

/** What the C tracker reported for one op (`op`: its index; -1 when the tracker refused the capabilities). */
export type MysqlTrackEntry =
  | {
      readonly op: number;
      readonly unsolicited: boolean;
      readonly command: number;
      readonly outcome: 'ok' | 'err' | 'eof' | 'other';
      readonly status: number;
      readonly statusReported: boolean;
      readonly errno: number;
      /** '' when the ERR had no '#' marker. */
      readonly sqlState: string;
      readonly stmtId: number;
      readonly numColumns: number;
      readonly numParams: number;
      readonly resultSets: number;
      /** Offset in that op's Buffer just after the packet. */
      readonly end: number;
    }
  | { readonly op: number; readonly refused: true }
  /** The call failed ("PROTO_MYSQL_<code>: ..."); always the last entry. */
  | { readonly op: number; readonly error: string };

/** The entries, and (when no call failed) the tracker's state after the last op. */
export type MysqlTrackResult = MysqlTrackEntry[] & { readonly idle?: boolean; readonly eof?: number; readonly status?: number };

/** A TLS link to a server run by the native side, with JS's plaintext end (see connectTls). */
export interface NativeServerLink {
  /** The native link's id: poolAdd's `tlsLink`. */
  readonly id: number;
  /** The plaintext end the login runs on. */
  readonly socket: Socket;
  /** The server's certificate (DER), for channel binding. */
  readonly peerCertificate: Buffer;
}

/** JavaScript's answer on a MySQL command the native side asked about (native/my_pool.c). */
export interface MysqlVerdict {
  readonly pin: number;
  /** MYSQL_VERDICT_* (mysql-native-pool.ts). */
  readonly flags: number;
  /** The client's settings after the command, when it succeeds (flags has MYSQL_VERDICT_SETTINGS). */
  readonly settingsId: number;
  readonly settings: Buffer;
}

/** What a pooled client brings to its pool (see native-pool.ts). */
export interface PooledClient {
  /** Interned id of the client's startup settings, and the Query message that applies them (MySQL: the commands). */
  readonly settingsId: number;
  readonly settingsQuery: Buffer;
  /**
   * A statement the native filter could not clear: resolve to a pin reason code, or 0. MySQL
   * pools also ask about COM_INIT_DB ('D') and COM_RESET_CONNECTION ('R'), with the client's
   * settings id and status flags, and get a MysqlVerdict.
   */
  classify(type: string, text: Buffer, settingsId: number, statusFlags: number): number | MysqlVerdict;
  /** MySQL pools: the capabilities the client negotiated, and its settings' MYSQL_VERDICT_AUTOCOMMIT / _STICKY flags. */
  readonly mysql?: { readonly capabilities: number; readonly settingsFlags: number };
  /** The native side pinned the client itself (code PIN_LONG_TEXT), or after a verdict. */
  pinned(reason: number): void;
  /** DebugLogging: a statement's text (undefined: over 16 KB, not copied). */
  statement?(type: 'Q' | 'P', text: Buffer | undefined): void;
}

/** How a MySQL server connection answers (capabilities it logged in with, status after the login). */
export interface MysqlServerShape {
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly statusFlags: number;
}

/** The native half of a pool, as native-pool.ts drives it. */
export interface NativePoolEvents {
  need(): void;
  serverClosed(serverId: number, reason: string): void;
  closed(): void;
}

/** The parts of Node's stream handle this module needs (not public API, stable since Node 0.x). */
interface StreamHandle {
  readonly fd?: number;
  readStop(): number;
}

type Listener = {
  handshake(ok: boolean, reason: string, payload?: Buffer): void;
  closed(result: RelayResult, reason: string): void;
  pooled?: PooledClient;
};

/** One per process: the native loop thread is process-wide. */
let engine: NativeDataPath | undefined;
let loadError: Error | undefined;

/**
 * The native data path, or undefined with the reason when the addon is not built or cannot load.
 * The addon is build/Release/iamdb_data_path.node, or the file `IAMDB_NATIVE_ADDON` names.
 */
export function nativeDataPath(): { path?: NativeDataPath; error?: Error } {
  if (engine) return { path: engine };
  if (loadError) return { error: loadError };
  try {
    // src/gateway and dist/gateway are both two levels below the package root.
    const require = createRequire(import.meta.url);
    const addon = process.env['IAMDB_NATIVE_ADDON'] || new URL('../../build/Release/iamdb_data_path.node', import.meta.url).pathname;
    const binding = require(resolvePath(addon)) as Binding;
    engine = new NativeDataPath(binding);
    return { path: engine };
  } catch (err) {
    loadError = err as Error;
    return { error: loadError };
  }
}

function handleOf(socket: Socket): StreamHandle {
  const handle = (socket as unknown as { _handle?: StreamHandle })._handle;
  if (!handle || typeof handle.fd !== 'number' || handle.fd < 0) throw new IamdbError('GATEWAY_NATIVE_HANDOFF', { what: 'socket has no file descriptor' });
  return handle;
}

/** Stops Node reading `socket` and returns what it had read but nobody consumed. */
function stopReading(socket: Socket, handle: StreamHandle): Buffer[] {
  socket.pause();
  const unread: Buffer[] = [];
  for (let chunk = socket.read() as Buffer | null; chunk !== null; chunk = socket.read() as Buffer | null) unread.push(chunk);
  // read() may have restarted the handle; stop it last. Nothing runs in between.
  handle.readStop();
  return unread;
}

function ignore(): void {}

/** The listener of a session in a pool: its events and its end, nothing of its login (built outside any login's scope). */
function pooledListener(client: PooledClient): { listener: Listener; done: Promise<RelayResult> } {
  let closed!: (result: RelayResult) => void;
  const done = new Promise<RelayResult>((resolve) => {
    closed = resolve;
  });
  return { listener: { handshake: ignore, closed, pooled: client }, done };
}

function endedBy(reason: string): RelayResult['endedBy'] {
  if (reason === 'client') return 'client';
  if (reason === 'server') return 'server';
  return 'error';
}

/** What a pooled session's end code says (native/pg_pool.c END_*); nothing for other sessions. */
function pooledEnd(code: number): Pick<RelayResult, 'serverGivenBack' | 'idledOut' | 'expired' | 'stalled'> {
  if (code === 0) return {};
  const back = (['none', 'keep', 'reset', 'close'] as const)[code & 3]!;
  return { serverGivenBack: back, idledOut: (code & 4) !== 0, expired: (code & 8) !== 0, stalled: (code & 16) !== 0 };
}

export class NativeDataPath {
  readonly #binding: Binding;
  readonly #listeners = new Map<number, Listener>();
  readonly #pools = new Map<number, NativePoolEvents>();
  /**
   * Each pool's counters array, which the native side writes until it frees the pool
   * ('pool-closed'): held here so that it outlives a pool object JS has already let go of.
   */
  readonly #stats = new Map<number, Float64Array>();
  readonly #cancels = new Map<number, (serverId: number) => void>();
  #nextPool = 0;
  #nextCancel = 0;
  /** Process-wide like the loop thread: whoever holds many clients has had a burst of logins. */
  readonly heapRelease: HeapRelease | undefined;

  constructor(binding: Binding) {
    this.#binding = binding;
    if (binding.releaseHeap) {
      const release = binding.releaseHeap.bind(binding);
      this.heapRelease = new HeapRelease(release);
      this.heapRelease.start();
    }
    binding.start((kind, id, fromClient, fromServer, reason, a, payload) => {
      if (this.#poolEvent(kind, id, reason, a, payload, fromClient, fromServer)) return;
      const l = this.#listeners.get(id);
      if (!l) return;
      if (kind === 'handshake') l.handshake(true, '', payload);
      else if (kind === 'handshake-failed') {
        this.#listeners.delete(id);
        l.handshake(false, reason);
      } else {
        this.#listeners.delete(id);
        l.closed({ bytesFromClient: fromClient, bytesFromServer: fromServer, endedBy: endedBy(reason), ...pooledEnd(a) }, reason);
      }
    });
  }

  /** Routes the pooled relay's events; false for the session events above. */
  #poolEvent(kind: string, id: number, reason: string, a: number, payload: Buffer | undefined, fromClient: number, fromServer: number): boolean {
    switch (kind) {
      case 'pool-need':
        this.#pools.get(id)?.need();
        return true;
      case 'server-closed':
        this.#pools.get(a)?.serverClosed(id, reason);
        return true;
      case 'pool-closed': {
        const p = this.#pools.get(id);
        this.#pools.delete(id);
        this.#stats.delete(id);
        p?.closed();
        return true;
      }
      case 'classify': {
        const pooled = this.#listeners.get(id)?.pooled;
        // A session gone meanwhile: nobody waits for the verdict.
        if (pooled === undefined) return true;
        const v = pooled.classify(String.fromCharCode(a), payload ?? Buffer.alloc(0), fromClient, fromServer);
        if (typeof v === 'number') this.#binding.verdict(id, v);
        else this.#binding.mysqlVerdict(id, v.pin, v.flags, v.settingsId, v.settings);
        return true;
      }
      case 'pinned':
        this.#listeners.get(id)?.pooled?.pinned(a);
        return true;
      case 'statement':
        this.#listeners.get(id)?.pooled?.statement?.(a === 0x51 ? 'Q' : 'P', payload);
        return true;
      case 'cancel-target': {
        const done = this.#cancels.get(id);
        this.#cancels.delete(id);
        done?.(a);
        return true;
      }
      default:
        return false;
    }
  }

  /** Ends a session now (as its ClientTlsSession's destroy, for a session whose login is over). */
  close(sessionId: number): void {
    this.#binding.close(sessionId);
  }

  /** The words the native statement filter looks for (gateway/proxy/session-state.ts). */
  setScanWords(words: ReadonlyArray<readonly [string, number]>, mysql = false): void {
    this.#binding.scanWords(words, mysql);
  }

  /** The native filter's answer for a statement: 0 clean, 1 a word to look at, 2 uncertain. */
  scan(text: Buffer, mysql = false): number {
    return this.#binding.scan(text, mysql);
  }

  /** Tests only: runs the C MySQL response tracker (native/my_resp.c) over `ops`, for the differential tests. */
  mysqlTrack(caps: number, mariadbCaps: number, status: number, maxPacket: number, ops: ReadonlyArray<MysqlTrackOp>): MysqlTrackResult {
    return this.#binding.mysqlTrack(caps, mariadbCaps, status, maxPacket, ops);
  }

  /** Creates the native half of a pool; `stats` is written by the loop thread (slots in native-pool.ts). */
  createPool(args: {
    maxServers: number;
    borrowTimeoutMs: number;
    neutralSettingsId: number;
    resetQuery: Buffer;
    timeoutError: Buffer;
    /** FATAL for a client whose open transaction died with its server. */
    lostError: Buffer;
    /** ERROR for a client whose statement in flight died with its server (outside a transaction block; it stays connected). */
    failedError: Buffer;
    stats: Float64Array;
    events: NativePoolEvents;
    /** A MySQL pool (native/my_pool.c): resetQuery is a run of command packets, the errors whole ERR packets. */
    mysql?: boolean;
  }): NativePoolControl {
    const id = ++this.#nextPool;
    this.#pools.set(id, args.events);
    this.#stats.set(id, args.stats);
    const b = this.#binding;
    b.poolCreate(id, args.maxServers, args.borrowTimeoutMs, args.neutralSettingsId, args.resetQuery, args.timeoutError, args.lostError, args.failedError, args.stats, args.mysql === true);
    return {
      id,
      configure: (c) => b.poolConfigure(id, c.maxServers, c.maxIdleServers, c.borrowTimeoutMs, c.idleClientTimeoutMs, c.idleServerMs, c.clientStallMs, c.debugSql),
      add: (serverId, socket, settingsId, requested, tlsLink, mysql) => {
        // The native side holds its own duplicate from here; Node lets go of its copy.
        const handle = handleOf(socket);
        const unread = stopReading(socket, handle);
        if (unread.length > 0) {
          socket.destroy();
          throw new IamdbError('GATEWAY_NATIVE_HANDOFF', { what: 'the server spoke after its login' });
        }
        // Over TLS the socket is our plaintext end: the native side takes its TLS link (and
        // checks that it passed us no byte we did not read), then our end closes.
        const shape = mysql === undefined ? undefined : [mysql.capabilities, mysql.mariadbCapabilities, mysql.statusFlags];
        if (tlsLink !== undefined) b.poolAddTls(id, serverId, tlsLink, socket.bytesRead, settingsId, requested, shape);
        else b.poolAdd(id, serverId, handle.fd!, settingsId, requested, shape);
        socket.destroy();
      },
      failed: (errorForWaiters) => b.poolFailed(id, errorForWaiters ?? Buffer.alloc(0)),
      limit: (limitId, maxServers) => b.poolLimit(id, limitId, maxServers),
      retire: (serverId) => b.poolRetire(id, serverId),
      reserve: () => b.poolReserve(id),
      close: () => b.poolClose(id),
    };
  }

  /** Pools whose native half is still allocated (closed ones count until their last client and server are gone). */
  get openPools(): number {
    return this.#pools.size;
  }

  /** Which server connection (its id) the pooled session holds now; 0 if none. It is held back until cancelDone. */
  cancelTarget(sessionId: number): Promise<number> {
    const req = ++this.#nextCancel;
    return new Promise((resolve) => {
      this.#cancels.set(req, resolve);
      this.#binding.cancelLookup(sessionId, req);
    });
  }

  cancelDone(serverId: number): void {
    this.#binding.cancelDone(serverId);
  }

  /**
   * An OpenSSL context for TLS links to servers: `verify` checks the chain
   * against `caPem` (the host name is per link). Build one per distinct
   * setting and keep it: each costs parsing the bundle.
   */
  serverTlsContext(caPem: string | undefined, verify: boolean): object {
    return this.#binding.clientTlsContext(caPem ?? null, verify);
  }

  /**
   * Runs TLS toward a server on `raw` (its SSLRequest answered 'S', nothing
   * read after it) on the native loop: the native side takes the fd and
   * gives back the plaintext end the login runs on. `sniName` '' sends no
   * SNI, `expectedHost` '' checks no name. Fails with OpenSSL's reason
   * ("certificate verify failed: …" when the certificate did not verify).
   */
  connectTls(ctx: object, raw: Socket, sniName: string, expectedHost: string, timeoutMs: number): Promise<{ ok: true; link: NativeServerLink } | { ok: false; reason: string }> {
    const handle = handleOf(raw);
    const unread = stopReading(raw, handle);
    if (unread.length > 0) return Promise.resolve({ ok: false, reason: 'the server sent bytes before TLS' });
    const [id, jsFd] = this.#binding.connectTls(ctx, handle.fd!, sniName, expectedHost);
    raw.destroy();
    const socket = new Socket({ fd: jsFd, readable: true, writable: true });
    socket.on('error', () => undefined);
    socket.pause();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(id);
        this.#binding.close(id);
        socket.destroy();
        resolve({ ok: false, reason: 'timeout' });
      }, timeoutMs);
      this.#listeners.set(id, {
        handshake: (ok, reason, payload) => {
          clearTimeout(timer);
          if (!ok) {
            socket.destroy();
            resolve({ ok: false, reason });
            return;
          }
          resolve({ ok: true, link: { id, socket, peerCertificate: payload ?? Buffer.alloc(0) } });
        },
        // The login failed and we closed our end, or the pool took the link: nothing to do.
        closed: () => socket.destroy(),
      });
    });
  }

  /** A terminator with this certificate chain and key (PEM). */
  terminator(certChainPem: string, keyPem: Secret<string>): ClientTlsTerminator {
    const ctx = this.#binding.tlsContext(certChainPem, keyPem.reveal());
    return {
      kind: 'native',
      accept: (raw, answer, timeoutMs, early) => this.#accept(ctx, raw, answer, timeoutMs, early),
      adoptPlain: (raw, timeoutMs) => this.adoptPlain(raw, timeoutMs),
    };
  }

  /**
   * Makes a native session of a client that did not ask for TLS: the same
   * session as after a TLS handshake (plaintext socket for the rest of the
   * login, relayTo, attachToPool), with no TLS on the client's side. What
   * Node had read from `raw` and nobody consumed is put back at the head of
   * the new socket, so the login reads on where it was.
   */
  adoptPlain(raw: Socket, timeoutMs: number): Promise<ClientTlsSession> {
    return this.#accept(null, raw, Buffer.alloc(0), timeoutMs);
  }

  #accept(ctx: object | null, raw: Socket, answer: Buffer, timeoutMs: number, early?: Buffer): Promise<ClientTlsSession> {
    const handle = handleOf(raw);
    const unread = stopReading(raw, handle);
    // Before TLS, bytes JS has not read are an injection attempt, unless the protocol lets the client
    // start its handshake unanswered (`early`, MySQL): then they are the handshake's next bytes.
    if (unread.length > 0 && ctx !== null && early === undefined) {
      return Promise.reject(new IamdbError('GATEWAY_BYTES_BEFORE_TLS', { count: unread.reduce((n, b) => n + b.length, 0) }));
    }
    const tlsEarly = ctx !== null && early !== undefined ? Buffer.concat([early, ...unread]) : undefined;
    const [id, jsFd] = this.#binding.acceptTls(ctx, handle.fd!, answer, tlsEarly);
    // The native side holds its own duplicate of the client's fd now.
    raw.destroy();
    const socket = new Socket({ fd: jsFd, readable: true, writable: true });
    socket.on('error', () => undefined);
    socket.pause();
    // A clear client's bytes Node read ahead: plaintext the login reads first (not counted in bytesRead,
    // which the native side compares with what it wrote on the socketpair).
    if (ctx === null && unread.length > 0) socket.unshift(Buffer.concat(unread));
    const binding = this.#binding;
    let closedResult: { result: RelayResult; reason: string } | undefined;
    let onClosed: ((r: { result: RelayResult; reason: string }) => void) | undefined;

    return new Promise<ClientTlsSession>((resolve, reject) => {
      const timer = setTimeout(() => {
        binding.close(id);
        socket.destroy();
        reject(new IamdbError('GATEWAY_LOGIN_TIMEOUT', { phase: 'TLS handshake' }));
      }, timeoutMs);
      this.#listeners.set(id, {
        handshake: (ok, reason) => {
          clearTimeout(timer);
          if (!ok) {
            socket.destroy();
            reject(new IamdbError('GATEWAY_TLS_HANDSHAKE_FAILED', { reason }));
            return;
          }
          resolve({
            socket,
            relayTo: (upstream: Socket, pending: RelayPending): Promise<RelayResult> => {
              if (closedResult) {
                // The client left while the login finished.
                upstream.destroy();
                return Promise.resolve(closedResult.result);
              }
              // A TLS link to the server stays in Node: bridge it to the socketpair.
              if (upstream instanceof TLSSocket) return relay(socket, upstream, {}, pending);
              const upHandle = handleOf(upstream);
              const fromServer = stopReading(upstream, upHandle);
              const fromClient = stopReading(socket, handleOf(socket));
              const done = new Promise<RelayResult>((res) => {
                onClosed = (r) => res(r.result);
              });
              // Splice first: the native side stops reading the client before
              // the client can see the end of the login and start talking.
              binding.splice(id, upHandle.fd!, Buffer.concat([...pending.toServer, ...fromClient]), socket.bytesRead);
              upstream.destroy();
              for (const b of [...pending.toClient, ...fromServer]) socket.write(b);
              // The end of the socketpair is the barrier: after it, server bytes flow.
              // Closing our end keeps what we wrote readable on the other, and frees the fd.
              socket.end(() => socket.destroy());
              return done;
            },
            attachToPool: (pool: NativePoolControl, client: PooledClient, pending: RelayPending): Promise<RelayResult> => {
              if (closedResult) return Promise.resolve(closedResult.result);
              const fromClient = stopReading(socket, handleOf(socket));
              // The login's listener (this scope: the socketpair's socket, the timer, the login's
              // promise) gives way to one that holds only the client: an idle pooled client keeps
              // nothing else alive here for as long as it stays.
              const { listener, done } = pooledListener(client);
              this.#listeners.set(id, listener);
              const mysql = client.mysql === undefined ? undefined : [client.mysql.capabilities, client.mysql.settingsFlags];
              binding.attach(id, pool.id, client.settingsId, client.settingsQuery, Buffer.concat([...pending.toServer, ...fromClient]), socket.bytesRead, mysql);
              for (const b of pending.toClient) socket.write(b);
              // As for a splice: the end of the socketpair is the barrier after which the pool speaks.
              // Written in full already (the usual case): close at once. The native side still reads
              // what we wrote, then EOF; a shutdown first would only cost a syscall and a callback.
              if (socket.writableLength === 0) socket.destroy();
              else socket.end(() => socket.destroy());
              return done;
            },
            nativeId: id,
            destroy: () => {
              binding.close(id);
              socket.destroy();
            },
          });
        },
        closed: (result, reason) => {
          closedResult = { result, reason };
          if (onClosed) onClosed(closedResult);
          // The native side is gone: our end has nothing left to say or hear.
          socket.destroy();
        },
      });
    });
  }
}

/** A pool's native half, as the pool manager (gateway/proxy/native-pool.ts) drives it. */
export interface NativePoolConfig {
  readonly maxServers: number;
  /** Idle server connections beyond this many are closed once idle for idleServerMs. */
  readonly maxIdleServers: number;
  readonly borrowTimeoutMs: number;
  /** Clients silent this long are let go (0: never). */
  readonly idleClientTimeoutMs: number;
  readonly idleServerMs: number;
  /** A client holding a server that takes none of its answer for this long is let go (END_STALLED). */
  readonly clientStallMs: number;
  /** Every statement's text is reported (PooledClient.statement), for DebugLogging. */
  readonly debugSql: boolean;
}

export interface NativePoolControl {
  readonly id: number;
  configure(config: NativePoolConfig): void;
  /**
   * A logged-in server connection joins the pool; the socket is taken over (Node's copy is
   * destroyed). `requested`: it answers the pool's ask (need); otherwise it is welcome only
   * while the pool has room. `tlsLink`: the server was logged in over a native TLS link
   * (connectTls) whose plaintext end `socket` is; the pool takes the link.
   */
  add(serverId: number, socket: Socket, settingsId: number, requested: boolean, tlsLink?: number, mysql?: MysqlServerShape): void;
  /** A login the pool asked for failed; with bytes, every waiting client gets them and is ended. */
  failed(errorForWaiters?: Buffer): void;
  /**
   * The pool shares one bound with every pool given the same limit id (RDS Proxy's
   * MaxConnectionsPercent is of the target, across the proxy's pools); `maxServers` sizes it.
   * A pool that needs room when the bound is reached closes another pool's idle connection.
   */
  limit(limitId: number, maxServers: number): void;
  /** This server connection no longer fits the pool (its target changed role): closed once nobody holds it. */
  retire(serverId: number): void;
  /** Asks for room for one login as a waiting client would; answered by a `need` event. */
  reserve(): void;
  close(): void;
}
