/**
 * The registry of RDS Proxies: what CreateDBProxy and the config file's
 * `proxies:` make, kept in the state store so proxies survive restarts, with
 * AWS's rules (proxy-settings.ts) and quotas. It knows no sockets: it tells
 * whoever subscribes (the composition root) when an endpoint must start or
 * stop listening, and hears back when it does, which moves statuses along
 * creating → available and deleting → gone, as on AWS.
 */
import { createHash } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import type { StateStore } from '../store/state-store.js';
import type { Clock } from '../util/index.js';
import type { HostPort } from './instance-registry.js';
import { allocateListenAddress, type BindProbe, type ProxyListenSettings } from './proxy-ports.js';
import { frozen, storedFormOf, vpcIdFor, type DbProxy, type ProxyEndpoint, type ProxyTarget, type StoredProxy } from './proxy-model.js';
import {
  DEBUG_LOGGING_MS,
  DEFAULT_TARGET_GROUP,
  PROXY_LIMITS,
  checkProxyTags,
  connectionPoolConfig,
  defaultAuthSchemeOf,
  engineFamilyOf,
  familyOfEngine,
  idleClientTimeoutOf,
  proxyIdentifier,
  roleArnOf,
  userAuthList,
  type ConnectionPoolInput,
  type EndpointStatus,
  type TargetRole,
  type UserAuthInput,
} from './proxy-settings.js';
import { newProxyId, proxyArn } from './resource-id.js';

const KIND = 'rds-proxy';

/** The instances a proxy may target and whose addresses its endpoints must not take (InstanceRegistry fits). */
export interface ProxyInstanceLookup {
  get(id: string): { readonly id: string; readonly engine: 'postgres' | 'mysql' } | undefined;
  list(): ReadonlyArray<{ readonly listen: HostPort }>;
}

export interface CreateProxyInput {
  readonly name: string;
  readonly engineFamily: string;
  readonly roleArn: string;
  readonly auth: readonly UserAuthInput[];
  readonly defaultAuthScheme?: string | undefined;
  readonly requireTls?: boolean | undefined;
  readonly idleClientTimeout?: number | undefined;
  readonly debugLogging?: boolean | undefined;
  readonly vpcSubnetIds: readonly string[];
  readonly vpcSecurityGroupIds?: readonly string[] | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  /** The `iamdb:listen` address asked for; else the next free port of the range. */
  readonly listen?: HostPort | undefined;
  /** A `prx-` id chosen beforehand (newProxyId), so a request can be authorized on the ARN the proxy will have. */
  readonly resourceId?: string | undefined;
}

export interface ModifyProxyInput {
  readonly newName?: string | undefined;
  /** Replaces the whole list, as ModifyDBProxy's Auth does. */
  readonly auth?: readonly UserAuthInput[] | undefined;
  readonly defaultAuthScheme?: string | undefined;
  readonly requireTls?: boolean | undefined;
  readonly idleClientTimeout?: number | undefined;
  readonly debugLogging?: boolean | undefined;
  readonly roleArn?: string | undefined;
  readonly vpcSecurityGroupIds?: readonly string[] | undefined;
}

export interface CreateEndpointInput {
  readonly proxyName: string;
  readonly name: string;
  readonly targetRole?: string | undefined;
  readonly vpcSubnetIds: readonly string[];
  readonly vpcSecurityGroupIds?: readonly string[] | undefined;
  readonly tags?: Readonly<Record<string, string>> | undefined;
  readonly listen?: HostPort | undefined;
  /** A `prx-endpoint-` id chosen beforehand, as CreateProxyInput.resourceId. */
  readonly id?: string | undefined;
}

/** A proxy of the config file: CreateProxyInput plus its targets, pool settings and extra endpoints. */
export interface ProxyDefinition extends CreateProxyInput {
  readonly targets: readonly string[];
  readonly connectionPool: ConnectionPoolInput;
  readonly endpoints: ReadonlyArray<Omit<CreateEndpointInput, 'proxyName' | 'tags' | 'id'>>;
}

