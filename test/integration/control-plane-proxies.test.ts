/**
 * RDS Proxy's API on a real iamdb, driven by @aws-sdk/client-rds: every
 * action, its answer shapes and AWS's errors; statuses from creating to
 * available and from deleting to gone, with a real listener per endpoint that
 * answers real clients (pg, mysql2) with RDS Proxy's generic failure; the
 * listen ports (the range, `iamdb:listen`, the `iamdb:port` tag);
 * authorization on the proxy, target-group and instance ARNs and iam:PassRole;
 * the injected connection-handler and target-health ports; proxies of the
 * config file; and a restart. The instances have no server behind them: the
 * API needs only the registry.
 */
import { connect } from 'node:net';
import {
  AddTagsToResourceCommand,
  CreateDBProxyCommand,
  CreateDBProxyEndpointCommand,
  DeleteDBProxyCommand,
  DeleteDBProxyEndpointCommand,
  DeregisterDBProxyTargetsCommand,
  DescribeDBProxiesCommand,
  DescribeDBProxyEndpointsCommand,
  DescribeDBProxyTargetGroupsCommand,
  DescribeDBProxyTargetsCommand,
  ListTagsForResourceCommand,
  ModifyDBProxyCommand,
  ModifyDBProxyTargetGroupCommand,
  RDSClient,
  RegisterDBProxyTargetsCommand,
  RemoveTagsFromResourceCommand,
  type CreateDBProxyCommandInput,
  type DBProxy,
} from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signRequestHeaders } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { failure, sdkClient } from '../support/aws-sdk.js';
import { waitFor } from '../support/exec.js';
import { getFreePort } from '../support/free-port.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';

const ROLE = `arn:aws:iam::${ACCOUNT}:role/rds-proxy`;
const SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rdsproxy_alice-AbCdEf`;
const SECRET2 = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rdsproxy_bob-GhIjKl`;
const limited = newAccessKey();
const statement = (Action: string | string[], Resource: string, Effect = 'Allow') => ({ Effect, Action, Resource });
const policy = (...Statement: object[]) => ({ name: 'p', document: { Version: '2012-10-17', Statement } });
const instance = (id: string, engine: string) => ({ id, engine, listen: 'auto', target: '127.0.0.1:1', master: { username: 'admin', password: 'unused' } });

/** A config for an iamdb whose proxy endpoints take ports from a range that starts at a free port. */
async function proxyConfig(extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const first = await getFreePort();
  return {
    api: { listen: 'auto' },
    instances: [instance('orders-pg', 'postgres'), instance('orders-my', 'mariadb'), instance('spare-pg', 'postgres')],
    proxyEndpoints: { listenHost: '127.0.0.1', ports: `${first}-${Math.min(first + 60, 65535)}` },
    ...extra,
  };
}

function pgProxy(name: string, extra: Partial<CreateDBProxyCommandInput> = {}): CreateDBProxyCommandInput {
  return { DBProxyName: name, EngineFamily: 'POSTGRESQL', RoleArn: ROLE, VpcSubnetIds: ['subnet-1', 'subnet-2'], Auth: [{ AuthScheme: 'SECRETS', SecretArn: SECRET, IAMAuth: 'REQUIRED' }], ...extra };
}

let gw: TestIamdb;
let rds: RDSClient;
/** Connections the injected handler saw: which proxy and endpoint, as they were then. */
const handled: Array<{ proxy: string; endpoint: string; requireTls: boolean }> = [];

const describeProxy = async (name: string): Promise<DBProxy> => (await rds.send(new DescribeDBProxiesCommand({ DBProxyName: name }))).DBProxies![0]!;
const untilStatus = (name: string, status: string): Promise<DBProxy> =>
  waitFor(`${name} ${status}`, async () => {
    const p = await describeProxy(name);
    if (p.Status !== status) throw new Error(`status ${p.Status}`);
    return p;
  }, 10_000);
const portOf = async (arn: string): Promise<number> => {
  const tags = (await rds.send(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList ?? [];
  return Number(tags.find((t) => t.Key === 'iamdb:port')?.Value);
};
const defaultEndpointArn = async (name: string): Promise<string> =>
  (await rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyName: name, DBProxyEndpointName: name }))).DBProxyEndpoints![0]!.DBProxyEndpointArn!;
