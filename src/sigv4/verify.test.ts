import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Signer } from '@aws-sdk/rds-signer';
import { type ErrorCode, IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { canonicalQueryString } from './canonical-query.js';
import { canonicalRequest } from './canonical-request.js';
import { credentialScope } from './credential-scope.js';
import { parseAmzDate } from './amz-date.js';
import { presignDbAuthToken } from './presign.js';
import { signatureHex } from './signature.js';
import { deriveSigningKey, SigningKeyCache } from './signing-key.js';
import { stringToSign } from './string-to-sign.js';
import { type VerifyDbAuthTokenContext, verifyDbAuthToken } from './verify.js';

interface Principal {
  readonly arn: string;
}

// botocore tests/unit/test_signers.py, TestGenerateDBAuthToken (Apache-2.0),
// written in the key order that vector uses.
const SIG = 'd1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61';
const BOTOCORE_TOKEN =
  'prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername' +
  '&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20161107T173933Z&X-Amz-SignedHeaders=host' +
  '&X-Amz-Expires=900&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request' +
  `&X-Amz-Signature=${SIG}`;
const BOTOCORE_DATE = Date.UTC(2016, 10, 7, 17, 39, 33);
const BOTOCORE_ENDPOINT = { host: 'prod-instance.us-east-1.rds.amazonaws.com', port: 3306 };

interface CliFixture {
  secretAccessKey: string;
  tokens: Array<{
    name: string;
    hostname: string;
    port: number;
    username: string;
    region: string;
    accessKeyId: string;
    sessionToken?: string;
    token: string;
  }>;
}
const CLI: CliFixture = JSON.parse(readFileSync(new URL('./fixtures/aws-cli-tokens.json', import.meta.url), 'utf8'));

function ctxFor(
  overrides: Partial<VerifyDbAuthTokenContext<Principal>> & { secret?: string } = {},
): VerifyDbAuthTokenContext<Principal> & { calls: Array<[string, string | undefined]> } {
  const calls: Array<[string, string | undefined]> = [];
  const secret = overrides.secret ?? 'skid';
  return {
    loginUser: 'someusername',
    region: 'us-east-1',
    endpoints: [BOTOCORE_ENDPOINT],
    now: BOTOCORE_DATE + 5_000,
    resolveCredential: async (accessKeyId, securityToken) => {
      calls.push([accessKeyId, securityToken?.reveal()]);
      return { secretAccessKey: new Secret(secret), principal: { arn: `arn:aws:iam::123456789012:user/${accessKeyId}` } };
    },
    calls,
    ...overrides,
  };
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | undefined> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(IamdbError);
    return (err as IamdbError).code;
  }
  return undefined;
}

/** Signs arbitrary decoded parameters with the low-level functions (for tokens no SDK would make). */
function signRaw(opts: {
  signedHost: string;
  params: Array<[string, string]>;
  secret?: string;
  region?: string;
  service?: string;
  amzDate?: string;
}): string {
  const amzDate = opts.amzDate ?? '20161107T173933Z';
  const region = opts.region ?? 'us-east-1';
  const service = opts.service ?? 'rds-db';
  const scope = credentialScope(amzDate.slice(0, 8), region, service);
  const query = canonicalQueryString(opts.params);
  const sig = signatureHex(
    deriveSigningKey(new Secret(opts.secret ?? 'skid'), amzDate.slice(0, 8), region, service),
    stringToSign(amzDate, scope, canonicalRequest(query, opts.signedHost)),
  );
  return `${opts.signedHost}/?${query}&X-Amz-Signature=${sig}`;
}

