/**
 * RDS Proxy's client-side password methods and wire errors against real
 * client code: the `pg` driver logs in with SCRAM-SHA-256 and MD5, and
 * mysql2 with mysql_native_password and caching_sha2_password (full
 * authentication over TLS, then the fast path), to small listeners that
 * speak only the login and use iamdb's server halves and wire errors.
 * The drivers' own checks (pg verifies the SCRAM server signature) make
 * this more than a round trip through our own client halves.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlWireError, postgresWireError, type ProxyWireFailure } from '../../src/gateway/proxy/index.js';
import {
  AuthPlugin,
  CachingSha2Server,
  Capability,
  FastAuthCache,
  createScramble,
  decodeClientHandshake,
  encodeAuthSwitchRequest,
  encodeHandshakeV10,
  encodeOkPacket,
  encodePacket,
  fastAuthAccount,
  verifyNativePasswordWithCleartext,
} from '../../src/protocol/mysql/index.js';
import {
  ByteReader,
  FrameDecoder,
  ScramServer,
  createMd5Salt,
  createScramVerifier,
  decodePasswordMessage,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  encodeAuthentication,
  encodeReadyForQuery,
  verifyMd5Password,
  type Frame,
} from '../../src/protocol/postgres/index.js';
import { Secret } from '../../src/util/index.js';
import { createTestCertificates, type TestCertificates } from '../support/certs.js';

const PASSWORD = new Secret('s3cret-pässword');
const USER = 'app_user';

/** Reads length-prefixed units from a socket, one at a time. */
class Reader {
  #buf = Buffer.alloc(0);
  #waiters: Array<() => void> = [];
  readonly #onData = (c: Buffer): void => {
    this.#buf = Buffer.concat([this.#buf, c]);
    for (const w of this.#waiters.splice(0)) w();
  };
  constructor(private readonly socket: Socket) {
    socket.on('data', this.#onData);
  }
  /** Stops reading; bytes read but not taken go back to the socket (a TLS handshake that followed a request). */
  detach(): void {
    this.socket.off('data', this.#onData);
    this.socket.pause();
    if (this.#buf.length > 0) this.socket.unshift(this.#buf);
    this.#buf = Buffer.alloc(0);
  }
  async take(n: number): Promise<Buffer> {
    while (this.#buf.length < n) await new Promise<void>((r) => this.#waiters.push(r));
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }
}

let servers: Server[] = [];
const sockets = new Set<Socket>();
async function listen(handle: (socket: Socket) => Promise<void>): Promise<number> {
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    handle(socket).catch(() => socket.destroy());
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}
afterAll(async () => {
  // The listeners speak only the login: the sessions after it are closed here.
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  servers = [];
});

// ---- PostgreSQL ---------------------------------------------------------

/** A proxy's PostgreSQL login: startup, then `method`, or the refusal `refuse` gives for the user. */
function pgListener(method: 'SCRAM-SHA-256' | 'MD5', refuse?: (user: string) => ProxyWireFailure | undefined): Promise<number> {
  const verifier = createScramVerifier(PASSWORD);
  return listen(async (socket) => {
    const reader = new Reader(socket);
    const len = (await reader.take(4)).readUInt32BE(0);
    const body = await reader.take(len - 4);
    const fields = body.subarray(4).toString('utf8').split('\0');
    const user = fields[fields.indexOf('user') + 1]!;
    const frames = new FrameDecoder({ maxMessageBytes: 1 << 16 });
    const nextFrame = async (): Promise<Frame> => {
      for (;;) {
        const f = frames.next();
        if (f !== undefined) return { type: f.type, body: Buffer.from(f.body) };
        frames.push(await reader.take(1));
      }
    };
    const refusal = refuse?.(user);
    if (refusal !== undefined) return void socket.end(postgresWireError(refusal));
    let ok: boolean;
    if (method === 'MD5') {
      const salt = createMd5Salt();
      socket.write(encodeAuthentication({ type: 'AuthenticationMD5Password', salt }));
      ok = verifyMd5Password(decodePasswordMessage(new ByteReader((await nextFrame()).body)).password, user, PASSWORD, salt);
    } else {
      const scram = new ScramServer({ verifier });
      socket.write(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: scram.mechanisms }));
      const init = decodeSASLInitialResponse(new ByteReader((await nextFrame()).body));
      socket.write(encodeAuthentication({ type: 'AuthenticationSASLContinue', data: Buffer.from(scram.receiveClientFirst(init.mechanism, init.data ?? Buffer.alloc(0))) }));
      const result = scram.receiveClientFinal(decodeSASLResponse(new ByteReader((await nextFrame()).body)).data);
      ok = result.ok;
      if (result.ok) socket.write(encodeAuthentication({ type: 'AuthenticationSASLFinal', data: Buffer.from(result.serverFinal) }));
    }
    if (!ok) return void socket.end(postgresWireError({ kind: 'WrongPassword', user }));
    // RDS Proxy sends no BackendKeyData: it does not support CancelRequest.
    socket.write(Buffer.concat([encodeAuthentication({ type: 'AuthenticationOk' }), encodeReadyForQuery({ status: 'I' })]));
  });
}

async function pgLogin(port: number, password: string, user = USER): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'postgres', ssl: false });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } finally {
    await client.end().catch(() => undefined);
  }
}

