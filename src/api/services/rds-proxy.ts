/**
 * RDS Proxy's actions on the RDS Query service: proxies, their target group
 * and targets, their endpoints, and tags on their ARNs. It parses, authorizes
 * on the ARNs AWS names (`db-proxy:prx-…`, `target-group:prx-tg-…`,
 * `db-proxy-endpoint:prx-endpoint-…`, and the instance for target changes),
 * calls the proxy registry and shapes AWS's answers. `withProxyActions` adds
 * them to the service rds.ts builds, and sends the tagging actions here for
 * proxy ARNs.
 */
import { IamdbError } from '../../errors/index.js';
import type { RequestContext } from '../../iam/index.js';
import {
  DEFAULT_TARGET_GROUP,
  LISTEN_TAG,
  PORT_TAG,
  RESERVED_TAG_PREFIX,
  advertisedHost,
  checkProxyTags,
  debugLoggingOn,
  endpointsFor,
  formatHostPort,
  newProxyId,
  proxyArn,
  splitCreateTags,
  type DbProxy,
  type HostPort,
  type InstanceRegistry,
  type ProxyEndpoint,
  type ProxyRegistry,
  type TargetHealthPort,
  type UserAuthInput,
} from '../../rds/index.js';
import type { Clock } from '../../util/index.js';
import { missingParameter } from '../aws-errors.js';
import type { QueryParams } from '../query-params.js';
import { requestTagContext } from '../request-tags.js';
import type { ApiRequestContext, QueryHandler, QueryService } from '../service.js';
import { members, type XmlElements } from '../xml.js';

export interface RdsProxyDeps {
  readonly proxies: ProxyRegistry;
  readonly instances: InstanceRegistry;
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly clock: Clock;
  /** Other names of the proxy listen host (config `proxy.aliases`): the first is `Endpoint` for a wildcard host. */
  readonly listenAliases: readonly string[];
  /** The port an instance endpoint listens on (known once started). */
  readonly instancePortOf: (id: string) => number;
  /** A target's health for DescribeDBProxyTargets. */
  readonly targetHealth: TargetHealthPort;
  /** A target's `Role` as last seen (READ_WRITE, READ_ONLY, UNKNOWN); default: the registered role. */
  readonly targetRole?: (proxy: DbProxy, instanceId: string) => 'READ_WRITE' | 'READ_ONLY' | 'UNKNOWN';
}

function invalid(message: string): IamdbError {
  return new IamdbError('RDS_INVALID_PARAMETER', { message });
}

/** `aws:ResourceTag/*` of an existing resource, so policies can condition on its tags. */
function resourceTagContext(tags: Readonly<Record<string, string>>): RequestContext {
  return Object.fromEntries(Object.entries(tags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]));
}

/** MaxRecords (20-100, default 100) and Marker (the key of the first item of the page), as the other Describe calls here. */
function page<T>(q: QueryParams, items: readonly T[], keyOf: (item: T) => string): { items: T[]; marker?: string } {
  const max = q.int('MaxRecords', { min: 20, max: 100 }) ?? 100;
  const marker = q.str('Marker');
  const start = marker === undefined ? 0 : Math.max(0, items.findIndex((i) => keyOf(i) === marker));
  const next = items[start + max];
  return { items: items.slice(start, start + max), ...(next !== undefined ? { marker: keyOf(next) } : {}) };
}

/** AWS documents `Filters` of the proxy Describe calls as not currently supported. */
function refuseFilters(q: QueryParams): void {
  if (q.has('Filters')) throw invalid('The Filters parameter is not currently supported.');
}

function authInputs(q: QueryParams): UserAuthInput[] {
  return q.list('Auth').map((a) => ({
    description: a.str('Description'),
    userName: a.str('UserName'),
    authScheme: a.str('AuthScheme'),
    secretArn: a.str('SecretArn'),
    iamAuth: a.str('IAMAuth'),
    clientPasswordAuthType: a.str('ClientPasswordAuthType'),
  }));
}

/** A list AWS requires (VpcSubnetIds): the CLI always sends one; an empty one reads as missing. */
function requiredList(q: QueryParams, name: string): string[] {
  const items = q.strings(name);
  if (items.length === 0) throw missingParameter(name);
  return items;
}

/** `SessionPinningFilters`: absent, a list, or (`Name=` with no items) the empty list that clears it. */
function optionalList(q: QueryParams, name: string): string[] | undefined {
  if (q.str(name) === '') return [];
  const items = q.strings(name);
  return items.length > 0 ? items : undefined;
}

