import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIamdbError } from '../errors/index.js';
import { uriEncode } from './uri-encode.js';

describe('uriEncode', () => {
  it('leaves the RFC 3986 unreserved characters as they are', () => {
    const unreserved = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~';
    expect(uriEncode(unreserved)).toBe(unreserved);
  });

  it('percent-encodes every other ASCII character with uppercase hex', () => {
    for (let c = 0; c < 0x80; c++) {
      const ch = String.fromCharCode(c);
      if (/[A-Za-z0-9\-_.~]/.test(ch)) continue;
      expect(uriEncode(ch)).toBe(`%${c.toString(16).toUpperCase().padStart(2, '0')}`);
    }
  });

  it("encodes the characters encodeURIComponent leaves raw: ! ' ( ) *", () => {
    expect(uriEncode("!'()*")).toBe('%21%27%28%29%2A');
  });

  it('encodes a space as %20 and a plus as %2B, never as "+"', () => {
    expect(uriEncode('a b+c')).toBe('a%20b%2Bc');
  });

  it('encodes the UTF-8 bytes of non-ASCII characters', () => {
    expect(uriEncode('é')).toBe('%C3%A9');
    expect(uriEncode('ሴ')).toBe('%E1%88%B4'); // aws-c-auth get-vanilla-utf8-query
    expect(uriEncode('😀')).toBe('%F0%9F%98%80');
  });

  it('refuses a lone surrogate instead of signing a replacement character', () => {
    expect(() => uriEncode('a\uD800b')).toThrowError(expect.objectContaining({ code: 'SIGV4_INVALID_INPUT' }));
  });

  it('round-trips through decodeURIComponent for any well-formed string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), (s) => {
        const e = uriEncode(s);
        expect(e).toMatch(/^(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*$/);
        expect(decodeURIComponent(e)).toBe(s);
      }),
    );
  });

  it('throws only IamdbError on arbitrary UTF-16', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        try {
          uriEncode(s);
        } catch (err) {
          expect(isIamdbError(err, 'SIGV4_INVALID_INPUT')).toBe(true);
        }
      }),
    );
  });
});
