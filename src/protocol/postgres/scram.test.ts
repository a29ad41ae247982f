import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../util/secret.js';
import { typedFailure } from '../common/test-support.js';
import { SaltedPasswordCache } from './salted-password-cache.js';
import { saslprep } from './saslprep.js';
import { ScramClient } from './scram.js';

// RFC 7677 section 3 example exchange.
const RFC = {
  clientNonce: 'rOprNGfwEbeRWgbNEkqO',
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

function rfcClient(cache?: SaltedPasswordCache): ScramClient {
  return new ScramClient({
    username: 'user',
    password: new Secret('pencil'),
    channelBinding: { kind: 'none' },
    clientNonce: RFC.clientNonce,
    ...(cache ? { cache } : {}),
  });
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('ScramClient', () => {
  it('reproduces the RFC 7677 example exchange', () => {
    const c = rfcClient();
    expect(c.mechanism).toBe('SCRAM-SHA-256');
    expect(c.clientFirstMessage()).toBe(RFC.clientFirst);
    expect(c.receiveServerFirst(b(RFC.serverFirst))).toBe(RFC.clientFinal);
    c.receiveServerFinal(b(RFC.serverFinal));
    expect(c.state).toBe('Done');
  });

  it('reproduces the vector through the SaltedPassword cache, computing PBKDF2 once', () => {
    const cache = new SaltedPasswordCache({ maxEntries: 2 });
    for (let i = 0; i < 3; i++) {
      const c = rfcClient(cache);
      c.clientFirstMessage();
      expect(c.receiveServerFirst(b(RFC.serverFirst))).toBe(RFC.clientFinal);
      c.receiveServerFinal(b(RFC.serverFinal));
    }
    expect(cache.stats()).toEqual({ size: 1, hits: 2, misses: 1 });
  });

  it('evicts the least recently used entry', () => {
    const cache = new SaltedPasswordCache({ maxEntries: 2 });
    const salt = (n: number): Buffer => Buffer.alloc(16, n);
    cache.derive('p', salt(1), 4096);
    cache.derive('p', salt(2), 4096);
    cache.derive('p', salt(1), 4096); // refresh 1
    cache.derive('p', salt(3), 4096); // evicts 2
    cache.derive('p', salt(1), 4096);
    expect(cache.stats()).toEqual({ size: 2, hits: 2, misses: 3 });
    cache.derive('p', salt(2), 4096);
    expect(cache.stats().misses).toBe(4);
  });

  it('sends n=, a random 24-character nonce, and the y flag when binding is unused', () => {
    const c = new ScramClient({ password: new Secret('x'), channelBinding: { kind: 'unused' } });
    expect(c.clientFirstMessage()).toMatch(/^y,,n=,r=[A-Za-z0-9+/]{24}$/);
  });

  it('uses SCRAM-SHA-256-PLUS with tls-server-end-point data in c=', () => {
    const data = Buffer.alloc(32, 0xab);
    const c = new ScramClient({
      password: new Secret('pencil'),
      channelBinding: { kind: 'tls-server-end-point', data },
      clientNonce: 'abc',
    });
    expect(c.mechanism).toBe('SCRAM-SHA-256-PLUS');
    expect(c.clientFirstMessage()).toBe('p=tls-server-end-point,,n=,r=abc');
    const final = c.receiveServerFirst(b('r=abcdef,s=QSXCR+Q6sek8bf92,i=4096'));
    const cbind = Buffer.from(final.split(',')[0]!.slice(2), 'base64');
    expect(cbind).toEqual(Buffer.concat([b('p=tls-server-end-point,,'), data]));
  });

  it('rejects a server nonce that does not extend ours, or only repeats it', () => {
    for (const r of ['XOprNGfwEbeRWgbNEkqO%hv', 'rOprNGfwEbeRWgbNEkqO', 'rOprNGfw']) {
      const c = rfcClient();
      c.clientFirstMessage();
      expect(typedFailure(() => c.receiveServerFirst(b(`r=${r},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`))), r).toBe(
        'PROTO_SCRAM_NONCE_MISMATCH',
      );
    }
  });

  it('rejects iteration counts below 4096 or above the cap', () => {
    for (const i of ['4095', '100001', '4294967295']) {
      const c = rfcClient();
      c.clientFirstMessage();
      expect(typedFailure(() => c.receiveServerFirst(b(`r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=${i}`))), i).toBe(
        'PROTO_SCRAM_BAD_ITERATIONS',
      );
    }
  });

  it('rejects malformed server-first messages', () => {
    const cases = [
      '',
      'r=x',
      `s=W22ZaJ0SNY7soEsUEjb6gQ==,r=${RFC.clientNonce}x,i=4096`,
      `m=ext,r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
      `r=${RFC.clientNonce}x,s=not base64!,i=4096`,
      `r=${RFC.clientNonce}x,s=,i=4096`,
      `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096`,
      `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1`,
      `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\n`,
      `r=${RFC.clientNonce}${'x'.repeat(600)},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`,
      `r=${RFC.clientNonce}x,s=${'QUFB'.repeat(200)},i=4096`,
      `r=${RFC.clientNonce}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,${'x'.repeat(3000)}`,
    ];
    for (const msg of cases) {
      const c = rfcClient();
      c.clientFirstMessage();
      expect(typedFailure(() => c.receiveServerFirst(b(msg))), msg.slice(0, 60)).toBe('PROTO_SCRAM_BAD_SERVER_MESSAGE');
    }
  });

  it('rejects a wrong ServerSignature and reports e= errors', () => {
    const wrong = rfcClient();
    wrong.clientFirstMessage();
    wrong.receiveServerFirst(b(RFC.serverFirst));
    expect(typedFailure(() => wrong.receiveServerFinal(b('v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')))).toBe(
      'PROTO_SCRAM_SERVER_SIGNATURE_MISMATCH',
    );
    const short = rfcClient();
    short.clientFirstMessage();
    short.receiveServerFirst(b(RFC.serverFirst));
    expect(typedFailure(() => short.receiveServerFinal(b('v=AAAA')))).toBe('PROTO_SCRAM_SERVER_SIGNATURE_MISMATCH');
    const err = rfcClient();
    err.clientFirstMessage();
    err.receiveServerFirst(b(RFC.serverFirst));
    expect(typedFailure(() => err.receiveServerFinal(b('e=invalid-proof')))).toBe('PROTO_SCRAM_SERVER_ERROR');
  });

  it('refuses steps out of order', () => {
    const c = rfcClient();
    expect(typedFailure(() => c.receiveServerFirst(b(RFC.serverFirst)))).toBe('PROTO_UNEXPECTED_MESSAGE');
    c.clientFirstMessage();
    expect(typedFailure(() => c.receiveServerFinal(b(RFC.serverFinal)))).toBe('PROTO_UNEXPECTED_MESSAGE');
  });

  it('fuzz: arbitrary server messages only raise IamdbError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 100 }), (first, final) => {
        const c = rfcClient();
        c.clientFirstMessage();
        typedFailure(() => {
          c.receiveServerFirst(first);
          c.receiveServerFinal(final);
        });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('saslprep', () => {
  it('leaves ASCII alone and maps per RFC 4013 examples', () => {
    expect(saslprep('pencil')).toBe('pencil');
    expect(saslprep('I\u00ADX')).toBe('IX'); // soft hyphen mapped to nothing
    expect(saslprep('\u00AA')).toBe('a'); // NFKC
    expect(saslprep('\u2168')).toBe('IX'); // NFKC
    expect(saslprep('a\u00A0b')).toBe('a b'); // non-ASCII space
  });

  it('falls back to the raw password when the prepared one is prohibited', () => {
    expect(saslprep('\u0007\u00e9')).toBe('\u0007\u00e9');
  });
});