export function rdsProxyActions(deps: RdsProxyDeps): Record<string, QueryHandler> {
  const { proxies, instances, partition, region, account, clock } = deps;
  const where = { partition, region, account };
  const anyArn = (type: 'db-proxy' | 'db-proxy-endpoint'): string => proxyArn(where, type, '*');
  const instanceArn = (id: string): string => `arn:${partition}:rds:${region}:${account}:db:${id.toLowerCase()}`;

  /** The proxy named, authorized for `action`; an unknown name is checked against `db-proxy:*` before it is reported. */
  const proxyFor = (ctx: ApiRequestContext, action: string, name: string): DbProxy => {
    const proxy = proxies.get(name);
    if (proxy === undefined) {
      ctx.authorize(action, anyArn('db-proxy'));
      throw new IamdbError('RDS_PROXY_NOT_FOUND', { name: name.slice(0, 63) });
    }
    ctx.authorize(action, proxy.arn, { context: resourceTagContext(proxy.tags) });
    return proxy;
  };

  /** `Endpoint` as AWS gives it: a host name, no port (the port is in the `iamdb:port` tag and `iamdb proxy-endpoint`). */
  const hostOf = (listen: HostPort): string => advertisedHost(listen.host, endpointsFor({ listen, aliases: deps.listenAliases }));
  const networkType = (listen: HostPort): string => (listen.host === '::' ? 'DUAL' : listen.host.includes(':') ? 'IPV6' : 'IPV4');

  const proxyXml = (p: DbProxy): XmlElements => {
    const def = p.endpoints.find((e) => e.isDefault)!;
    return {
      DBProxyName: p.name,
      DBProxyArn: p.arn,
      Status: p.status,
      EngineFamily: p.engineFamily,
      VpcId: p.vpcId,
      VpcSecurityGroupIds: members(p.vpcSecurityGroupIds),
      VpcSubnetIds: members(p.vpcSubnetIds),
      DefaultAuthScheme: p.defaultAuthScheme,
      Auth: members(
        p.auth.map((a) => ({
          Description: a.description,
          UserName: a.userName,
          AuthScheme: a.authScheme,
          SecretArn: a.secretArn,
          IAMAuth: a.iamAuth,
          ClientPasswordAuthType: a.clientPasswordAuthType,
        })),
      ),
      RoleArn: p.roleArn,
      Endpoint: hostOf(def.listen),
      RequireTLS: p.requireTls,
      IdleClientTimeout: p.idleClientTimeout,
      DebugLogging: debugLoggingOn(p, clock.now()),
      CreatedDate: new Date(p.createdAt),
      UpdatedDate: new Date(p.updatedAt),
      EndpointNetworkType: networkType(def.listen),
    };
  };

  const endpointXml = (p: DbProxy, e: ProxyEndpoint): XmlElements => ({
    DBProxyEndpointName: e.name,
    DBProxyEndpointArn: e.arn,
    DBProxyName: p.name,
    Status: e.status,
    VpcId: p.vpcId,
    VpcSecurityGroupIds: members(e.vpcSecurityGroupIds),
    VpcSubnetIds: members(e.vpcSubnetIds),
    Endpoint: hostOf(e.listen),
    CreatedDate: new Date(e.createdAt),
    TargetRole: e.targetRole,
    IsDefault: e.isDefault,
    EndpointNetworkType: networkType(e.listen),
  });

  const targetGroupXml = (p: DbProxy): XmlElements => {
    const tg = p.targetGroup;
    return {
      DBProxyName: p.name,
      TargetGroupName: tg.name,
      TargetGroupArn: tg.arn,
      IsDefault: true,
      Status: p.status === 'deleting' ? 'deleting' : 'available',
      ConnectionPoolConfig: {
        MaxConnectionsPercent: tg.connectionPool.maxConnectionsPercent,
        MaxIdleConnectionsPercent: tg.connectionPool.maxIdleConnectionsPercent,
        ConnectionBorrowTimeout: tg.connectionPool.connectionBorrowTimeout,
        SessionPinningFilters: members(tg.connectionPool.sessionPinningFilters),
        InitQuery: tg.connectionPool.initQuery,
      },
      CreatedDate: new Date(tg.createdAt),
      UpdatedDate: new Date(tg.updatedAt),
    };
  };

  const targetXml = (p: DbProxy, t: DbProxy['targetGroup']['targets'][number]): XmlElements => {
    const inst = instances.get(t.instanceId);
    const health = deps.targetHealth(p, t.instanceId);
    return {
      TargetArn: instanceArn(t.instanceId),
      Endpoint: inst === undefined ? undefined : advertisedHost(inst.listen.host, inst.endpoints),
      RdsResourceId: t.instanceId,
      Port: inst === undefined ? undefined : deps.instancePortOf(inst.id),
      Type: 'RDS_INSTANCE',
      Role: deps.targetRole?.(p, t.instanceId) ?? t.role,
      TargetHealth: { State: health.State, Reason: health.Reason, Description: health.Description },
    };
  };

  /** The target group named (default when absent), authorized on the proxy and on the group. */
  const targetGroupFor = (ctx: ApiRequestContext, action: string, q: QueryParams, required: boolean): DbProxy => {
    const proxy = proxyFor(ctx, action, q.required('DBProxyName'));
    const group = required ? q.required('TargetGroupName') : (q.str('TargetGroupName') ?? DEFAULT_TARGET_GROUP);
    if (group !== DEFAULT_TARGET_GROUP) throw new IamdbError('RDS_PROXY_TARGET_GROUP_NOT_FOUND', { group: group.slice(0, 63), name: proxy.name });
    ctx.authorize(action, proxy.targetGroup.arn);
    return proxy;
  };

  /** The instances a target change names, each authorized as AWS does (the `db` resource of the action). */
  const targetInstances = (ctx: ApiRequestContext, action: string, q: QueryParams): string[] => {
    const clusters = q.strings('DBClusterIdentifiers');
    if (clusters.length > 0) throw new IamdbError('RDS_DB_CLUSTER_NOT_FOUND', { id: clusters[0]!.slice(0, 63) });
    const ids = q.strings('DBInstanceIdentifiers');
    for (const id of ids) ctx.authorize(action, instanceArn(id));
    return ids;
  };

  /** A create's tags are also rds:AddTagsToResource on the new resource, as for RegisterDBInstance. */
  const createTags = (ctx: ApiRequestContext, action: string, arn: string, q: QueryParams): ReturnType<typeof splitCreateTags> => {
    const given = q.tags('Tags');
    const context = requestTagContext(given);
    ctx.authorize(action, arn, { context });
    if (Object.keys(given).length > 0) ctx.authorize('rds:AddTagsToResource', arn, { context });
    return splitCreateTags(given);
  };

  /** CreateDBProxy and ModifyDBProxy hand the proxy a role: iam:PassRole on it, to RDS, for this proxy. */
  const passRole = (ctx: ApiRequestContext, roleArn: string, proxyArnValue: string): void => {
    ctx.authorize('iam:PassRole', roleArn, { context: { 'iam:PassedToService': 'rds.amazonaws.com', 'iam:AssociatedResourceArn': proxyArnValue } });
  };

  const a: Record<string, QueryHandler> = {};

  a['CreateDBProxy'] = async (ctx, q) => {
    const resourceId = newProxyId('prx');
    const arn = proxyArn(where, 'db-proxy', resourceId);
    const { tags, listen } = createTags(ctx, 'rds:CreateDBProxy', arn, q);
    const roleArn = q.required('RoleArn');
    passRole(ctx, roleArn, arn);
    const proxy = await proxies.create({
      name: q.required('DBProxyName'),
      engineFamily: q.required('EngineFamily'),
      roleArn,
      auth: authInputs(q),
      defaultAuthScheme: q.str('DefaultAuthScheme'),
      requireTls: q.bool('RequireTLS'),
      idleClientTimeout: q.int('IdleClientTimeout'),
      debugLogging: q.bool('DebugLogging'),
      vpcSubnetIds: requiredList(q, 'VpcSubnetIds'),
      vpcSecurityGroupIds: q.strings('VpcSecurityGroupIds'),
      tags,
      listen,
      resourceId,
    });
    return { DBProxy: proxyXml(proxy) };
  };

  a['DescribeDBProxies'] = (ctx, q) => {
    refuseFilters(q);
    const name = q.str('DBProxyName');
    if (name !== undefined) return { DBProxies: members([proxyXml(proxyFor(ctx, 'rds:DescribeDBProxies', name))]) };
    ctx.authorize('rds:DescribeDBProxies', anyArn('db-proxy'));
    const { items, marker } = page(q, proxies.list(), (p) => p.name);
    return { DBProxies: members(items.map(proxyXml)), Marker: marker };
  };

  a['ModifyDBProxy'] = async (ctx, q) => {
    const proxy = proxyFor(ctx, 'rds:ModifyDBProxy', q.required('DBProxyName'));
    const roleArn = q.str('RoleArn');
    if (roleArn !== undefined) passRole(ctx, roleArn, proxy.arn);
    const groups = q.strings('SecurityGroups');
    const modified = await proxies.modify(proxy.name, {
      newName: q.str('NewDBProxyName'),
      auth: q.has('Auth') ? authInputs(q) : undefined,
      defaultAuthScheme: q.str('DefaultAuthScheme'),
      requireTls: q.bool('RequireTLS'),
      idleClientTimeout: q.int('IdleClientTimeout'),
      debugLogging: q.bool('DebugLogging'),
      roleArn,
      vpcSecurityGroupIds: groups.length > 0 ? groups : undefined,
    });
    return { DBProxy: proxyXml(modified) };
  };

  a['DeleteDBProxy'] = async (ctx, q) => {
    const proxy = proxyFor(ctx, 'rds:DeleteDBProxy', q.required('DBProxyName'));
    return { DBProxy: proxyXml(await proxies.delete(proxy.name)) };
  };

  a['RegisterDBProxyTargets'] = async (ctx, q) => {
    const proxy = targetGroupFor(ctx, 'rds:RegisterDBProxyTargets', q, false);
    const ids = targetInstances(ctx, 'rds:RegisterDBProxyTargets', q);
    const added = await proxies.registerTargets(proxy.name, DEFAULT_TARGET_GROUP, ids);
    const now = proxies.get(proxy.name) ?? proxy;
    return { DBProxyTargets: members(added.map((t) => targetXml(now, t))) };
  };

  a['DeregisterDBProxyTargets'] = async (ctx, q) => {
    const proxy = targetGroupFor(ctx, 'rds:DeregisterDBProxyTargets', q, false);
    await proxies.deregisterTargets(proxy.name, DEFAULT_TARGET_GROUP, targetInstances(ctx, 'rds:DeregisterDBProxyTargets', q));
    return {};
  };

  a['DescribeDBProxyTargetGroups'] = (ctx, q) => {
    refuseFilters(q);
    const proxy = targetGroupFor(ctx, 'rds:DescribeDBProxyTargetGroups', q, false);
    const { items, marker } = page(q, [proxy], (p) => p.targetGroup.name);
    return { TargetGroups: members(items.map(targetGroupXml)), Marker: marker };
  };

  a['ModifyDBProxyTargetGroup'] = async (ctx, q) => {
    const proxy = targetGroupFor(ctx, 'rds:ModifyDBProxyTargetGroup', q, true);
    if (q.str('NewName') !== undefined && q.str('NewName') !== DEFAULT_TARGET_GROUP) {
      throw new IamdbError('API_NOT_SUPPORTED', { message: 'The target group of a DB proxy is named default; iamdb does not rename it.' });
    }
    const c = 'ConnectionPoolConfig';
    const modified = await proxies.modifyTargetGroup(proxy.name, DEFAULT_TARGET_GROUP, {
      maxConnectionsPercent: q.int(`${c}.MaxConnectionsPercent`),
      maxIdleConnectionsPercent: q.int(`${c}.MaxIdleConnectionsPercent`),
      connectionBorrowTimeout: q.int(`${c}.ConnectionBorrowTimeout`),
      sessionPinningFilters: optionalList(q, `${c}.SessionPinningFilters`),
      initQuery: q.str(`${c}.InitQuery`),
    });
    return { DBProxyTargetGroup: targetGroupXml(modified) };
  };

  a['DescribeDBProxyTargets'] = (ctx, q) => {
    refuseFilters(q);
    const proxy = targetGroupFor(ctx, 'rds:DescribeDBProxyTargets', q, false);
    const { items, marker } = page(q, proxy.targetGroup.targets, (t) => t.instanceId);
    return { Targets: members(items.map((t) => targetXml(proxy, t))), Marker: marker };
  };

  a['CreateDBProxyEndpoint'] = async (ctx, q) => {
    const proxy = proxyFor(ctx, 'rds:CreateDBProxyEndpoint', q.required('DBProxyName'));
    const id = newProxyId('prx-endpoint');
    const { tags, listen } = createTags(ctx, 'rds:CreateDBProxyEndpoint', proxyArn(where, 'db-proxy-endpoint', id), q);
    const { proxy: now, endpoint } = await proxies.createEndpoint({
      proxyName: proxy.name,
      name: q.required('DBProxyEndpointName'),
      targetRole: q.str('TargetRole'),
      vpcSubnetIds: requiredList(q, 'VpcSubnetIds'),
      vpcSecurityGroupIds: q.strings('VpcSecurityGroupIds'),
      tags,
      listen,
      id,
    });
    return { DBProxyEndpoint: endpointXml(now, endpoint) };
  };

  a['DescribeDBProxyEndpoints'] = (ctx, q) => {
    refuseFilters(q);
    const proxyName = q.str('DBProxyName');
    const endpointName = q.str('DBProxyEndpointName');
    const proxy = proxyName === undefined ? undefined : proxyFor(ctx, 'rds:DescribeDBProxyEndpoints', proxyName);
    if (endpointName !== undefined) {
      const found = proxies.endpoint(endpointName);
      if (found === undefined || (proxy !== undefined && found.proxy.resourceId !== proxy.resourceId)) {
        ctx.authorize('rds:DescribeDBProxyEndpoints', anyArn('db-proxy-endpoint'));
        throw new IamdbError('RDS_PROXY_ENDPOINT_NOT_FOUND', { name: endpointName.slice(0, 63) });
      }
      ctx.authorize('rds:DescribeDBProxyEndpoints', found.endpoint.arn, { context: resourceTagContext(found.endpoint.tags) });
      return { DBProxyEndpoints: members([endpointXml(found.proxy, found.endpoint)]) };
    }
    ctx.authorize('rds:DescribeDBProxyEndpoints', anyArn('db-proxy-endpoint'));
    const all = (proxy === undefined ? proxies.list() : [proxy]).flatMap((p) => p.endpoints.map((e) => ({ p, e })));
    const { items, marker } = page(q, all, ({ e }) => e.name);
    return { DBProxyEndpoints: members(items.map(({ p, e }) => endpointXml(p, e))), Marker: marker };
  };

  a['DeleteDBProxyEndpoint'] = async (ctx, q) => {
    const name = q.required('DBProxyEndpointName');
    const found = proxies.endpoint(name);
    if (found === undefined) {
      ctx.authorize('rds:DeleteDBProxyEndpoint', anyArn('db-proxy-endpoint'));
      throw new IamdbError('RDS_PROXY_ENDPOINT_NOT_FOUND', { name: name.slice(0, 63) });
    }
    ctx.authorize('rds:DeleteDBProxyEndpoint', found.endpoint.arn, { context: resourceTagContext(found.endpoint.tags) });
    const gone = await proxies.deleteEndpoint(found.endpoint.name);
    return { DBProxyEndpoint: endpointXml(proxies.byResourceId(found.proxy.resourceId) ?? found.proxy, gone) };
  };

  return a;
}

