import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { MAX_TOKEN_LENGTH } from './constants.js';
import { parseDbAuthToken } from './parse-token.js';
import { presignDbAuthToken } from './presign.js';
import { verifyDbAuthToken } from './verify.js';

// Seed: botocore's RDS vector (tests/unit/test_signers.py) and a session-token
// token from our presigner.
const SEEDS = [
  'prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
    '&X-Amz-Date=20161107T173933Z&X-Amz-SignedHeaders=host&X-Amz-Expires=900' +
    '&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request' +
    '&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61',
  presignDbAuthToken({
    hostname: 'db.example.test',
    port: 5432,
    username: 'alice',
    region: 'us-east-1',
    credentials: { accessKeyId: 'ASIAX', secretAccessKey: new Secret('s'), sessionToken: new Secret('FQoG/+=='.repeat(40)) },
    date: new Date('2024-01-01T00:00:00Z'),
  }).reveal(),
];

function onlyIamdbErrors(input: string): void {
  try {
    const p = parseDbAuthToken(input);
    // Whatever passes the parser is internally consistent.
    expect(p.signature.reveal()).toMatch(/^[0-9a-f]{64}$/);
    expect(p.expiresSeconds).toBeGreaterThanOrEqual(1);
    expect(p.expiresSeconds).toBeLessThanOrEqual(900);
    expect(Number.isFinite(p.dateMs)).toBe(true);
  } catch (err) {
    expect(err).toBeInstanceOf(IamdbError);
  }
}

// Pieces that steer random strings into the parser's deeper branches.
const piece = fc.oneof(
  fc.constantFrom(
    '/?', '&', '=', '%', '%2F', '%C0%AF', '%00', '+', ':', '[', ']', ':5432', 'Action=connect', 'DBUser=',
    'X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Credential=a%2F20240101%2Fr%2Frds-db%2Faws4_request',
    'X-Amz-Date=20240101T000000Z', 'X-Amz-Expires=', 'X-Amz-SignedHeaders=host', 'X-Amz-Security-Token=',
    'X-Amz-Signature=', '0'.repeat(64), '\u0000', '\r\n', 'é', '\uD800',
  ),
  fc.string({ maxLength: 12 }),
);

describe('parseDbAuthToken fuzz', () => {
  it('throws only IamdbError on arbitrary strings', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 400 }), onlyIamdbErrors), { numRuns: 2000 });
  });

  it('throws only IamdbError on strings built from token fragments', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (parts) => onlyIamdbErrors(`db:5432/?${parts.join('')}`)),
      { numRuns: 3000 },
    );
  });

  it('throws only IamdbError on seeds with random splices', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...SEEDS),
        fc.nat(),
        fc.nat({ max: 20 }),
        fc.string({ unit: 'binary', maxLength: 8 }),
        (seed, at, cut, insert) => {
          const i = at % (seed.length + 1);
          onlyIamdbErrors(seed.slice(0, i) + insert + seed.slice(i + cut));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('refuses any input over the cap without reading it', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 50 }), (s) => {
        const big = s.repeat(Math.ceil((MAX_TOKEN_LENGTH + 1) / s.length));
        try {
          parseDbAuthToken(big);
          expect.unreachable();
        } catch (err) {
          expect((err as IamdbError).code).toBe('AUTH_TOKEN_TOO_LONG');
        }
      }),
      { numRuns: 50 },
    );
  });

  it('verify also rejects arbitrary input with IamdbError only', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 300 }), async (s) => {
        await expect(
          verifyDbAuthToken(s, {
            loginUser: 'alice',
            region: 'us-east-1',
            endpoints: [{ host: 'db', port: 5432 }],
            now: 0,
            resolveCredential: async () => ({ secretAccessKey: new Secret('s'), principal: null }),
          }),
        ).rejects.toBeInstanceOf(IamdbError);
      }),
      { numRuns: 500 },
    );
  });
});