/**
 * What subscribers hear. `endpoint-added`: start listening, then call endpointListening or
 * endpointFailed. `endpoint-removed`: stop listening, then call endpointClosed. `proxy-changed`:
 * settings, targets or status changed (read the new snapshot).
 */
export type ProxyEvent =
  | { readonly type: 'endpoint-added'; readonly proxy: DbProxy; readonly endpoint: ProxyEndpoint }
  | { readonly type: 'endpoint-removed'; readonly proxy: DbProxy; readonly endpoint: ProxyEndpoint }
  | { readonly type: 'proxy-changed'; readonly proxy: DbProxy };

export interface ProxyRegistryOptions {
  readonly store: StateStore;
  readonly clock: Clock;
  readonly where: { readonly partition: string; readonly region: string; readonly account: string };
  readonly listen: ProxyListenSettings;
  readonly instances: ProxyInstanceLookup;
  readonly probe: BindProbe;
  readonly definitions?: readonly ProxyDefinition[];
}

function invalid(message: string): IamdbError {
  return new IamdbError('RDS_INVALID_PARAMETER', { message });
}

function digestOf(def: ProxyDefinition): string {
  return createHash('sha256').update(JSON.stringify(def)).digest('hex');
}

/** When DebugLogging counts from after a change: kept while on and not expired, restarted when switched on again, gone when off. */
function debugLoggingSinceAfter(proxy: DbProxy, on: boolean | undefined, now: number): number | undefined {
  if (on === undefined) return proxy.debugLoggingSince;
  if (!on) return undefined;
  const since = proxy.debugLoggingSince;
  return since !== undefined && since + DEBUG_LOGGING_MS > now ? since : now;
}

export class ProxyRegistry {
  /** By resource id. */
  readonly #proxies = new Map<string, DbProxy>();
  readonly #digests = new Map<string, string>();
  readonly #listeners = new Set<(event: ProxyEvent) => void>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(private readonly opts: ProxyRegistryOptions) {}

  /**
   * Loads the stored proxies and the config file's. A proxy of the file is rebuilt from it when
   * its definition changed since the last start (API changes to it stick until then); one no
   * longer in the file is deleted. Everything comes back `creating` until its endpoints listen.
   */
  static async open(opts: ProxyRegistryOptions): Promise<ProxyRegistry> {
    const reg = new ProxyRegistry(opts);
    const stored = (await opts.store.list<StoredProxy>(KIND)).map((r) => r.data);
    const names: string[] = [];
    const problem = (i: number, err: unknown): IamdbError =>
      new IamdbError('CONFIG_INVALID', { problems: `  proxies[${i}]: ${err instanceof IamdbError ? err.message : String(err)}`, count: 1 });
    for (const [i, def] of (opts.definitions ?? []).entries()) {
      try {
        const name = proxyIdentifier(def.name, 'DBProxyName');
        if (names.includes(name)) throw invalid(`duplicate proxy name ${name}`);
        names.push(name);
      } catch (err) {
        throw problem(i, err);
      }
    }
    // The API's proxies first, so that ports given to the file's new proxies avoid theirs.
    for (const s of stored) {
      const gone = s.deleting === true || (s.configDigest !== undefined && !names.includes(s.name));
      if (gone) await opts.store.delete(KIND, s.resourceId);
      else if (!names.includes(s.name)) reg.#set(reg.#restore(s, false));
    }
    for (const [i, def] of (opts.definitions ?? []).entries()) {
      try {
        // A stored proxy of the same name, API-made or not, becomes the file's (keeping its resource id).
        await reg.#loadDefinition(def, stored.find((s) => s.deleting !== true && s.name === names[i]));
      } catch (err) {
        throw problem(i, err);
      }
    }
    return reg;
  }

  // ---- reading -------------------------------------------------------------