function rdsParams(over: Record<string, string> = {}): Array<[string, string]> {
  const base: Record<string, string> = {
    Action: 'connect',
    DBUser: 'someusername',
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': 'akid/20161107/us-east-1/rds-db/aws4_request',
    'X-Amz-Date': '20161107T173933Z',
    'X-Amz-Expires': '900',
    'X-Amz-SignedHeaders': 'host',
    ...over,
  };
  return Object.entries(base);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('verifyDbAuthToken, genuine tokens', () => {
  it("accepts botocore's RDS vector in botocore's key order", async () => {
    const ctx = ctxFor();
    const v = await verifyDbAuthToken(BOTOCORE_TOKEN, ctx);
    expect(v).toEqual({
      accessKeyId: 'akid',
      dbUser: 'someusername',
      principal: { arn: 'arn:aws:iam::123456789012:user/akid' },
      issuedAt: BOTOCORE_DATE,
      expiresAt: BOTOCORE_DATE + 900_000,
      usedSessionToken: false,
      endpoint: BOTOCORE_ENDPOINT,
    });
    expect(ctx.calls).toEqual([['akid', undefined]]);
  });

  it.each(CLI.tokens.map((t) => [t.name, t] as const))('accepts an AWS CLI v2 token: %s', async (_name, f) => {
    const dateMs = parseAmzDate(/X-Amz-Date=(\d{8}T\d{6}Z)/.exec(f.token)?.[1] ?? '') ?? Number.NaN;
    const ctx = ctxFor({
      loginUser: f.username,
      region: f.region,
      endpoints: [{ host: f.hostname.toLowerCase(), port: f.port }],
      now: dateMs + 3_000,
      secret: CLI.secretAccessKey,
    });
    const v = await verifyDbAuthToken(f.token, ctx);
    expect(v.accessKeyId).toBe(f.accessKeyId);
    expect(v.dbUser).toBe(f.username);
    expect(v.usedSessionToken).toBe(f.sessionToken !== undefined);
    expect(ctx.calls).toEqual([[f.accessKeyId, f.sessionToken]]);
  });

  it('accepts a 1,000+ character session token from the AWS CLI and hands it to the resolver', async () => {
    const f = CLI.tokens.find((t) => t.sessionToken !== undefined);
    if (f === undefined || f.sessionToken === undefined) throw new Error('fixture missing');
    expect(f.sessionToken.length).toBeGreaterThan(1000);
    const dateMs = parseAmzDate(/X-Amz-Date=(\d{8}T\d{6}Z)/.exec(f.token)?.[1] ?? '') ?? Number.NaN;
    const ctx = ctxFor({
      loginUser: f.username,
      region: f.region,
      endpoints: [{ host: f.hostname, port: f.port }],
      now: dateMs + 3_000,
      secret: CLI.secretAccessKey,
    });
    await expect(verifyDbAuthToken(f.token, ctx)).resolves.toMatchObject({ usedSessionToken: true });
    expect(ctx.calls[0]?.[1]).toBe(f.sessionToken);
  });

  it('accepts tokens from @aws-sdk/rds-signer, with and without a session token', async () => {
    const at = new Date('2025-06-01T08:00:00Z');
    for (const sessionToken of [undefined, 'IQoJb3JpZ2luX2VjE'.padEnd(1500, 'AbC+/=')]) {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(at);
      const token = await new Signer({
        hostname: 'Reader.Cluster-RO.example.test',
        port: 3306,
        username: 'report_user',
        region: 'eu-central-1',
        credentials: { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'sekrit', ...(sessionToken ? { sessionToken } : {}) },
      }).getAuthToken();
      vi.useRealTimers();
      const v = await verifyDbAuthToken(
        token,
        ctxFor({
          loginUser: 'report_user',
          region: 'eu-central-1',
          endpoints: [{ host: 'reader.cluster-ro.example.test', port: 3306 }],
          now: at.getTime() + 1_000,
          secret: 'sekrit',
        }),
      );
      expect(v.usedSessionToken).toBe(sessionToken !== undefined);
    }
  });

  it('accepts its own tokens whatever the query order (any permutation)', async () => {
    const token = presignDbAuthToken({
      hostname: BOTOCORE_ENDPOINT.host,
      port: 3306,
      username: 'someusername',
      region: 'us-east-1',
      credentials: { accessKeyId: 'akid', secretAccessKey: new Secret('skid'), sessionToken: new Secret('tok') },
      date: new Date(BOTOCORE_DATE),
    }).reveal();
    const [head, query] = token.split('/?') as [string, string];
    const pairs = query.split('&');
    await fc.assert(
      fc.asyncProperty(fc.shuffledSubarray(pairs, { minLength: pairs.length }), async (order) => {
        const v = await verifyDbAuthToken(`${head}/?${order.join('&')}`, ctxFor());
        expect(v.usedSessionToken).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('accepts equivalent encodings of the same values', async () => {
    const alt = BOTOCORE_TOKEN.replace('akid%2F20161107%2F', 'akid/20161107%2f').replace('DBUser=someusername', 'DBUser=%73omeusername');
    await expect(verifyDbAuthToken(alt, ctxFor())).resolves.toMatchObject({ dbUser: 'someusername' });
  });

  it('matches the endpoint host case-insensitively in both directions', async () => {
    const mixed = presignDbAuthToken({
      hostname: 'Prod-Instance.US-East-1.rds.amazonaws.com',
      port: 3306,
      username: 'someusername',
      region: 'us-east-1',
      credentials: { accessKeyId: 'akid', secretAccessKey: new Secret('skid') },
      date: new Date(BOTOCORE_DATE),
    }).reveal();
    await expect(verifyDbAuthToken(mixed, ctxFor())).resolves.toBeDefined();
    await expect(
      verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ endpoints: [{ host: 'PROD-INSTANCE.us-east-1.RDS.amazonaws.com', port: 3306 }] })),
    ).resolves.toBeDefined();
  });

  it('does not let Unicode case folding match a configured name (Kelvin sign)', async () => {
    const t = signRaw({ signedHost: 'k.example.test:5432', params: rdsParams() });
    expect(await codeOf(verifyDbAuthToken(t, ctxFor({ endpoints: [{ host: '\u212A.example.test', port: 5432 }] })))).toBe(
      'AUTH_TOKEN_WRONG_ENDPOINT',
    );
  });

  it('picks the matching endpoint among several aliases', async () => {
    const v = await verifyDbAuthToken(
      BOTOCORE_TOKEN,
      ctxFor({ endpoints: [{ host: 'other.example.test', port: 3306 }, { host: 'prod-instance.us-east-1.rds.amazonaws.com', port: 3306 }] }),
    );
    expect(v.endpoint.host).toBe('prod-instance.us-east-1.rds.amazonaws.com');
  });

  it('reuses signing keys through the cache it is given', async () => {
    const cache = new SigningKeyCache(8);
    await verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ signingKeyCache: cache }));
    await verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ signingKeyCache: cache }));
    expect(cache.size).toBe(1);
  });
});