describe('PostgreSQL client logins with the pg driver', () => {
  it('SCRAM-SHA-256: the right password logs in (pg checks our server signature), a wrong one gets RDS Proxy\'s 28P01', async () => {
    const port = await pgListener('SCRAM-SHA-256');
    await pgLogin(port, PASSWORD.reveal());
    await expect(pgLogin(port, 'wrong')).rejects.toMatchObject({ code: '28P01', severity: 'FATAL', message: `The password that was provided for the role ${USER} is wrong.` });
  });

  it('MD5: the right password logs in, a wrong one is refused', async () => {
    const port = await pgListener('MD5');
    await pgLogin(port, PASSWORD.reveal());
    await expect(pgLogin(port, 'wrong')).rejects.toMatchObject({ code: '28P01' });
  });

  it('shows RDS Proxy\'s texts for a clear link under RequireTLS and a user without a secret', async () => {
    const port = await pgListener('SCRAM-SHA-256', (user) => (user === 'nobody' ? { kind: 'NoCredentials', user } : { kind: 'TlsRequired' }));
    await expect(pgLogin(port, 'x')).rejects.toMatchObject({ code: '28000', message: 'This RDS Proxy requires TLS connections.' });
    await expect(pgLogin(port, 'x', 'nobody')).rejects.toMatchObject({
      code: '28000',
      message: 'This RDS proxy has no credentials for the role nobody. Check the credentials for this role and try again.',
    });
  });
});

// ---- MySQL --------------------------------------------------------------

let certs: TestCertificates;
beforeAll(async () => {
  certs = await createTestCertificates();
});
afterAll(async () => {
  await certs?.remove();
});

const SERVER_CAPS = (Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_LONG_PASSWORD | Capability.CLIENT_SSL | Capability.CLIENT_TRANSACTIONS) >>> 0;

/** Reads MySQL packets (no continuations: logins are small). */
async function packet(reader: Reader): Promise<{ seq: number; payload: Buffer }> {
  const head = await reader.take(4);
  return { seq: head[3]!, payload: await reader.take(head.readUIntLE(0, 3)) };
}

