/**
 * What a create also does is authorized as AWS authorizes it (issue 8, item
 * 9): tags given on CreateUser, CreateRole, KMS CreateKey, CreateSecret and
 * RegisterDBInstance are also a TagUser / TagRole / kms:TagResource /
 * secretsmanager:TagResource / rds:AddTagsToResource, and a permissions
 * boundary on CreateUser / CreateRole is also a Put…PermissionsBoundary. An
 * explicit Deny on the second action refuses the create and leaves nothing
 * behind; an Allow on both lets it through; conditions on aws:RequestTag/*
 * and aws:TagKeys apply to it. Then: the gateway and the API read
 * aws:CurrentTime alike. Driven by the SDK v3 clients (and SigV4 by hand for
 * iamdb's own RegisterDBInstance, which no SDK has) against a real iamdb and
 * a real PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  CreateAccessKeyCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  CreateUserCommand,
  GetPolicyCommand,
  GetRoleCommand,
  GetUserCommand,
  IAMClient,
  PutUserPolicyCommand,
} from '@aws-sdk/client-iam';
import { CreateKeyCommand, KMSClient, ListKeysCommand, ListResourceTagsCommand } from '@aws-sdk/client-kms';
import { DescribeDBInstancesCommand, RDSClient } from '@aws-sdk/client-rds';
import { CreateSecretCommand, DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken, signRequestHeaders } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { runPsql } from '../support/clients.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';

const server = inject('iamdbPostgres');
const dbUser = `timed_${randomBytes(3).toString('hex')}`;
/** Real time, or a frozen instant while a test needs one. */
const clock = { frozen: undefined as number | undefined, now(): number { return this.frozen ?? Date.now(); } };
let iamdb: TestIamdb;
let host: string;
let port: number;

beforeAll(async () => {
  iamdb = await startIamdb(
    {
      api: { listen: 'auto' },
      instances: [
        {
          id: 'timed-pg',
          engine: 'postgres',
          listen: 'auto',
          target: `${server.host}:${server.port}`,
          targetTls: { mode: 'verify-full', ca: server.caCertPath, serverName: 'localhost' },
          master: { username: server.user, password: server.password },
          iamDatabaseAuthentication: true,
        },
      ],
    },
    { clock },
  );
  ({ host, port } = iamdb.endpoint('timed-pg'));
  const setup = await runPsql(
    `host=${host} port=${port} dbname=postgres user=${server.user} sslmode=verify-full sslrootcert=${iamdb.caPath} password=${server.password}`,
    `CREATE USER ${dbUser}; GRANT rds_iam TO ${dbUser};`,
  );
  expect(setup.stderr).toBe('');
});
afterAll(() => iamdb?.stop());

type Creds = { accessKeyId: string; secretAccessKey: string };
type Statement = Record<string, unknown>;
const admin = (): Creds => ({ accessKeyId: iamdb.admin.id, secretAccessKey: iamdb.admin.secret });
const sdk = <T>(Client: new (c: object) => T, credentials: Creds): T => new Client({ endpoint: iamdb.apiUrl, region: REGION, credentials, maxAttempts: 1 });
const unique = (prefix: string): string => `${prefix}-${randomBytes(3).toString('hex')}`;
const allow = (Action: string | string[], extra: Statement = {}): Statement => ({ Effect: 'Allow', Action, Resource: '*', ...extra });
const deny = (Action: string): Statement => ({ Effect: 'Deny', Action, Resource: '*' });

/** A user of its own with one inline policy of `statements`, and its key. */
async function caller(statements: Statement[]): Promise<Creds> {
  const iam = sdk(IAMClient, admin());
  const name = unique('caller');
  await iam.send(new CreateUserCommand({ UserName: name }));
  await iam.send(new PutUserPolicyCommand({ UserName: name, PolicyName: 'p', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: statements }) }));
  const key = (await iam.send(new CreateAccessKeyCommand({ UserName: name }))).AccessKey!;
  return { accessKeyId: key.AccessKeyId!, secretAccessKey: key.SecretAccessKey! };
}

/** The error a promise is refused with (name and message), failing the test if it is not refused. */
async function refusal(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err, 'expected a refusal').toBeInstanceOf(Error);
  return { name: err!.name, message: err!.message };
}

