/**
 * Header-signed requests: whatever @smithy/signature-v4 (the signer inside
 * every AWS SDK for JavaScript v3 client) signs, we verify; any change to a
 * signed part makes it fail; malformed headers are typed errors.
 */
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { errorCodeOf as code } from '../../test/support/error-code.js';
import { Secret } from '../util/index.js';
import {
  canonicalRequestPath,
  checkRequestTime,
  parseRequestAuthorization,
  requestSignatureMatches,
  signRequestHeaders,
  type SignedHttpRequest,
} from './request-signature.js';

const KEY = { accessKeyId: 'AKIDEXAMPLE00000001', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const WHEN = new Date('2026-11-23T12:00:00Z');

interface Input {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  service: string;
  region: string;
  sessionToken?: string;
  /** The SDK signs x-amz-content-sha256 unless told not to. */
  applyChecksum?: boolean;
}

/** Signs like the SDKs do, then shapes the result as our HTTP edge will hand it over. */
async function sdkSigned(input: Input): Promise<SignedHttpRequest> {
  const signer = new SignatureV4({
    credentials: { ...KEY, ...(input.sessionToken ? { sessionToken: input.sessionToken } : {}) },
    region: input.region,
    service: input.service,
    sha256: Hash.bind(null, 'sha256'),
    ...(input.applyChecksum === false ? { applyChecksum: false } : {}),
  });
  const request = new HttpRequest({
    method: input.method,
    protocol: 'https:',
    hostname: 'api.example.test',
    port: 7400,
    path: input.path,
    query: input.query,
    headers: { host: 'api.example.test:7400', ...input.headers },
    body: input.body,
  });
  const signed = await signer.sign(request, { signingDate: WHEN });
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers)) headers[k.toLowerCase()] = v;
  return { method: signed.method, path: signed.path, query: Object.entries(signed.query as Record<string, string>), headers, body: Buffer.from(input.body) };
}

const base: Input = {
  method: 'POST',
  path: '/',
  query: {},
  headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
  body: 'Action=GetCallerIdentity&Version=2011-06-15',
  service: 'sts',
  region: 'us-east-1',
};

function verifies(req: SignedHttpRequest, secret = KEY.secretAccessKey): boolean {
  const auth = parseRequestAuthorization(req);
  return requestSignatureMatches(req, auth, new Secret(secret));
}