describe('verifyDbAuthToken, omitted port (README "Omitted port")', () => {
  const portless = signRaw({ signedHost: 'db.example.test', params: rdsParams() });

  it.each([5432, 3306, 443])('accepts a token signed without a port on a listener at default port %i', async (port) => {
    const v = await verifyDbAuthToken(portless, ctxFor({ endpoints: [{ host: 'DB.example.test', port }] }));
    expect(v.endpoint.port).toBe(port);
  });

  it('rejects a token without a port on a listener at a non-default port', async () => {
    expect(await codeOf(verifyDbAuthToken(portless, ctxFor({ endpoints: [{ host: 'db.example.test', port: 6432 }] })))).toBe(
      'AUTH_TOKEN_WRONG_ENDPOINT',
    );
  });

  it('follows the portlessPorts the caller gives', async () => {
    const ctx = ctxFor({ endpoints: [{ host: 'db.example.test', port: 6432 }], portlessPorts: [6432] });
    await expect(verifyDbAuthToken(portless, ctx)).resolves.toBeDefined();
    const none = ctxFor({ endpoints: [{ host: 'db.example.test', port: 5432 }], portlessPorts: [] });
    expect(await codeOf(verifyDbAuthToken(portless, none))).toBe('AUTH_TOKEN_WRONG_ENDPOINT');
  });

  it('rejects a token that names the port but was signed without it (except on 443)', async () => {
    const sig = portless.slice(-64);
    const lying = `db.example.test:5432/?${canonicalQueryString(rdsParams())}&X-Amz-Signature=${sig}`;
    expect(await codeOf(verifyDbAuthToken(lying, ctxFor({ endpoints: [{ host: 'db.example.test', port: 5432 }] })))).toBe(
      'AUTH_TOKEN_SIGNATURE_MISMATCH',
    );
  });

  it('accepts, on port 443, a token whose URL has :443 but whose signed host is the lowercased bare host (botocore)', async () => {
    const signed = signRaw({ signedHost: 'proxy.example.test', params: rdsParams() });
    const t = `Proxy.Example.Test:443/?${signed.split('/?')[1] ?? ''}`;
    await expect(verifyDbAuthToken(t, ctxFor({ endpoints: [{ host: 'proxy.example.test', port: 443 }] }))).resolves.toBeDefined();
  });
});

