/**
 * A proxy's MySQL/MariaDB server connections, one at a time: the login with
 * the secret's user (the instance endpoints' upstream code, gateway/mysql/
 * upstream.ts: TLS as `targetTls` says, run natively for pools;
 * mysql_native_password and caching_sha2_password), the server's
 * max_connections for sizing, and the target group's InitQuery. The native
 * pool (native/my_pool.c) takes the connection from there; it cleans it
 * between clients itself (COM_RESET_CONNECTION, the pool's database, the
 * InitQuery again: mysql-native-pool.ts builds those commands).
 */
import type { Socket } from 'node:net';
import { IamdbError, isIamdbError } from '../../errors/index.js';
import {
  Capability,
  Command,
  ResponseTracker,
  ServerStatus,
  decodeOkPacket,
  encodeHandshakeResponse41,
  encodePacket,
  type HandshakeResponse41,
  type ResponseEnd,
} from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import { STRIPPED_CAPS, type ServerProfileCache } from '../mysql/greeting.js';
import { PacketReader } from '../mysql/packets.js';
import { abandonServerLink, configuredServerKey, openServer, passwordHandshake, serverCapabilities, startServerTls, type ServerLink, type ServerTlsStarter } from '../mysql/upstream.js';
import { permanentTlsFailure } from './pooled-server-tls.js';
import { LoginFailed } from '../session-common.js';

/**
 * Capabilities that matter only while logging in (TLS, attributes, the
 * database, the auth plugin): two clients differing only in these can share
 * a server connection.
 */
const LOGIN_ONLY_CAPS =
  (Capability.CLIENT_SSL |
    Capability.CLIENT_CONNECT_ATTRS |
    Capability.CLIENT_CONNECT_WITH_DB |
    Capability.CLIENT_PLUGIN_AUTH |
    Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    Capability.CLIENT_SECURE_CONNECTION |
    Capability.CLIENT_LONG_PASSWORD |
    Capability.CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS) >>>
  0;

/** What a server connection's responses look like: the client's negotiated capabilities that shape them, and its character set. */
export interface ServerShape {
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  readonly characterSet: number;
  readonly maxPacketSize: number;
  /** Equal keys: interchangeable connections. */
  readonly key: string;
}

export function serverShape(negotiated: { capabilities: number; mariadbCapabilities: number }, characterSet: number, maxPacketSize: number): ServerShape {
  const capabilities = (negotiated.capabilities & ~LOGIN_ONLY_CAPS) >>> 0;
  return { capabilities, mariadbCapabilities: negotiated.mariadbCapabilities, characterSet, maxPacketSize, key: `${capabilities}/${negotiated.mariadbCapabilities}/${characterSet}` };
}

/** A logged-in server connection of a pool. */
export interface PooledServer {
  readonly socket: Socket;
  readonly shape: ServerShape;
  /** Capabilities of the server link (the shape's, as the server has them). */
  readonly capabilities: number;
  readonly mariadbCapabilities: number;
  /** Server status after its login and InitQuery (autocommit). */
  statusFlags: number;
  /** The native TLS link it runs over (native pools take it with the connection). */
  readonly nativeTls?: number;
}

