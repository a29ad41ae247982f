/**
 * Seed 002's RDS Proxy setup as its reader runs it, with Debian's unmodified
 * AWS CLI and `--endpoint-url` only: one secret per database user, the role
 * that rds.amazonaws.com may assume with the seed's GetSecretValue and
 * kms:Decrypt (kms:ViaService) policy, the proxy, the seed's
 * `modify-db-proxy --auth … …` (IAM required for one secret, not for the
 * other), the target registered, `describe-db-proxy-targets` polled until
 * AVAILABLE; then psql logs in through the proxy with a token from
 * `aws rds generate-db-auth-token` and, as the other user, with the secret's
 * password.
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runAwsCli, runPsql } from '../support/clients.js';
import { waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const suffix = randomBytes(3).toString('hex');
const alice = `alice_${suffix}`;
const other = `anotheruser_${suffix}`;
const alicePassword = `pa-${randomBytes(8).toString('hex')}`;
const otherPassword = `po-${randomBytes(8).toString('hex')}`;
let gw: TestIamdb;
let policyDir = '';

async function aws(...args: string[]): Promise<Record<string, unknown>> {
  const out = await runAwsCli([...args, '--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: gw.admin.id, AWS_SECRET_ACCESS_KEY: gw.admin.secret });
  expect(out.code, out.stderr).toBe(0);
  return out.stdout.trim() === '' ? {} : (JSON.parse(out.stdout) as Record<string, unknown>);
}

beforeAll(async () => {
  const master = `host=${server.host} port=${server.port} dbname=postgres user=${server.user} password=${server.password} sslmode=require`;
  expect((await runPsql(master, `CREATE USER ${alice} PASSWORD '${alicePassword}'; CREATE USER ${other} PASSWORD '${otherPassword}'`)).stderr).toBe('');
  const first = await getFreePort();
  gw = await startIamdb({
    api: { listen: 'auto' },
    instances: [{ id: `seed2-pg-${suffix}`, engine: 'postgres', listen: 'auto', target: `${server.host}:${server.port}`, targetTls: { mode: 'disable' }, master: { username: server.user, password: server.password } }],
    proxyEndpoints: { listenHost: '127.0.0.1', ports: `${first}-${Math.min(first + 5, 65535)}` },
  });
  policyDir = gw.stateDir;
});

afterAll(() => gw?.stop());

describe("seed 002's RDS Proxy, end to end with the AWS CLI", () => {
  it('sets up secrets, the role and the proxy, waits for AVAILABLE, then logs in with a token and with a password', async () => {
    const secretOf = async (user: string, password: string): Promise<string> =>
      (await aws('secretsmanager', 'create-secret', '--name', `rdsproxy_${user}`, '--description', `database user ${user}`, '--secret-string', JSON.stringify({ username: user, password })))['ARN'] as string;
    const aliceSecret = await secretOf(alice, alicePassword);
    const otherSecret = await secretOf(other, otherPassword);
    const keyArn = ((await aws('kms', 'describe-key', '--key-id', 'alias/aws/secretsmanager'))['KeyMetadata'] as { Arn: string }).Arn;

    const trust = join(policyDir, 'trust.json');
    const access = join(policyDir, 'access.json');
    await writeFile(trust, JSON.stringify({ Version: '2012-10-17', Statement: [{ Sid: '', Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] }));
    await writeFile(
      access,
      JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          { Effect: 'Allow', Action: 'secretsmanager:GetSecretValue', Resource: [aliceSecret, otherSecret] },
          { Effect: 'Allow', Action: 'kms:Decrypt', Resource: keyArn, Condition: { StringEquals: { 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } } },
        ],
      }),
    );
    const roleArn = ((await aws('iam', 'create-role', '--role-name', 'rds-proxy-secrets', '--assume-role-policy-document', `file://${trust}`))['Role'] as { Arn: string }).Arn;
    await aws('iam', 'put-role-policy', '--role-name', 'rds-proxy-secrets', '--policy-name', 'secrets', '--policy-document', `file://${access}`);

    await aws('rds', 'create-db-proxy', '--db-proxy-name', 'my-rds-proxy', '--engine-family', 'POSTGRESQL', '--role-arn', roleArn, '--vpc-subnet-ids', 'subnet-0123', '--require-tls',
      '--auth', `AuthScheme=SECRETS,SecretArn=${aliceSecret},IAMAuth=REQUIRED`);
    // The seed's command: IAM for the access user, the secret's password for the other.
    await aws('rds', 'modify-db-proxy', '--db-proxy-name', 'my-rds-proxy', '--auth', `AuthScheme=SECRETS,SecretArn=${aliceSecret},IAMAuth=REQUIRED`, `AuthScheme=SECRETS,SecretArn=${otherSecret},IAMAuth=DISABLED`);
    await aws('rds', 'register-db-proxy-targets', '--db-proxy-name', 'my-rds-proxy', '--db-instance-identifiers', `seed2-pg-${suffix}`);
    await waitFor('the target AVAILABLE', async () => {
      const t = ((await aws('rds', 'describe-db-proxy-targets', '--db-proxy-name', 'my-rds-proxy'))['Targets'] as { TargetHealth: { State: string } }[])[0]!;
      if (t.TargetHealth.State !== 'AVAILABLE') throw new Error(JSON.stringify(t.TargetHealth));
    }, 60_000, 200);

    const proxy = ((await aws('rds', 'describe-db-proxies', '--db-proxy-name', 'my-rds-proxy'))['DBProxies'] as { Endpoint: string; Status: string }[])[0]!;
    expect(proxy.Status).toBe('available');
    const port = gw.app.proxies.get('my-rds-proxy')!.endpoints[0]!.listen.port;
    const tokenRun = await runAwsCli(['rds', 'generate-db-auth-token', '--hostname', proxy.Endpoint, '--port', String(port), '--username', alice, '--region', REGION], {
      AWS_ACCESS_KEY_ID: gw.admin.id,
      AWS_SECRET_ACCESS_KEY: gw.admin.secret,
    });
    expect(tokenRun.code, tokenRun.stderr).toBe(0);
    const conn = (user: string): string => `host=${proxy.Endpoint} port=${port} dbname=postgres user=${user} sslmode=verify-full sslrootcert=${gw.caPath}`;
    const viaToken = await runPsql(conn(alice), 'SELECT current_user', { PGPASSWORD: tokenRun.stdout.trim() });
    expect(viaToken.stderr).toBe('');
    expect(viaToken.stdout.trim()).toBe(alice);
    const viaPassword = await runPsql(conn(other), 'SELECT current_user', { PGPASSWORD: otherPassword });
    expect(viaPassword.stderr).toBe('');
    expect(viaPassword.stdout.trim()).toBe(other);
    // IAMAuth REQUIRED: alice's own database password is not accepted at the proxy.
    const aliceByPassword = await runPsql(conn(alice), 'SELECT 1', { PGPASSWORD: alicePassword });
    expect(aliceByPassword.code).not.toBe(0);
    const logins = gw.authEvents().filter((e) => e.proxy === 'my-rds-proxy' && e.decision === 'allow');
    expect(logins.map((e) => [e.dbUser, e.method])).toEqual([
      [alice, 'iam'],
      [other, 'password'],
    ]);
    expect(logins[0]!.principal).toMatch(new RegExp(`^arn:aws:iam::${ACCOUNT}:user/`));
  });
});