/** What a tagging action's ARN names among proxy resources, or undefined for any other ARN. */
type Tagged = { kind: 'proxy'; proxy: DbProxy } | { kind: 'endpoint'; proxy: DbProxy; endpoint: ProxyEndpoint } | { kind: 'target-group'; proxy: DbProxy };

function proxyTagging(deps: RdsProxyDeps): { names: (arn: string) => boolean; find: (arn: string) => Tagged; listen: (t: Tagged) => HostPort | undefined } {
  const pattern = /^arn:[\w-]+:rds:([\w-]+):(\d{12}):(db-proxy|db-proxy-endpoint|target-group):([\w-]{1,80})$/;
  return {
    names: (arn) => pattern.test(arn),
    find(arn) {
      const m = pattern.exec(arn);
      if (m === null) throw invalid('The specified resource name does not match an RDS resource in this region.');
      const [, region, account, type, id] = m as unknown as [string, string, string, string, string];
      const foreign = region !== deps.region || account !== deps.account;
      if (type === 'db-proxy-endpoint') {
        const found = foreign ? undefined : deps.proxies.endpointById(id);
        if (found === undefined) throw new IamdbError('RDS_PROXY_ENDPOINT_NOT_FOUND', { name: id });
        return { kind: 'endpoint', ...found };
      }
      const proxy = foreign ? undefined : type === 'db-proxy' ? deps.proxies.byResourceId(id) : deps.proxies.list().find((p) => p.targetGroup.id === id);
      if (proxy === undefined) {
        if (type === 'db-proxy') throw new IamdbError('RDS_PROXY_NOT_FOUND', { name: id });
        throw new IamdbError('RDS_PROXY_TARGET_GROUP_NOT_FOUND', { group: id, name: '(none)' });
      }
      return type === 'db-proxy' ? { kind: 'proxy', proxy } : { kind: 'target-group', proxy };
    },
    listen(t) {
      if (t.kind === 'endpoint') return t.endpoint.listen;
      if (t.kind === 'proxy') return t.proxy.endpoints.find((e) => e.isDefault)!.listen;
      return undefined;
    },
  };
}