/** Resolves true when something accepts a TCP connection on the port. */
const accepts = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });

beforeAll(async () => {
  gw = await startIamdb(
    await proxyConfig({
      iam: { users: [{ name: 'limited', accessKeys: [limited], policies: [policy(statement(['rds:CreateDBProxy', 'rds:DescribeDBProxies', 'rds:AddTagsToResource'], '*'))] }] },
      proxies: [{ name: 'conf-proxy', engineFamily: 'MYSQL', roleArn: ROLE, auth: [{ secretArn: SECRET }], targets: ['orders-my'], connectionPool: { sessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'] } }],
    }),
    {
      appDeps: {
        handleProxyConnection: async (socket, proxy, endpoint) => {
          handled.push({ proxy: proxy.name, endpoint: endpoint.name, requireTls: proxy.requireTls });
          socket.end();
        },
        targetHealth: (proxy, instanceId) =>
          instanceId === 'spare-pg' ? { State: 'AVAILABLE' } : { State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE', Description: `no credentials for ${proxy.name}` },
      },
    },
  );
  rds = sdkClient(RDSClient, gw.apiUrl, gw.admin);
});
afterAll(() => gw?.stop());

describe('proxies', () => {
  it('creates a proxy as AWS answers it, creating then available, listening on the first port of the range', async () => {
    const created = (await rds.send(new CreateDBProxyCommand(pgProxy('orders-proxy', { VpcSecurityGroupIds: ['sg-1'], RequireTLS: true, Tags: [{ Key: 'team', Value: 'db' }] })))).DBProxy!;
    expect(created).toMatchObject({
      DBProxyName: 'orders-proxy',
      Status: 'creating',
      EngineFamily: 'POSTGRESQL',
      RoleArn: ROLE,
      Endpoint: '127.0.0.1',
      RequireTLS: true,
      IdleClientTimeout: 1800,
      DebugLogging: false,
      DefaultAuthScheme: 'NONE',
      VpcSubnetIds: ['subnet-1', 'subnet-2'],
      VpcSecurityGroupIds: ['sg-1'],
      Auth: [{ AuthScheme: 'SECRETS', SecretArn: SECRET, IAMAuth: 'REQUIRED', ClientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' }],
    });
    expect(created.DBProxyArn).toMatch(new RegExp(`^arn:aws:rds:${REGION}:${ACCOUNT}:db-proxy:prx-[0-9a-f]{17}$`));
    expect(created.VpcId).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(created.CreatedDate).toBeInstanceOf(Date);
    const available = await untilStatus('orders-proxy', 'available');
    expect(available.DBProxyArn).toBe(created.DBProxyArn);
    const port = await portOf(created.DBProxyArn!);
    const tags = (await rds.send(new ListTagsForResourceCommand({ ResourceName: created.DBProxyArn }))).TagList;
    expect(tags).toEqual([{ Key: 'team', Value: 'db' }, { Key: 'iamdb:listen', Value: `127.0.0.1:${port}` }, { Key: 'iamdb:port', Value: String(port) }]);
    expect(await accepts(port)).toBe(true);
    await waitFor('the handler saw the connection', async () => expect(handled).toContainEqual({ proxy: 'orders-proxy', endpoint: 'orders-proxy', requireTls: true }), 5_000);
  });

  it('refuses what AWS refuses, with its codes', async () => {
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('orders-proxy'))))).toMatch(/^\(DBProxyAlreadyExistsFault\)/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('bad--name'))))).toMatch(/^\(InvalidParameterValue\).*not a valid identifier/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('iam-enabled', { Auth: [{ SecretArn: SECRET, IAMAuth: 'ENABLED' }] }))))).toMatch(/^\(InvalidParameterCombination\).*SQLSERVER/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('my-types', { Auth: [{ SecretArn: SECRET, ClientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' }] }))))).toMatch(/^\(InvalidParameterCombination\)/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('no-subnets', { VpcSubnetIds: [] }))))).toMatch(/^\(InvalidParameterValue\).*vpcSubnetIds/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('idle', { IdleClientTimeout: 28_801 }))))).toMatch(/^\(InvalidParameterValue\).*IdleClientTimeout/);
    expect(await failure(rds.send(new CreateDBProxyCommand(pgProxy('sqlserver', { EngineFamily: 'SQLSERVER' }))))).toMatch(/^\(InvalidParameterValue\)/);
    expect(await failure(rds.send(new DescribeDBProxiesCommand({ DBProxyName: 'nope' })))).toBe('(DBProxyNotFoundFault): DBProxy nope not found.');
    expect(await failure(rds.send(new DescribeDBProxiesCommand({ Filters: [{ Name: 'x', Values: ['y'] }] })))).toMatch(/^\(InvalidParameterValue\).*not currently supported/);
    expect(await failure(rds.send(new DeleteDBProxyCommand({ DBProxyName: 'conf-proxy' })))).toMatch(/^\(InvalidDBProxyStateFault\).*config file/);
  });

  it('modifies auth (several entries), TLS, timeouts, debug logging and the name', async () => {
    await rds.send(new CreateDBProxyCommand(pgProxy('to-modify')));
    await untilStatus('to-modify', 'available');
    const m = (
      await rds.send(
        new ModifyDBProxyCommand({
          DBProxyName: 'to-modify',
          NewDBProxyName: 'modified',
          Auth: [
            { AuthScheme: 'SECRETS', SecretArn: SECRET, IAMAuth: 'REQUIRED' },
            { AuthScheme: 'SECRETS', SecretArn: SECRET2, IAMAuth: 'DISABLED', ClientPasswordAuthType: 'POSTGRES_MD5', Description: 'legacy' },
          ],
          RequireTLS: true,
          IdleClientTimeout: 600,
          DebugLogging: true,
          SecurityGroups: ['sg-9'],
        }),
      )
    ).DBProxy!;
    expect(m).toMatchObject({ DBProxyName: 'modified', Status: 'modifying', RequireTLS: true, IdleClientTimeout: 600, DebugLogging: true, VpcSecurityGroupIds: ['sg-9'] });
    expect(m.Auth!.map((a) => [a.SecretArn, a.IAMAuth, a.ClientPasswordAuthType])).toEqual([
      [SECRET, 'REQUIRED', 'POSTGRES_SCRAM_SHA_256'],
      [SECRET2, 'DISABLED', 'POSTGRES_MD5'],
    ]);
    expect((await untilStatus('modified', 'available')).UpdatedDate!.getTime()).toBeGreaterThanOrEqual(m.CreatedDate!.getTime());
    expect(await failure(rds.send(new DescribeDBProxiesCommand({ DBProxyName: 'to-modify' })))).toMatch(/^\(DBProxyNotFoundFault\)/);
    const endpoints = (await rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyName: 'modified' }))).DBProxyEndpoints!;
    expect(endpoints.map((e) => [e.DBProxyEndpointName, e.IsDefault, e.TargetRole])).toEqual([['modified', true, 'READ_WRITE']]);
  });

  it('deletes: deleting at once, then gone and no longer listening', async () => {
    const created = (await rds.send(new CreateDBProxyCommand(pgProxy('doomed')))).DBProxy!;
    await untilStatus('doomed', 'available');
    const port = await portOf(created.DBProxyArn!);
    expect((await rds.send(new DeleteDBProxyCommand({ DBProxyName: 'doomed' }))).DBProxy!.Status).toBe('deleting');
    await waitFor('doomed gone', async () => expect(await failure(rds.send(new DescribeDBProxiesCommand({ DBProxyName: 'doomed' })))).toMatch(/DBProxyNotFoundFault/), 10_000);
    expect(await accepts(port)).toBe(false);
  });

  it('answers with RDS Proxy generic failure in each wire format by default', async () => {
    const other = await startIamdb(await proxyConfig({ proxies: [{ name: 'pg-side', engineFamily: 'POSTGRESQL', roleArn: ROLE, auth: [{ secretArn: SECRET }] }, { name: 'my-side', engineFamily: 'MYSQL', roleArn: ROLE, auth: [{ secretArn: SECRET }] }] }));
    try {
      const client = sdkClient(RDSClient, other.apiUrl, other.admin);
      const portFor = async (name: string) => {
        const arn = (await client.send(new DescribeDBProxiesCommand({ DBProxyName: name }))).DBProxies![0]!.DBProxyArn!;
        const tags = (await client.send(new ListTagsForResourceCommand({ ResourceName: arn }))).TagList!;
        return Number(tags.find((t) => t.Key === 'iamdb:port')!.Value);
      };
      const pgClient = new pg.Client({ host: '127.0.0.1', port: await portFor('pg-side'), user: 'alice', database: 'app', password: 'x', ssl: false });
      await expect(pgClient.connect()).rejects.toMatchObject({ message: 'Unknown error.', code: 'XX000' });
      await expect(mysql.createConnection({ host: '127.0.0.1', port: await portFor('my-side'), user: 'alice', password: 'x' })).rejects.toMatchObject({ errno: 1105, message: 'Unknown error' });
    } finally {
      await other.stop();
    }
  });
});