  list(): DbProxy[] {
    return [...this.#proxies.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): DbProxy | undefined {
    const key = name.toLowerCase();
    return this.list().find((p) => p.name === key);
  }

  byResourceId(resourceId: string): DbProxy | undefined {
    return this.#proxies.get(resourceId);
  }

  /** An endpoint by name (the default one is named like its proxy). */
  endpoint(name: string): { proxy: DbProxy; endpoint: ProxyEndpoint } | undefined {
    const key = name.toLowerCase();
    return this.#findEndpoint((e) => e.name === key);
  }

  /** An endpoint by its `prx-endpoint-` id, which never changes. */
  endpointById(id: string): { proxy: DbProxy; endpoint: ProxyEndpoint } | undefined {
    return this.#findEndpoint((e) => e.id === id);
  }

  #findEndpoint(match: (e: ProxyEndpoint) => boolean): { proxy: DbProxy; endpoint: ProxyEndpoint } | undefined {
    for (const proxy of this.#proxies.values()) {
      const endpoint = proxy.endpoints.find(match);
      if (endpoint !== undefined) return { proxy, endpoint };
    }
    return undefined;
  }

  /** The proxies that have `instanceId` as a target. */
  targetsOf(instanceId: string): DbProxy[] {
    const key = instanceId.toLowerCase();
    return this.list().filter((p) => p.targetGroup.targets.some((t) => t.instanceId === key));
  }

  on(listener: (event: ProxyEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  // ---- proxies ---------------------------------------------------------------

  create(input: CreateProxyInput): Promise<DbProxy> {
    return this.#serially(async () => {
      const proxy = await this.#build(input, false);
      await this.#save(proxy);
      this.#emit({ type: 'endpoint-added', proxy, endpoint: proxy.endpoints[0]! });
      return proxy;
    });
  }

