/**
 * The proxy registry over a real SQLite store: AWS's defaults and rules,
 * quotas, listen-port allocation, statuses driven by the listener callbacks,
 * and that everything (config-made or not) survives a reopen on the same store.
 */
import { describe, expect, it } from 'vitest';
import { errorCodeOf, errorCodeOfAsync as code } from '../../test/support/error-code.js';
import { openSqliteStore, type StateStore } from '../store/index.js';
import { fixedClock } from '../util/index.js';
import type { HostPort } from './instance-registry.js';
import { debugLoggingOn } from './proxy-model.js';
import { ProxyRegistry, type CreateProxyInput, type ProxyDefinition, type ProxyEvent, type ProxyRegistryOptions } from './proxy-registry.js';
import { connectionPoolConfig, splitCreateTags, userAuthList } from './proxy-settings.js';

const where = { partition: 'aws', region: 'us-east-1', account: '123456789012' };
const SECRET = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:rdsproxy_alice-AbCdEf';
const ROLE = 'arn:aws:iam::123456789012:role/rds-proxy';
const instances = {
  pg: { id: 'orders-pg', engine: 'postgres' as const, listen: { host: '127.0.0.1', port: 7700 } },
  pg2: { id: 'other-pg', engine: 'postgres' as const, listen: { host: '127.0.0.1', port: 7701 } },
  my: { id: 'orders-my', engine: 'mysql' as const, listen: { host: '127.0.0.1', port: 7702 } },
};
const lookup = {
  get: (id: string) => Object.values(instances).find((i) => i.id === id.toLowerCase()),
  list: () => Object.values(instances),
};

function pgProxy(name: string, extra: Partial<CreateProxyInput> = {}): CreateProxyInput {
  return { name, engineFamily: 'POSTGRESQL', roleArn: ROLE, auth: [{ secretArn: SECRET, iamAuth: 'REQUIRED' }], vpcSubnetIds: ['subnet-1'], ...extra };
}

async function setup(opts: Partial<ProxyRegistryOptions> & { busy?: number[] } = {}) {
  const store = opts.store ?? (await openSqliteStore(':memory:'));
  const clock = fixedClock(Date.parse('2026-11-23T12:00:00Z'));
  const probed: HostPort[] = [];
  const open = (more: Partial<ProxyRegistryOptions> = {}) =>
    ProxyRegistry.open({
      store,
      clock,
      where,
      listen: { host: '127.0.0.1', ports: { first: 7700, last: 7720 }, aliases: [] },
      instances: lookup,
      probe: async (a) => {
        probed.push(a);
        return !(opts.busy ?? []).includes(a.port);
      },
      ...opts,
      ...more,
    });
  const reg = await open();
  const events: ProxyEvent[] = [];
  reg.on((e) => events.push(e));
  return { reg, store, clock, probed, events, open };
}

/** What the composition root does for an added endpoint: it listens. */
async function listening(reg: ProxyRegistry): Promise<void> {
  for (const p of reg.list()) for (const e of p.endpoints) if (e.status === 'creating') await reg.endpointListening(e.id);
}

