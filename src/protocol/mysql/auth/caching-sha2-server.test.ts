/**
 * The server halves of mysql_native_password and caching_sha2_password
 * against the client halves iamdb already has (the ones the gateway logs in
 * to servers with): the fast path only after a full authentication proved
 * the password, full authentication only over TLS, a changed secret sending
 * the next login the full way.
 */
import { describe, expect, it } from 'vitest';
import { Secret } from '../../../util/secret.js';
import { scrambleCachingSha2Password } from './caching-sha2-password.js';
import { CachingSha2Server, FastAuthCache, fastAuthAccount } from './caching-sha2-server.js';
import { encodeClearPassword } from './clear-password.js';
import { scrambleNativePassword, verifyNativePasswordWithCleartext } from './native-password.js';
import { createScramble } from './scramble.js';

const account = fastAuthAccount('prx-1', 'app');

function server(password: string, cache: FastAuthCache, tls: boolean, nonce = createScramble()): { auth: CachingSha2Server; nonce: Buffer } {
  return { auth: new CachingSha2Server({ password: new Secret(password), nonce, tls, cache, account }), nonce };
}

/** A cache that a full authentication with `password` over TLS has filled. */
function afterFullAuth(password: string, cache = new FastAuthCache()): FastAuthCache {
  const s = server(password, cache, true);
  s.auth.receiveScramble(scrambleCachingSha2Password(password, s.nonce));
  expect(s.auth.receiveFullAuth(encodeClearPassword(password))).toEqual({ kind: 'ok' });
  return cache;
}

describe('mysql_native_password, server side', () => {
  it('accepts the client scramble of the secret\'s password only', () => {
    const nonce = createScramble();
    expect(verifyNativePasswordWithCleartext(scrambleNativePassword('s3cret', nonce), nonce, 's3cret')).toBe(true);
    expect(verifyNativePasswordWithCleartext(scrambleNativePassword('other', nonce), nonce, 's3cret')).toBe(false);
    expect(verifyNativePasswordWithCleartext(scrambleNativePassword('s3cret', createScramble()), nonce, 's3cret')).toBe(false);
    expect(verifyNativePasswordWithCleartext(Buffer.alloc(0), nonce, '')).toBe(true);
    expect(verifyNativePasswordWithCleartext(Buffer.alloc(0), nonce, 's3cret')).toBe(false);
  });
});

describe('caching_sha2_password, server side', () => {
  it('asks a first login over TLS for the password, then lets the next one in on the fast path', () => {
    const cache = new FastAuthCache();
    const first = server('s3cret', cache, true);
    const step = first.auth.receiveScramble(scrambleCachingSha2Password('s3cret', first.nonce));
    expect(step).toEqual({ kind: 'full-auth', payload: Buffer.from([0x01, 0x04]) });
    expect(first.auth.receiveFullAuth(encodeClearPassword('s3cret'))).toEqual({ kind: 'ok' });
    const second = server('s3cret', cache, false);
    expect(second.auth.receiveScramble(scrambleCachingSha2Password('s3cret', second.nonce))).toEqual({ kind: 'fast-auth-success', payload: Buffer.from([0x01, 0x03]) });
  });

  it('refuses a wrong password in full authentication and remembers nothing', () => {
    const cache = new FastAuthCache();
    const s = server('s3cret', cache, true);
    s.auth.receiveScramble(scrambleCachingSha2Password('wrong', s.nonce));
    expect(s.auth.receiveFullAuth(encodeClearPassword('wrong'))).toEqual({ kind: 'refuse', reason: 'WrongPassword' });
    expect(cache.size).toBe(0);
  });

  it('refuses full authentication without TLS instead of inviting the password in clear', () => {
    const s = server('s3cret', new FastAuthCache(), false);
    expect(s.auth.receiveScramble(scrambleCachingSha2Password('s3cret', s.nonce))).toEqual({ kind: 'refuse', reason: 'FullAuthNeedsTls' });
  });

  it('refuses a request for the server public key: the proxy has none', () => {
    const s = server('s3cret', new FastAuthCache(), true);
    s.auth.receiveScramble(scrambleCachingSha2Password('s3cret', s.nonce));
    expect(s.auth.receiveFullAuth(Buffer.from([0x02]))).toEqual({ kind: 'refuse', reason: 'FullAuthNeedsTls' });
  });

  it('sends a login the full way once the secret\'s password changed', () => {
    const cache = afterFullAuth('old');
    const b = server('new', cache, true);
    expect(b.auth.receiveScramble(scrambleCachingSha2Password('old', b.nonce)).kind).toBe('full-auth');
    const c = server('new', cache, true);
    expect(c.auth.receiveScramble(scrambleCachingSha2Password('new', c.nonce)).kind).toBe('full-auth');
  });

  it('asks for the password again when a cached account sends a wrong scramble, as MySQL does', () => {
    const cache = afterFullAuth('s3cret');
    const b = server('s3cret', cache, true);
    expect(b.auth.receiveScramble(scrambleCachingSha2Password('wrong', b.nonce)).kind).toBe('full-auth');
  });

  it('handles empty passwords and malformed answers', () => {
    expect(server('', new FastAuthCache(), false).auth.receiveScramble(Buffer.alloc(0))).toEqual({ kind: 'ok' });
    expect(server('s3cret', new FastAuthCache(), false).auth.receiveScramble(Buffer.alloc(0))).toEqual({ kind: 'refuse', reason: 'WrongPassword' });
    expect(server('s3cret', new FastAuthCache(), true).auth.receiveScramble(Buffer.alloc(20))).toEqual({ kind: 'refuse', reason: 'MalformedAuthResponse' });
    const s = server('s3cret', new FastAuthCache(), true);
    expect(s.auth.receiveFullAuth(encodeClearPassword('s3cret'))).toEqual({ kind: 'refuse', reason: 'MalformedAuthResponse' });
  });

  it('keeps the cache bounded', () => {
    const cache = new FastAuthCache(2);
    for (const u of ['a', 'b', 'c']) cache.remember(fastAuthAccount('p', u), Buffer.alloc(32, 1));
    expect(cache.size).toBe(2);
    expect(cache.knows(fastAuthAccount('p', 'a'), Buffer.alloc(32, 1))).toBe(false);
    expect(cache.knows(fastAuthAccount('p', 'c'), Buffer.alloc(32, 1))).toBe(true);
  });
});
