import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  AuthPlugin,
  createScramble,
  encodeAuthMoreData,
  encodeAuthSwitchRequest,
  encodeClearPassword,
  scrambleCachingSha2Password,
  scrambleNativePassword,
} from '../../protocol/mysql/index.js';
import { MAX_AUTH_STEPS, ServerAuth } from './server-auth.js';

const pw = 'managed-Credential-0123456789';
const nonce = createScramble();
const withNul = Buffer.concat([nonce, Buffer.alloc(1)]);
const more = (...bytes: number[]): Buffer => encodeAuthMoreData({ data: Buffer.from(bytes) });
const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();

const sha2 = (tls = false, serverPublicKey?: string) =>
  new ServerAuth({ authPluginName: AuthPlugin.CACHING_SHA2_PASSWORD, authPluginData: withNul }, { password: pw, tls, ...(serverPublicKey ? { serverPublicKey } : {}) });

describe('ServerAuth: the first answer follows the greeting', () => {
  it('caching_sha2_password greeting (MySQL 8): the SHA-256 scramble', () => {
    expect(sha2().first).toEqual({ authPluginName: AuthPlugin.CACHING_SHA2_PASSWORD, authResponse: scrambleCachingSha2Password(pw, nonce) });
  });

  it('mysql_native_password, no plugin, or a plugin iamdb does not install: the native scramble', () => {
    for (const name of [AuthPlugin.MYSQL_NATIVE_PASSWORD, undefined, AuthPlugin.CLIENT_ED25519, AuthPlugin.SHA256_PASSWORD]) {
      expect(new ServerAuth({ authPluginName: name, authPluginData: withNul }, { password: pw, tls: false }).first).toEqual({
        authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD,
        authResponse: scrambleNativePassword(pw, nonce),
      });
    }
  });
});

describe('ServerAuth: caching_sha2_password', () => {
  it('fast-auth success: nothing to send, the OK follows', () => {
    expect(sha2().next(more(0x03))).toEqual({ kind: 'read' });
  });

  it('full authentication over TLS: the password with its NUL', () => {
    expect(sha2(true).next(more(0x04))).toEqual({ kind: 'send', payload: encodeClearPassword(pw) });
  });

  it('full authentication in clear: asks for the key (0x02), then encrypts with what the server sent', () => {
    const auth = sha2();
    expect(auth.next(more(0x04))).toEqual({ kind: 'send', payload: Buffer.from([0x02]) });
    const step = auth.next(encodeAuthMoreData({ data: Buffer.from(pem) }));
    expect(step.kind).toBe('send');
    expect(step.kind === 'send' && step.payload.length).toBe(256);
  });

  it('full authentication in clear with a configured key: encrypts at once, never sends the password in clear', () => {
    const step = sha2(false, pem).next(more(0x04));
    expect(step.kind === 'send' && step.payload.length).toBe(256);
    expect(step.kind === 'send' && step.payload.includes(Buffer.from(pw))).toBe(false);
  });

  it('a key that is not an RSA key fails the login, with a reason that holds no password', () => {
    const auth = sha2();
    auth.next(more(0x04));
    const step = auth.next(encodeAuthMoreData({ data: Buffer.from('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n') }));
    expect(step.kind).toBe('fail');
    expect(JSON.stringify(step)).not.toContain(pw);
  });

  it('AuthMoreData out of turn fails (after fast-auth success, an unknown status byte, native plugin)', () => {
    const a = sha2();
    a.next(more(0x03));
    expect(a.next(more(0x04)).kind).toBe('fail');
    expect(sha2().next(more(0x07)).kind).toBe('fail');
    expect(sha2(true).next(more(0x03, 0x04)).kind).toBe('fail');
    const native = new ServerAuth({ authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD, authPluginData: withNul }, { password: pw, tls: false });
    expect(native.next(more(0x03)).kind).toBe('fail');
  });
});

describe('ServerAuth: AuthSwitchRequest', () => {
  const fresh = createScramble();
  const switchTo = (pluginName: string, data = Buffer.concat([fresh, Buffer.alloc(1)])): Buffer => encodeAuthSwitchRequest({ pluginName, pluginData: data });

  it('to caching_sha2_password: the SHA-256 scramble of the new nonce, then its fast path', () => {
    const auth = new ServerAuth({ authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD, authPluginData: withNul }, { password: pw, tls: false });
    expect(auth.next(switchTo(AuthPlugin.CACHING_SHA2_PASSWORD))).toEqual({ kind: 'send', payload: scrambleCachingSha2Password(pw, fresh) });
    expect(auth.next(more(0x03))).toEqual({ kind: 'read' });
  });

  it('to mysql_native_password (MariaDB, or a MySQL account still on it): the native scramble of the new nonce', () => {
    expect(sha2().next(switchTo(AuthPlugin.MYSQL_NATIVE_PASSWORD))).toEqual({ kind: 'send', payload: scrambleNativePassword(pw, fresh) });
  });

  it('to anything else, or with a nonce that is not 20 bytes: fails, the password never sent', () => {
    expect(sha2(true).next(switchTo(AuthPlugin.MYSQL_CLEAR_PASSWORD)).kind).toBe('fail');
    expect(sha2().next(switchTo(AuthPlugin.SHA256_PASSWORD)).kind).toBe('fail');
    expect(sha2().next(switchTo(AuthPlugin.CACHING_SHA2_PASSWORD, Buffer.alloc(8, 0x41))).kind).toBe('fail');
    expect(sha2().next(Buffer.from([0xfe])).kind).toBe('fail');
    expect(sha2().next(Buffer.from([0x0a, 0x01])).kind).toBe('fail');
  });

  it(`a server that keeps switching is cut off after ${MAX_AUTH_STEPS} exchanges`, () => {
    const auth = sha2();
    for (let i = 0; i < MAX_AUTH_STEPS; i++) expect(auth.next(switchTo(AuthPlugin.CACHING_SHA2_PASSWORD)).kind).toBe('send');
    expect(auth.next(switchTo(AuthPlugin.CACHING_SHA2_PASSWORD)).kind).toBe('fail');
  });
});