describe('targets and the target group', () => {
  it('registers an instance of the family, describes it with the injected health, and deregisters it', async () => {
    await rds.send(new CreateDBProxyCommand(pgProxy('targeted')));
    expect(await failure(rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['orders-my'] })))).toMatch(/^\(InvalidParameterValue\)/);
    expect(await failure(rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['nope'] })))).toMatch(/^\(DBInstanceNotFound\)/);
    expect(await failure(rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBClusterIdentifiers: ['c1'] })))).toMatch(/^\(DBClusterNotFoundFault\)/);
    expect(await failure(rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', TargetGroupName: 'other', DBInstanceIdentifiers: ['orders-pg'] })))).toMatch(/^\(DBProxyTargetGroupNotFoundFault\)/);
    const registered = (await rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['orders-pg'] }))).DBProxyTargets!;
    const port = gw.endpoint('orders-pg').port;
    expect(registered).toEqual([
      {
        TargetArn: `arn:aws:rds:${REGION}:${ACCOUNT}:db:orders-pg`,
        Endpoint: '127.0.0.1',
        RdsResourceId: 'orders-pg',
        Port: port,
        Type: 'RDS_INSTANCE',
        Role: 'READ_WRITE',
        TargetHealth: { State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE', Description: 'no credentials for targeted' },
      },
    ]);
    expect(await failure(rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['orders-pg'] })))).toMatch(/^\(DBProxyTargetAlreadyRegisteredFault\)/);
    // A replica beside the writer (iamdb's extension: AWS takes one target, a cluster).
    expect((await rds.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['spare-pg'] }))).DBProxyTargets).toEqual([expect.objectContaining({ RdsResourceId: 'spare-pg', Role: 'READ_ONLY' })]);
    expect((await rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'targeted' }))).Targets!.map((t) => [t.RdsResourceId, t.Role])).toEqual([['orders-pg', 'READ_WRITE'], ['spare-pg', 'READ_ONLY']]);
    // iamdb keeps an instance a proxy targets.
    const deregister = await signedQuery(gw, { Action: 'DeregisterDBInstance', Version: '2014-10-31', DBInstanceIdentifier: 'orders-pg' });
    expect(deregister.status).toBe(400);
    expect(deregister.text).toContain('<Code>InvalidDBInstanceState</Code>');
    expect(await failure(rds.send(new DeregisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['orders-my'] })))).toMatch(/^\(DBProxyTargetNotFoundFault\)/);
    await rds.send(new DeregisterDBProxyTargetsCommand({ DBProxyName: 'targeted', TargetGroupName: 'default', DBInstanceIdentifiers: ['orders-pg'] }));
    // The registered writer gone, the replica left is registered as the writer.
    expect((await rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'targeted' }))).Targets!.map((t) => [t.RdsResourceId, t.Role])).toEqual([['spare-pg', 'READ_WRITE']]);
    await rds.send(new DeregisterDBProxyTargetsCommand({ DBProxyName: 'targeted', DBInstanceIdentifiers: ['spare-pg'] }));
    expect((await rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'targeted' }))).Targets).toEqual([]);
  });

  it('describes and modifies the default target group with AWS defaults and ranges', async () => {
    await rds.send(new CreateDBProxyCommand(pgProxy('pooled')));
    const [tg] = (await rds.send(new DescribeDBProxyTargetGroupsCommand({ DBProxyName: 'pooled' }))).TargetGroups!;
    expect(tg).toMatchObject({ DBProxyName: 'pooled', TargetGroupName: 'default', IsDefault: true, Status: 'available', ConnectionPoolConfig: { MaxConnectionsPercent: 100, MaxIdleConnectionsPercent: 50, ConnectionBorrowTimeout: 120, SessionPinningFilters: [] } });
    expect(tg!.TargetGroupArn).toMatch(new RegExp(`^arn:aws:rds:${REGION}:${ACCOUNT}:target-group:prx-tg-[0-9a-f]{17}$`));
    const m = (
      await rds.send(
        new ModifyDBProxyTargetGroupCommand({ DBProxyName: 'pooled', TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 80, ConnectionBorrowTimeout: 30, InitQuery: "SET search_path TO app" } }),
      )
    ).DBProxyTargetGroup!;
    expect(m.ConnectionPoolConfig).toEqual({ MaxConnectionsPercent: 80, MaxIdleConnectionsPercent: 40, ConnectionBorrowTimeout: 30, SessionPinningFilters: [], InitQuery: 'SET search_path TO app' });
    expect(await failure(rds.send(new ModifyDBProxyTargetGroupCommand({ DBProxyName: 'pooled', TargetGroupName: 'default', ConnectionPoolConfig: { SessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'] } })))).toMatch(/^\(InvalidParameterCombination\)/);
    expect(await failure(rds.send(new ModifyDBProxyTargetGroupCommand({ DBProxyName: 'pooled', TargetGroupName: 'default', ConnectionPoolConfig: { MaxIdleConnectionsPercent: 90 } })))).toMatch(/^\(InvalidParameterValue\)/);
    expect(await failure(rds.send(new ModifyDBProxyTargetGroupCommand({ DBProxyName: 'pooled', TargetGroupName: 'nope', ConnectionPoolConfig: {} })))).toMatch(/^\(DBProxyTargetGroupNotFoundFault\)/);
    const conf = (await rds.send(new DescribeDBProxyTargetGroupsCommand({ DBProxyName: 'conf-proxy' }))).TargetGroups![0]!;
    expect(conf.ConnectionPoolConfig!.SessionPinningFilters).toEqual(['EXCLUDE_VARIABLE_SETS']);
    expect((await rds.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'conf-proxy' }))).Targets!.map((t) => t.RdsResourceId)).toEqual(['orders-my']);
  });
});

