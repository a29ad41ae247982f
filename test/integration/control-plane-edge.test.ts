/**
 * The control plane's HTTP edge with hand-made requests: framing and
 * dispatch errors in each protocol's shape, bounds, clock skew, and that a
 * bad request leaves the server serving the next one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequestHeaders } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { ACCOUNT, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

let iamdb: TestIamdb;
const ops = newAccessKey();
beforeAll(async () => {
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        {
          name: 'ops',
          accessKeys: [ops],
          policies: [
            {
              name: 'rds-but-not-prod',
              document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds:*', Resource: '*' }, { Effect: 'Deny', Action: 'rds:ModifyDBInstance', Resource: `arn:aws:rds:us-east-1:${ACCOUNT}:db:prod` }] },
            },
          ],
        },
      ],
    },
    // No server behind it: the RDS API needs only the registry.
    instances: [{ id: 'prod', engine: 'postgres', listen: 'auto', target: '127.0.0.1:1', master: { username: 'postgres', password: 'unused' }, iamDatabaseAuthentication: true }],
  });
});
afterAll(() => iamdb.stop());

async function post(service: string, body: string, extra: Record<string, string> = {}, date = new Date(), region = 'us-east-1', key = iamdb.admin): Promise<{ status: number; text: string; headers: Headers }> {
  const url = new URL(iamdb.apiUrl);
  // X-Amz-Target is signed, as the SDKs sign it.
  const target = extra['x-amz-target'];
  const signed = signRequestHeaders(
    { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host },
    { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) },
    { region, service, date },
    target !== undefined ? { 'x-amz-target': target } : {},
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
    expect(unknown.text).toContain('iamdb does not implement LaunchRockets (IAM)');
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

  it('refuses a signature for another region, except us-east-1 for the global IAM and STS', async () => {
    const kms = await post('kms', '{}', { 'x-amz-target': 'TrentService.ListKeys', 'content-type': 'application/x-amz-json-1.1' }, new Date(), 'eu-west-1');
    expect(kms.status).toBe(403);
    expect(JSON.parse(kms.text)).toMatchObject({ __type: 'InvalidSignatureException', message: "Credential should be scoped to a valid region, not 'eu-west-1'." });
    expect((await post('iam', 'Action=ListUsers&Version=2010-05-08', {}, new Date(), 'eu-west-1')).text).toContain('<Code>SignatureDoesNotMatch</Code>');
    expect((await post('iam', 'Action=ListUsers&Version=2010-05-08')).status).toBe(200);
  });

  it('refuses a JSON request whose X-Amz-Target is not signed', async () => {
    const url = new URL(iamdb.apiUrl);
    const signed = signRequestHeaders({ method: 'POST', path: '/', query: [], body: Buffer.from('{}'), host: url.host }, { accessKeyId: iamdb.admin.id, secretAccessKey: new Secret(iamdb.admin.secret) }, { region: 'us-east-1', service: 'secretsmanager', date: new Date() });
    const { host: _h, ...headers } = signed;
    const res = await fetch(iamdb.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': 'secretsmanager.ListSecrets' }, body: '{}' });
    expect(res.status).toBe(400);
    expect(JSON.parse(await res.text())).toMatchObject({ __type: 'IncompleteSignature', message: 'The X-Amz-Target header must be signed.' });
  });

  it('bounds the policy simulator\'s answer', async () => {
    const actions = Array.from({ length: 40 }, (_, i) => `ActionNames.member.${i + 1}=s3%3AGetObject${i}`).join('&');
    const resources = Array.from({ length: 30 }, (_, i) => `ResourceArns.member.${i + 1}=arn%3Aaws%3As3%3A%3A%3Ab${i}`).join('&');
    const r = await post('iam', `Action=SimulateCustomPolicy&Version=2010-05-08&PolicyInputList=&${actions}&${resources}`);
    expect(r.status).toBe(400);
    expect(r.text).toContain('must not exceed 1000 evaluations');
  });

  it('authorizes RDS calls on one spelling of the identifier', async () => {
    const upper = await post('rds', 'Action=ModifyDBInstance&Version=2014-10-31&DBInstanceIdentifier=PROD&EnableIAMDatabaseAuthentication=false', {}, new Date(), 'us-east-1', ops);
    expect(upper.status).toBe(403);
    expect(upper.text).toContain(`on resource: arn:aws:rds:us-east-1:${ACCOUNT}:db:prod with an explicit deny`);
    const tags = await post('rds', `Action=ListTagsForResource&Version=2014-10-31&ResourceName=${encodeURIComponent(`arn:aws:rds:us-east-1:${ACCOUNT}:db:PROD`)}`, {}, new Date(), 'us-east-1', ops);
    expect(tags.status).toBe(200);
    expect(iamdb.app.instances.get('prod')!.iamDatabaseAuthentication).toBe(true);
  });

  it('refuses a registration it could not start again, and keeps nothing of it', async () => {
    const base = 'Action=RegisterDBInstance&Version=2014-10-31&Engine=postgres&TargetAddress=127.0.0.1%3A1&MasterUsername=u&MasterUserPassword=p&ListenAddress=127.0.0.1%3A1';
    const badAlias = await post('rds', `${base}&DBInstanceIdentifier=bad-alias&Aliases.member.1=x%3Ay`);
    expect(badAlias.status).toBe(400);
    expect(badAlias.text).toContain('<Code>InvalidParameterValue</Code>');
    const device = await post('rds', `${base}&DBInstanceIdentifier=bad-ca&TargetTlsMode=verify-full&TargetTlsCaFile=%2Fdev%2Fzero`);
    expect(device.text).toContain('must be a regular file');
    expect(await iamdb.app.store.list('rds-registered')).toEqual([]);
    expect(iamdb.app.instances.get('bad-alias')).toBeUndefined();
  });
});
