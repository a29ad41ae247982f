/**
 * AWS managed policies through the control plane, with the AWS SDK v3 and
 * (for the call the issue is about) Debian's AWS CLI: attached by their
 * arn:aws:iam::aws:policy/… ARNs, listed by scope, counted, refused any
 * change, usable as permissions boundaries and from the config file, and
 * deciding real requests: AmazonRDSReadOnlyAccess describes but never
 * modifies, SecretsManagerReadWrite reads secrets, AdministratorAccess logs
 * in to PostgreSQL with a token.
 */
import { randomBytes } from 'node:crypto';
import {
  AttachUserPolicyCommand,
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  CreateUserCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachUserPolicyCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  IAMClient,
  ListAttachedUserPoliciesCommand,
  ListEntitiesForPolicyCommand,
  ListPoliciesCommand,
  PutUserPermissionsBoundaryCommand,
  SetDefaultPolicyVersionCommand,
  type Policy,
} from '@aws-sdk/client-iam';
import { DescribeDBInstancesCommand, ModifyDBInstanceCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runAwsCli, runPsql } from '../support/clients.js';
import { pgLoginAs, signToken } from '../support/gateway-clients.js';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const awsPolicy = (name: string): string => `arn:aws:iam::aws:policy/${name}`;
const dbUser = `mp_${randomBytes(3).toString('hex')}`;
let gw: TestIamdb;

type Creds = { accessKeyId: string; secretAccessKey: string };
const sdk = <T>(Client: new (c: object) => T, credentials: Creds): T => new Client({ endpoint: gw.apiUrl, region: REGION, credentials, maxAttempts: 1 });
const admin = (): Creds => ({ accessKeyId: gw.admin.id, secretAccessKey: gw.admin.secret });
const adminIam = (): IAMClient => sdk(IAMClient, admin());

/** A new IAM user with a key, a fresh name per call so tests share nothing. */
async function newUser(prefix: string): Promise<{ name: string; creds: Creds }> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await adminIam().send(new CreateUserCommand({ UserName: name }));
  const key = await adminIam().send(new CreateAccessKeyCommand({ UserName: name }));
  return { name, creds: { accessKeyId: key.AccessKey!.AccessKeyId!, secretAccessKey: key.AccessKey!.SecretAccessKey! } };
}

async function allPolicies(input: { Scope?: 'All' | 'AWS' | 'Local'; OnlyAttached?: boolean }): Promise<Policy[]> {
  const out: Policy[] = [];
  let Marker: string | undefined;
  do {
    const page = await adminIam().send(new ListPoliciesCommand({ ...input, ...(Marker ? { Marker } : {}) }));
    out.push(...(page.Policies ?? []));
    Marker = page.IsTruncated ? page.Marker : undefined;
  } while (Marker);
  return out;
}