describe('endpoints', () => {
  it('adds READ_ONLY and READ_WRITE endpoints on their own ports, up to 20, pages them, and deletes them', async () => {
    await rds.send(new CreateDBProxyCommand(pgProxy('ep-proxy')));
    const askedPort = await getFreePort();
    const ro = (
      await rds.send(
        new CreateDBProxyEndpointCommand({ DBProxyName: 'ep-proxy', DBProxyEndpointName: 'ep-ro', TargetRole: 'READ_ONLY', VpcSubnetIds: ['subnet-3'], Tags: [{ Key: 'iamdb:listen', Value: `127.0.0.1:${askedPort}` }, { Key: 'k', Value: 'v' }] }),
      )
    ).DBProxyEndpoint!;
    expect(ro).toMatchObject({ DBProxyEndpointName: 'ep-ro', DBProxyName: 'ep-proxy', TargetRole: 'READ_ONLY', IsDefault: false, Endpoint: '127.0.0.1', VpcSubnetIds: ['subnet-3'], Status: 'creating' });
    expect(ro.DBProxyEndpointArn).toMatch(new RegExp(`^arn:aws:rds:${REGION}:${ACCOUNT}:db-proxy-endpoint:prx-endpoint-[0-9a-f]{17}$`));
    expect((await rds.send(new ListTagsForResourceCommand({ ResourceName: ro.DBProxyEndpointArn }))).TagList).toEqual([
      { Key: 'k', Value: 'v' },
      { Key: 'iamdb:listen', Value: `127.0.0.1:${askedPort}` },
      { Key: 'iamdb:port', Value: String(askedPort) },
    ]);
    await waitFor('ep-ro listening', async () => expect(await accepts(askedPort)).toBe(true), 5_000);
    expect(await failure(rds.send(new AddTagsToResourceCommand({ ResourceName: ro.DBProxyEndpointArn, Tags: [{ Key: 'iamdb:port', Value: '1' }] })))).toMatch(/^\(InvalidParameterValue\).*reserved/);
    expect(await failure(rds.send(new RemoveTagsFromResourceCommand({ ResourceName: ro.DBProxyEndpointArn, TagKeys: ['iamdb:listen'] })))).toMatch(/^\(InvalidParameterValue\)/);
    await rds.send(new RemoveTagsFromResourceCommand({ ResourceName: ro.DBProxyEndpointArn, TagKeys: ['k'] }));
    expect(await failure(rds.send(new CreateDBProxyEndpointCommand({ DBProxyName: 'ep-proxy', DBProxyEndpointName: 'ep-ro', VpcSubnetIds: ['s'] })))).toMatch(/^\(DBProxyEndpointAlreadyExistsFault\)/);
    for (let i = 1; i < 20; i++) await rds.send(new CreateDBProxyEndpointCommand({ DBProxyName: 'ep-proxy', DBProxyEndpointName: `ep-rw-${i}`, VpcSubnetIds: ['s'] }));
    expect(await failure(rds.send(new CreateDBProxyEndpointCommand({ DBProxyName: 'ep-proxy', DBProxyEndpointName: 'ep-21', VpcSubnetIds: ['s'] })))).toMatch(/^\(DBProxyEndpointQuotaExceededFault\)/);
    const first = await rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyName: 'ep-proxy', MaxRecords: 20 }));
    expect(first.DBProxyEndpoints).toHaveLength(20);
    const rest = await rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyName: 'ep-proxy', MaxRecords: 20, Marker: first.Marker }));
    expect(rest.Marker).toBeUndefined();
    expect([...first.DBProxyEndpoints!, ...rest.DBProxyEndpoints!].filter((e) => e.IsDefault).map((e) => e.DBProxyEndpointName)).toEqual(['ep-proxy']);
    expect(await failure(rds.send(new DeleteDBProxyEndpointCommand({ DBProxyEndpointName: 'ep-proxy' })))).toMatch(/^\(InvalidDBProxyEndpointStateFault\)/);
    expect((await rds.send(new DeleteDBProxyEndpointCommand({ DBProxyEndpointName: 'ep-ro' }))).DBProxyEndpoint!.Status).toBe('deleting');
    await waitFor('ep-ro gone', async () => expect(await failure(rds.send(new DescribeDBProxyEndpointsCommand({ DBProxyEndpointName: 'ep-ro' })))).toMatch(/^\(DBProxyEndpointNotFoundFault\)/), 10_000);
    expect(await accepts(askedPort)).toBe(false);
    expect(await failure(rds.send(new DeleteDBProxyEndpointCommand({ DBProxyEndpointName: 'ep-ro' })))).toMatch(/^\(DBProxyEndpointNotFoundFault\)/);
  });
});

