/**
 * The control plane's HTTP edge with hand-made requests: framing and
 * dispatch errors in each protocol's shape, bounds, clock skew, and that a
 * bad request leaves the server serving the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequestHeaders } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
beforeAll(async () => {
  iamdb = await startIamdb({ api: { listen: 'auto' } });
});
afterAll(() => iamdb.stop());

async function post(service: string, body: string, extra: Record<string, string> = {}, date = new Date()): Promise<{ status: number; text: string; headers: Headers }> {
  const url = new URL(iamdb.apiUrl);
  const signed = signRequestHeaders(
    { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host },
    { accessKeyId: iamdb.admin.id, secretAccessKey: new Secret(iamdb.admin.secret) },
    { region: 'us-east-1', service, date },
  );
  const { host: _host, ...headers } = signed;
  const res = await fetch(iamdb.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', ...extra }, body });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

describe('the control plane edge', () => {
  it('answers Query-protocol framing errors in XML with AWS codes', async () => {
    const missing = await post('iam', 'Version=2010-05-08');
    expect(missing.status).toBe(400);
    expect(missing.text).toContain('<Code>MissingAction</Code>');
    const unknown = await post('iam', 'Action=LaunchRockets&Version=2010-05-08');
    expect(unknown.text).toContain('<Code>InvalidAction</Code>');
    expect(unknown.text).toContain('Could not find operation LaunchRockets for version 2010-05-08');
    expect(unknown.text).toMatch(/<RequestId>[0-9a-f-]{36}<\/RequestId>/);
    expect(unknown.headers.get('x-amzn-requestid')).toMatch(/^[0-9a-f-]{36}$/);
    const missingParam = await post('iam', 'Action=GetRole&Version=2010-05-08');
    expect(missingParam.text).toContain('<Code>ValidationError</Code>');
    expect(missingParam.text).toContain("Value null at 'roleName' failed to satisfy constraint: Member must not be null");
    const other = await post('s3', 'Action=ListBuckets');
    expect(other.text).toContain('<Code>InvalidAction</Code>');
  });

  it('answers JSON-protocol errors as JSON', async () => {
    const unknown = await post('kms', '{}', { 'x-amz-target': 'TrentService.Launch', 'content-type': 'application/x-amz-json-1.1' });
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.text)).toMatchObject({ __type: 'UnknownOperationException' });
    const bad = await post('kms', '{not json', { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' });
    expect(JSON.parse(bad.text).__type).toBe('SerializationException');
    const wrongPrefix = await post('kms', '{}', { 'x-amz-target': 'secretsmanager.ListSecrets', 'content-type': 'application/x-amz-json-1.1' });
    expect(JSON.parse(wrongPrefix.text).__type).toBe('UnknownOperationException');
  });

  it('refuses a signature more than 15 minutes off the server clock', async () => {
    const old = await post('sts', 'Action=GetCallerIdentity&Version=2011-06-15', {}, new Date(Date.now() - 16 * 60_000));
    expect(old.status).toBe(403);
    expect(old.text).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect(iamdb.apiEvents().at(-1)).toMatchObject({ decision: 'deny', reason: 'REQUEST_EXPIRED' });
  });

  it('refuses bodies over 1 MiB before reading them, and keeps serving', async () => {
    const big = await post('iam', `Action=ListUsers&Version=2010-05-08&Pad=${'x'.repeat((1 << 20) + 10)}`);
    expect(big.status).toBe(413);
    expect(big.text).toContain('<Code>RequestEntityTooLarge</Code>');
    const next = await post('sts', 'Action=GetCallerIdentity&Version=2011-06-15');
    expect(next.status).toBe(200);
    expect(next.text).toContain('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">');
  });

  it('refuses a request whose body was changed after signing', async () => {
    const url = new URL(iamdb.apiUrl);
    const body = 'Action=GetCallerIdentity&Version=2011-06-15';
    const signed = signRequestHeaders({ method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host }, { accessKeyId: iamdb.admin.id, secretAccessKey: new Secret(iamdb.admin.secret) }, { region: 'us-east-1', service: 'sts', date: new Date() });
    const { host: _h, ...headers } = signed;
    const res = await fetch(iamdb.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: `${body}&Extra=1` });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('<Code>SignatureDoesNotMatch</Code>');
  });
});
