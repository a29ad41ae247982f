/**
 * The RDS Proxy steps of seed 002 (Teleport's RDS Proxy guide) with Debian's
 * unmodified AWS CLI against iamdb: create-db-proxy (with the --vpc-subnet-ids
 * the CLI requires and --auth), modify-db-proxy --auth with one secret per
 * user, IAMAuth REQUIRED and DISABLED, register-db-proxy-targets,
 * describe-db-proxy-targets, describe-db-proxies, a READ_ONLY
 * create-db-proxy-endpoint, then delete-db-proxy (its endpoints go with it); and `iamdb proxy-endpoint`,
 * which prints where the proxy listens. The CLI parses every answer (its
 * JSON output is asserted). Secrets and the role come from the SDK: they are
 * not what this test is about.
 */
import { join } from 'node:path';
import { CreateRoleCommand, IAMClient } from '@aws-sdk/client-iam';
import { DescribeDBProxiesCommand, DescribeDBProxyEndpointsCommand, DescribeDBProxyTargetsCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sdkClient } from '../support/aws-sdk.js';
import { ensureBuilt, IAMDB_BIN } from '../support/build.js';
import { runAwsCli } from '../support/clients.js';
import { runCommand, waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

let gw: TestIamdb;
let teleportSecret: string;
let otherSecret: string;
let roleArn: string;

async function aws(...args: string[]): Promise<Record<string, unknown>> {
  const out = await runAwsCli(['rds', ...args, '--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'], { AWS_ACCESS_KEY_ID: gw.admin.id, AWS_SECRET_ACCESS_KEY: gw.admin.secret });
  expect(out.code, out.stderr).toBe(0);
  return out.stdout.trim() === '' ? {} : (JSON.parse(out.stdout) as Record<string, unknown>);
}

/** Waits (with the SDK, cheaper than the CLI) until a proxy or endpoint has finished creating or deleting. */
async function settled(check: () => Promise<boolean>, what: string): Promise<void> {
  await waitFor(what, async () => {
    if (!(await check())) throw new Error('not yet');
  }, 10_000);
}

beforeAll(async () => {
  ensureBuilt();
  const first = await getFreePort();
  gw = await startIamdb({
    api: { listen: 'auto' },
    instances: [{ id: 'postgres-instance-1', engine: 'postgres', listen: 'auto', target: '127.0.0.1:1', master: { username: 'postgres', password: 'unused' }, iamDatabaseAuthentication: true }],
    proxyEndpoints: { listenHost: '127.0.0.1', ports: `${first}-${Math.min(first + 20, 65535)}` },
  });
  const admin = { id: gw.admin.id, secret: gw.admin.secret };
  const sm = sdkClient(SecretsManagerClient, gw.apiUrl, admin);
  teleportSecret = (await sm.send(new CreateSecretCommand({ Name: 'rdsproxy_alice', Description: 'database user alice', SecretString: JSON.stringify({ username: 'alice', password: 'password_for_alice' }) }))).ARN!;
  otherSecret = (await sm.send(new CreateSecretCommand({ Name: 'rdsproxy_anotheruser', SecretString: JSON.stringify({ username: 'anotheruser', password: 'password' }) }))).ARN!;
  const trust = { Version: '2012-10-17', Statement: [{ Sid: '', Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
  roleArn = (await sdkClient(IAMClient, gw.apiUrl, admin).send(new CreateRoleCommand({ RoleName: 'rds-proxy-secrets', AssumeRolePolicyDocument: JSON.stringify(trust) }))).Role!.Arn!;
});
afterAll(() => gw?.stop());

describe("seed 002's RDS Proxy commands with the AWS CLI", () => {
  it('creates, modifies, targets, describes, adds a reader endpoint and deletes a proxy', async () => {
    const rds = sdkClient(RDSClient, gw.apiUrl, { id: gw.admin.id, secret: gw.admin.secret });
    const created = (
      await aws('create-db-proxy', '--db-proxy-name', 'my-rds-proxy', '--engine-family', 'POSTGRESQL', '--role-arn', roleArn,
        '--vpc-subnet-ids', 'subnet-0123', 'subnet-4567', '--require-tls', '--auth', `AuthScheme=SECRETS,SecretArn=${teleportSecret},IAMAuth=REQUIRED`)
    )['DBProxy'] as Record<string, unknown>;
    expect(created).toMatchObject({ DBProxyName: 'my-rds-proxy', Status: 'creating', EngineFamily: 'POSTGRESQL', RequireTLS: true, VpcSubnetIds: ['subnet-0123', 'subnet-4567'], Endpoint: '127.0.0.1' });
    await settled(async () => (await rds.send(new DescribeDBProxiesCommand({ DBProxyName: 'my-rds-proxy' }))).DBProxies![0]!.Status === 'available', 'proxy available');

    const modified = (
      await aws('modify-db-proxy', '--db-proxy-name', 'my-rds-proxy', '--auth',
        `AuthScheme=SECRETS,SecretArn=${teleportSecret},IAMAuth=REQUIRED`, `AuthScheme=SECRETS,SecretArn=${otherSecret},IAMAuth=DISABLED`)
    )['DBProxy'] as { Auth: Array<Record<string, string>> };
    expect(modified.Auth).toEqual([
      { AuthScheme: 'SECRETS', SecretArn: teleportSecret, IAMAuth: 'REQUIRED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' },
      { AuthScheme: 'SECRETS', SecretArn: otherSecret, IAMAuth: 'DISABLED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' },
    ]);

    const registered = await aws('register-db-proxy-targets', '--db-proxy-name', 'my-rds-proxy', '--db-instance-identifiers', 'postgres-instance-1');
    expect(registered['DBProxyTargets']).toEqual([expect.objectContaining({ RdsResourceId: 'postgres-instance-1', Type: 'RDS_INSTANCE', Role: 'READ_WRITE', Port: gw.endpoint('postgres-instance-1').port })]);
    // The troubleshooting step of seed 003 reads TargetHealth: the role here may not read the secrets, and iamdb says so.
    await settled(async () => (await rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'my-rds-proxy' }))).Targets![0]!.TargetHealth!.State !== 'REGISTERING', 'target checked');
    expect((await aws('describe-db-proxy-targets', '--db-proxy-name', 'my-rds-proxy'))['Targets']).toEqual([
      expect.objectContaining({
        RdsResourceId: 'postgres-instance-1',
        TargetHealth: { State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE', Description: expect.stringContaining('secretsmanager:GetSecretValue') },
      }),
    ]);
    const described = (await aws('describe-db-proxies', '--db-proxy-name', 'my-rds-proxy'))['DBProxies'] as Array<Record<string, unknown>>;
    expect(described).toEqual([expect.objectContaining({ DBProxyName: 'my-rds-proxy', Status: 'available', Endpoint: '127.0.0.1', DBProxyArn: created['DBProxyArn'] })]);

    const reader = (await aws('create-db-proxy-endpoint', '--db-proxy-name', 'my-rds-proxy', '--db-proxy-endpoint-name', 'my-rds-proxy-ro', '--vpc-subnet-ids', 'subnet-0123', '--target-role', 'READ_ONLY'))['DBProxyEndpoint'];
    expect(reader).toMatchObject({ DBProxyEndpointName: 'my-rds-proxy-ro', TargetRole: 'READ_ONLY', IsDefault: false, Endpoint: '127.0.0.1' });
    await settled(async () => (await rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyEndpointName: 'my-rds-proxy-ro' }))).DBProxyEndpoints![0]!.Status === 'available', 'reader available');

    // Where it listens, for psql -h/-p and for tokens: host and port.
    const where = await runCommand(process.execPath, [IAMDB_BIN, 'proxy-endpoint', 'my-rds-proxy', '--endpoint-url', gw.apiUrl, '--region', REGION, '--profile', 'iamdb-admin'], {
      env: { PATH: process.env['PATH'] ?? '', HOME: gw.stateDir, AWS_SHARED_CREDENTIALS_FILE: join(gw.stateDir, 'state', 'admin-credentials'), AWS_CONFIG_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true' },
      timeoutMs: 30_000,
    });
    expect(where.code, where.stderr).toBe(0);
    const shown = JSON.parse(where.stdout) as { Endpoint: string; Port: number; IsDefault: boolean; DBProxyEndpointName: string };
    expect(shown).toMatchObject({ DBProxyName: 'my-rds-proxy', DBProxyEndpointName: 'my-rds-proxy', Endpoint: '127.0.0.1', IsDefault: true, Status: 'available' });
    expect(shown.Port).toBe(gw.app.proxies.get('my-rds-proxy')!.endpoints[0]!.listen.port);

    expect(((await aws('delete-db-proxy', '--db-proxy-name', 'my-rds-proxy'))['DBProxy'] as Record<string, unknown>)['Status']).toBe('deleting');
    await settled(async () => (await rds.send(new DescribeDBProxiesCommand({}))).DBProxies!.length === 0, 'proxy gone');
    expect((await rds.send(new DescribeDBProxyEndpointsCommand({}))).DBProxyEndpoints).toEqual([]);
  });
});