describe('authorization', () => {
  const limitedRds = () => sdkClient(RDSClient, gw.apiUrl, limited);

  it('needs iam:PassRole on the role, and each action on the proxy ARN', async () => {
    expect(await failure(limitedRds().send(new CreateDBProxyCommand(pgProxy('by-limited'))))).toMatch(/^\(AccessDenied\).*iam:PassRole on resource: arn:aws:iam::123456789012:role\/rds-proxy/);
    expect(await failure(rds.send(new DescribeDBProxiesCommand({ DBProxyName: 'by-limited' })))).toMatch(/DBProxyNotFoundFault/);
    const arn = (await describeProxy('orders-proxy')).DBProxyArn!;
    expect(await failure(limitedRds().send(new DeleteDBProxyCommand({ DBProxyName: 'orders-proxy' })))).toContain(`rds:DeleteDBProxy on resource: ${arn}`);
    expect(await failure(limitedRds().send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'orders-proxy' })))).toContain('rds:DescribeDBProxyTargets');
    expect((await limitedRds().send(new DescribeDBProxiesCommand({}))).DBProxies!.map((p) => p.DBProxyName)).toContain('orders-proxy');
  });
});

/** A signed Query request by hand, for iamdb's own actions that no SDK has. */
async function signedQuery(target: TestIamdb, params: Record<string, string>): Promise<{ status: number; text: string }> {
  const body = new URLSearchParams(params).toString();
  const url = new URL(target.apiUrl);
  const { host: _host, ...headers } = signRequestHeaders(
    { method: 'POST', path: '/', query: [], body: Buffer.from(body), host: url.host },
    { accessKeyId: target.admin.id, secretAccessKey: new Secret(target.admin.secret) },
    { region: REGION, service: 'rds', date: new Date() },
  );
  const res = await fetch(target.apiUrl, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body });
  return { status: res.status, text: await res.text() };
}

