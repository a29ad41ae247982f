/**
 * Where the control plane's answers must read as AWS's do (issue 9): an
 * action iamdb does not implement says so under AWS's own codes;
 * DescribeDBInstances returns every member RDS always returns, EngineVersion
 * read from the real servers (SDK and boto3); an AssumeRole refused by the
 * trust policy gets STS's wording, which names no policy.
 */
import { CreateLoginProfileCommand, IAMClient } from '@aws-sdk/client-iam';
import { KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { DescribeDBClustersCommand, DescribeDBInstancesCommand, RDSClient, type DBInstance } from '@aws-sdk/client-rds';
import { GetRandomPasswordCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { AssumeRoleCommand, GetAccessKeyInfoCommand, STSClient } from '@aws-sdk/client-sts';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAwsCli } from '../support/clients.js';
import { ACCOUNT, newAccessKey, REGION, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { runCommand } from '../support/exec.js';
import { getMariaDb, getPostgres } from '../support/servers.js';

const bob = newAccessKey();
const carol = newAccessKey();
let iamdb: TestIamdb;

beforeAll(async () => {
  const pgSrv = getPostgres();
  const my = getMariaDb();
  iamdb = await startIamdb({
    api: { listen: 'auto' },
    iam: {
      users: [
        { name: 'bob', accessKeys: [bob], policies: [{ name: 'assume', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'sts:AssumeRole', Resource: '*' }] } }] },
        { name: 'carol', accessKeys: [carol] },
      ],
      roles: [
        {
          name: 'partner',
          assumeRolePolicy: {
            Version: '2012-10-17',
            Statement: [
              {
                Effect: 'Allow',
                Principal: { AWS: [`arn:aws:iam::${ACCOUNT}:user/bob`, `arn:aws:iam::${ACCOUNT}:user/carol`] },
                Action: 'sts:AssumeRole',
                Condition: { StringEquals: { 'sts:ExternalId': 'partner-7' } },
              },
            ],
          },
        },
      ],
    },
    instances: [
      { id: 'fid-pg', engine: 'postgres', listen: 'auto', target: `${pgSrv.host}:${pgSrv.port}`, master: { username: pgSrv.user, password: pgSrv.password }, iamDatabaseAuthentication: true },
      { id: 'fid-maria', engine: 'mariadb', listen: 'auto', target: `${my.host}:${my.port}`, master: { username: my.user, password: my.password }, iamDatabaseAuthentication: false },
      // Nothing listens behind it: no connection can ever tell its version.
      { id: 'fid-dark', engine: 'mysql', listen: 'auto', target: '127.0.0.1:1', master: { username: 'root', password: 'unused' } },
    ],
  });
});
afterAll(() => iamdb?.stop());

type Creds = { id: string; secret: string };
const sdk = <T>(C: new (c: object) => T, key: Creds = iamdb.admin): T =>
  new C({ endpoint: iamdb.apiUrl, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: key.secret }, maxAttempts: 1 });

async function failure(p: Promise<unknown>): Promise<{ name: string; message: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    const e = err as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
    return { name: e.name, message: e.message, status: e.$metadata?.httpStatusCode };
  }
  throw new Error('expected the call to fail');
}

describe('actions iamdb does not implement', () => {
  it('answer with AWS\'s codes and a message that says iamdb does not implement them, in every service', async () => {
    const cases = [
      { call: () => sdk(RDSClient).send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'cluster' })), code: 'InvalidAction', text: 'iamdb does not implement DescribeDBClusters (RDS)' },
      { call: () => sdk(IAMClient).send(new CreateLoginProfileCommand({ UserName: 'bob', Password: 'x' })), code: 'InvalidAction', text: 'iamdb does not implement CreateLoginProfile (IAM)' },
      { call: () => sdk(STSClient).send(new GetAccessKeyInfoCommand({ AccessKeyId: bob.id })), code: 'InvalidAction', text: 'iamdb does not implement GetAccessKeyInfo (STS)' },
      { call: () => sdk(KMSClient).send(new SignCommand({ KeyId: 'alias/x', Message: Buffer.from('m'), SigningAlgorithm: 'ECDSA_SHA_256' })), code: 'UnknownOperationException', text: 'iamdb does not implement Sign (KMS)' },
      { call: () => sdk(SecretsManagerClient).send(new GetRandomPasswordCommand({})), code: 'UnknownOperationException', text: 'iamdb does not implement GetRandomPassword (Secrets Manager)' },
    ];
    for (const c of cases) {
      const f = await failure(c.call());
      expect(f.name).toBe(c.code);
      expect(f.status).toBe(400);
      expect(f.message).toBe(`${c.text}; see docs/control-plane.md for the supported actions`);
    }
  });

  it('shows the same message in the AWS CLI', async () => {
    const out = await runAwsCli(['rds', 'describe-db-clusters', '--db-cluster-identifier', 'cluster', '--endpoint-url', iamdb.apiUrl, '--region', REGION], {
      AWS_ACCESS_KEY_ID: iamdb.admin.id,
      AWS_SECRET_ACCESS_KEY: iamdb.admin.secret,
    });
    expect(out.code).not.toBe(0);
    expect(out.stderr).toContain(
      'An error occurred (InvalidAction) when calling the DescribeDBClusters operation: iamdb does not implement DescribeDBClusters (RDS); see docs/control-plane.md for the supported actions',
    );
    expect(out.stderr).not.toContain('for version');
  });
});