describe('creating a proxy', () => {
  it('applies AWS defaults and ids, takes the first free port past the instances, and becomes available once listening', async () => {
    const { reg, events } = await setup({ busy: [7703] });
    const p = await reg.create(pgProxy('Orders-Proxy'));
    expect(p).toMatchObject({
      name: 'orders-proxy',
      status: 'creating',
      engineFamily: 'POSTGRESQL',
      defaultAuthScheme: 'NONE',
      requireTls: false,
      idleClientTimeout: 1800,
      debugLoggingSince: undefined,
      auth: [{ authScheme: 'SECRETS', secretArn: SECRET, iamAuth: 'REQUIRED', clientPasswordAuthType: 'POSTGRES_SCRAM_SHA_256' }],
      targetGroup: { name: 'default', targets: [], connectionPool: { maxConnectionsPercent: 100, maxIdleConnectionsPercent: 50, connectionBorrowTimeout: 120, sessionPinningFilters: [] } },
    });
    expect(p.resourceId).toMatch(/^prx-[0-9a-f]{17}$/);
    expect(p.arn).toBe(`arn:aws:rds:us-east-1:123456789012:db-proxy:${p.resourceId}`);
    expect(p.targetGroup.arn).toMatch(/^arn:aws:rds:us-east-1:123456789012:target-group:prx-tg-[0-9a-f]{17}$/);
    expect(p.vpcId).toMatch(/^vpc-[0-9a-f]{17}$/);
    expect(p.endpoints).toHaveLength(1);
    const [def] = p.endpoints;
    expect(def).toMatchObject({ name: 'orders-proxy', isDefault: true, targetRole: 'READ_WRITE', status: 'creating', listen: { host: '127.0.0.1', port: 7704 } });
    expect(def!.arn).toMatch(/:db-proxy-endpoint:prx-endpoint-[0-9a-f]{17}$/);
    expect(events.map((e) => e.type)).toEqual(['endpoint-added']);
    await reg.endpointListening(def!.id);
    expect(reg.get('ORDERS-PROXY')?.status).toBe('available');
    expect(Object.isFrozen(reg.get('orders-proxy'))).toBe(true);
  });

  it('gives MYSQL proxies caching_sha2 by default and keeps what is asked', async () => {
    const auth = userAuthList([{ secretArn: SECRET }, { secretArn: `${SECRET}x`, clientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD', description: 'd', userName: 'bob' }], 'MYSQL', 'NONE');
    expect(auth.map((a) => a.clientPasswordAuthType)).toEqual(['MYSQL_CACHING_SHA2_PASSWORD', 'MYSQL_NATIVE_PASSWORD']);
    expect(auth[1]).toMatchObject({ description: 'd', userName: 'bob', iamAuth: 'DISABLED' });
  });

  it.each([
    ['1proxy'], ['a--b'], ['ends-'], ['a_b'], ['x'.repeat(64)], [''],
  ])('refuses the name %j', async (name) => {
    const { reg } = await setup();
    expect(await code(reg.create(pgProxy(name)))).toBe('RDS_INVALID_PARAMETER');
  });

  it('refuses what AWS refuses in Auth and settings', async () => {
    const { reg } = await setup();
    const cases: Array<[Partial<CreateProxyInput>, string]> = [
      [{ auth: [{ secretArn: SECRET, iamAuth: 'ENABLED' }] }, 'RDS_INVALID_COMBINATION'],
      [{ auth: [{ secretArn: SECRET, clientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' }] }, 'RDS_INVALID_COMBINATION'],
      [{ auth: [{ secretArn: SECRET, clientPasswordAuthType: 'SQL_SERVER_AUTHENTICATION' }] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: [{ secretArn: SECRET, authScheme: 'TOKENS' }] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: [{ secretArn: 'arn:aws:s3:::bucket' }] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: [{ iamAuth: 'REQUIRED' }] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: [] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: [{ secretArn: SECRET }, { secretArn: SECRET }] }, 'RDS_INVALID_PARAMETER'],
      [{ auth: Array.from({ length: 201 }, (_, i) => ({ secretArn: `${SECRET}${i}` })) }, 'RDS_INVALID_PARAMETER'],
      [{ engineFamily: 'SQLSERVER' }, 'RDS_INVALID_PARAMETER'],
      [{ roleArn: 'arn:aws:iam::123456789012:user/bob' }, 'RDS_INVALID_PARAMETER'],
      [{ idleClientTimeout: 0 }, 'RDS_INVALID_PARAMETER'],
      [{ idleClientTimeout: 28_801 }, 'RDS_INVALID_PARAMETER'],
      [{ defaultAuthScheme: 'KERBEROS' }, 'RDS_INVALID_PARAMETER'],
    ];
    for (const [change, expected] of cases) expect(await code(reg.create(pgProxy('p', change))), JSON.stringify(change).slice(0, 80)).toBe(expected);
    expect(reg.list()).toEqual([]);
    // End-to-end IAM needs no secret; 200 entries are allowed.
    await reg.create(pgProxy('e2e', { defaultAuthScheme: 'IAM_AUTH', auth: [] }));
    await reg.create(pgProxy('many', { auth: Array.from({ length: 200 }, (_, i) => ({ secretArn: `${SECRET}${i}` })) }));
    expect(reg.list().map((p) => p.name)).toEqual(['e2e', 'many']);
  });

  it('keeps 20 proxies per Region and one name space for proxies and endpoints', async () => {
    const { reg } = await setup({ listen: { host: '127.0.0.1', ports: { first: 7700, last: 7799 }, aliases: [] } });
    for (let i = 0; i < 20; i++) await reg.create(pgProxy(`p${i}`));
    expect(await code(reg.create(pgProxy('p20')))).toBe('RDS_PROXY_QUOTA_EXCEEDED');
    const { reg: other } = await setup();
    await other.create(pgProxy('a'));
    expect(await code(other.create(pgProxy('A')))).toBe('RDS_PROXY_ALREADY_EXISTS');
    await other.createEndpoint({ proxyName: 'a', name: 'reader', vpcSubnetIds: ['s'] });
    expect(await code(other.create(pgProxy('reader')))).toBe('RDS_PROXY_ENDPOINT_ALREADY_EXISTS');
    expect(await code(other.createEndpoint({ proxyName: 'a', name: 'a', vpcSubnetIds: ['s'] }))).toBe('RDS_PROXY_ALREADY_EXISTS');
  });
});

describe('listen addresses', () => {
  it('honours iamdb:listen, refuses a taken one, and says when the range is exhausted', async () => {
    const { reg, probed } = await setup({ listen: { host: '127.0.0.1', ports: { first: 7704, last: 7705 }, aliases: [] } });
    const asked = await reg.create(pgProxy('asked', splitCreateTags({ 'iamdb:listen': '0.0.0.0:7705', team: 'db' })));
    expect(asked.endpoints[0]!.listen).toEqual({ host: '0.0.0.0', port: 7705 });
    expect(asked.tags).toEqual({ team: 'db' });
    // 0.0.0.0:7705 takes 7705 on every host; an instance's port is never probed.
    expect(await code(reg.create(pgProxy('clash', { listen: { host: '127.0.0.1', port: 7705 } })))).toBe('RDS_INVALID_PARAMETER');
    expect(await code(reg.create(pgProxy('inst', { listen: { host: '127.0.0.1', port: 7700 } })))).toBe('RDS_INVALID_PARAMETER');
    expect((await reg.create(pgProxy('next'))).endpoints[0]!.listen.port).toBe(7704);
    expect(await code(reg.create(pgProxy('none')))).toBe('RDS_INVALID_PARAMETER');
    expect(probed.some((a) => a.port === 7700)).toBe(false);
    expect(errorCodeOf(() => splitCreateTags({ 'iamdb:listen': 'host:99999' }))).toBe('RDS_INVALID_PARAMETER');
    expect(errorCodeOf(() => splitCreateTags({ 'iamdb:port': '1' }))).toBe('RDS_INVALID_PARAMETER');
  });

  it('marks an endpoint that cannot listen incompatible-network, its proxy too when it is the default one', async () => {
    const { reg } = await setup();
    const p = await reg.create(pgProxy('p'));
    await reg.endpointFailed(p.endpoints[0]!.id);
    expect(reg.get('p')).toMatchObject({ status: 'incompatible-network', endpoints: [{ status: 'incompatible-network' }] });
  });
});

describe('target group', () => {
  it('takes instances of the proxy family, the first as the writer and the others as its replicas', async () => {
    const { reg } = await setup();
    await reg.create(pgProxy('p'));
    expect(await code(reg.registerTargets('p', undefined, ['orders-my']))).toBe('RDS_INVALID_PARAMETER');
    expect(await code(reg.registerTargets('p', undefined, ['nope']))).toBe('RDS_DB_INSTANCE_NOT_FOUND');
    expect(await code(reg.registerTargets('p', 'other', ['orders-pg']))).toBe('RDS_PROXY_TARGET_GROUP_NOT_FOUND');
    expect(await code(reg.registerTargets('q', undefined, ['orders-pg']))).toBe('RDS_PROXY_NOT_FOUND');
    const [t] = await reg.registerTargets('p', 'default', ['ORDERS-PG']);
    expect(t).toMatchObject({ instanceId: 'orders-pg', role: 'READ_WRITE' });
    expect(await code(reg.registerTargets('p', undefined, ['orders-pg']))).toBe('RDS_PROXY_TARGET_ALREADY_REGISTERED');
    expect(reg.targetsOf('orders-pg').map((x) => x.name)).toEqual(['p']);
    expect(await code(reg.deregisterTargets('p', undefined, ['other-pg']))).toBe('RDS_PROXY_TARGET_NOT_FOUND');
    // A replica beside it (iamdb's extension: AWS takes one target, a cluster's members behind it).
    expect(await reg.registerTargets('p', undefined, ['other-pg'])).toMatchObject([{ instanceId: 'other-pg', role: 'READ_ONLY' }]);
    await reg.deregisterTargets('p', undefined, ['orders-pg']);
    // The registered writer gone, the replica left is registered as the writer; a new one joins as a replica.
    expect(reg.get('p')!.targetGroup.targets).toMatchObject([{ instanceId: 'other-pg', role: 'READ_WRITE' }]);
    expect(await reg.registerTargets('p', undefined, ['orders-pg'])).toMatchObject([{ instanceId: 'orders-pg', role: 'READ_ONLY' }]);
    await reg.deregisterTargets('p', undefined, ['orders-pg', 'other-pg']);
    expect(reg.get('p')!.targetGroup.targets).toEqual([]);
  });

  it('checks the pool settings with AWS ranges and defaults', () => {
    const base = connectionPoolConfig({}, 'MYSQL');
    expect(connectionPoolConfig({ maxConnectionsPercent: 60 }, 'MYSQL', base)).toMatchObject({ maxConnectionsPercent: 60, maxIdleConnectionsPercent: 30 });
    expect(connectionPoolConfig({ connectionBorrowTimeout: 0, sessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'], initQuery: 'SET x=1' }, 'MYSQL', base)).toMatchObject({
      maxIdleConnectionsPercent: 50,
      connectionBorrowTimeout: 0,
      sessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'],
      initQuery: 'SET x=1',
    });
    expect(connectionPoolConfig({ initQuery: '' }, 'MYSQL', { ...base, initQuery: 'SET x=1' }).initQuery).toBeUndefined();
    const refused: Array<[object, string, string]> = [
      [{ maxConnectionsPercent: 0 }, 'MYSQL', 'RDS_INVALID_PARAMETER'],
      [{ maxConnectionsPercent: 101 }, 'MYSQL', 'RDS_INVALID_PARAMETER'],
      [{ maxConnectionsPercent: 40, maxIdleConnectionsPercent: 41 }, 'MYSQL', 'RDS_INVALID_PARAMETER'],
      [{ connectionBorrowTimeout: 301 }, 'MYSQL', 'RDS_INVALID_PARAMETER'],
      [{ sessionPinningFilters: ['EXCLUDE_ALL'] }, 'MYSQL', 'RDS_INVALID_PARAMETER'],
      [{ sessionPinningFilters: ['EXCLUDE_VARIABLE_SETS'] }, 'POSTGRESQL', 'RDS_INVALID_COMBINATION'],
    ];
    for (const [input, family, expected] of refused) expect(errorCodeOf(() => connectionPoolConfig(input, family as 'MYSQL', base))).toBe(expected);
  });
});

describe('modifying and deleting', () => {
  it('answers modifying, applies at once, renames the default endpoint, and times DebugLogging out after 24 h', async () => {
    const { reg, clock } = await setup();
    const p = await reg.create(pgProxy('p'));
    expect(await code(reg.modify('p', { requireTls: true }))).toBe('RDS_PROXY_INVALID_STATE');
    await listening(reg);
    const m = await reg.modify('p', { newName: 'Renamed', requireTls: true, debugLogging: true, auth: [{ secretArn: SECRET, iamAuth: 'REQUIRED' }, { secretArn: `${SECRET}2`, iamAuth: 'DISABLED' }] });
    expect(m).toMatchObject({ name: 'renamed', status: 'modifying', requireTls: true, resourceId: p.resourceId, endpoints: [{ name: 'renamed', id: p.endpoints[0]!.id }] });
    expect(m.auth.map((a) => a.iamAuth)).toEqual(['REQUIRED', 'DISABLED']);
    expect(reg.get('renamed')?.status).toBe('available');
    expect(reg.get('p')).toBeUndefined();
    expect(debugLoggingOn(m, clock.now())).toBe(true);
    clock.advance(24 * 3600_000);
    expect(debugLoggingOn(reg.get('renamed')!, clock.now())).toBe(false);
  });

  it('deletes in two steps: deleting until every endpoint has closed, then gone from the store too', async () => {
    const { reg, store, events, open } = await setup();
    await reg.create(pgProxy('p'));
    await listening(reg);
    const { endpoint } = await reg.createEndpoint({ proxyName: 'p', name: 'reader', targetRole: 'READ_ONLY', vpcSubnetIds: ['s'] });
    expect(endpoint).toMatchObject({ targetRole: 'READ_ONLY', isDefault: false, listen: { port: 7704 } });
    expect(await code(reg.deleteEndpoint('p'))).toBe('RDS_PROXY_ENDPOINT_INVALID_STATE');
    const d = await reg.delete('p');
    expect(d.status).toBe('deleting');
    expect(await code(reg.delete('p'))).toBe('RDS_PROXY_INVALID_STATE');
    const removed = events.filter((e) => e.type === 'endpoint-removed');
    expect(removed).toHaveLength(2);
    await reg.endpointClosed(removed[0]!.endpoint.id);
    expect(reg.get('p')?.endpoints).toHaveLength(1);
    // A restart in the middle finishes the deletion.
    expect((await open()).list()).toEqual([]);
    expect(await store.list('rds-proxy')).toEqual([]);
  });
});

describe('persistence', () => {
  it('brings every proxy back after a reopen, statuses starting over at creating', async () => {
    const { reg, store, open } = await setup();
    const p = await reg.create(pgProxy('p', { tags: { team: 'db' }, idleClientTimeout: 900, debugLogging: true, vpcSecurityGroupIds: ['sg-1'] }));
    await reg.registerTargets('p', undefined, ['orders-pg']);
    await reg.modifyTargetGroup('p', 'default', { maxConnectionsPercent: 80, initQuery: 'SET search_path=app' });
    await reg.createEndpoint({ proxyName: 'p', name: 'ro', targetRole: 'READ_ONLY', vpcSubnetIds: ['s'], tags: { k: 'v' } });
    await listening(reg);
    await reg.setTags(p.resourceId, { team: 'db', env: 'dev' });
    const before = reg.get('p')!;
    const again = (await open({ store })).get('p')!;
    const strip = (x: typeof before) => ({ ...x, status: undefined, endpoints: x.endpoints.map((e) => ({ ...e, status: undefined })) });
    expect(strip(again)).toEqual(strip(before));
    expect(again.status).toBe('creating');
    expect(again.endpoints.map((e) => e.tags)).toEqual([{}, { k: 'v' }]);
  });
});

describe('proxies of the config file', () => {
  const def = (extra: Partial<ProxyDefinition> = {}): ProxyDefinition => ({
    ...pgProxy('conf'),
    targets: ['orders-pg'],
    connectionPool: { maxConnectionsPercent: 90 },
    endpoints: [{ name: 'conf-ro', targetRole: 'READ_ONLY', vpcSubnetIds: [], listen: { host: '127.0.0.1', port: 7710 } }],
    ...extra,
  });

  it('cannot be deleted through the API; API changes stick until the file changes; leaving the file deletes them', async () => {
    const { reg, store, open } = await setup({ definitions: [def()] });
    const p = reg.get('conf')!;
    expect(p).toMatchObject({ fromConfig: true, targetGroup: { targets: [{ instanceId: 'orders-pg' }], connectionPool: { maxConnectionsPercent: 90, maxIdleConnectionsPercent: 45 } } });
    expect(p.endpoints.map((e) => [e.name, e.listen.port, e.fromConfig])).toEqual([['conf', 7703, true], ['conf-ro', 7710, true]]);
    expect(await code(reg.delete('conf'))).toBe('RDS_PROXY_INVALID_STATE');
    expect(await code(reg.deleteEndpoint('conf-ro'))).toBe('RDS_PROXY_ENDPOINT_INVALID_STATE');
    await listening(reg);
    expect(await code(reg.modify('conf', { newName: 'other' }))).toBe('RDS_INVALID_PARAMETER');
    await reg.modify('conf', { requireTls: true });
    await reg.createEndpoint({ proxyName: 'conf', name: 'api-made', vpcSubnetIds: ['s'] });
    const same = await open({ definitions: [def()] });
    expect(same.get('conf')).toMatchObject({ requireTls: true, resourceId: p.resourceId });
    const changed = await open({ definitions: [def({ idleClientTimeout: 60 })] });
    expect(changed.get('conf')).toMatchObject({ requireTls: false, idleClientTimeout: 60, resourceId: p.resourceId });
    expect(changed.get('conf')!.endpoints.map((e) => [e.name, e.listen.port])).toEqual([['conf', 7703], ['conf-ro', 7710], ['api-made', 7704]]);
    expect((await open({ definitions: [] })).list()).toEqual([]);
    expect(await store.list('rds-proxy')).toEqual([]);
  });

  it('reports a definition AWS would refuse as a config problem', async () => {
    expect(await code(setup({ definitions: [def({ targets: ['orders-my'] })] }))).toBe('CONFIG_INVALID');
    expect(await code(setup({ definitions: [def({ auth: [{ secretArn: SECRET, clientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' }] })] }))).toBe('CONFIG_INVALID');
    expect(await code(setup({ definitions: [def(), def()] }))).toBe('CONFIG_INVALID');
  });
});

describe('stored state', () => {
  it('is one document per proxy, keyed by its resource id', async () => {
    const store: StateStore = await openSqliteStore(':memory:');
    const { reg } = await setup({ store });
    const p = await reg.create(pgProxy('p'));
    expect((await store.list('rds-proxy')).map((r) => r.id)).toEqual([p.resourceId]);
  });
});