describe('verifyDbAuthToken, time (REFERENCE 6.2.A.12, 13)', () => {
  it('accepts a token exactly 900 s old', async () => {
    await expect(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE + 900_000 }))).resolves.toBeDefined();
  });

  it('rejects a token 900.001 s old', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE + 900_001 })))).toBe('AUTH_TOKEN_EXPIRED');
  });

  it('rejects a token 901 s old', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE + 901_000 })))).toBe('AUTH_TOKEN_EXPIRED');
  });

  it('honours a shorter X-Amz-Expires', async () => {
    const t = signRaw({ signedHost: 'prod-instance.us-east-1.rds.amazonaws.com:3306', params: rdsParams({ 'X-Amz-Expires': '60' }) });
    const v = await verifyDbAuthToken(t, ctxFor({ now: BOTOCORE_DATE + 60_000 }));
    expect(v.expiresAt).toBe(BOTOCORE_DATE + 60_000);
    expect(await codeOf(verifyDbAuthToken(t, ctxFor({ now: BOTOCORE_DATE + 61_000 })))).toBe('AUTH_TOKEN_EXPIRED');
  });

  it('accepts a token dated exactly the allowed skew in the future', async () => {
    await expect(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE - 300_000 }))).resolves.toBeDefined();
  });

  it('rejects a token dated beyond the allowed skew', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE - 300_001 })))).toBe(
      'AUTH_TOKEN_NOT_YET_VALID',
    );
  });

  it('uses the skew it is given', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE - 1, futureSkewMs: 0 })))).toBe(
      'AUTH_TOKEN_NOT_YET_VALID',
    );
    await expect(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: BOTOCORE_DATE, futureSkewMs: 0 }))).resolves.toBeDefined();
  });

  it('fails closed when the clock reading is not a number', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ now: Number.NaN })))).toBe('SIGV4_INVALID_INPUT');
  });

  it('refuses a negative skew setting', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ futureSkewMs: -1 })))).toBe('SIGV4_INVALID_INPUT');
  });

  it.each([
    ['0', 'AUTH_TOKEN_EXPIRES_ZERO'],
    ['-1', 'AUTH_TOKEN_EXPIRES_NEGATIVE'],
    ['abc', 'AUTH_TOKEN_EXPIRES_NOT_INTEGER'],
    ['901', 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
    ['604800', 'AUTH_TOKEN_EXPIRES_TOO_LONG'],
  ] as Array<[string, ErrorCode]>)('rejects X-Amz-Expires=%s even when correctly signed', async (expires, code) => {
    const t = signRaw({ signedHost: 'prod-instance.us-east-1.rds.amazonaws.com:3306', params: rdsParams({ 'X-Amz-Expires': expires }) });
    expect(await codeOf(verifyDbAuthToken(t, ctxFor()))).toBe(code);
  });

  it('rejects a malformed date', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN.replace('20161107T173933Z', '20161107T173960Z'), ctxFor()))).toBe(
      'AUTH_TOKEN_BAD_DATE',
    );
  });
});

