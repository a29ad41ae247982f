/**
 * Clients for the gateway's endpoints in integration tests: IAM logins with
 * real drivers (pg, mysql2) and raw sockets that speak just enough of each
 * protocol to behave as an attacker would (stop half-way, lie about
 * lengths, bind to another loopback source address).
 */
import { readFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { encodeSSLRequest, encodeStartupMessage } from '../../src/protocol/postgres/index.js';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { REGION } from './iamdb.js';

export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** A token for `user` at `endpoint`, signed with `key`. */
export function signToken(endpoint: Endpoint, user: string, key: { id: string; secret: string }): string {
  return presignDbAuthToken({
    hostname: endpoint.host,
    port: endpoint.port,
    username: user,
    region: REGION,
    credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) },
    date: new Date(),
  }).reveal();
}

/** Logs in through a PostgreSQL endpoint with node-postgres over verified TLS; returns current_user. */
export async function pgLoginAs(endpoint: Endpoint, caPath: string, user: string, password: string): Promise<string> {
  const client = new pg.Client({ host: endpoint.host, port: endpoint.port, user, password, database: 'postgres', ssl: { ca: readFileSync(caPath) } });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const res = await client.query<{ u: string }>('select current_user as u');
    return res.rows[0]!.u;
  } finally {
    await client.end();
  }
}

/** Opens a MySQL session through an endpoint with mysql2 (TLS verified, clear-text plugin for tokens). */
export function mysqlConnect(endpoint: Endpoint, caPath: string, user: string, password: string, extra: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ host: endpoint.host, port: endpoint.port, user, password, enableCleartextPlugin: true, ssl: { ca: readFileSync(caPath) }, ...extra });
}

/** Logs in through a MySQL endpoint; returns CURRENT_USER(). */
export async function mysqlLoginAs(endpoint: Endpoint, caPath: string, user: string, password: string): Promise<string> {
  const c = await mysqlConnect(endpoint, caPath, user, password);
  try {
    const [rows] = await c.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
    return String(rows[0]!['u']);
  } finally {
    await c.end();
  }
}

/** A raw TCP connection, optionally from another loopback address (the whole 127/8 is local on Linux). */
export function rawConnect(endpoint: Endpoint, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: endpoint.host, port: endpoint.port, ...(localAddress ? { localAddress } : {}) });
    s.once('connect', () => {
      s.removeListener('error', reject);
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Everything a socket receives until it closes, and whether it was closed on us. */
export function collectUntilClose(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  return new Promise((resolve) => socket.once('close', () => resolve(Buffer.concat(chunks))));
}

/** The first `n` bytes a socket receives (it stays open). */
export function readBytes(socket: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        socket.off('data', onData);
        socket.off('close', onClose);
        socket.pause();
        if (buf.length > n) socket.unshift(buf.subarray(n));
        resolve(buf.subarray(0, n));
      }
    };
    const onClose = (): void => reject(new Error(`closed after ${buf.length} of ${n} bytes`));
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.resume();
  });
}

/** One whole MySQL packet (header and payload) from a raw socket. */
export async function readMysqlPacket(socket: Socket): Promise<{ seq: number; payload: Buffer }> {
  const header = await readBytes(socket, 4);
  const payload = await readBytes(socket, header.readUIntLE(0, 3));
  return { seq: header[3]!, payload };
}

/** PostgreSQL: SSLRequest, 'S', then TLS verified against `caPath`; the socket stays open for the caller. */
export async function pgTls(endpoint: Endpoint, caPath: string, localAddress?: string): Promise<TLSSocket> {
  const raw = await rawConnect(endpoint, localAddress);
  raw.write(encodeSSLRequest());
  const answer = await readBytes(raw, 1);
  if (answer.toString() !== 'S') throw new Error(`SSLRequest answered ${answer.toString('hex')}`);
  return new Promise((resolve, reject) => {
    const t = tlsConnect({ socket: raw, ca: readFileSync(caPath), servername: 'localhost' }, () => resolve(t));
    t.once('error', reject);
  });
}

