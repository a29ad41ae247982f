import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { createSealer } from './sealer.js';

const key = () => new Secret(randomBytes(32));
const AAD = 'iam/access-key/AKIAIOSFODNN7EXAMPLE';

function unsealError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected open() to throw');
}

describe('createSealer', () => {
  it('opens what it sealed, for strings and bytes', () => {
    const sealer = createSealer(key());
    expect(sealer.open(sealer.seal('wJalrXUtnFEMI/K7MDENG', AAD), AAD).toString('utf8')).toBe('wJalrXUtnFEMI/K7MDENG');
    const bytes = randomBytes(100);
    expect(sealer.open(sealer.seal(bytes, AAD), AAD).equals(bytes)).toBe(true);
    expect(sealer.open(sealer.seal('', AAD), AAD).length).toBe(0);
  });

  it('round-trips any bytes under any AAD', () => {
    const sealer = createSealer(key());
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.string(), (data, aad) => {
        const plain = Buffer.from(data);
        expect(sealer.open(sealer.seal(plain, aad), aad).equals(plain)).toBe(true);
      }),
    );
  });

  it('produces a compact versioned base64url string', () => {
    const sealed = createSealer(key()).seal('x', AAD);
    expect(sealed).toMatch(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
  });

  it('opens with the same master key in a new sealer (after a restart)', () => {
    const k = key();
    const sealed = createSealer(k).seal('persisted', AAD);
    expect(createSealer(new Secret(Buffer.from(k.reveal()))).open(sealed, AAD).toString()).toBe('persisted');
  });

  it('fails with another master key', () => {
    const sealed = createSealer(key()).seal('secret', AAD);
    const err = unsealError(() => createSealer(key()).open(sealed, AAD));
    expect(isIamdbError(err, 'CRYPTO_UNSEAL_FAILED')).toBe(true);
  });

  it('fails when the value is moved to another record (wrong AAD)', () => {
    const sealer = createSealer(key());
    const sealed = sealer.seal('secret', 'iam/access-key/AKIA1111');
    expect(isIamdbError(unsealError(() => sealer.open(sealed, 'iam/access-key/AKIA2222')), 'CRYPTO_UNSEAL_FAILED')).toBe(true);
  });

  it('fails when any byte of the nonce, ciphertext or tag is altered', () => {
    const sealer = createSealer(key());
    const sealed = sealer.seal('the plaintext', AAD);
    const [v, nonce, body] = sealed.split('.') as [string, string, string];
    const raw = { nonce: Buffer.from(nonce, 'base64url'), body: Buffer.from(body, 'base64url') };
    for (const part of ['nonce', 'body'] as const) {
      for (let i = 0; i < raw[part].length; i++) {
        const copy = { nonce: Buffer.from(raw.nonce), body: Buffer.from(raw.body) };
        copy[part][i]! ^= 0x01;
        const tampered = `${v}.${copy.nonce.toString('base64url')}.${copy.body.toString('base64url')}`;
        expect(isIamdbError(unsealError(() => sealer.open(tampered, AAD)), 'CRYPTO_UNSEAL_FAILED')).toBe(true);
      }
    }
  });

  it('rejects malformed and truncated input with CRYPTO_UNSEAL_FAILED', () => {
    const sealer = createSealer(key());
    const sealed = sealer.seal('abc', AAD);
    const bad = ['', 'v1', 'v1..', 'v2' + sealed.slice(2), sealed + '.x', sealed.slice(0, 30), 'v1.!!!!.????', sealed.replace('.', '.A')];
    for (const value of bad) {
      expect(isIamdbError(unsealError(() => sealer.open(value, AAD)), 'CRYPTO_UNSEAL_FAILED'), value).toBe(true);
    }
  });

  it('never repeats a nonce', () => {
    const sealer = createSealer(key());
    const nonces = new Set<string>();
    const values = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const sealed = sealer.seal('same plaintext', AAD);
      nonces.add(sealed.split('.')[1]!);
      values.add(sealed);
    }
    expect(nonces.size).toBe(5000);
    expect(values.size).toBe(5000);
  });

  it('keeps plaintext and key material out of error messages, details and inspection', async () => {
    const { inspect } = await import('node:util');
    const k = key();
    const plaintext = 'TOP-SECRET-PLAINTEXT-123';
    const sealed = createSealer(k).seal(plaintext, AAD);
    const err = unsealError(() => createSealer(key()).open(sealed, AAD)) as Error;
    const rendered = [err.message, JSON.stringify((err as { details?: unknown }).details), inspect(err), String(err.cause)].join('\n');
    expect(rendered).not.toContain(plaintext);
    expect(rendered).not.toContain(k.reveal().toString('base64'));
    expect(rendered).not.toContain(k.reveal().toString('hex'));
    expect(err.message).toContain(AAD);
  });

  it('derives stable, purpose-specific subkeys distinct from the master key', () => {
    const k = key();
    const a = createSealer(k).deriveKey('sts/session-token');
    const b = createSealer(k).deriveKey('sts/session-token');
    const c = createSealer(k).deriveKey('other');
    expect(a.reveal().length).toBe(32);
    expect(a.reveal().equals(b.reveal())).toBe(true);
    expect(a.reveal().equals(c.reveal())).toBe(false);
    expect(a.reveal().equals(k.reveal())).toBe(false);
    expect(String(a)).toBe('[REDACTED]');
    expect(() => createSealer(k).deriveKey('')).toThrow(expect.objectContaining({ code: 'CRYPTO_INVALID_INPUT' }));
  });

  it('refuses a master key of the wrong length', () => {
    expect(() => createSealer(new Secret(randomBytes(16)))).toThrow(
      expect.objectContaining({ code: 'CRYPTO_MASTER_KEY_INVALID' }),
    );
  });
});
