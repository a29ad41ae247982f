/**
 * What every proxy test's setup does whatever the engine, the way a user
 * does it through the RDS API: one secret per database user, the role
 * trusting rds.amazonaws.com that may read them, CreateDBProxy listening
 * where the test says (`iamdb:listen`), the targets registered and the
 * pool's bounds set; and the IAM side of a login (a user allowed
 * rds-db:connect as some proxy users, a token signed with its key).
 * postgres-proxy-fixture.ts and mysql-proxy-fixture.ts build on it, and a
 * test whose setup differs from both uses it directly.
 */
import * as IAM from '@aws-sdk/client-iam';
import * as RDS from '@aws-sdk/client-rds';
import * as SM from '@aws-sdk/client-secrets-manager';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { sdkClient } from './aws-sdk.js';
import { ACCOUNT, REGION, type TestIamdb } from './iamdb.js';

export interface AccessKey {
  readonly id: string;
  readonly secret: string;
}

/** A database user the proxy logs in as: its secret, and how clients authenticate as it (IAMAuth, ClientPasswordAuthType). */
export interface ProxySecret {
  readonly username: string;
  readonly password: string;
  readonly auth: Omit<RDS.UserAuthConfig, 'AuthScheme' | 'SecretArn'>;
}

export interface ProxySpec {
  readonly engineFamily: 'MYSQL' | 'POSTGRESQL';
  readonly proxyName: string;
  /** The default endpoint's port on 127.0.0.1. */
  readonly port: number;
  readonly secrets: readonly ProxySecret[];
  /** Instance ids, registered in this order. */
  readonly targets: readonly string[];
  /** RequireTLS (undefined: the API's default). */
  readonly requireTls?: boolean;
  readonly pool: RDS.ConnectionPoolConfiguration;
}

export interface CreatedProxy {
  /** An RDS client of the bootstrap administrator, for the test's own calls. */
  readonly rds: RDS.RDSClient;
  readonly roleArn: string;
  /** The secrets' ARNs, in the order of `secrets`. */
  readonly secretArns: readonly string[];
}

/** The secrets, the role and the proxy, through the SDK as a user would. */
export async function createProxy(iamdb: TestIamdb, p: ProxySpec): Promise<CreatedProxy> {
  const key = iamdb.admin;
  const sm = sdkClient(SM.SecretsManagerClient, iamdb.apiUrl, key);
  const iam = sdkClient(IAM.IAMClient, iamdb.apiUrl, key);
  const rds = sdkClient(RDS.RDSClient, iamdb.apiUrl, key);
  const secretArns: string[] = [];
  for (const s of p.secrets) {
    secretArns.push((await sm.send(new SM.CreateSecretCommand({ Name: `proxy/${p.proxyName}/${s.username}`, SecretString: JSON.stringify({ username: s.username, password: s.password }) }))).ARN!);
  }
  const roleName = `role-${p.proxyName}`;
  const trust = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] };
  const roleArn = (await iam.send(new IAM.CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: JSON.stringify(trust) }))).Role!.Arn!;
  const read = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] };
  await iam.send(new IAM.PutRolePolicyCommand({ RoleName: roleName, PolicyName: 'secrets', PolicyDocument: JSON.stringify(read) }));
  await rds.send(
    new RDS.CreateDBProxyCommand({
      DBProxyName: p.proxyName,
      EngineFamily: p.engineFamily,
      RoleArn: roleArn,
      VpcSubnetIds: ['subnet-1'],
      ...(p.requireTls !== undefined ? { RequireTLS: p.requireTls } : {}),
      Auth: p.secrets.map((s, i) => ({ AuthScheme: 'SECRETS', SecretArn: secretArns[i], ...s.auth })),
      Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${p.port}` }],
    }),
  );
  await rds.send(new RDS.RegisterDBProxyTargetsCommand({ DBProxyName: p.proxyName, DBInstanceIdentifiers: [...p.targets] }));
  await rds.send(new RDS.ModifyDBProxyTargetGroupCommand({ DBProxyName: p.proxyName, TargetGroupName: 'default', ConnectionPoolConfig: p.pool }));
  return { rds, roleArn, secretArns };
}

/** The ARN that lets a principal connect as `dbUser` through any proxy. */
export function proxyDbUserArn(dbUser: string): string {
  return `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-*/${dbUser}`;
}

/** The `iam` section of a test config: user `alice`, holding `key`, allowed rds-db:connect on `resources` only. */
export function aliceMayConnect(key: AccessKey, resources: readonly string[]): Record<string, unknown> {
  return {
    users: [
      {
        name: 'alice',
        accessKeys: [key],
        policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: resources.length === 1 ? resources[0] : [...resources] }] } }],
      },
    ],
  };
}

/** A fresh IAM token for `username` at host:port, signed with `key`. */
export function iamToken(host: string, port: number, username: string, key: AccessKey): string {
  return presignDbAuthToken({ hostname: host, port, username, region: REGION, date: new Date(), credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) } }).reveal();
}