describe('tags and boundaries given on create are authorized as their own actions', () => {
  const boundaryArn = `arn:aws:iam::${ACCOUNT}:policy/create-auth-boundary`;
  beforeAll(async () => {
    await sdk(IAMClient, admin()).send(new CreatePolicyCommand({ PolicyName: 'create-auth-boundary', PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [allow('rds-db:connect')] }) }));
  });

  it('CreateUser with Tags needs iam:TagUser, with its aws:RequestTag/* and aws:TagKeys', async () => {
    const iam = sdk(IAMClient, admin());
    const denied = sdk(IAMClient, await caller([allow(['iam:CreateUser', 'iam:TagUser']), deny('iam:TagUser')]));
    const name = unique('tagged-user');
    const r = await refusal(denied.send(new CreateUserCommand({ UserName: name, Tags: [{ Key: 'team', Value: 'db' }] })));
    expect(r.name).toBe('AccessDenied');
    expect(r.message).toContain(`is not authorized to perform: iam:TagUser on resource: arn:aws:iam::${ACCOUNT}:user/${name} with an explicit deny in an identity-based policy`);
    expect((await refusal(iam.send(new GetUserCommand({ UserName: name })))).name).toBe('NoSuchEntityException');
    // The same caller may create the user without tags: only the tagging is refused.
    await denied.send(new CreateUserCommand({ UserName: name }));

    const onlyTeamDb = sdk(IAMClient, await caller([allow('iam:CreateUser'), allow('iam:TagUser', { Condition: { StringEquals: { 'aws:RequestTag/team': 'db' }, 'ForAllValues:StringEquals': { 'aws:TagKeys': ['team'] } } })]));
    const web = unique('web-user');
    expect((await refusal(onlyTeamDb.send(new CreateUserCommand({ UserName: web, Tags: [{ Key: 'team', Value: 'web' }] })))).message).toContain('iam:TagUser');
    expect((await refusal(onlyTeamDb.send(new CreateUserCommand({ UserName: web, Tags: [{ Key: 'team', Value: 'db' }, { Key: 'cost', Value: '1' }] })))).message).toContain('iam:TagUser');
    expect((await refusal(iam.send(new GetUserCommand({ UserName: web })))).name).toBe('NoSuchEntityException');
    await onlyTeamDb.send(new CreateUserCommand({ UserName: web, Tags: [{ Key: 'team', Value: 'db' }] }));
    expect((await iam.send(new GetUserCommand({ UserName: web }))).User!.Tags).toEqual([{ Key: 'team', Value: 'db' }]);
  });

  it('CreateUser with a PermissionsBoundary needs iam:PutUserPermissionsBoundary, with iam:PermissionsBoundary', async () => {
    const iam = sdk(IAMClient, admin());
    const denied = sdk(IAMClient, await caller([allow(['iam:CreateUser', 'iam:PutUserPermissionsBoundary']), deny('iam:PutUserPermissionsBoundary')]));
    const name = unique('bounded-user');
    const r = await refusal(denied.send(new CreateUserCommand({ UserName: name, PermissionsBoundary: boundaryArn })));
    expect(r.message).toContain(`is not authorized to perform: iam:PutUserPermissionsBoundary on resource: arn:aws:iam::${ACCOUNT}:user/${name} with an explicit deny`);
    expect((await refusal(iam.send(new GetUserCommand({ UserName: name })))).name).toBe('NoSuchEntityException');

    const both = sdk(IAMClient, await caller([allow('iam:CreateUser'), allow('iam:PutUserPermissionsBoundary', { Condition: { StringEquals: { 'iam:PermissionsBoundary': boundaryArn } } })]));
    expect((await refusal(both.send(new CreateUserCommand({ UserName: name, PermissionsBoundary: `arn:aws:iam::${ACCOUNT}:policy/other` })))).message).toContain('iam:PutUserPermissionsBoundary');
    await both.send(new CreateUserCommand({ UserName: name, PermissionsBoundary: boundaryArn }));
    expect((await iam.send(new GetUserCommand({ UserName: name }))).User!.PermissionsBoundary?.PermissionsBoundaryArn).toBe(boundaryArn);
  });

  it('CreateRole with Tags needs iam:TagRole, and with a PermissionsBoundary iam:PutRolePermissionsBoundary', async () => {
    const iam = sdk(IAMClient, admin());
    const trust = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { AWS: ACCOUNT }, Action: 'sts:AssumeRole' }] });
    const noTags = sdk(IAMClient, await caller([allow(['iam:CreateRole', 'iam:TagRole', 'iam:PutRolePermissionsBoundary']), deny('iam:TagRole')]));
    const noBoundary = sdk(IAMClient, await caller([allow(['iam:CreateRole', 'iam:TagRole', 'iam:PutRolePermissionsBoundary']), deny('iam:PutRolePermissionsBoundary')]));
    const both = sdk(IAMClient, await caller([allow(['iam:CreateRole', 'iam:TagRole', 'iam:PutRolePermissionsBoundary'])]));
    const name = unique('role');
    const input = { RoleName: name, AssumeRolePolicyDocument: trust };
    expect((await refusal(noTags.send(new CreateRoleCommand({ ...input, Tags: [{ Key: 'team', Value: 'db' }] })))).message).toContain(`iam:TagRole on resource: arn:aws:iam::${ACCOUNT}:role/${name} with an explicit deny`);
    expect((await refusal(noBoundary.send(new CreateRoleCommand({ ...input, PermissionsBoundary: boundaryArn })))).message).toContain(`iam:PutRolePermissionsBoundary on resource: arn:aws:iam::${ACCOUNT}:role/${name} with an explicit deny`);
    expect((await refusal(iam.send(new GetRoleCommand({ RoleName: name })))).name).toBe('NoSuchEntityException');
    await both.send(new CreateRoleCommand({ ...input, Tags: [{ Key: 'team', Value: 'db' }], PermissionsBoundary: boundaryArn }));
    const role = (await iam.send(new GetRoleCommand({ RoleName: name }))).Role!;
    expect(role.Tags).toEqual([{ Key: 'team', Value: 'db' }]);
    expect(role.PermissionsBoundary?.PermissionsBoundaryArn).toBe(boundaryArn);
  });

  it('CreatePolicy with Tags is refused: iamdb keeps no policy tags, and does not drop them silently', async () => {
    const iam = sdk(IAMClient, admin());
    const name = unique('tagged-policy');
    const r = await refusal(iam.send(new CreatePolicyCommand({ PolicyName: name, PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [allow('rds-db:connect')] }), Tags: [{ Key: 'team', Value: 'db' }] })));
    expect(r.message).toContain('TagPolicy is not supported');
    expect((await refusal(iam.send(new GetPolicyCommand({ PolicyArn: `arn:aws:iam::${ACCOUNT}:policy/${name}` })))).name).toBe('NoSuchEntityException');
  });

  it('KMS CreateKey with Tags needs kms:TagResource in an IAM policy, with its aws:RequestTag/*', async () => {
    const kmsAdmin = sdk(KMSClient, admin());
    const keys = async (): Promise<number> => (await kmsAdmin.send(new ListKeysCommand({ Limit: 1000 }))).Keys!.length;
    const before = await keys();
    const denied = sdk(KMSClient, await caller([allow(['kms:CreateKey', 'kms:TagResource']), deny('kms:TagResource')]));
    const r = await refusal(denied.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'db' }] })));
    expect(r.name).toBe('AccessDeniedException');
    expect(r.message).toMatch(new RegExp(`kms:TagResource on resource: arn:aws:kms:${REGION}:${ACCOUNT}:key/[0-9a-f-]{36} with an explicit deny`));
    expect(await keys()).toBe(before);
    // Without tags the same caller creates keys.
    await denied.send(new CreateKeyCommand({}));
    expect(await keys()).toBe(before + 1);

    const onlyTeamDb = sdk(KMSClient, await caller([allow(['kms:CreateKey', 'kms:ListResourceTags']), allow('kms:TagResource', { Condition: { StringEquals: { 'aws:RequestTag/team': 'db' } } })]));
    expect((await refusal(onlyTeamDb.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'web' }] })))).message).toContain('kms:TagResource');
    expect(await keys()).toBe(before + 1);
    const key = (await onlyTeamDb.send(new CreateKeyCommand({ Tags: [{ TagKey: 'team', TagValue: 'db' }] }))).KeyMetadata!;
    expect((await onlyTeamDb.send(new ListResourceTagsCommand({ KeyId: key.KeyId! }))).Tags).toEqual([{ TagKey: 'team', TagValue: 'db' }]);
  });

  it('CreateSecret with Tags needs secretsmanager:TagResource on the new secret', async () => {
    const smAdmin = sdk(SecretsManagerClient, admin());
    const denied = sdk(SecretsManagerClient, await caller([allow(['secretsmanager:CreateSecret', 'secretsmanager:TagResource']), deny('secretsmanager:TagResource')]));
    const name = unique('tagged-secret');
    const r = await refusal(denied.send(new CreateSecretCommand({ Name: name, SecretString: 'v', Tags: [{ Key: 'team', Value: 'db' }] })));
    expect(r.name).toBe('AccessDeniedException');
    expect(r.message).toMatch(new RegExp(`secretsmanager:TagResource on resource: arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${name}-[A-Za-z0-9]{6} with an explicit deny`));
    expect((await refusal(smAdmin.send(new DescribeSecretCommand({ SecretId: name })))).name).toBe('ResourceNotFoundException');

    const both = sdk(SecretsManagerClient, await caller([allow(['secretsmanager:CreateSecret', 'secretsmanager:TagResource'])]));
    await both.send(new CreateSecretCommand({ Name: name, SecretString: 'v', Tags: [{ Key: 'team', Value: 'db' }] }));
    expect((await smAdmin.send(new DescribeSecretCommand({ SecretId: name }))).Tags).toEqual([{ Key: 'team', Value: 'db' }]);
  });

  it('RegisterDBInstance with Tags needs rds:AddTagsToResource on the new instance', async () => {
    const register = async (creds: Creds, id: string): Promise<{ status: number; text: string }> => {
      const listen = `127.0.0.1:${await getFreePort()}`;
      const body = new URLSearchParams({
        Action: 'RegisterDBInstance',
        Version: '2014-10-31',
        DBInstanceIdentifier: id,
        Engine: 'postgres',
        ListenAddress: listen,
        TargetAddress: '127.0.0.1:1',
        MasterUsername: 'u',
        MasterUserPassword: 'unused',
        'Tags.Tag.1.Key': 'team',
        'Tags.Tag.1.Value': 'db',
      }).toString();
      const url = new URL(iamdb.apiUrl);
      const signed = signRequestHeaders(
        { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host },
        { accessKeyId: creds.accessKeyId, secretAccessKey: new Secret(creds.secretAccessKey) },
        { region: REGION, service: 'rds', date: new Date() },
      );
      const { host: _host, ...headers } = signed;
      const res = await fetch(iamdb.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body });
      return { status: res.status, text: await res.text() };
    };
    const rds = sdk(RDSClient, admin());
    const id = unique('tagged-db');
    const denied = await register(await caller([allow(['rds:RegisterDBInstance', 'rds:AddTagsToResource']), deny('rds:AddTagsToResource')]), id);
    expect(denied.status).toBe(403);
    expect(denied.text).toContain(`rds:AddTagsToResource on resource: arn:aws:rds:${REGION}:${ACCOUNT}:db:${id} with an explicit deny`);
    expect((await refusal(rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id })))).name).toBe('DBInstanceNotFoundFault');

    const ok = await register(await caller([allow(['rds:RegisterDBInstance', 'rds:AddTagsToResource'])]), id);
    expect(ok.status, ok.text).toBe(200);
    expect((await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }))).DBInstances![0]!.TagList).toEqual([{ Key: 'team', Value: 'db' }]);
  });
});

