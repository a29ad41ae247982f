import { describe, expect, it } from 'vitest';
import { Secret } from '../util/index.js';
import { deriveSigningKey, SigningKeyCache } from './signing-key.js';

// aws-c-auth tests/aws-signing-test-suite/v4/*/context.json: the shared
// credentials of AWS's SigV4 suite (service "service", us-east-1, 20150830).
const SUITE_SECRET = new Secret('wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY');

describe('deriveSigningKey', () => {
  it("derives the key of AWS's SigV4 suite", () => {
    // Expected value checked independently with Python's hmac module.
    expect(deriveSigningKey(SUITE_SECRET, '20150830', 'us-east-1', 'service').toString('hex')).toBe(
      '938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75',
    );
  });

  it('differs per date, region and service', () => {
    const base = deriveSigningKey(SUITE_SECRET, '20150830', 'us-east-1', 'rds-db').toString('hex');
    expect(deriveSigningKey(SUITE_SECRET, '20150831', 'us-east-1', 'rds-db').toString('hex')).not.toBe(base);
    expect(deriveSigningKey(SUITE_SECRET, '20150830', 'us-east-2', 'rds-db').toString('hex')).not.toBe(base);
    expect(deriveSigningKey(SUITE_SECRET, '20150830', 'us-east-1', 'service').toString('hex')).not.toBe(base);
  });
});

describe('SigningKeyCache', () => {
  it('returns the same key as the uncached derivation', () => {
    const cache = new SigningKeyCache(4);
    const a = cache.get(SUITE_SECRET, '20150830', 'us-east-1', 'service');
    const b = cache.get(SUITE_SECRET, '20150830', 'us-east-1', 'service');
    expect(a.toString('hex')).toBe('938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75');
    expect(b.equals(a)).toBe(true);
    expect(cache.size).toBe(1);
  });

  it('keeps different secrets apart even when everything else matches', () => {
    const cache = new SigningKeyCache(4);
    const a = cache.get(new Secret('one'), '20150830', 'us-east-1', 'rds-db');
    const b = cache.get(new Secret('two'), '20150830', 'us-east-1', 'rds-db');
    expect(a.equals(b)).toBe(false);
    expect(b.equals(deriveSigningKey(new Secret('two'), '20150830', 'us-east-1', 'rds-db'))).toBe(true);
  });

  it('follows a rotated secret at once: a new Secret with a new value gets its own key', () => {
    const cache = new SigningKeyCache(4);
    const before = new Secret('rotated-away');
    const old = cache.get(before, '20150830', 'us-east-1', 'rds-db');
    expect(cache.get(before, '20150830', 'us-east-1', 'rds-db').equals(old)).toBe(true);
    const after = cache.get(new Secret('rotated-in'), '20150830', 'us-east-1', 'rds-db');
    expect(after.equals(old)).toBe(false);
    expect(after.equals(deriveSigningKey(new Secret('rotated-in'), '20150830', 'us-east-1', 'rds-db'))).toBe(true);
  });

  it('asks a Secret subclass for its value every time, never trusting a remembered hash of it', () => {
    let value = 'first';
    class Moving extends Secret<string> {
      override reveal(): string {
        return value;
      }
    }
    const cache = new SigningKeyCache(4);
    const s = new Moving('ignored');
    const a = cache.get(s, '20150830', 'us-east-1', 'rds-db');
    value = 'second';
    const b = cache.get(s, '20150830', 'us-east-1', 'rds-db');
    expect(a.equals(deriveSigningKey(new Secret('first'), '20150830', 'us-east-1', 'rds-db'))).toBe(true);
    expect(b.equals(deriveSigningKey(new Secret('second'), '20150830', 'us-east-1', 'rds-db'))).toBe(true);
  });

  it('evicts the least recently used key beyond its bound', () => {
    const cache = new SigningKeyCache(2);
    cache.get(SUITE_SECRET, '20150801', 'r', 's');
    cache.get(SUITE_SECRET, '20150802', 'r', 's');
    cache.get(SUITE_SECRET, '20150801', 'r', 's'); // touch: 02 is now the oldest
    cache.get(SUITE_SECRET, '20150803', 'r', 's');
    expect(cache.size).toBe(2);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('hands out copies, so a caller cannot corrupt a cached key', () => {
    const cache = new SigningKeyCache(2);
    const a = cache.get(SUITE_SECRET, '20150830', 'us-east-1', 'service');
    a.fill(0);
    expect(cache.get(SUITE_SECRET, '20150830', 'us-east-1', 'service').toString('hex')).toBe(
      '938127b5336810ddb6a5d6af445fcac9e371f9ed418ed386b022aed82901be75',
    );
  });

  it('never holds the raw secret anywhere it could be printed', async () => {
    const { inspect } = await import('node:util');
    const cache = new SigningKeyCache(2);
    cache.get(new Secret('very-secret-value-123'), '20150830', 'us-east-1', 'rds-db');
    expect(inspect(cache, { showHidden: true, depth: 5 })).not.toContain('very-secret-value-123');
    expect(JSON.stringify(cache)).not.toContain('very-secret-value-123');
  });
});