beforeAll(async () => {
  gw = await startIamdb({
    api: { listen: 'auto' },
    iam: { users: [{ name: 'auditor', managedPolicies: [awsPolicy('IAMReadOnlyAccess')] }] },
    instances: [
      {
        id: 'orders-pg',
        engine: 'postgres',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  const { host, port } = gw.endpoint('orders-pg');
  const setup = await runPsql(
    `host=${host} port=${port} dbname=postgres user=${server.user} sslmode=verify-full sslrootcert=${gw.caPath} password=${server.password}`,
    `CREATE USER ${dbUser}; GRANT rds_iam TO ${dbUser};`,
  );
  expect(setup.stderr).toBe('');
});
afterAll(() => gw?.stop());

describe('AWS managed policies decide real requests', () => {
  it('AmazonRDSReadOnlyAccess lets a user DescribeDBInstances and not ModifyDBInstance', async () => {
    const u = await newUser('rds-reader');
    const rds = sdk(RDSClient, u.creds);
    await expect(rds.send(new DescribeDBInstancesCommand({}))).rejects.toMatchObject({ name: 'AccessDenied' });
    await adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('AmazonRDSReadOnlyAccess') }));
    const out = await rds.send(new DescribeDBInstancesCommand({}));
    expect(out.DBInstances?.map((d) => d.DBInstanceIdentifier)).toContain('orders-pg');
    await expect(rds.send(new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'orders-pg', EnableIAMDatabaseAuthentication: false, ApplyImmediately: true }))).rejects.toMatchObject({
      name: 'AccessDenied',
      message: expect.stringContaining('rds:ModifyDBInstance'),
    });
    const attached = await adminIam().send(new ListAttachedUserPoliciesCommand({ UserName: u.name }));
    expect(attached.AttachedPolicies).toEqual([{ PolicyName: 'AmazonRDSReadOnlyAccess', PolicyArn: awsPolicy('AmazonRDSReadOnlyAccess') }]);
  });

  it('AdministratorAccess allows rds-db:connect: a token login through the gateway succeeds', async () => {
    const u = await newUser('db-admin');
    const endpoint = gw.endpoint('orders-pg');
    const key = { id: u.creds.accessKeyId, secret: u.creds.secretAccessKey };
    await expect(pgLoginAs(endpoint, gw.caPath, dbUser, signToken(endpoint, dbUser, key))).rejects.toThrow(/PAM authentication failed/);
    await adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('AdministratorAccess') }));
    expect(await pgLoginAs(endpoint, gw.caPath, dbUser, signToken(endpoint, dbUser, key))).toBe(dbUser);
  });

  it('SecretsManagerReadWrite allows GetSecretValue', async () => {
    const u = await newUser('secrets');
    const name = `mp/${randomBytes(3).toString('hex')}`;
    await sdk(SecretsManagerClient, admin()).send(new CreateSecretCommand({ Name: name, SecretString: '{"username":"a","password":"b"}' }));
    const sm = sdk(SecretsManagerClient, u.creds);
    await expect(sm.send(new GetSecretValueCommand({ SecretId: name }))).rejects.toMatchObject({ name: 'AccessDeniedException' });
    await adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('SecretsManagerReadWrite') }));
    expect((await sm.send(new GetSecretValueCommand({ SecretId: name }))).SecretString).toBe('{"username":"a","password":"b"}');
  });

  it('an AWS managed policy as permissions boundary caps AdministratorAccess', async () => {
    const u = await newUser('bounded');
    await adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('AdministratorAccess') }));
    await adminIam().send(new PutUserPermissionsBoundaryCommand({ UserName: u.name, PermissionsBoundary: awsPolicy('AmazonRDSReadOnlyAccess') }));
    const rds = sdk(RDSClient, u.creds);
    await rds.send(new DescribeDBInstancesCommand({}));
    await expect(sdk(IAMClient, u.creds).send(new ListPoliciesCommand({}))).rejects.toMatchObject({ name: 'AccessDenied', message: expect.stringContaining('permissions boundary') });
    const p = await adminIam().send(new GetPolicyCommand({ PolicyArn: awsPolicy('AmazonRDSReadOnlyAccess') }));
    expect(p.Policy!.PermissionsBoundaryUsageCount).toBeGreaterThanOrEqual(1);
  });

  it('the config file attaches AWS managed policies by ARN', async () => {
    const out = await adminIam().send(new ListAttachedUserPoliciesCommand({ UserName: 'auditor' }));
    expect(out.AttachedPolicies).toEqual([{ PolicyName: 'IAMReadOnlyAccess', PolicyArn: awsPolicy('IAMReadOnlyAccess') }]);
  });
});