describe('restart', () => {
  it('brings API-made proxies back with their ids, settings, targets, endpoints and ports, listening again', async () => {
    const first = await startIamdb(await proxyConfig());
    let second: TestIamdb | undefined;
    try {
      const client = sdkClient(RDSClient, first.apiUrl, first.admin);
      const p = (await client.send(new CreateDBProxyCommand(pgProxy('survivor', { DebugLogging: true, IdleClientTimeout: 120, Tags: [{ Key: 'env', Value: 'dev' }] })))).DBProxy!;
      await client.send(new RegisterDBProxyTargetsCommand({ DBProxyName: 'survivor', DBInstanceIdentifiers: ['orders-pg'] }));
      await client.send(new ModifyDBProxyTargetGroupCommand({ DBProxyName: 'survivor', TargetGroupName: 'default', ConnectionPoolConfig: { MaxConnectionsPercent: 70 } }));
      const ep = (await client.send(new CreateDBProxyEndpointCommand({ DBProxyName: 'survivor', DBProxyEndpointName: 'survivor-ro', TargetRole: 'READ_ONLY', VpcSubnetIds: ['s'] }))).DBProxyEndpoint!;
      const tagsBefore = (await client.send(new ListTagsForResourceCommand({ ResourceName: p.DBProxyArn }))).TagList;
      const epTagsBefore = (await client.send(new ListTagsForResourceCommand({ ResourceName: ep.DBProxyEndpointArn }))).TagList;
      await first.stop({ keepState: true });

      second = await startIamdb(await proxyConfig(), { restartOf: first });
      const again = sdkClient(RDSClient, second.apiUrl, second.admin);
      const back = await waitFor('survivor available', async () => {
        const d = (await again.send(new DescribeDBProxiesCommand({ DBProxyName: 'survivor' }))).DBProxies![0]!;
        if (d.Status !== 'available') throw new Error(d.Status);
        return d;
      }, 10_000);
      expect(back).toMatchObject({ DBProxyArn: p.DBProxyArn, DebugLogging: true, IdleClientTimeout: 120, CreatedDate: p.CreatedDate, Auth: p.Auth });
      expect((await again.send(new ListTagsForResourceCommand({ ResourceName: p.DBProxyArn }))).TagList).toEqual(tagsBefore);
      expect((await again.send(new ListTagsForResourceCommand({ ResourceName: ep.DBProxyEndpointArn }))).TagList).toEqual(epTagsBefore);
      // Health is checked again after the restart (the role here may not read the secret).
      const targets = await waitFor('survivor target checked', async () => {
        const t = (await again.send(new DescribeDBProxyTargetsCommand({ DBProxyName: 'survivor' }))).Targets!;
        if (t[0]?.TargetHealth?.State === 'REGISTERING') throw new Error('not yet');
        return t;
      }, 10_000);
      expect(targets.map((t) => [t.RdsResourceId, t.TargetHealth?.State, t.TargetHealth?.Reason])).toEqual([['orders-pg', 'UNAVAILABLE', 'AUTH_FAILURE']]);
      expect((await again.send(new DescribeDBProxyTargetGroupsCommand({ DBProxyName: 'survivor' }))).TargetGroups![0]!.ConnectionPoolConfig!.MaxConnectionsPercent).toBe(70);
      const port = Number(epTagsBefore!.find((t) => t.Key === 'iamdb:port')!.Value);
      await waitFor('survivor-ro listening again', async () => expect(await accepts(port)).toBe(true), 5_000);
    } finally {
      await (second ?? first).stop();
    }
  });
});
