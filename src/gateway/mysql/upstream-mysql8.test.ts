/**
 * The gateway's own server login (upstream.ts: openServer, passwordHandshake)
 * against a scripted TCP server replaying MySQL 8.0 / 8.4 exchanges from
 * test/fixtures/mysql8/. These exchanges are RECONSTRUCTED from the MySQL
 * protocol documentation, not recorded from a live MySQL 8 server (none is
 * available here): see test/fixtures/mysql8/README.md.
 *
 * The scripted server checks what the gateway sends with independent code:
 * mysql2's caching_sha2 scramble, and Node's RSA private-key decryption.
 */
import { constants, privateDecrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { AuthPlugin, PacketFramer, decodeHandshakeResponse41, encodeHandshakeResponse41, encodePacket, type MysqlPacket } from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import { LoginFailed } from '../session-common.js';
import { ServerProfileCache } from './greeting.js';
import { configuredServerKey, openServer, passwordHandshake } from './upstream.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/mysql8');
const recorded = JSON.parse(readFileSync(join(fixtures, 'exchanges.json'), 'utf8')) as {
  password: string;
  exchanges: Record<string, { steps: Step[] }>;
  packets: Record<string, Array<[string, string]>>;
};
type Step = { from: 'server' | 'client'; seq: number; packet?: string; parts?: Array<[string, string]> };
const privatePem = readFileSync(join(fixtures, 'server-rsa-private.pem'), 'utf8');

const require = createRequire(import.meta.url);
const mysql2Sha2 = require(join(dirname(require.resolve('mysql2')), 'lib/auth_plugins/caching_sha2_password.js')) as {
  calculateToken(password: string, scramble: Buffer): Buffer;
};

/** A fixture part: hex, or '@file' for a fixture file's bytes. */
function partBytes([hex]: [string, string]): Buffer {
  return hex.startsWith('@') ? readFileSync(join(fixtures, hex.slice(1))) : Buffer.from(hex, 'hex');
}

function serverPayload(step: Step): Buffer {
  const parts = step.packet !== undefined ? recorded.packets[step.packet]! : step.parts!;
  return Buffer.concat(parts.map(partBytes));
}

/** The greeting's 20-byte nonce (parts 4 and 12 of a fixture greeting). */
function greetingNonce(name: string): Buffer {
  const g = recorded.packets[name]!;
  return Buffer.concat([partBytes(g[3]!), partBytes(g[11]!)]);
}

/** What the scripted server saw the gateway send, step by step. */
interface Transcript {
  readonly received: MysqlPacket[];
  readonly done: Promise<void>;
}

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A TCP server that plays one exchange: sends the server steps, collects the client packets (sequence ids checked by the test). */
async function scriptedServer(steps: Step[]): Promise<{ port: number; transcript: Transcript }> {
  const received: MysqlPacket[] = [];
  let finish!: () => void;
  let failed!: (e: unknown) => void;
  const done = new Promise<void>((res, rej) => ((finish = res), (failed = rej)));
  const server = createServer((socket: Socket) => {
    const framer = new PacketFramer({ maxAllowedPacket: 1 << 20 });
    const queue: MysqlPacket[] = [];
    let waiting: ((p: MysqlPacket) => void) | undefined;
    socket.on('data', (chunk) => {
      for (const p of framer.push(chunk)) {
        const copy = { ...p, payload: Buffer.from(p.payload) };
        if (waiting) {
          const w = waiting;
          waiting = undefined;
          w(copy);
        } else queue.push(copy);
      }
    });
    socket.on('error', () => undefined);
    const nextPacket = (): Promise<MysqlPacket> => new Promise((res) => (queue.length > 0 ? res(queue.shift()!) : (waiting = res)));
    (async () => {
      for (const step of steps) {
        if (step.from === 'server') socket.write(encodePacket(serverPayload(step), step.seq));
        else received.push(await nextPacket());
      }
      // Anything the gateway sends after the script (until it closes) is kept too: an exact transcript.
      await new Promise<void>((res) => (socket.destroyed ? res() : socket.once('close', () => res())));
      received.push(...queue);
    })().then(finish, failed);
  });
  servers.push(server);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { port: (server.address() as AddressInfo).port, transcript: { received, done } };
}

function instanceAt(port: number, rsaPublicKey?: string): DbInstance {
  const targetTls = { mode: 'disable', ...(rsaPublicKey !== undefined ? { rsaPublicKey } : {}) };
  return { id: 'my8', engineName: 'mysql', target: { host: '127.0.0.1', port }, targetTls } as unknown as DbInstance;
}