describe('aws:CurrentTime', () => {
  it('reads the same at the gateway and on the API: ISO 8601 to the second, as AWS gives it', async () => {
    // Half a second into a second: a millisecond reading would fall outside a window of that one second.
    clock.frozen = Math.floor(Date.now() / 1000) * 1000 + 500;
    try {
      const second = new Date(clock.frozen).toISOString().replace(/\.\d{3}Z$/, 'Z');
      const during = { DateGreaterThanEquals: { 'aws:CurrentTime': second }, DateLessThanEquals: { 'aws:CurrentTime': second } };
      const creds = await caller([
        { Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${dbUser}`, Condition: during },
        { Effect: 'Allow', Action: 'rds:DescribeDBInstances', Resource: '*', Condition: during },
      ]);
      const described = await sdk(RDSClient, creds).send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'timed-pg' }));
      expect(described.DBInstances![0]!.DBInstanceIdentifier).toBe('timed-pg');
      const token = presignDbAuthToken({
        hostname: host,
        port,
        username: dbUser,
        region: REGION,
        credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: new Secret(creds.secretAccessKey) },
        date: new Date(clock.frozen),
      }).reveal();
      const client = new pg.Client({ host, port, user: dbUser, password: token, database: 'postgres', ssl: { ca: readFileSync(iamdb.caPath) } });
      await client.connect();
      expect((await client.query('select current_user as u')).rows[0].u).toBe(dbUser);
      await client.end();
      expect(iamdb.lastAuth()).toMatchObject({ decision: 'allow' });
    } finally {
      clock.frozen = undefined;
    }
  });
});