/** A proxy's MySQL login with `plugin`, sharing one fast-auth cache; `refuseClear` plays RequireTLS. */
function mysqlListener(plugin: 'mysql_native_password' | 'caching_sha2_password', cache: FastAuthCache, refuseClear = false): Promise<number> {
  return listen(async (plain) => {
    const scramble = createScramble();
    plain.write(encodePacket(encodeHandshakeV10({ serverVersion: '8.0.36-iamdb-proxy', connectionId: 7, authPluginData: scramble, capabilityFlags: SERVER_CAPS, characterSet: 45, statusFlags: 2, mariadbCapabilities: 0, authPluginName: plugin }), 0));
    let socket: Socket = plain;
    let reader = new Reader(plain);
    let p = await packet(reader);
    let first = decodeClientHandshake(p.payload);
    const tls = first.type === 'SSLRequest';
    if (first.type === 'SSLRequest') {
      reader.detach();
      socket = new TLSSocket(plain, { isServer: true, cert: readFileSync(certs.serverCert), key: readFileSync(certs.serverKey) });
      reader = new Reader(socket);
      p = await packet(reader);
      first = decodeClientHandshake(p.payload);
    }
    if (first.type !== 'HandshakeResponse41') throw new Error('no HandshakeResponse41');
    let seq = p.seq + 1;
    const send = (payload: Buffer): void => void socket.write(encodePacket(payload, seq++));
    const user = first.username;
    if (refuseClear && !tls) return void socket.end(mysqlWireError({ kind: 'TlsRequired' }, seq));
    let nonce = scramble;
    let answer = first.authResponse;
    if (first.authPluginName !== plugin) {
      nonce = createScramble();
      send(encodeAuthSwitchRequest({ pluginName: plugin, pluginData: Buffer.concat([nonce, Buffer.from([0])]) }));
      const sw = await packet(reader);
      seq = sw.seq + 1;
      answer = sw.payload;
    }
    const ok = (): void => send(encodeOkPacket({}, SERVER_CAPS));
    const denied = (): void => void socket.end(mysqlWireError({ kind: 'WrongPassword', user }, seq));
    if (plugin === 'mysql_native_password') return verifyNativePasswordWithCleartext(answer, nonce, PASSWORD.reveal()) ? ok() : denied();
    const auth = new CachingSha2Server({ password: PASSWORD, nonce, tls, cache, account: fastAuthAccount('prx-test', user) });
    let step = auth.receiveScramble(answer);
    if (step.kind === 'full-auth') {
      send(step.payload);
      const full = await packet(reader);
      seq = full.seq + 1;
      step = auth.receiveFullAuth(full.payload);
    }
    if (step.kind === 'fast-auth-success') {
      send(step.payload);
      return ok();
    }
    return step.kind === 'ok' ? ok() : denied();
  });
}

async function mysqlLogin(port: number, password: string, tls: boolean): Promise<void> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port, user: USER, password, ...(tls ? { ssl: { ca: readFileSync(certs.caCert, 'utf8') } } : {}) });
  await conn.end().catch(() => undefined);
}

describe('MySQL client logins with mysql2', () => {
  it('mysql_native_password: the right password logs in, a wrong one gets 1045 for \'user\'@\'%\'', async () => {
    const port = await mysqlListener(AuthPlugin.MYSQL_NATIVE_PASSWORD, new FastAuthCache());
    await mysqlLogin(port, PASSWORD.reveal(), false);
    await expect(mysqlLogin(port, 'wrong', false)).rejects.toMatchObject({ errno: 1045, sqlState: '28000', message: `Access denied for user '${USER}'@'%' (using password: YES)` });
  });

  it('caching_sha2_password: full authentication over TLS first, then the fast path even in clear; never a full authentication in clear', async () => {
    const cache = new FastAuthCache();
    const port = await mysqlListener(AuthPlugin.CACHING_SHA2_PASSWORD, cache);
    await expect(mysqlLogin(port, PASSWORD.reveal(), false)).rejects.toMatchObject({ errno: 1045 });
    await expect(mysqlLogin(port, 'wrong', true)).rejects.toMatchObject({ errno: 1045 });
    await mysqlLogin(port, PASSWORD.reveal(), true);
    expect(cache.size).toBe(1);
    await mysqlLogin(port, PASSWORD.reveal(), false);
  });

  it('shows RDS Proxy\'s 3159 to a clear connection when RequireTLS is on', async () => {
    const port = await mysqlListener(AuthPlugin.MYSQL_NATIVE_PASSWORD, new FastAuthCache(), true);
    await expect(mysqlLogin(port, PASSWORD.reveal(), false)).rejects.toMatchObject({ errno: 3159, sqlState: 'HY000', message: 'This RDS Proxy requires TLS connections.' });
    await mysqlLogin(port, PASSWORD.reveal(), true);
  });
});