/** Runs the gateway's login against one exchange; returns the OK payload or the error. */
async function login(name: string, options: { password?: string; rsaPublicKeyFile?: string } = {}) {
  const { steps } = recorded.exchanges[name]!;
  const { port, transcript } = await scriptedServer(steps);
  const instance = instanceAt(port, options.rsaPublicKeyFile);
  const profile = new ServerProfileCache('mysql', () => Promise.reject(new Error('no control link in this test')));
  const link = await openServer(instance, 5_000, profile, 1 << 20);
  const first = (auth: { authPluginName: string; authResponse: Buffer }): Buffer =>
    encodeHandshakeResponse41({
      capabilityFlags: 0x000fa685,
      maxPacketSize: 1 << 24,
      characterSet: 255,
      mariadbCapabilities: 0,
      username: 'jane',
      authResponse: auth.authResponse,
      database: undefined,
      authPluginName: auth.authPluginName,
      connectAttributes: undefined,
    });
  const outcome = await passwordHandshake(link, options.password ?? recorded.password, first, {
    refused: (e) => new LoginFailed('UpstreamAuthFailed', Buffer.alloc(0), `${e.errno}: ${e.message}`),
    failed: (reason) => new Error(reason),
    serverPublicKey: configuredServerKey(instance, link),
  }).catch((err: unknown) => err as Error);
  link.socket.destroy();
  await transcript.done;
  return { outcome, received: transcript.received, profile, steps };
}

/** What the server decrypts from an RSA answer: the password (XOR nonce undone) and its NUL. */
function decrypt(blob: Buffer, nonce: Buffer): string {
  const plain = privateDecrypt({ key: privatePem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, blob);
  for (let i = 0; i < plain.length; i++) plain[i] = (plain[i] as number) ^ (nonce[i % 20] as number);
  return plain.toString('utf8');
}

describe('server login against reconstructed MySQL 8 exchanges (not a live server)', () => {
  const pw = recorded.password;

  it('MySQL 8.0 fast path: caching_sha2 scramble from the greeting, 0x01 0x03, then the OK', async () => {
    const { outcome, received, profile } = await login('mysql-8.0-fast-path');
    expect(outcome).toEqual(serverPayload({ from: 'server', seq: 3, packet: 'ok' }));
    expect(received).toHaveLength(1);
    expect(received[0]!.sequenceId).toBe(1);
    const hr = decodeHandshakeResponse41(received[0]!.payload);
    expect(hr.authPluginName).toBe(AuthPlugin.CACHING_SHA2_PASSWORD);
    expect(hr.authResponse).toEqual(mysql2Sha2.calculateToken(pw, greetingNonce('greeting-8.0.36')));
    expect(profile.current.serverVersion).toBe('8.0.36');
  });

  it('MySQL 8.4 full authentication in clear: asks for the public key, sends the password RSA-OAEP encrypted', async () => {
    const { outcome, received } = await login('mysql-8.4-full-auth-rsa-key-request');
    expect(outcome).toEqual(serverPayload({ from: 'server', seq: 6, packet: 'ok' }));
    expect(received.map((p) => p.sequenceId)).toEqual([1, 3, 5]);
    expect(received[1]!.payload).toEqual(Buffer.from([0x02]));
    expect(received[2]!.payload).toHaveLength(256);
    expect(decrypt(received[2]!.payload, greetingNonce('greeting-8.4.3'))).toBe(`${pw}\0`);
  });

  it('MySQL 8.4 full authentication with the key of targetTls.rsaPublicKey: no key request', async () => {
    const { outcome, received } = await login('mysql-8.4-full-auth-configured-key', { rsaPublicKeyFile: join(fixtures, 'server-rsa-public.pem') });
    expect(outcome).toEqual(serverPayload({ from: 'server', seq: 4, packet: 'ok' }));
    expect(received).toHaveLength(2);
    expect(received.map((p) => p.sequenceId)).toEqual([1, 3]);
    expect(decrypt(received[1]!.payload, greetingNonce('greeting-8.4.3'))).toBe(`${pw}\0`);
  });

  it('MySQL 8.0 greeting with mysql_native_password, account on caching_sha2: follows the AuthSwitchRequest', async () => {
    const { outcome, received, steps } = await login('mysql-8.0-switch-to-caching-sha2');
    expect(outcome).toEqual(serverPayload({ from: 'server', seq: 5, packet: 'ok' }));
    expect(received).toHaveLength(2);
    expect(decodeHandshakeResponse41(received[0]!.payload).authPluginName).toBe(AuthPlugin.MYSQL_NATIVE_PASSWORD);
    const switchNonce = partBytes(steps[2]!.parts![2]!);
    expect(received[1]!.sequenceId).toBe(3);
    expect(received[1]!.payload).toEqual(mysql2Sha2.calculateToken(pw, switchNonce));
  });

  it("MySQL 8.4's ERR 1045 after full authentication is the refusal the session rotates on", async () => {
    const { outcome } = await login('mysql-8.4-wrong-password', { password: 'not-the-credential' });
    expect(outcome).toBeInstanceOf(LoginFailed);
    expect((outcome as LoginFailed).detail).toMatch(/^1045: Access denied/);
    expect(String((outcome as LoginFailed).detail)).not.toContain('not-the-credential');
  });
});