describe('header-signed requests', () => {
  it('verifies what the SDK signer signs, for any method, path, query, headers and body', async () => {
    const segment = fc.stringMatching(/^[A-Za-z0-9._~%!$&'()*+,;=:@ -]{0,12}$/).map((s) => encodeURIComponent(s));
    const headerValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE'),
          path: fc.array(segment, { maxLength: 4 }).map((s) => `/${s.join('/')}`),
          // The JS SDK's signer builds its canonical query in a plain object and so drops a `__proto__` parameter; the spec (and botocore) sign it.
          query: fc.dictionary(fc.stringMatching(/^[A-Za-z0-9._~-]{1,10}$/).filter((k) => k !== '__proto__'), fc.string({ maxLength: 12 }), { maxKeys: 4 }),
          headers: fc.dictionary(fc.stringMatching(/^x-test-[a-z0-9]{1,8}$/), headerValue, { maxKeys: 3 }),
          body: fc.string({ maxLength: 200 }),
          service: fc.constantFrom('iam', 'sts', 'kms', 'secretsmanager', 'rds'),
          region: fc.constantFrom('us-east-1', 'eu-west-3'),
          sessionToken: fc.option(fc.base64String({ minLength: 8, maxLength: 64 }), { nil: undefined }),
        }),
        async (input) => {
          const req = await sdkSigned(input as Input);
          expect(verifies(req)).toBe(true);
          const auth = parseRequestAuthorization(req);
          expect(auth).toMatchObject({ accessKeyId: KEY.accessKeyId, service: input.service, region: input.region, shortDate: '20261123' });
          expect(auth.sessionToken?.reveal()).toBe(input.sessionToken);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('fails when any signed part changes', async () => {
    const req = await sdkSigned({ ...base, query: { a: 'b' }, headers: { ...base.headers, 'x-test-one': 'v' } });
    expect(verifies(req)).toBe(true);
    expect(verifies({ ...req, body: Buffer.from(`${base.body}&X=1`) })).toBe(false);
    expect(verifies({ ...req, method: 'PUT' })).toBe(false);
    expect(verifies({ ...req, path: '/other' })).toBe(false);
    expect(verifies({ ...req, query: [['a', 'c']] })).toBe(false);
    expect(verifies({ ...req, headers: { ...req.headers, 'x-test-one': 'w' } })).toBe(false);
    expect(verifies({ ...req, headers: { ...req.headers, host: 'elsewhere.test:7400' } })).toBe(false);
    expect(verifies(req, KEY.secretAccessKey.replace('K7', 'K8'))).toBe(false);
    // An unsigned header may change freely.
    expect(verifies({ ...req, headers: { ...req.headers, 'user-agent': 'changed' } })).toBe(true);
  });

  it('checks the request time against the clock, 15 minutes either way', async () => {
    const auth = parseRequestAuthorization(await sdkSigned(base));
    expect(code(() => checkRequestTime(auth, WHEN.getTime() + 14 * 60_000))).toBeUndefined();
    expect(code(() => checkRequestTime(auth, WHEN.getTime() - 14 * 60_000))).toBeUndefined();
    expect(code(() => checkRequestTime(auth, WHEN.getTime() + 16 * 60_000))).toBe('REQUEST_EXPIRED');
    expect(code(() => checkRequestTime(auth, WHEN.getTime() - 16 * 60_000))).toBe('REQUEST_EXPIRED');
  });

  it('refuses malformed or incomplete Authorization headers with typed errors', async () => {
    const req = await sdkSigned({ ...base, sessionToken: 'c2Vzc2lvbg==' });
    const auth = req.headers.authorization as string;
    const withAuth = (a: string | undefined, extra: Record<string, string | undefined> = {}): SignedHttpRequest => ({ ...req, headers: { ...req.headers, authorization: a, ...extra } });
    expect(code(() => parseRequestAuthorization(withAuth(undefined)))).toBe('REQUEST_AUTH_MISSING');
    const cases: Array<[string, SignedHttpRequest]> = [
      ['other algorithm', withAuth(auth.replace('AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA512'))],
      ['duplicate component', withAuth(`${auth}, Signature=${'0'.repeat(64)}`)],
      ['unknown component', withAuth(`${auth}, Extra=1`)],
      ['short credential', withAuth(auth.replace(/\/aws4_request/, ''))],
      ['bad terminator', withAuth(auth.replace('aws4_request', 'aws5_request'))],
      ['unsorted signed headers', withAuth(auth.replace(/SignedHeaders=([^,]+)/, (_, h: string) => `SignedHeaders=${h.split(';').reverse().join(';')}`))],
      ['host not signed', withAuth(auth.replace(/SignedHeaders=([^,]+)/, (_, h: string) => `SignedHeaders=${h.split(';').filter((x) => x !== 'host').join(';')}`))],
      ['signed header missing', withAuth(auth, { 'content-type': undefined })],
      ['short signature', withAuth(auth.replace(/Signature=[0-9a-f]+/, 'Signature=abc'))],
      ['no date', withAuth(auth, { 'x-amz-date': undefined })],
      ['credential date differs', withAuth(auth.replace('/20261123/', '/20261122/'))],
      ['unsigned session token', withAuth(auth.replace(/;x-amz-security-token/, ''))],
      ['huge header', withAuth(`${auth}${' '.repeat(5000)}`)],
    ];
    for (const [what, r] of cases) expect([what, code(() => parseRequestAuthorization(r))]).toEqual([what, 'REQUEST_AUTH_MALFORMED']);
  });

  it('normalises the path as the SDKs sign it', () => {
    expect(canonicalRequestPath('')).toBe('/');
    expect(canonicalRequestPath('/')).toBe('/');
    expect(canonicalRequestPath('/a/./b/../c/')).toBe('/a/c/');
    expect(canonicalRequestPath('//a//b')).toBe('/a/b');
    expect(canonicalRequestPath('/a%20b/c')).toBe('/a%2520b/c');
  });
});

describe('signRequestHeaders', () => {
  it('signs exactly as @smithy/signature-v4 does for the same headers, with and without a session token', async () => {
    for (const sessionToken of [undefined, 'FQoGZXIvYXdzEXAMPLETOKEN']) {
      const body = 'Action=RegisterDBInstance&Version=2014-10-31&DBInstanceIdentifier=a%20b';
      const ours = signRequestHeaders(
        { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: 'api.example.test:7400' },
        { accessKeyId: KEY.accessKeyId, secretAccessKey: new Secret(KEY.secretAccessKey), ...(sessionToken ? { sessionToken: new Secret(sessionToken) } : {}) },
        { region: 'us-east-1', service: 'rds', date: WHEN },
      );
      const theirs = await sdkSigned({ ...base, headers: {}, body, service: 'rds', applyChecksum: false, ...(sessionToken ? { sessionToken } : {}) });
      expect(ours['authorization']).toBe(theirs.headers['authorization']);
      const req: SignedHttpRequest = { method: 'POST', path: '/', query: [], headers: ours, body: Buffer.from(body) };
      expect(verifies(req)).toBe(true);
    }
  });
});