/**
 * A HandshakeResponse41 payload for `user` without TLS, answering `scramble` for `password`
 * (random bytes when there is no scramble to answer: a login that will stall or fail).
 */
export async function mysqlHandshakeResponse(user: string, answer?: { password: string; scramble: Buffer }): Promise<Buffer> {
  const { Capability: Cap, encodeHandshakeResponse41, scrambleNativePassword } = await import('../../src/protocol/mysql/index.js');
  return encodeHandshakeResponse41({
    capabilityFlags: (Cap.CLIENT_PROTOCOL_41 | Cap.CLIENT_SECURE_CONNECTION | Cap.CLIENT_PLUGIN_AUTH | Cap.CLIENT_MULTI_RESULTS | Cap.CLIENT_TRANSACTIONS | Cap.CLIENT_LONG_PASSWORD) >>> 0,
    maxPacketSize: 1 << 24,
    characterSet: 45,
    mariadbCapabilities: 0,
    username: user,
    authResponse: answer ? scrambleNativePassword(answer.password, answer.scramble) : (await import('node:crypto')).randomBytes(20),
    database: undefined,
    authPluginName: 'mysql_native_password',
    connectAttributes: undefined,
  });
}

/** A PostgreSQL StartupMessage for `user`. */
export function pgStartup(user: string): Buffer {
  return encodeStartupMessage({ params: { user, database: 'postgres' } });
}

/** A raw MySQL session through an endpoint, logged in as a password user without TLS: for pipelining tests. */
export interface RawMysqlSession {
  readonly socket: Socket;
  /** The connection id the gateway's greeting gave. */
  readonly connectionId: number;
  /** Sends COM_QUERY packets for every text in one write. */
  pipeline(...sql: string[]): void;
  /** The next whole response: its packets' payloads up to and including the OK/ERR/EOF that ends it (text protocol). */
  response(): Promise<Buffer[]>;
}

/** Logs in with mysql_native_password (following the gateway's switch to the server's scramble). */
export async function rawMysqlLogin(endpoint: Endpoint, user: string, password: string): Promise<RawMysqlSession> {
  const { decodeHandshakeV10: decodeGreeting, decodeAuthSwitchRequest, encodePacket: frame, scrambleNativePassword } = await import('../../src/protocol/mysql/index.js');
  const socket = await rawConnect(endpoint);
  const greeting = decodeGreeting((await readMysqlPacket(socket)).payload);
  socket.write(frame(await mysqlHandshakeResponse(user, { password, scramble: greeting.authPluginData }), 1));
  for (;;) {
    const p = await readMysqlPacket(socket);
    if (p.payload[0] === 0x00) break;
    if (p.payload[0] === 0xff) throw new Error(`login refused: ${p.payload.subarray(9).toString()}`);
    const sw = decodeAuthSwitchRequest(p.payload);
    socket.write(frame(scrambleNativePassword(password, sw.pluginData.subarray(0, 20)), (p.seq + 1) & 0xff));
  }
  return {
    socket,
    connectionId: greeting.connectionId,
    pipeline: (...sql) => socket.write(Buffer.concat(sql.map((q) => frame(Buffer.concat([Buffer.from([0x03]), Buffer.from(q, 'utf8')]), 0)))),
    response: async () => {
      const out: Buffer[] = [];
      const first = (await readMysqlPacket(socket)).payload;
      out.push(first);
      if (first[0] === 0x00 || first[0] === 0xff) return out;
      // A result set: column definitions up to EOF, rows up to EOF or ERR.
      let eofs = 0;
      while (eofs < 2) {
        const p = (await readMysqlPacket(socket)).payload;
        out.push(p);
        if (p[0] === 0xff) break;
        if (p[0] === 0xfe && p.length < 9) eofs++;
      }
      return out;
    },
  };
}

/** The errno of an ERR payload, or undefined for anything else. */
export function errnoOf(payload: Buffer): number | undefined {
  return payload[0] === 0xff ? payload.readUInt16LE(1) : undefined;
}
