/**
 * Requests the unmodified Debian AWS CLI (botocore) signs for the control
 * plane's services verify with src/sigv4's header-signed request verifier,
 * with long-term and temporary credentials. A bare HTTP server captures each
 * request as it arrives and answers with an AWS-style error so the CLI stops.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkRequestTime, parseRequestAuthorization, requestSignatureMatches, type SignedHttpRequest } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runAwsCli } from '../support/clients.js';

const KEY = { id: 'AKIAIAMDBAPITEST0001', secret: 'apiTestSecretKey0123456789abcdefghijklmn' };
let server: Server;
let endpoint: string;
const captured: SignedHttpRequest[] = [];

function capture(req: IncomingMessage, body: Buffer): SignedHttpRequest {
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const headers: Record<string, string | string[] | undefined> = {};
  for (const [k, v] of Object.entries(req.headers)) headers[k] = v;
  return { method: req.method ?? 'GET', path: url.pathname, query: [...url.searchParams.entries()], headers, body };
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      captured.push(capture(req, Buffer.concat(chunks)));
      res.writeHead(403, { 'content-type': 'text/xml' });
      res.end('<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>captured</Message></Error><RequestId>0</RequestId></ErrorResponse>');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  endpoint = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

async function signedBy(args: string[], env: Record<string, string> = {}): Promise<SignedHttpRequest> {
  const before = captured.length;
  const out = await runAwsCli([...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--cli-connect-timeout', '5'], {
    AWS_ACCESS_KEY_ID: KEY.id,
    AWS_SECRET_ACCESS_KEY: KEY.secret,
    AWS_MAX_ATTEMPTS: '1',
    ...env,
  });
  expect(out.stderr).toContain('captured');
  expect(captured.length).toBeGreaterThan(before);
  return captured[captured.length - 1]!;
}

describe('requests signed by the Debian AWS CLI', () => {
  const calls: Array<[string, string[]]> = [
    ['sts', ['sts', 'get-caller-identity']],
    ['iam', ['iam', 'create-user', '--user-name', 'bob with space?', '--tags', 'Key=team,Value=a b&c']],
    ['kms', ['kms', 'encrypt', '--key-id', 'alias/app', '--plaintext', 'aGVsbG8=']],
    ['secretsmanager', ['secretsmanager', 'create-secret', '--name', 'rdsproxy_alice', '--secret-string', '{"username":"alice","password":"p w+/="}']],
    ['rds', ['rds', 'describe-db-instances', '--db-instance-identifier', 'orders-pg']],
  ];
  for (const [service, args] of calls) {
    it(`verifies ${args.slice(0, 2).join(' ')} (service ${service})`, async () => {
      const req = await signedBy(args);
      const auth = parseRequestAuthorization(req);
      expect(auth).toMatchObject({ accessKeyId: KEY.id, service, region: 'us-east-1' });
      checkRequestTime(auth, Date.now());
      expect(requestSignatureMatches(req, auth, new Secret(KEY.secret))).toBe(true);
      expect(requestSignatureMatches(req, auth, new Secret(KEY.secret.replace('a', 'b')))).toBe(false);
    });
  }

  it('verifies a request signed with temporary credentials and carries the session token', async () => {
    const req = await signedBy(['sts', 'get-caller-identity'], { AWS_SESSION_TOKEN: 'FwoGZXIvYXdzEXAMPLEtoken/+=' });
    const auth = parseRequestAuthorization(req);
    expect(auth.sessionToken?.reveal()).toBe('FwoGZXIvYXdzEXAMPLEtoken/+=');
    expect(requestSignatureMatches(req, auth, new Secret(KEY.secret))).toBe(true);
  });
});