/** A server's refusal (or why it could not be reached), for the client and the audit log. */
export interface ServerRefusal {
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

export interface ServerLoginOptions {
  readonly username: string;
  readonly password: Secret<string>;
  readonly database: string;
  readonly loginTimeoutMs: number;
  readonly maxMessageBytes: number;
  readonly profile: ServerProfileCache;
  readonly initQuery?: string;
  /** Run TRACK_STATE_CHANGES first (the pool reads SERVER_SESSION_STATE_CHANGED: mysql-native-pool.ts). */
  readonly trackStateChanges?: boolean;
  /** Ask the server for max_connections (the pool's first login). */
  readonly learnMaxConnections: boolean;
  /** TLS to the server run by the native side (native pools); default Node's. */
  readonly tls?: ServerTlsStarter;
}

/** `permanentTls`: TLS to the server cannot work as configured (no retry will cure it). */
type LoginOutcome = { ok: true; server: PooledServer; maxConnections?: number } | { ok: false; refusal: ServerRefusal; permanentTls: boolean };

/**
 * Makes the server set SERVER_SESSION_STATE_CHANGED after any statement that
 * changes session state (user and session variables, temporary tables,
 * prepared statements, the schema), inside a procedure too. MariaDB and
 * MySQL set the flag only on connections that negotiated
 * CLIENT_SESSION_TRACK (tried on MariaDB 10.11: never without it).
 */
export const TRACK_STATE_CHANGES = 'SET SESSION session_track_state_change = ON';

/** Opens and logs in one server connection of `shape` with the secret's credentials. */
export async function loginServer(instance: DbInstance, shape: ServerShape, o: ServerLoginOptions): Promise<LoginOutcome> {
  let link: ServerLink | undefined;
  try {
    link = await openServer(instance, o.loginTimeoutMs, o.profile, o.maxMessageBytes);
    const caps = (serverCapabilities(shape.capabilities, link, instance, STRIPPED_CAPS) | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_SECURE_CONNECTION | (o.database ? Capability.CLIENT_CONNECT_WITH_DB : 0)) >>> 0;
    const mariadbCaps = (shape.mariadbCapabilities & link.greeting.mariadbCapabilities) >>> 0;
    const response: HandshakeResponse41 = {
      type: 'HandshakeResponse41',
      capabilityFlags: caps,
      maxPacketSize: shape.maxPacketSize,
      characterSet: shape.characterSet,
      mariadbCapabilities: mariadbCaps,
      username: o.username,
      authResponse: Buffer.alloc(0),
      database: o.database || undefined,
      authPluginName: '',
      connectAttributes: undefined,
    };
    await startServerTls(link, instance, caps, response, mariadbCaps, o.loginTimeoutMs, o.maxMessageBytes, o.tls);
    const serverPublicKey = configuredServerKey(instance, link);
    const ok = await passwordHandshake(link, o.password.reveal(), (auth) => encodeHandshakeResponse41({ ...response, ...auth }), {
      refused: (e) => new ServerRefused({ errno: e.errno, sqlState: e.sqlState ?? 'HY000', message: e.message }),
      failed: (reason) => new ServerRefused({ errno: 1045, sqlState: '28000', message: reason }),
      ...(serverPublicKey !== undefined ? { serverPublicKey } : {}),
    });
    const server: PooledServer = {
      socket: link.socket,
      shape,
      capabilities: caps,
      mariadbCapabilities: mariadbCaps,
      statusFlags: okStatus(ok, caps),
      ...(link.nativeTls !== undefined ? { nativeTls: link.nativeTls } : {}),
    };
    // A pooled socket outlives every listener a session adds: its errors must never be unhandled.
    server.socket.on('error', () => undefined);
    const reader = link.reader as PacketReader;
    let maxConnections: number | undefined;
    if (o.learnMaxConnections) {
      const r = await command(server, reader, query('SELECT @@max_connections'), o.maxMessageBytes);
      maxConnections = Number(r.end.outcome === 'ok' || r.end.outcome === 'eof' ? firstValue(r.packets, caps) : undefined) || 100;
    }
    if (o.trackStateChanges) {
      // Without it the pool cannot tell what a CALL left in the session: a pool that relies on it cannot use this connection.
      const r = await command(server, reader, query(TRACK_STATE_CHANGES), o.maxMessageBytes);
      if (r.end.outcome === 'err') throw new ServerRefused({ errno: r.end.errno, sqlState: r.end.sqlState ?? 'HY000', message: `${TRACK_STATE_CHANGES} failed` });
    }
    if (o.initQuery) {
      const r = await command(server, reader, query(o.initQuery), o.maxMessageBytes);
      if (r.end.outcome === 'err') throw new ServerRefused({ errno: r.end.errno, sqlState: r.end.sqlState ?? 'HY000', message: 'the InitQuery failed' });
    }
    if (reader.pendingBytes > 0) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'server bytes after the login' });
    reader.detach();
    link.phase = 'done';
    return { ok: true, server, ...(maxConnections !== undefined ? { maxConnections } : {}) };
  } catch (err) {
    if (link !== undefined) abandonServerLink(link);
    return { ok: false, refusal: refusalOf(err), permanentTls: permanentTlsFailure(err) };
  }
}

/** What the server said when it refused a login (or the InitQuery), for the client and the audit log (a LoginFailed, as upstream.ts's handlers make). */
class ServerRefused extends LoginFailed {
  constructor(readonly refusal: ServerRefusal) {
    super('UpstreamRefused', undefined, `${refusal.errno}: ${refusal.message}`);
  }
}

function refusalOf(err: unknown): ServerRefusal {
  if (err instanceof ServerRefused) return err.refusal;
  // The server's ERR instead of a greeting (too many connections, host blocked).
  if (err instanceof LoginFailed) return { errno: 1040, sqlState: 'HY000', message: err.detail ?? 'the server refused the connection' };
  if (isIamdbError(err)) return { errno: 2003, sqlState: 'HY000', message: err.message };
  return { errno: 1105, sqlState: 'HY000', message: err instanceof Error ? err.message : String(err) };
}

function query(sql: string): Buffer {
  return Buffer.concat([Buffer.from([Command.COM_QUERY]), Buffer.from(sql, 'utf8')]);
}

/** Sends one command and reads its whole response (the tracker says where it ends); the status it leaves is the connection's. */
async function command(server: PooledServer, reader: PacketReader, payload: Buffer, maxMessageBytes: number): Promise<{ end: ResponseEnd; packets: Buffer[] }> {
  const tracker = new ResponseTracker({ capabilityFlags: server.capabilities, mariadbCapabilities: server.mariadbCapabilities, statusFlags: server.statusFlags, maxAllowedPacket: maxMessageBytes });
  tracker.sent(payload);
  server.socket.write(encodePacket(payload, 0));
  const packets: Buffer[] = [];
  for (;;) {
    const p = await reader.next();
    packets.push(p.payload);
    for (const ev of tracker.push(encodePacket(p.payload, p.sequenceId))) {
      if (ev.type !== 'response') throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', { target: 'the database server', reason: 'a packet no command asked for' });
      server.statusFlags = ev.statusFlags;
      return { end: ev, packets };
    }
  }
}

/**
 * The first column of the first row of a one-column text result set: column
 * count, one definition, EOF unless CLIENT_DEPRECATE_EOF, then the row (a
 * length-encoded string, 0xFB for NULL). Only for the short values asked for here.
 */
function firstValue(packets: readonly Buffer[], caps: number): string | null | undefined {
  const row = packets[(caps & Capability.CLIENT_DEPRECATE_EOF) !== 0 ? 2 : 3];
  if (row === undefined || row.length === 0) return undefined;
  if (row[0] === 0xfb) return null;
  const len = row[0]!;
  if (len >= 0xfb) return undefined;
  return row.toString('utf8', 1, 1 + len);
}

function okStatus(ok: Buffer, caps: number): number {
  try {
    return decodeOkPacket(ok, caps).statusFlags;
  } catch {
    return ServerStatus.SERVER_STATUS_AUTOCOMMIT;
  }
}