describe('verifyDbAuthToken, binding (REFERENCE 6.2.A.10, 11)', () => {
  it('rejects a tampered signature', async () => {
    const flipped = BOTOCORE_TOKEN.slice(0, -1) + (BOTOCORE_TOKEN.endsWith('0') ? '1' : '0');
    expect(await codeOf(verifyDbAuthToken(flipped, ctxFor()))).toBe('AUTH_TOKEN_SIGNATURE_MISMATCH');
  });

  it('rejects a token signed with another secret', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ secret: 'skie' })))).toBe('AUTH_TOKEN_SIGNATURE_MISMATCH');
  });

  it('rejects a token for another host', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ endpoints: [{ host: 'other-instance.us-east-1.rds.amazonaws.com', port: 3306 }] })))).toBe(
      'AUTH_TOKEN_WRONG_ENDPOINT',
    );
  });

  it('rejects a token for another port', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ endpoints: [{ ...BOTOCORE_ENDPOINT, port: 3307 }] })))).toBe(
      'AUTH_TOKEN_WRONG_ENDPOINT',
    );
  });

  it('rejects a token signed for the IP address of the listener', async () => {
    const t = signRaw({ signedHost: '10.0.0.5:3306', params: rdsParams() });
    expect(await codeOf(verifyDbAuthToken(t, ctxFor()))).toBe('AUTH_TOKEN_WRONG_ENDPOINT');
  });

  it('rejects a host with a trailing dot, and a listener name with one', async () => {
    const dotted = signRaw({ signedHost: 'prod-instance.us-east-1.rds.amazonaws.com.:3306', params: rdsParams() });
    expect(await codeOf(verifyDbAuthToken(dotted, ctxFor()))).toBe('AUTH_TOKEN_WRONG_ENDPOINT');
    expect(
      await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ endpoints: [{ host: `${BOTOCORE_ENDPOINT.host}.`, port: 3306 }] }))),
    ).toBe('AUTH_TOKEN_WRONG_ENDPOINT');
  });

  it('rejects a token for another region', async () => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ region: 'us-west-2' })))).toBe('AUTH_TOKEN_WRONG_REGION');
  });

  it('rejects a correctly signed token for another service', async () => {
    const t = signRaw({
      signedHost: 'prod-instance.us-east-1.rds.amazonaws.com:3306',
      service: 's3',
      params: rdsParams({ 'X-Amz-Credential': 'akid/20161107/us-east-1/s3/aws4_request' }),
    });
    expect(await codeOf(verifyDbAuthToken(t, ctxFor()))).toBe('AUTH_TOKEN_WRONG_SERVICE');
  });

  it.each([
    ['different case', 'SomeUsername'],
    ['a trailing space', 'someusername '],
    ['a prefix', 'someuser'],
  ])('rejects a DBUser that differs from the login user by %s', async (_name, loginUser) => {
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctxFor({ loginUser })))).toBe('AUTH_TOKEN_DBUSER_MISMATCH');
  });

  it('compares DBUser without Unicode normalisation', async () => {
    const t = signRaw({ signedHost: 'prod-instance.us-east-1.rds.amazonaws.com:3306', params: rdsParams({ DBUser: 'jos\u00e9' }) });
    await expect(verifyDbAuthToken(t, ctxFor({ loginUser: 'jos\u00e9' }))).resolves.toBeDefined();
    expect(await codeOf(verifyDbAuthToken(t, ctxFor({ loginUser: 'jose\u0301' })))).toBe('AUTH_TOKEN_DBUSER_MISMATCH');
  });

  it('rejects a duplicated DBUser / X-Amz-Date / X-Amz-Signature before looking at anything else', async () => {
    for (const extra of ['&DBUser=admin', '&X-Amz-Date=20161107T173933Z', `&X-Amz-Signature=${SIG}`]) {
      expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN + extra, ctxFor()))).toBe('AUTH_TOKEN_DUPLICATE_KEY');
    }
  });
});

describe('verifyDbAuthToken, credential resolution', () => {
  it('lets the resolver error through unchanged', async () => {
    const thrown = new IamdbError('INTERNAL', { what: 'key store offline' });
    const ctx = ctxFor({
      resolveCredential: async () => {
        throw thrown;
      },
    });
    await expect(verifyDbAuthToken(BOTOCORE_TOKEN, ctx)).rejects.toBe(thrown);
  });

  it('does not resolve the credential when an earlier check fails', async () => {
    const ctx = ctxFor({ now: BOTOCORE_DATE + 10_000_000 });
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctx))).toBe('AUTH_TOKEN_EXPIRED');
    expect(ctx.calls).toEqual([]);
  });

  it('checks DBUser before the region, the endpoint and the time', async () => {
    const ctx = ctxFor({ loginUser: 'x', region: 'eu-west-1', endpoints: [], now: 0 });
    expect(await codeOf(verifyDbAuthToken(BOTOCORE_TOKEN, ctx))).toBe('AUTH_TOKEN_DBUSER_MISMATCH');
  });
});