  /**
   * ModifyDBProxy. The answer says `modifying`, as AWS's does; the change is in force (stored,
   * subscribers told) by the time it is returned, so the next Describe says `available`.
   */
  modify(name: string, change: ModifyProxyInput): Promise<DbProxy> {
    return this.#serially(async () => {
      const proxy = this.#must(name);
      if (proxy.status === 'creating' || proxy.status === 'deleting') throw this.#wrongState(proxy);
      const now = this.opts.clock.now();
      let newName = proxy.name;
      if (change.newName !== undefined) {
        newName = proxyIdentifier(change.newName, 'NewDBProxyName');
        if (proxy.fromConfig && newName !== proxy.name) throw invalid(`DB proxy ${proxy.name} is defined in the config file; rename it there.`);
        if (newName !== proxy.name) this.#checkNameFree(newName);
      }
      const scheme = defaultAuthSchemeOf(change.defaultAuthScheme ?? proxy.defaultAuthScheme);
      const auth = change.auth !== undefined || scheme !== proxy.defaultAuthScheme ? userAuthList(change.auth ?? proxy.auth, proxy.engineFamily, scheme) : proxy.auth;
      const next: DbProxy = {
        ...proxy,
        name: newName,
        defaultAuthScheme: scheme,
        auth,
        requireTls: change.requireTls ?? proxy.requireTls,
        idleClientTimeout: change.idleClientTimeout !== undefined ? idleClientTimeoutOf(change.idleClientTimeout) : proxy.idleClientTimeout,
        debugLoggingSince: debugLoggingSinceAfter(proxy, change.debugLogging, now),
        roleArn: change.roleArn !== undefined ? roleArnOf(change.roleArn, this.opts.where.partition) : proxy.roleArn,
        vpcSecurityGroupIds: change.vpcSecurityGroupIds ?? proxy.vpcSecurityGroupIds,
        endpoints: proxy.endpoints.map((e) => (e.isDefault ? { ...e, name: newName } : e)),
        updatedAt: now,
      };
      // `modifying` for whoever looks while the change is stored.
      this.#set({ ...next, status: 'modifying' });
      const saved = await this.#save(next).catch((err: unknown) => {
        this.#set(proxy);
        throw err;
      });
      this.#emit({ type: 'proxy-changed', proxy: saved });
      return frozen({ ...next, status: 'modifying' });
    });
  }

  /** DeleteDBProxy: `deleting` until every endpoint has stopped listening (endpointClosed), then gone. */
  delete(name: string): Promise<DbProxy> {
    return this.#serially(async () => {
      const proxy = this.#must(name);
      if (proxy.fromConfig) throw new IamdbError('RDS_PROXY_INVALID_STATE', { message: `DB proxy ${proxy.name} is defined in the config file; remove it there.` });
      if (proxy.status === 'deleting') throw this.#wrongState(proxy);
      const deleting: DbProxy = { ...proxy, status: 'deleting', endpoints: proxy.endpoints.map((e) => ({ ...e, status: 'deleting' })) };
      await this.#save(deleting);
      for (const endpoint of deleting.endpoints) this.#emit({ type: 'endpoint-removed', proxy: deleting, endpoint });
      return this.#proxies.get(proxy.resourceId) ?? deleting;
    });
  }

  // ---- target group ------------------------------------------------------------

  registerTargets(name: string, group: string | undefined, instanceIds: readonly string[]): Promise<ProxyTarget[]> {
    return this.#serially(async () => {
      const proxy = this.#changeable(name, group);
      const now = this.opts.clock.now();
      const added: ProxyTarget[] = [];
      const targets = [...proxy.targetGroup.targets];
      for (const raw of instanceIds) {
        const inst = this.opts.instances.get(raw);
        if (inst === undefined) throw new IamdbError('RDS_DB_INSTANCE_NOT_FOUND', { id: raw.slice(0, 63) });
        const instanceId = inst.id.toLowerCase();
        if (targets.some((t) => t.instanceId === instanceId)) throw new IamdbError('RDS_PROXY_TARGET_ALREADY_REGISTERED', { id: instanceId, name: proxy.name });
        if (familyOfEngine(inst.engine) !== proxy.engineFamily) {
          throw invalid(`DB instance ${instanceId} runs ${inst.engine === 'postgres' ? 'PostgreSQL' : 'MySQL or MariaDB'}, which the ${proxy.engineFamily} engine family of DB proxy ${proxy.name} does not speak.`);
        }
        if (targets.length >= PROXY_LIMITS.targets) {
          throw invalid(`DB proxy ${proxy.name} already has ${targets.length} targets; a target group takes at most ${PROXY_LIMITS.targets} DB instances.`);
        }
        // The first target is registered as the writer, the others as its replicas; target health sees which is which.
        const target: ProxyTarget = { instanceId, role: targets.some((t) => t.role === 'READ_WRITE') ? 'READ_ONLY' : 'READ_WRITE', registeredAt: now };
        targets.push(target);
        added.push(target);
      }
      await this.#replaceTargetGroup(proxy, { targets, updatedAt: now });
      return added;
    });
  }

  deregisterTargets(name: string, group: string | undefined, instanceIds: readonly string[]): Promise<void> {
    return this.#serially(async () => {
      const proxy = this.#changeable(name, group);
      const remove = new Set(instanceIds.map((id) => id.toLowerCase()));
      for (const id of remove) {
        if (!proxy.targetGroup.targets.some((t) => t.instanceId === id)) throw new IamdbError('RDS_PROXY_TARGET_NOT_FOUND', { id, group: DEFAULT_TARGET_GROUP, name: proxy.name });
      }
      const targets = proxy.targetGroup.targets.filter((t) => !remove.has(t.instanceId));
      // The registered writer gone, the first replica left takes its place (until health sees otherwise).
      if (targets.length > 0 && !targets.some((t) => t.role === 'READ_WRITE')) targets[0] = { ...targets[0]!, role: 'READ_WRITE' };
      await this.#replaceTargetGroup(proxy, { targets, updatedAt: this.opts.clock.now() });
    });
  }

  modifyTargetGroup(name: string, group: string, pool: ConnectionPoolInput): Promise<DbProxy> {
    return this.#serially(async () => {
      const proxy = this.#changeable(name, group);
      const connectionPool = connectionPoolConfig(pool, proxy.engineFamily, proxy.targetGroup.connectionPool);
      return this.#replaceTargetGroup(proxy, { connectionPool, updatedAt: this.opts.clock.now() });
    });
  }

  // ---- endpoints ------------------------------------------------------------------

  createEndpoint(input: CreateEndpointInput): Promise<{ proxy: DbProxy; endpoint: ProxyEndpoint }> {
    return this.#serially(async () => {
      const proxy = this.#must(input.proxyName);
      if (proxy.status === 'deleting') throw this.#wrongState(proxy);
      const endpoint = await this.#newEndpoint(proxy, input, false);
      const next: DbProxy = { ...proxy, endpoints: [...proxy.endpoints, endpoint] };
      await this.#save(next);
      this.#emit({ type: 'endpoint-added', proxy: next, endpoint });
      return { proxy: next, endpoint };
    });
  }

  /** DeleteDBProxyEndpoint: `deleting` until it has stopped listening. The default endpoint goes only with its proxy. */
  deleteEndpoint(name: string): Promise<ProxyEndpoint> {
    return this.#serially(async () => {
      const found = this.endpoint(name);
      if (found === undefined) throw new IamdbError('RDS_PROXY_ENDPOINT_NOT_FOUND', { name: name.slice(0, 63) });
      const { proxy, endpoint } = found;
      const refuse = (message: string): IamdbError => new IamdbError('RDS_PROXY_ENDPOINT_INVALID_STATE', { message });
      if (endpoint.isDefault) throw refuse(`${endpoint.name} is the default endpoint of DB proxy ${proxy.name}; it is deleted with the proxy.`);
      if (endpoint.fromConfig) throw refuse(`DB proxy endpoint ${endpoint.name} is defined in the config file; remove it there.`);
      if (endpoint.status === 'deleting') throw refuse(`DB proxy endpoint ${endpoint.name} is already being deleted.`);
      const gone: ProxyEndpoint = { ...endpoint, status: 'deleting' };
      const next: DbProxy = { ...proxy, endpoints: proxy.endpoints.map((e) => (e.id === endpoint.id ? gone : e)) };
      await this.#save(next);
      this.#emit({ type: 'endpoint-removed', proxy: next, endpoint: gone });
      return this.endpointById(endpoint.id)?.endpoint ?? gone;
    });
  }

  // ---- tags ---------------------------------------------------------------------------

  /** Replaces the tags of a proxy (its resource id) or of one of its endpoints (a `prx-endpoint-` id). */
  setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    return this.#serially(async () => {
      const proxy = this.#proxies.get(id) ?? this.endpointById(id)?.proxy;
      if (proxy === undefined) throw new IamdbError('RDS_PROXY_NOT_FOUND', { name: id.slice(0, 63) });
      checkProxyTags(tags, {});
      const next: DbProxy = proxy.resourceId === id ? { ...proxy, tags: { ...tags } } : { ...proxy, endpoints: proxy.endpoints.map((e) => (e.id === id ? { ...e, tags: { ...tags } } : e)) };
      // Tags are aws:ResourceTag/* of a login's authorization, so the data path hears of them too.
      this.#emit({ type: 'proxy-changed', proxy: await this.#save(next) });
    });
  }

  // ---- what the composition root reports back ---------------------------------------------

  /** The endpoint listens: it is `available`, and so is its proxy once its default endpoint is. */
  endpointListening(endpointId: string): Promise<void> {
    return this.#setEndpointStatus(endpointId, 'available');
  }

  /** The endpoint cannot listen (its address is taken): `incompatible-network`, AWS's word for a proxy its network cannot serve. */
  endpointFailed(endpointId: string): Promise<void> {
    return this.#setEndpointStatus(endpointId, 'incompatible-network');
  }

  /** The endpoint has stopped listening after endpoint-removed: it is forgotten, and so is its proxy when that was being deleted. */
  endpointClosed(endpointId: string): Promise<void> {
    return this.#serially(async () => {
      const found = this.endpointById(endpointId);
      if (found === undefined || found.endpoint.status !== 'deleting') return;
      const { proxy } = found;
      const endpoints = proxy.endpoints.filter((e) => e.id !== endpointId);
      if (proxy.status === 'deleting' && endpoints.length === 0) {
        await this.opts.store.delete(KIND, proxy.resourceId);
        this.#proxies.delete(proxy.resourceId);
        this.#digests.delete(proxy.resourceId);
        return;
      }
      await this.#save({ ...proxy, endpoints });
    });
  }

  // ---- internals -------------------------------------------------------------------------

  #serially<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#queue.catch(() => undefined).then(op);
    this.#queue = run;
    return run;
  }

  #emit(event: ProxyEvent): void {
    for (const l of this.#listeners) l(event);
  }

  #set(proxy: DbProxy): DbProxy {
    const snapshot = frozen(proxy);
    this.#proxies.set(proxy.resourceId, snapshot);
    return snapshot;
  }

  /** Stores the proxy, then makes it what everyone reads. */
  async #save(proxy: DbProxy): Promise<DbProxy> {
    await this.opts.store.put(KIND, proxy.resourceId, storedFormOf(proxy, this.#digests.get(proxy.resourceId)));
    return this.#set(proxy);
  }

  #must(name: string): DbProxy {
    const proxy = this.get(name);
    if (proxy === undefined) throw new IamdbError('RDS_PROXY_NOT_FOUND', { name: name.slice(0, 63) });
    return proxy;
  }

  #wrongState(proxy: DbProxy): IamdbError {
    return new IamdbError('RDS_PROXY_INVALID_STATE', { message: `DB proxy ${proxy.name} is ${proxy.status}; the requested operation can't be performed while the proxy is in this state.` });
  }

  /** A proxy whose target group may change: it exists, is not being deleted, and the group is `default`. */
  #changeable(name: string, group: string | undefined): DbProxy {
    const proxy = this.#must(name);
    if (group !== undefined && group !== DEFAULT_TARGET_GROUP) throw new IamdbError('RDS_PROXY_TARGET_GROUP_NOT_FOUND', { group: group.slice(0, 63), name: proxy.name });
    if (proxy.status === 'deleting') throw this.#wrongState(proxy);
    return proxy;
  }

  async #replaceTargetGroup(proxy: DbProxy, change: Partial<DbProxy['targetGroup']>): Promise<DbProxy> {
    const next = await this.#save({ ...proxy, targetGroup: { ...proxy.targetGroup, ...change } });
    this.#emit({ type: 'proxy-changed', proxy: next });
    return next;
  }

  /** Proxy names and endpoint names share one space: a default endpoint is named like its proxy. */
  #checkNameFree(name: string): void {
    if (this.get(name) !== undefined) throw new IamdbError('RDS_PROXY_ALREADY_EXISTS', { name });
    if (this.endpoint(name) !== undefined) throw new IamdbError('RDS_PROXY_ENDPOINT_ALREADY_EXISTS', { name });
  }

  #takenAddresses(): HostPort[] {
    return [...this.opts.instances.list().map((i) => i.listen), ...[...this.#proxies.values()].flatMap((p) => p.endpoints.map((e) => e.listen))];
  }

  /** A new proxy from a request or a definition: every rule checked before anything is stored. */
  async #build(input: CreateProxyInput, fromConfig: boolean, reuse?: StoredProxy): Promise<DbProxy> {
    const { where, clock } = this.opts;
    const name = proxyIdentifier(input.name, 'DBProxyName');
    if (reuse === undefined) this.#checkNameFree(name);
    const active = [...this.#proxies.values()].filter((p) => p.status !== 'deleting').length;
    if (reuse === undefined && active >= PROXY_LIMITS.proxiesPerRegion) throw new IamdbError('RDS_PROXY_QUOTA_EXCEEDED', { limit: PROXY_LIMITS.proxiesPerRegion });
    const engineFamily = engineFamilyOf(input.engineFamily);
    const defaultAuthScheme = defaultAuthSchemeOf(input.defaultAuthScheme);
    const auth = userAuthList(input.auth, engineFamily, defaultAuthScheme);
    const roleArn = roleArnOf(input.roleArn, where.partition);
    const idleClientTimeout = idleClientTimeoutOf(input.idleClientTimeout);
    const tags = { ...(input.tags ?? {}) };
    checkProxyTags(tags, tags);
    const now = clock.now();
    const resourceId = reuse?.resourceId ?? input.resourceId ?? newProxyId('prx');
    const proxy: DbProxy = {
      name,
      resourceId,
      arn: proxyArn(where, 'db-proxy', resourceId),
      engineFamily,
      roleArn,
      auth,
      defaultAuthScheme,
      requireTls: input.requireTls ?? false,
      idleClientTimeout,
      debugLoggingSince: input.debugLogging === true ? (reuse?.debugLoggingSince ?? now) : undefined,
      vpcId: vpcIdFor(where),
      vpcSubnetIds: [...input.vpcSubnetIds],
      vpcSecurityGroupIds: [...(input.vpcSecurityGroupIds ?? [])],
      status: 'creating',
      createdAt: reuse?.createdAt ?? now,
      updatedAt: now,
      tags,
      targetGroup: this.#targetGroupOf(reuse?.targetGroup.id ?? newProxyId('prx-tg'), reuse?.targetGroup.createdAt ?? now, engineFamily, {}),
      endpoints: [],
      fromConfig,
    };
    const reusedDefault = reuse?.endpoints.find((e) => e.isDefault);
    const endpoint = await this.#newEndpoint(proxy, { proxyName: name, name, vpcSubnetIds: input.vpcSubnetIds, vpcSecurityGroupIds: input.vpcSecurityGroupIds, listen: input.listen ?? reusedDefault?.listen }, fromConfig, true, reusedDefault);
    return { ...proxy, endpoints: [endpoint] };
  }

  #targetGroupOf(id: string, createdAt: number, family: DbProxy['engineFamily'], pool: ConnectionPoolInput): DbProxy['targetGroup'] {
    return { id, arn: proxyArn(this.opts.where, 'target-group', id), name: DEFAULT_TARGET_GROUP, connectionPool: connectionPoolConfig(pool, family), targets: [], createdAt, updatedAt: createdAt };
  }

  async #newEndpoint(
    proxy: DbProxy,
    input: Omit<CreateEndpointInput, 'tags'> & { tags?: Readonly<Record<string, string>> | undefined },
    fromConfig: boolean,
    isDefault = false,
    reuse?: StoredProxy['endpoints'][number],
  ): Promise<ProxyEndpoint> {
    const name = proxyIdentifier(input.name, 'DBProxyEndpointName');
    if (!isDefault) {
      if (reuse === undefined) this.#checkNameFree(name);
      if (proxy.endpoints.filter((e) => !e.isDefault).length >= PROXY_LIMITS.extraEndpoints) {
        throw new IamdbError('RDS_PROXY_ENDPOINT_QUOTA_EXCEEDED', { name: proxy.name, limit: PROXY_LIMITS.extraEndpoints });
      }
    }
    const targetRole = input.targetRole ?? 'READ_WRITE';
    if (targetRole !== 'READ_WRITE' && targetRole !== 'READ_ONLY') throw invalid(`Invalid TargetRole: ${targetRole.slice(0, 32)}. Valid values: READ_WRITE | READ_ONLY.`);
    if (isDefault && targetRole !== 'READ_WRITE') throw invalid('The default endpoint of a DB proxy is READ_WRITE.');
    const tags = { ...(input.tags ?? {}) };
    checkProxyTags(tags, tags);
    // A definition or a restart keeps its address; a new endpoint gets one now (checked free and bindable).
    const listen = reuse !== undefined || fromConfig ? (input.listen ?? reuse?.listen) : undefined;
    const id = reuse?.id ?? input.id ?? newProxyId('prx-endpoint');
    return {
      id,
      arn: proxyArn(this.opts.where, 'db-proxy-endpoint', id),
      name,
      isDefault,
      targetRole: targetRole as TargetRole,
      vpcSubnetIds: [...input.vpcSubnetIds],
      vpcSecurityGroupIds: [...(input.vpcSecurityGroupIds ?? [])],
      listen: listen ?? (await allocateListenAddress(this.opts.listen, this.#takenAddresses(), this.opts.probe, input.listen)),
      status: 'creating',
      createdAt: reuse?.createdAt ?? this.opts.clock.now(),
      tags: reuse?.tags ?? tags,
      fromConfig,
    };
  }

  /** A proxy of the config file: the stored record while the definition is unchanged, else rebuilt from it. */
  async #loadDefinition(def: ProxyDefinition, stored: StoredProxy | undefined): Promise<void> {
    const digest = digestOf(def);
    if (stored !== undefined && stored.configDigest === digest) {
      this.#digests.set(stored.resourceId, digest);
      this.#set(this.#restore(stored, true));
      return;
    }
    let proxy = await this.#build(def, true, stored);
    // Temporarily visible, so that the next endpoint's address allocation sees this proxy's.
    this.#set(proxy);
    const targets: ProxyTarget[] = [];
    for (const id of def.targets) {
      const inst = this.opts.instances.get(id);
      if (inst === undefined) throw invalid(`targets: no instance ${id} in instances`);
      if (familyOfEngine(inst.engine) !== proxy.engineFamily) throw invalid(`targets: instance ${id} (${inst.engine}) does not match engineFamily ${proxy.engineFamily}`);
      if (targets.length >= PROXY_LIMITS.targets) throw invalid(`targets: a proxy takes at most ${PROXY_LIMITS.targets} targets`);
      targets.push({ instanceId: inst.id.toLowerCase(), role: targets.length === 0 ? 'READ_WRITE' : 'READ_ONLY', registeredAt: this.opts.clock.now() });
    }
    proxy = { ...proxy, targetGroup: { ...proxy.targetGroup, connectionPool: connectionPoolConfig(def.connectionPool, proxy.engineFamily), targets } };
    for (const e of def.endpoints) {
      const reuse = stored?.endpoints.find((s) => !s.isDefault && s.name === e.name.toLowerCase());
      const endpoint = await this.#newEndpoint(proxy, { ...e, proxyName: proxy.name, tags: {} }, true, false, reuse);
      proxy = this.#set({ ...proxy, endpoints: [...proxy.endpoints, endpoint] });
    }
    // Endpoints the API added to this proxy stay.
    const configured = new Set(proxy.endpoints.map((e) => e.id));
    const added = (stored?.endpoints ?? []).filter((e) => !e.fromConfig && e.deleting !== true && !configured.has(e.id));
    proxy = { ...proxy, endpoints: [...proxy.endpoints, ...added.map((e) => this.#restoredEndpoint(e))] };
    this.#digests.set(proxy.resourceId, digest);
    await this.#save(proxy);
  }

  #restoredEndpoint(e: StoredProxy['endpoints'][number]): ProxyEndpoint {
    const { deleting: _deleting, ...rest } = e;
    return { ...rest, arn: proxyArn(this.opts.where, 'db-proxy-endpoint', e.id), status: 'creating' };
  }

  #restore(s: StoredProxy, fromConfig: boolean): DbProxy {
    const { where } = this.opts;
    const { deleting: _deleting, configDigest: _digest, ...rest } = s;
    return frozen({
      ...rest,
      arn: proxyArn(where, 'db-proxy', s.resourceId),
      debugLoggingSince: s.debugLoggingSince,
      vpcId: vpcIdFor(where),
      status: 'creating',
      targetGroup: { ...s.targetGroup, arn: proxyArn(where, 'target-group', s.targetGroup.id), name: DEFAULT_TARGET_GROUP },
      endpoints: s.endpoints.filter((e) => e.deleting !== true).map((e) => this.#restoredEndpoint(e)),
      fromConfig,
    });
  }

  /** Statuses are not stored (a restart begins at `creating`), but change in turn with everything else. */
  #setEndpointStatus(endpointId: string, status: EndpointStatus): Promise<void> {
    return this.#serially(async () => {
      const found = this.endpointById(endpointId);
      if (found === undefined || found.endpoint.status === 'deleting') return;
      const { proxy, endpoint } = found;
      const endpoints = proxy.endpoints.map((e) => (e.id === endpoint.id ? { ...e, status } : e));
      let proxyStatus = proxy.status;
      if (endpoint.isDefault && proxy.status !== 'deleting') proxyStatus = status === 'available' ? 'available' : 'incompatible-network';
      const next = this.#set({ ...proxy, endpoints, status: proxyStatus });
      this.#emit({ type: 'proxy-changed', proxy: next });
    });
  }
}
