import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../errors/index.js';
import { canonicalIp, normaliseSubjectNames } from './subject-names.js';

describe('canonicalIp', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '0:0:0:0:0:0:0:1'],
    ['::', '0:0:0:0:0:0:0:0'],
    ['FE80::0001', 'fe80:0:0:0:0:0:0:1'],
    ['2001:db8::1:0:0:1', '2001:db8:0:0:1:0:0:1'],
    ['::ffff:192.0.2.1', '0:0:0:0:0:ffff:c000:201'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8:0:0:0:0:0:1'],
  ])('writes %s as %s', (input, expected) => {
    expect(canonicalIp(input)).toBe(expected);
  });

  it.each(['1.2.3', '256.1.1.1', 'fe80::1%eth0', 'localhost', '1::2::3', ''])('rejects %s', (input) => {
    expect(canonicalIp(input)).toBeUndefined();
  });
});

describe('normaliseSubjectNames', () => {
  it('lower-cases, strips a trailing dot, sorts and removes duplicates', () => {
    expect(normaliseSubjectNames(['DB.Example.', 'api.example', 'db.example'], ['::1', '10.0.0.1', '0:0::1'])).toEqual({
      dnsNames: ['api.example', 'db.example'],
      ipAddresses: ['0:0:0:0:0:0:0:1', '10.0.0.1'],
    });
  });

  it('accepts a leading wildcard label only', () => {
    expect(normaliseSubjectNames(['*.db.internal'], []).dnsNames).toEqual(['*.db.internal']);
    expect(() => normaliseSubjectNames(['db.*.internal'], [])).toThrow();
    expect(() => normaliseSubjectNames(['*'], [])).toThrow();
  });

  it('reports every bad name at once', () => {
    let err: unknown;
    try {
      normaliseSubjectNames(['bad_name', '-x.example'], ['999.1.1.1']);
    } catch (e) {
      err = e;
    }
    expect(isIamdbError(err, 'TLS_CERT_REQUEST_INVALID')).toBe(true);
    const message = (err as Error).message;
    for (const name of ['bad_name', '-x.example', '999.1.1.1']) expect(message).toContain(name);
  });

  it('needs at least one name', () => {
    expect(() => normaliseSubjectNames([], [])).toThrow(expect.objectContaining({ code: 'TLS_CERT_REQUEST_INVALID' }));
  });
});