/**
 * The RDS service with RDS Proxy's actions added, and AddTagsToResource, ListTagsForResource and
 * RemoveTagsFromResource answering for proxy, endpoint and target-group ARNs (any other ARN goes
 * to the base service's handler). A proxy's or endpoint's list shows two read-only tags besides
 * its own: `iamdb:listen` (HOST:PORT it listens on) and `iamdb:port`.
 */
export function withProxyActions(base: QueryService, deps: RdsProxyDeps): QueryService {
  const tagging = proxyTagging(deps);
  const ownTags = (t: Tagged): Readonly<Record<string, string>> => (t.kind === 'endpoint' ? t.endpoint.tags : t.kind === 'proxy' ? t.proxy.tags : {});
  const idOf = (t: Tagged): string => (t.kind === 'endpoint' ? t.endpoint.id : t.proxy.resourceId);
  const writable = (t: Tagged): void => {
    if (t.kind === 'target-group') throw invalid('iamdb keeps no tags on DB proxy target groups; tag the proxy.');
  };
  const tagList = (tags: Readonly<Record<string, string>>): XmlElements => ({ TagList: members(Object.entries(tags).map(([Key, Value]) => ({ Key, Value })), 'Tag') });
  const routed = (name: string, proxyHandler: QueryHandler): QueryHandler => (ctx, q) => {
    const arn = q.str('ResourceName');
    if (arn === undefined || !tagging.names(arn)) {
      const handler = base.actions[name];
      if (handler === undefined) throw new IamdbError('API_INVALID_ACTION', { action: name, service: 'RDS' });
      return handler(ctx, q);
    }
    return proxyHandler(ctx, q);
  };
  const proxyTagActions: Record<string, QueryHandler> = {
    ListTagsForResource: routed('ListTagsForResource', (ctx, q) => {
      const arn = q.required('ResourceName');
      ctx.authorize('rds:ListTagsForResource', arn);
      const t = tagging.find(arn);
      const listen = tagging.listen(t);
      const shown = listen === undefined ? ownTags(t) : { ...ownTags(t), [LISTEN_TAG]: formatHostPort(listen), [PORT_TAG]: String(listen.port) };
      return tagList(shown);
    }),
    AddTagsToResource: routed('AddTagsToResource', async (ctx, q) => {
      const arn = q.required('ResourceName');
      const tags = q.tags('Tags');
      ctx.authorize('rds:AddTagsToResource', arn, { context: requestTagContext(tags) });
      const t = tagging.find(arn);
      writable(t);
      const merged = { ...ownTags(t), ...tags };
      checkProxyTags(merged, tags);
      await deps.proxies.setTags(idOf(t), merged);
      return undefined;
    }),
    RemoveTagsFromResource: routed('RemoveTagsFromResource', async (ctx, q) => {
      const arn = q.required('ResourceName');
      const keys = q.strings('TagKeys');
      ctx.authorize('rds:RemoveTagsFromResource', arn, { context: { 'aws:TagKeys': keys } });
      const t = tagging.find(arn);
      writable(t);
      const reserved = keys.find((k) => k.toLowerCase().startsWith(RESERVED_TAG_PREFIX));
      if (reserved !== undefined) throw invalid(`The tag key ${reserved.slice(0, 128)} is iamdb's and cannot be removed.`);
      await deps.proxies.setTags(idOf(t), Object.fromEntries(Object.entries(ownTags(t)).filter(([k]) => !keys.includes(k))));
      return undefined;
    }),
  };
  return { ...base, actions: { ...base.actions, ...rdsProxyActions(deps), ...proxyTagActions } };
}
