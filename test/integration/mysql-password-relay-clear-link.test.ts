/**
 * Review finding: a password user's answers are relayed to the server, and the
 * gateway's link to the server may be in clear (`targetTls: prefer` against a
 * server whose greeting lacks CLIENT_SSL, or one a network attacker stripped it
 * from; or `disable`). A client on TLS to the gateway believes its channel is
 * secure, so when the server (or whoever rewrites that link) asks for
 * caching_sha2_password full authentication (0x01 0x04), sha256_password or
 * mysql_clear_password, the client sends its password in clear, and the
 * gateway must not pass it on over the clear link.
 *
 * The server here is scripted (no CLIENT_SSL in its greeting, as a server
 * without TLS, or a rewritten one, greets); it records every byte it receives.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  Capability,
  PacketFramer,
  decodeHandshakeV10,
  encodeAuthSwitchRequest,
  encodeErrPacket,
  encodeHandshakeV10,
  encodeOkPacket,
  encodePacket,
} from '../../src/protocol/mysql/index.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/mysql8');
const recorded = JSON.parse(readFileSync(join(fixtures, 'exchanges.json'), 'utf8')) as { packets: Record<string, Array<[string, string]>> };
const bytesOf = (parts: Array<[string, string]>): Buffer => Buffer.concat(parts.map(([hex]) => Buffer.from(hex, 'hex')));
const greetingWithoutTls = (): Buffer => {
  const g = decodeHandshakeV10(bytesOf(recorded.packets['greeting-8.0.36-native']!));
  return encodeHandshakeV10({ ...g, capabilityFlags: (g.capabilityFlags & ~Capability.CLIENT_SSL) >>> 0 });
};

const SECRET = 'the-password-of-jane-9f3c';
const NONCE = Buffer.from('2d5b1c7e0a39466f12533b7d28614e0c75401f6b', 'hex');

let server: Server;
let gw: TestIamdb;
/** Every byte the scripted server received, all connections. */
const received: Buffer[] = [];
/** The answers the scripted server got to its last challenge (what the client sent for its password). */
const lastAnswers: Buffer[] = [];

/** What the scripted server asks a user for after its HandshakeResponse41. */
function challengeFor(response: Buffer): Buffer[] | undefined {
  if (response.includes('full_auth_user')) {
    // caching_sha2_password: switch, then "perform full authentication" after the scramble.
    return [encodeAuthSwitchRequest({ pluginName: 'caching_sha2_password', pluginData: Buffer.concat([NONCE, Buffer.alloc(1)]) }), Buffer.from([0x01, 0x04])];
  }
  if (response.includes('clear_user')) return [encodeAuthSwitchRequest({ pluginName: 'mysql_clear_password', pluginData: Buffer.alloc(0) })];
  if (response.includes('sha256_user')) return [encodeAuthSwitchRequest({ pluginName: 'sha256_password', pluginData: Buffer.concat([NONCE, Buffer.alloc(1)]) })];
  return undefined;
}

beforeAll(async () => {
  server = createServer((socket) => {
    const framer = new PacketFramer({ maxAllowedPacket: 1 << 20 });
    let script: Buffer[] | undefined;
    let first = true;
    socket.on('data', (chunk) => {
      received.push(Buffer.from(chunk));
      for (const p of framer.push(chunk)) {
        const seq = (p.lastSequenceId + 1) & 0xff;
        if (first || (script === undefined && p.payload[0] === 0x11 /* COM_CHANGE_USER */)) {
          const login = first;
          first = false;
          script = challengeFor(p.payload);
          // The gateway's control link (the master) and anyone else: in at once.
          if (script === undefined && login) socket.write(encodePacket(encodeOkPacket({}, Capability.CLIENT_PROTOCOL_41), seq));
        }
        if (script === undefined) continue;
        const next = script.shift();
        if (next !== undefined) socket.write(encodePacket(next, seq));
        else {
          lastAnswers.push(Buffer.from(p.payload));
          socket.write(encodePacket(encodeErrPacket({ errno: 1045, sqlState: '28000', message: 'Access denied' }), seq));
        }
      }
    });
    socket.on('error', () => undefined);
    socket.write(encodePacket(greetingWithoutTls(), 0));
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  gw = await startIamdb({
    instances: [
      {
        id: 'my-clear-link',
        engine: 'mysql',
        listen: 'auto',
        target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        // The default: TLS only when the server offers it.
        master: { username: 'admin', password: 'master-pw' },
      },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  server?.close();
});

async function attempt(user: string): Promise<void> {
  received.length = 0;
  lastAnswers.length = 0;
  const { host, port } = gw.endpoint('my-clear-link');
  const conn = await mysql
    .createConnection({ host, port, user, password: SECRET, ssl: { ca: readFileSync(gw.caPath) }, enableCleartextPlugin: true, connectTimeout: 20_000 })
    .catch((err: unknown) => err as Error);
  if (process.env['REVIEW_DEBUG']) console.log(user, String(conn), received.map((b) => b.toString('hex')), gw.lastAuth());
  if (!(conn instanceof Error)) {
    conn.destroy();
    throw new Error('the scripted server let the login in');
  }
  // Let the gateway relay whatever it would.
  await new Promise((r) => setTimeout(r, 300));
}

/**
 * Whether the password, or any answer the client made to the last challenge (`<password>\0`;
 * mysql2 may put another value than the password there), reached the server. The gateway's own
 * way of ending an abandoned login (20 random bytes, upstream.ts abandonServerLink) is not one.
 */
const leaked = (): boolean => Buffer.concat(received).includes(SECRET) || lastAnswers.some((a) => a.length !== 20);

it('never relays a password user\'s clear-text answer to caching_sha2_password full authentication over a server link in clear', async () => {
  await attempt('full_auth_user');
  expect(leaked()).toBe(false);
  expect(gw.lastAuth()).toMatchObject({ decision: 'deny', reason: 'UpstreamTlsRequired', dbUser: 'full_auth_user', tls: true });
});

it('never relays a clear-text password (mysql_clear_password switch) over a server link in clear, even from a TLS client', async () => {
  await attempt('clear_user');
  expect(leaked()).toBe(false);
});

it('never relays a sha256_password answer made for a TLS client link over a server link in clear', async () => {
  await attempt('sha256_user');
  expect(leaked()).toBe(false);
});

it('never relays a clear-text answer over a server link in clear during COM_CHANGE_USER either', async () => {
  const { host, port } = gw.endpoint('my-clear-link');
  const conn = await mysql.createConnection({ host, port, user: 'someone', password: 'x', ssl: { ca: readFileSync(gw.caPath) }, enableCleartextPlugin: true, connectTimeout: 20_000 });
  conn.on('error', () => undefined);
  for (const user of ['full_auth_user', 'clear_user']) {
    received.length = 0;
    lastAnswers.length = 0;
    await conn.changeUser({ user, password: SECRET }).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    expect(leaked()).toBe(false);
  }
  conn.destroy();
});