describe('verifyDbAuthToken, mutations (REFERENCE 6.2.A.1)', () => {
  // Replacing a character by one equal to it ignoring case can be harmless
  // (host case, %2f for %2F); every other one-character change must fail.
  function mutate(t: string, i: number, c: string): string | undefined {
    const orig = t[i] ?? '';
    if (c.toLowerCase() === orig.toLowerCase()) return undefined;
    return t.slice(0, i) + c + t.slice(i + 1);
  }

  it('rejects every one-character change of the botocore token (each position)', async () => {
    for (let i = 0; i < BOTOCORE_TOKEN.length; i++) {
      for (const c of ['q', '0', '%', '&', '=', '/', '+', 'Z']) {
        const m = mutate(BOTOCORE_TOKEN, i, c);
        if (m === undefined) continue;
        const code = await codeOf(verifyDbAuthToken(m, ctxFor()));
        expect(code, `position ${i} -> ${c}`).toBeDefined();
      }
    }
  });

  it('rejects every removed or doubled character of the botocore token', async () => {
    for (let i = 0; i < BOTOCORE_TOKEN.length; i++) {
      const removed = BOTOCORE_TOKEN.slice(0, i) + BOTOCORE_TOKEN.slice(i + 1);
      const doubled = BOTOCORE_TOKEN.slice(0, i) + (BOTOCORE_TOKEN[i] ?? '') + BOTOCORE_TOKEN.slice(i);
      expect(await codeOf(verifyDbAuthToken(removed, ctxFor())), `remove ${i}`).toBeDefined();
      expect(await codeOf(verifyDbAuthToken(doubled, ctxFor())), `double ${i}`).toBeDefined();
    }
  });

  it('rejects random one-character changes of an AWS CLI session-token token', async () => {
    const f = CLI.tokens.find((t) => t.sessionToken !== undefined);
    if (f === undefined) throw new Error('fixture missing');
    const dateMs = parseAmzDate(/X-Amz-Date=(\d{8}T\d{6}Z)/.exec(f.token)?.[1] ?? '') ?? Number.NaN;
    const ctx = (): VerifyDbAuthTokenContext<Principal> =>
      ctxFor({
        loginUser: f.username,
        region: f.region,
        endpoints: [{ host: f.hostname, port: f.port }],
        now: dateMs + 1_000,
        secret: CLI.secretAccessKey,
      });
    await expect(verifyDbAuthToken(f.token, ctx())).resolves.toBeDefined();
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: f.token.length - 1 }),
        fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
        async (i, c) => {
          const m = mutate(f.token, i, c);
          fc.pre(m !== undefined);
          expect(await codeOf(verifyDbAuthToken(m ?? '', ctx()))).toBeDefined();
        },
      ),
      { numRuns: 1000 },
    );
  });
});

describe('verifyDbAuthToken, errors leak nothing', () => {
  it('never quotes the token, its signature, its session token or the secret', async () => {
    const f = CLI.tokens.find((t) => t.sessionToken !== undefined);
    if (f === undefined || f.sessionToken === undefined) throw new Error('fixture missing');
    const good = f.token;
    const sig = good.slice(-64);
    const dateMs = parseAmzDate(/X-Amz-Date=(\d{8}T\d{6}Z)/.exec(good)?.[1] ?? '') ?? Number.NaN;
    const base = {
      loginUser: f.username,
      region: f.region,
      endpoints: [{ host: f.hostname, port: f.port }],
      now: dateMs + 1_000,
      secret: CLI.secretAccessKey,
    };
    const cases: Array<[string, Partial<Parameters<typeof ctxFor>[0]>]> = [
      [good.slice(0, -1) + (good.endsWith('0') ? '1' : '0'), {}],
      [good, { now: dateMs + 10_000_000 }],
      [good, { now: dateMs - 10_000_000 }],
      [good, { region: 'eu-north-1' }],
      [good, { loginUser: 'mallory' }],
      [good, { endpoints: [] }],
      [good, { secret: 'wrong' }],
      [`${good}&X-Amz-Signature=${sig}`, {}],
      [`${good}&X-Amz-Signature2=${sig}`, {}],
      [`${good}&${sig}=1`, {}],
      [good.replace('X-Amz-Signature=', 'X-Amz-Signature=A'), {}],
      [good.replace('X-Amz-Signature=', 'X-Amz-Signature=%'), {}],
      [good.replace('X-Amz-Security-Token=', 'X-Amz-Security-Token=+'), {}],
      [good.replace('X-Amz-Security-Token=', 'X-Amz-Security-Token=%00'), {}],
      [good.replace('X-Amz-Security-Token=', 'X-Amz-Security-Token=%C0%AF'), {}],
      [`${good}${'A'.repeat(8192)}`, {}],
    ];
    const secrets = [good, sig, f.sessionToken, f.sessionToken.slice(0, 40), CLI.secretAccessKey];
    for (const [t, over] of cases) {
      let caught: unknown;
      try {
        await verifyDbAuthToken(t, ctxFor({ ...base, ...over }));
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(IamdbError);
      const err = caught as IamdbError;
      const rendered = [err.message, JSON.stringify(err), inspect(err, { depth: 5 }), String(err.stack)];
      for (const text of rendered) {
        for (const s of secrets) expect(text.includes(s), `${err.code} leaks`).toBe(false);
      }
    }
  });
});