/** Logs in through each endpoint as the master, so the gateway has heard each server say its version. */
async function loginThroughGateway(): Promise<void> {
  const pgSrv = getPostgres();
  const pgEnd = iamdb.endpoint('fid-pg');
  const client = new pg.Client({ host: pgEnd.host, port: pgEnd.port, user: pgSrv.user, password: pgSrv.password, database: 'postgres', ssl: { ca: readFileSync(iamdb.caPath, 'utf8') } });
  await client.connect();
  await client.end();
  const my = getMariaDb();
  const myEnd = iamdb.endpoint('fid-maria');
  const conn = await mysql.createConnection({ host: myEnd.host, port: myEnd.port, user: my.user, password: my.password });
  await conn.end();
}

/** The versions as each server reports them over a direct connection, cut as RDS shows them. */
async function serverVersions(): Promise<{ postgres: string; mariadb: string }> {
  const p = getPostgres();
  const client = new pg.Client({ host: p.host, port: p.port, user: p.user, password: p.password, database: p.database, ssl: { ca: readFileSync(p.caCertPath, 'utf8') } });
  await client.connect();
  const pgv = await client.query<{ v: string }>(`SELECT split_part(current_setting('server_version'), ' ', 1) AS v`);
  await client.end();
  const m = getMariaDb();
  const conn = await mysql.createConnection({ host: m.host, port: m.port, user: m.user, password: m.password, ssl: { ca: readFileSync(m.caCertPath, 'utf8') } });
  const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT SUBSTRING_INDEX(VERSION(), '-', 1) AS v`);
  await conn.end();
  return { postgres: pgv.rows[0]!.v, mariadb: String(rows[0]!['v']) };
}

describe('DescribeDBInstances', () => {
  const describeAll = async (): Promise<Map<string, DBInstance>> => {
    const out = await sdk(RDSClient).send(new DescribeDBInstancesCommand({}));
    return new Map((out.DBInstances ?? []).map((d) => [d.DBInstanceIdentifier!, d]));
  };

  it('returns every member RDS always returns, EngineVersion from the server itself', async () => {
    await loginThroughGateway();
    const versions = await serverVersions();
    const all = await describeAll();
    const caId = `iamdb-ca-${new X509Certificate(readFileSync(iamdb.caPath)).fingerprint256.replace(/:/g, '').toLowerCase().slice(0, 16)}`;
    const pgEnd = iamdb.endpoint('fid-pg');
    const db = all.get('fid-pg')!;
    expect(db).toMatchObject({
      DBInstanceIdentifier: 'fid-pg',
      DBInstanceClass: 'db.iamdb',
      Engine: 'postgres',
      EngineVersion: versions.postgres,
      DBInstanceStatus: 'available',
      MasterUsername: getPostgres().user,
      Endpoint: { Address: '127.0.0.1', Port: pgEnd.port, HostedZoneId: 'iamdb' },
      DbInstancePort: pgEnd.port,
      AllocatedStorage: 0,
      StorageType: 'external',
      AvailabilityZone: `${REGION}a`,
      MultiAZ: false,
      CACertificateIdentifier: caId,
      CertificateDetails: { CAIdentifier: caId },
      BackupRetentionPeriod: 0,
      LicenseModel: 'postgresql-license',
      DeletionProtection: true,
      IAMDatabaseAuthenticationEnabled: true,
      DBInstanceArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:fid-pg`,
      DBSecurityGroups: [],
      VpcSecurityGroups: [],
      PendingModifiedValues: {},
    });
    expect(db.DbiResourceId).toMatch(/^db-[A-Z0-9]{26}$/);
    // Registered when this iamdb first started, and not in the future.
    expect(db.InstanceCreateTime).toBeInstanceOf(Date);
    expect(db.InstanceCreateTime!.getTime()).toBeLessThanOrEqual(Date.now());
    expect(Date.now() - db.InstanceCreateTime!.getTime()).toBeLessThan(10 * 60_000);
    expect(all.get('fid-maria')).toMatchObject({ Engine: 'mariadb', EngineVersion: versions.mariadb, LicenseModel: 'general-public-license', IAMDatabaseAuthenticationEnabled: false });
  });

  it('says "unknown" for the version of a server no connection has reached, rather than a guess', async () => {
    const dark = (await describeAll()).get('fid-dark')!;
    expect(dark.EngineVersion).toBe('unknown');
    expect(dark.Engine).toBe('mysql');
  });

  it('still knows the version after a restart, before the server is reached again', async () => {
    const p = getPostgres();
    const config = (target: string) => ({
      api: { listen: 'auto' },
      instances: [{ id: 'keep-pg', engine: 'postgres', listen: 'auto', target, master: { username: p.user, password: p.password }, iamDatabaseAuthentication: true }],
    });
    const first = await startIamdb(config(`${p.host}:${p.port}`));
    let second: TestIamdb | undefined;
    try {
      const end = first.endpoint('keep-pg');
      const client = new pg.Client({ host: end.host, port: end.port, user: p.user, password: p.password, database: 'postgres', ssl: { ca: readFileSync(first.caPath, 'utf8') } });
      await client.connect();
      await client.end();
      await first.stop({ keepState: true });
      // The same instance, now in front of nothing: only the stored version can answer.
      second = await startIamdb(config('127.0.0.1:1'), { restartOf: first });
      const rds = new RDSClient({ endpoint: second.apiUrl, region: REGION, credentials: { accessKeyId: second.admin.id, secretAccessKey: second.admin.secret }, maxAttempts: 1 });
      const out = await rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'keep-pg' }));
      expect(out.DBInstances?.[0]?.EngineVersion).toBe((await serverVersions()).postgres);
    } finally {
      await (second ?? first).stop();
    }
  });

  it('gives boto3 the members it reads with subscripts', async () => {
    await loginThroughGateway();
    const versions = await serverVersions();
    const script = [
      'import boto3, json, sys',
      `rds = boto3.client('rds', endpoint_url=sys.argv[1], region_name='${REGION}')`,
      "db = rds.describe_db_instances(DBInstanceIdentifier='fid-pg')['DBInstances'][0]",
      "keys = ['EngineVersion', 'InstanceCreateTime', 'CACertificateIdentifier', 'AvailabilityZone', 'AllocatedStorage', 'DBInstanceClass', 'MultiAZ', 'StorageType', 'DbInstancePort']",
      "print(json.dumps({**{k: str(db[k]) for k in keys}, 'HostedZoneId': db['Endpoint']['HostedZoneId']}))",
    ].join('\n');
    const out = await runCommand('/usr/bin/python3', ['-c', script, iamdb.apiUrl], {
      env: { PATH: '/usr/bin:/bin', HOME: iamdb.stateDir, AWS_ACCESS_KEY_ID: iamdb.admin.id, AWS_SECRET_ACCESS_KEY: iamdb.admin.secret, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null', AWS_EC2_METADATA_DISABLED: 'true' },
      timeoutMs: 60_000,
    });
    expect(out.code, out.stderr).toBe(0);
    const got = JSON.parse(out.stdout) as Record<string, string>;
    expect(got).toMatchObject({ EngineVersion: versions.postgres, DBInstanceClass: 'db.iamdb', MultiAZ: 'False', AllocatedStorage: '0', StorageType: 'external', HostedZoneId: 'iamdb' });
    expect(got['CACertificateIdentifier']).toMatch(/^iamdb-ca-[0-9a-f]{16}$/);
    expect(got['DbInstancePort']).toBe(String(iamdb.endpoint('fid-pg').port));
    expect(got['InstanceCreateTime']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
  });
});