describe('AWS managed policies in the IAM API', () => {
  it('GetPolicy and GetPolicyVersion show AWS metadata and the document', async () => {
    const p = (await adminIam().send(new GetPolicyCommand({ PolicyArn: awsPolicy('AmazonRDSFullAccess') }))).Policy!;
    expect(p).toMatchObject({ PolicyName: 'AmazonRDSFullAccess', Arn: awsPolicy('AmazonRDSFullAccess'), Path: '/', DefaultVersionId: 'v13', IsAttachable: true });
    expect(p.PolicyId).toMatch(/^ANPA[A-Z0-9]{17}$/);
    expect(p.CreateDate!.toISOString()).toMatch(/^2015-02-06T/);
    expect(p.UpdateDate!.toISOString()).toBe('2023-04-14T12:27:01.000Z');
    const v = (await adminIam().send(new GetPolicyVersionCommand({ PolicyArn: p.Arn!, VersionId: 'v13' }))).PolicyVersion!;
    expect(v.IsDefaultVersion).toBe(true);
    const doc = JSON.parse(decodeURIComponent(v.Document!)) as { Statement: Array<{ Action: string | string[] }> };
    expect(doc.Statement[0]!.Action).toContain('rds:*');
  });

  it('ListPolicies: Scope AWS lists them, Local does not, OnlyAttached counts attachments', async () => {
    const local = `mine-${randomBytes(3).toString('hex')}`;
    await adminIam().send(new CreatePolicyCommand({ PolicyName: local, PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds:Describe*', Resource: '*' }] }) }));
    const aws = await allPolicies({ Scope: 'AWS' });
    expect(aws.map((p) => p.PolicyName)).toEqual(expect.arrayContaining(['AdministratorAccess', 'AmazonRDSFullAccess', 'AmazonRDSReadOnlyAccess', 'AmazonRDSDataFullAccess', 'SecretsManagerReadWrite', 'IAMFullAccess']));
    expect(aws.every((p) => p.Arn!.startsWith('arn:aws:iam::aws:policy/'))).toBe(true);
    expect(aws.map((p) => p.PolicyName)).not.toContain(local);
    const localOnly = await allPolicies({ Scope: 'Local' });
    expect(localOnly.map((p) => p.PolicyName)).toContain(local);
    expect(localOnly.some((p) => p.Arn!.includes(':iam::aws:'))).toBe(false);
    expect((await allPolicies({})).length).toBe(aws.length + localOnly.length);

    const u = await newUser('kms');
    await adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('AWSKeyManagementServicePowerUser') }));
    const attached = await allPolicies({ Scope: 'AWS', OnlyAttached: true });
    const kms = attached.find((p) => p.PolicyName === 'AWSKeyManagementServicePowerUser');
    expect(kms?.AttachmentCount).toBe(1);
    expect(attached.map((p) => p.PolicyName)).not.toContain('AmazonRDSDataFullAccess');
    const entities = await adminIam().send(new ListEntitiesForPolicyCommand({ PolicyArn: awsPolicy('AWSKeyManagementServicePowerUser') }));
    expect(entities.PolicyUsers?.map((x) => x.UserName)).toEqual([u.name]);
    await adminIam().send(new DetachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('AWSKeyManagementServicePowerUser') }));
    expect((await adminIam().send(new GetPolicyCommand({ PolicyArn: awsPolicy('AWSKeyManagementServicePowerUser') }))).Policy!.AttachmentCount).toBe(0);
  });

  it('refuses to change an AWS managed policy: versions, default version, deletion', async () => {
    const arn = awsPolicy('PowerUserAccess');
    const doc = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] });
    const denied = { name: 'AccessDenied', message: expect.stringContaining('AWS managed policy') };
    await expect(adminIam().send(new CreatePolicyVersionCommand({ PolicyArn: arn, PolicyDocument: doc, SetAsDefault: true }))).rejects.toMatchObject(denied);
    await expect(adminIam().send(new SetDefaultPolicyVersionCommand({ PolicyArn: arn, VersionId: 'v1' }))).rejects.toMatchObject(denied);
    await expect(adminIam().send(new DeletePolicyVersionCommand({ PolicyArn: arn, VersionId: 'v12' }))).rejects.toMatchObject(denied);
    await expect(adminIam().send(new DeletePolicyCommand({ PolicyArn: arn }))).rejects.toMatchObject(denied);
    expect((await adminIam().send(new GetPolicyCommand({ PolicyArn: arn }))).Policy!.DefaultVersionId).toBe('v12');
  });

  it('an unknown AWS managed policy ARN is NoSuchEntity', async () => {
    const u = await newUser('nosuch');
    await expect(adminIam().send(new AttachUserPolicyCommand({ UserName: u.name, PolicyArn: awsPolicy('NoSuchPolicyAnywhere') }))).rejects.toMatchObject({ name: 'NoSuchEntityException' });
  });

  it('aws iam attach-role-policy --policy-arn arn:aws:iam::aws:policy/AmazonRDSFullAccess (Debian AWS CLI)', async () => {
    const role = `rds-admin-${randomBytes(3).toString('hex')}`;
    await adminIam().send(
      new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' }] }) }),
    );
    const env = { AWS_ACCESS_KEY_ID: gw.admin.id, AWS_SECRET_ACCESS_KEY: gw.admin.secret, AWS_MAX_ATTEMPTS: '1' };
    const common = ['--endpoint-url', gw.apiUrl, '--region', REGION, '--output', 'json'];
    const attach = await runAwsCli(['iam', 'attach-role-policy', '--role-name', role, '--policy-arn', 'arn:aws:iam::aws:policy/AmazonRDSFullAccess', ...common], env);
    expect(attach.stderr).toBe('');
    expect(attach.code).toBe(0);
    const list = await runAwsCli(['iam', 'list-attached-role-policies', '--role-name', role, ...common], env);
    expect(JSON.parse(list.stdout)).toEqual({ AttachedPolicies: [{ PolicyName: 'AmazonRDSFullAccess', PolicyArn: 'arn:aws:iam::aws:policy/AmazonRDSFullAccess' }] });
  });
});