describe('AssumeRole refused by the trust policy', () => {
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/partner`;
  const plain = (user: string) => `User: arn:aws:iam::${ACCOUNT}:user/${user} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`;

  it('says what STS says, naming no policy, whether or not an identity policy allows the call', async () => {
    for (const [user, key] of [['bob', bob], ['carol', carol]] as const) {
      for (const externalId of [undefined, 'wrong-1']) {
        const f = await failure(sdk(STSClient, key).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 's1', ...(externalId ? { ExternalId: externalId } : {}) })));
        expect(f.name).toBe('AccessDenied');
        expect(f.status).toBe(403);
        expect(f.message).toBe(plain(user));
      }
    }
    const events = iamdb.apiEvents().filter((e) => e.action === 'AssumeRole' && e.decision === 'deny');
    expect(events.slice(-4).map((e) => e.reason)).toEqual(Array(4).fill('STS_TRUST_POLICY_DENIED'));
    expect(events.at(-1)!.authorization).toMatchObject({ action: 'sts:AssumeRole', resource: roleArn, decision: 'implicitDeny' });
  });

  it('still lets in the caller the trust policy names, with the ExternalId it demands', async () => {
    const ok = await sdk(STSClient, carol).send(new AssumeRoleCommand({ RoleArn: roleArn, RoleSessionName: 's2', ExternalId: 'partner-7' }));
    expect(ok.AssumedRoleUser?.Arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/partner/s2`);
  });
});
