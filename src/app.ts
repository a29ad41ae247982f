/**
 * The composition root: the only place that picks drivers and wires modules
 * together. `createApp(config)` builds an iamdb (state store, master key,
 * IAM, certificate authority, instances, one listener per endpoint) without
 * singletons, so one process (a test) can run several.
 */
import { isIP } from 'node:net';
import { networkInterfaces, hostname } from 'node:os';
import { join } from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import pino, { type Logger } from 'pino';
import { createFileAuditSink, teeAuditSinks, type AuditSink } from './audit/index.js';
import type { Config } from './config/index.js';
import { createSealer, loadOrCreateMasterKey, type Sealer } from './crypto/index.js';
import { EndpointListener, type ConnectionContext } from './gateway/listener.js';
import { PreAuthLimiter } from './gateway/pre-auth.js';
import { ServerLoginSlots } from './gateway/server-login-slots.js';
import { NodeClientTls, type ClientTlsTerminator } from './gateway/client-tls.js';
import { nativeDataPath } from './gateway/native-data-path.js';
import { IamdbError } from './errors/index.js';
import { IamLogin } from './gateway/iam-login.js';
import { CancelMap } from './gateway/postgres/cancel-map.js';
import { PostgresControl } from './gateway/postgres/control.js';
import { handlePostgresSession } from './gateway/postgres/session.js';
import { handleMysqlSession } from './gateway/mysql/session.js';
import { SaltedPasswordCache, SqlState, encodeErrorResponse } from './protocol/postgres/index.js';
import { encodePacket, errPacketFor } from './protocol/mysql/index.js';
import { MysqlIamUsers } from './gateway/mysql/iam-users.js';
import { MysqlControl } from './gateway/mysql/control.js';
import { MysqlConnectionIds } from './gateway/mysql/connection-ids.js';
import { ServerProfileCache } from './gateway/mysql/greeting.js';
import { learnProfileByLogin } from './gateway/mysql/profile-login.js';
import {
  InstanceRegistry,
  ManagedCredentials,
  ProxyCredentials,
  ProxyRegistry,
  endpointsFor,
  parseHostPort,
  parsePortRange,
  type DbInstance,
  type HostPort,
  type InstanceDefinition,
  type ProxyDefinition,
  type ProxyEndpoint,
  type TargetHealthPort,
} from './rds/index.js';
import { ProxyListeners, canBind, type ProxyConnectionHandler } from './gateway/proxy/proxy-listeners.js';
import { ProxyService, proxyAuthInput } from './gateway/proxy/proxy-service.js';
import type { PoolStats } from './gateway/proxy/postgres-pool.js';
import { TargetHealthChecker } from './gateway/proxy/target-health.js';
import { NO_CONNECTION_EVENTS } from './gateway/proxy/connection-events.js';
import { reportedRoleOf, type TargetObservations } from './gateway/proxy/target-choice.js';
import { openSqliteStore, type StateStore } from './store/index.js';
import { SessionCredentialIssuer } from './sts/index.js';
import { loadOrCreateCa, issueServerCertificate, type CertificateAuthority } from './tls/index.js';
import { systemClock, type Clock } from './util/index.js';
import { IamRuntime } from './iam-runtime.js';
import { ApiServer } from './api/server.js';
import { ensureBootstrapAdmin } from './api/bootstrap-admin.js';
import { stsService } from './api/services/sts.js';
import { iamService } from './api/services/iam.js';
import { rdsService } from './api/services/rds.js';
import { withProxyActions } from './api/services/rds-proxy.js';
import { kmsService } from './api/services/kms.js';
import { secretsManagerService } from './api/services/secretsmanager.js';
import { Keyring } from './kms/index.js';
import { MetricsServer, ProxyMetrics, iamAuthMetricsSink, type PoolSample, type TargetAvailability } from './metrics/index.js';
import { Registry as MetricsRegistry, collectDefaultMetrics } from 'prom-client';
import { SecretRegistry } from './secrets/index.js';

export interface AppDeps {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Extra audit sink (tests keep events in memory). */
  readonly audit?: AuditSink;
  /** Serves a client of a proxy endpoint; default: RDS Proxy's generic failure (generic-failure.ts) until the pooler is wired. */
  readonly handleProxyConnection?: ProxyConnectionHandler;
  /** A proxy target's health for DescribeDBProxyTargets; default: UNAVAILABLE, not checked yet. */
  readonly targetHealth?: TargetHealthPort;
}

export interface RunningEndpoint {
  readonly instance: DbInstance;
  readonly host: string;
  readonly port: number;
  /** How client TLS and the relay run on this endpoint. */
  readonly dataPath: 'node' | 'native';
}

export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly store: StateStore;
  readonly sealer: Sealer;
  readonly instances: InstanceRegistry;
  /** RDS Proxies (config file and API); their endpoints listen from start() on. */
  readonly proxies: ProxyRegistry;
  /** The pools of proxy endpoints, by proxy/target/user/database, with the native side's counters. */
  proxyPools(): ReadonlyMap<string, { snapshot(): PoolStats; readonly maxServers: number }>;
  readonly iam: IamRuntime;
  /** KMS keys (sealed by the master key) and Secrets Manager secrets (envelope-encrypted under them). */
  readonly keyring: Keyring;
  readonly secrets: SecretRegistry;
  readonly sessions: SessionCredentialIssuer;
  readonly ca: CertificateAuthority;
  readonly endpoints: readonly RunningEndpoint[];
  /** The control plane's URL once started, when `api.listen` is set. */
  readonly apiUrl: string | undefined;
  /** The Prometheus scrape URL (…/metrics) once started, when `metrics.listen` is set. */
  readonly metricsUrl: string | undefined;
  /** Starts listening on every endpoint. */
  start(): Promise<void>;
  /** Stops accepting, lets sessions end up to the drain timeout, then closes everything. */
  close(): Promise<void>;
}

function endpointNames(inst: Pick<DbInstance, 'endpoints' | 'listen'>): { dnsNames: string[]; ipAddresses: string[] } {
  const dns = new Set<string>();
  const ips = new Set<string>();
  const add = (h: string): void => {
    if (isIP(h)) ips.add(h);
    else dns.add(h.toLowerCase());
  };
  for (const e of inst.endpoints) add(e.host);
  if (inst.listen.host === '0.0.0.0' || inst.listen.host === '::') {
    add(hostname());
    add('localhost');
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) add(a.address);
  }
  return { dnsNames: [...dns], ipAddresses: [...ips] };
}

/** Tags of the config file, a `key: value` map or a list of `{Key, Value}`, as one record. */
function tagsOf(tags: Config['instances'][number]['tags']): Record<string, string> {
  return Array.isArray(tags) ? Object.fromEntries(tags.map((t: { Key: string; Value: string }) => [t.Key, t.Value])) : { ...((tags as Record<string, string> | undefined) ?? {}) };
}

function proxyDefinitionOf(p: Config['proxies'][number]): ProxyDefinition {
  return {
    name: p.name,
    engineFamily: p.engineFamily,
    roleArn: p.roleArn,
    auth: p.auth,
    defaultAuthScheme: p.defaultAuthScheme,
    requireTls: p.requireTls,
    idleClientTimeout: p.idleClientTimeout,
    debugLogging: p.debugLogging,
    vpcSubnetIds: p.vpcSubnetIds,
    vpcSecurityGroupIds: p.vpcSecurityGroupIds,
    tags: tagsOf(p.tags),
    listen: p.listen === undefined ? undefined : parseHostPort(p.listen),
    targets: p.targets,
    connectionPool: p.connectionPool,
    endpoints: p.endpoints.map((e) => ({ ...e, listen: e.listen === undefined ? undefined : parseHostPort(e.listen) })),
  };
}

/** PostgreSQL's own words when it has no room: FATAL 53300, before the client's first byte is read. */
const postgresTooManyClients = (): Buffer =>
  encodeErrorResponse({ severity: 'FATAL', code: SqlState.TOO_MANY_CONNECTIONS, message: 'sorry, too many clients already' });
/** MySQL's answer instead of a greeting when it has no room: ERR 1040. */
const mysqlTooManyConnections = (): Buffer => encodePacket(errPacketFor('ER_CON_COUNT_ERROR', 'Too many connections'), 0);

export async function createApp(config: Config, deps: AppDeps = {}): Promise<App> {
  const env = deps.env ?? {};
  const clock = deps.clock ?? systemClock;
  const logger = deps.logger ?? pino({ level: config.log.level, base: { service: 'iamdb' } });
  mkdirSync(config.stateDirPath, { recursive: true, mode: 0o700 });

  const masterKey = await loadOrCreateMasterKey({ env, filePath: config.masterKeyPath, create: true, stateDir: config.stateDirPath });
  if (masterKey.source === 'created') logger.warn({ path: masterKey.path }, 'created a new master key; back it up: without it the state directory cannot be read');
  const sealer = createSealer(masterKey.key);
  const store = await openSqliteStore(join(config.stateDirPath, 'state.db'));
  // Metrics are served only when metrics.listen is set; IAM logins on instance endpoints are counted from the audit events.
  const metricsRegistry = config.metrics.listen === undefined ? undefined : new MetricsRegistry();
  const fileAudit = createFileAuditSink(config.auditPath);
  const auditSinks = [fileAudit, ...(deps.audit ? [deps.audit] : []), ...(metricsRegistry ? [iamAuthMetricsSink(metricsRegistry)] : [])];
  const audit: AuditSink = auditSinks.length === 1 ? fileAudit : teeAuditSinks(...auditSinks);

  const sessions = new SessionCredentialIssuer(sealer.deriveKey('sts/session-token'), clock);
  const iam = await IamRuntime.open({ config, store, sealer, sessions, clock });
  const credentialsPath = join(config.stateDirPath, 'admin-credentials');
  if (ensureBootstrapAdmin(iam.directory, { userName: config.api.adminUser, credentialsPath }).created) {
    await iam.flush();
    logger.warn({ user: config.api.adminUser, path: credentialsPath }, 'created the bootstrap administrator; its access key is in this file (profile iamdb-admin)');
  }
  const instances = await InstanceRegistry.open(
    store,
    config.instances.map((i) => ({
      id: i.id,
      engineName: i.engine,
      listen: parseHostPort(i.listen),
      aliases: i.aliases,
      target: parseHostPort(i.target),
      targetTls: i.targetTls,
      master: i.master,
      iamDatabaseAuthentication: i.iamDatabaseAuthentication,
      accountAdmins: i.accountAdmins,
      tags: tagsOf(i.tags),
    })),
    sealer,
  );
  const proxies = await ProxyRegistry.open({
    store,
    clock,
    where: { partition: config.partition, region: config.region, account: config.account },
    listen: { host: config.proxyEndpoints.listenHost, ports: parsePortRange(config.proxyEndpoints.ports), aliases: config.proxyEndpoints.aliases },
    instances,
    probe: canBind,
    definitions: config.proxies.map(proxyDefinitionOf),
  });
  const ca = await loadOrCreateCa({ store, sealer, clock });
  const credentials = new ManagedCredentials(store, sealer);
  const iamLogin = new IamLogin({
    partition: config.partition,
    region: config.region,
    account: config.account,
    clock,
    futureSkewMs: config.gateway.tokenFutureSkewSeconds * 1000,
    verifier: iam.tokenVerifier,
    credentials: iam.credentialResolver,
    authorizer: iam.connectAuthorizer,
  });
  const cancelMap = new CancelMap();
  const saltedPasswordCache = new SaltedPasswordCache({ maxEntries: 4096 });
  const mysqlIamUsers = await MysqlIamUsers.open(store);
  const mysqlConnectionIds = new MysqlConnectionIds();
  // One set of pre-auth caps for the whole process: what unauthenticated clients can make it hold.
  const preAuth = new PreAuthLimiter(config.gateway.preAuth, logger.child({ component: 'gateway' }));

  // PostgreSQL endpoints: the native data path unless told otherwise or unavailable.
  let nativeLoaded: ReturnType<typeof nativeDataPath> | undefined;
  const nativePath = (): ReturnType<typeof nativeDataPath>['path'] => {
    if (config.gateway.dataPath === 'node') return undefined;
    if (nativeLoaded === undefined) {
      nativeLoaded = nativeDataPath();
      if (nativeLoaded.error && config.gateway.dataPath === 'native') throw new IamdbError('GATEWAY_NATIVE_UNAVAILABLE', { reason: nativeLoaded.error.message });
      if (nativeLoaded.error) logger.warn({ reason: nativeLoaded.error.message }, 'native data path unavailable; PostgreSQL endpoints use Node TLS (slower relay)');
    }
    return nativeLoaded.path;
  };

  interface PreparedEndpoint {
    readonly listener: EndpointListener;
    readonly endpoint: Omit<RunningEndpoint, 'port'>;
    readonly close: () => Promise<void>;
    /** MySQL: what the endpoint's greeting says of the server (proxies targeting the instance greet the same). */
    readonly mysqlProfile?: ServerProfileCache;
  }
  /** Everything one instance endpoint needs (certificate, TLS, session handler); listening comes later. */
  const prepareEndpoint = async (instance: DbInstance): Promise<PreparedEndpoint> => {
    const names = endpointNames(instance);
    const cert = await issueServerCertificate(ca, names);
    const secureContext: SecureContext = createSecureContext({ cert: cert.chainPem, key: cert.keyPem.reveal(), minVersion: 'TLSv1.2' });
    const common = {
      instance,
      logger: logger.child({ instance: instance.id }),
      audit,
      iamLogin,
      credentials,
      secureContext: () => secureContext,
      loginTimeoutMs: config.gateway.loginTimeoutMs,
      maxMessageBytes: config.gateway.maxMessageBytes,
      serverLogins: new ServerLoginSlots(config.gateway.maxServerLoginsInProgress),
    };
    // What the server says its version is reaches DescribeDBInstances (EngineVersion).
    const noteServerVersion = (version: string): void => void instances.noteServerVersion(instance.id, version);
    let onConnection: (socket: import('node:net').Socket, context: ConnectionContext) => Promise<void>;
    let dataPath: RunningEndpoint['dataPath'] = 'node';
    let close = async (): Promise<void> => {};
    let mysqlProfile: ServerProfileCache | undefined;
    if (instance.engine === 'postgres') {
      const native = nativePath();
      const clientTls: ClientTlsTerminator = native ? native.terminator(cert.chainPem, cert.keyPem) : new NodeClientTls(() => secureContext);
      const control = new PostgresControl(instance, config.gateway.loginTimeoutMs, noteServerVersion);
      close = () => control.close();
      // Create rds_iam early when the server is up; a failure is retried at first login.
      control.ensureRdsIamRole().catch((err: unknown) => logger.warn({ instance: instance.id, err: String(err) }, 'cannot create rds_iam yet'));
      onConnection = (socket, context) => handlePostgresSession(socket, { ...common, control, cancelMap, saltedPasswordCache, clientTls }, context);
      dataPath = clientTls.kind;
    } else {
      const control = new MysqlControl(instance, config.gateway.loginTimeoutMs);
      // The profile comes from a real server greeting (a master login of the gateway's own, ended with
      // COM_QUIT: profile-login.ts), not from the control connection, whose client library skips part of it.
      const profile: ServerProfileCache = new ServerProfileCache(
        instance.engineName,
        () => learnProfileByLogin(instance, instance.master, profile, config.gateway.loginTimeoutMs),
        noteServerVersion,
        (err) => logger.warn({ instance: instance.id, err: String(err) }, 'cannot learn the server greeting yet; clients are greeted with the default until it can'),
      );
      mysqlProfile = profile;
      close = () => control.close();
      // Learn the server's greeting before the first client when the server is up; the first client asks again otherwise.
      void profile.ensure();
      onConnection = (socket, context) =>
        handleMysqlSession(socket, { ...common, iamUsers: mysqlIamUsers, control, profile, connectionIds: mysqlConnectionIds }, context);
    }
    const listener = new EndpointListener({
      host: instance.listen.host,
      port: instance.listen.port,
      name: instance.id,
      logger,
      onConnection,
      preAuth,
      refusal: instance.engine === 'postgres' ? postgresTooManyClients : mysqlTooManyConnections,
    });
    return { listener, endpoint: { instance, host: instance.listen.host, dataPath }, close, ...(mysqlProfile ? { mysqlProfile } : {}) };
  };

  const prepared = new Map<string, PreparedEndpoint>();
  for (const instance of instances.list()) prepared.set(instance.id.toLowerCase(), await prepareEndpoint(instance));
  const endpoints: RunningEndpoint[] = [];
  let started = false;
  const startEndpoint = async (p: PreparedEndpoint): Promise<void> => {
    const port = await p.listener.listen();
    endpoints.push({ ...p.endpoint, port });
    logger.info(
      { instance: p.endpoint.instance.id, engine: p.endpoint.instance.engine, listen: `${p.endpoint.host}:${port}`, resourceId: p.endpoint.instance.resourceId, dataPath: p.endpoint.dataPath },
      'endpoint listening',
    );
  };

  // Registrations and deregistrations run one at a time: a register racing a deregister of the
  // same id must not leave a listener nothing can stop.
  let instanceOps: Promise<unknown> = Promise.resolve();
  const serially = <T>(op: () => Promise<T>): Promise<T> => {
    const run = instanceOps.catch(() => undefined).then(op);
    instanceOps = run;
    return run;
  };
  /** RegisterDBInstance: adopt a server and start its endpoint without a restart. */
  const registerInstance = (def: InstanceDefinition): Promise<DbInstance> => serially(async () => {
    const instance = await instances.register(def);
    try {
      const p = await prepareEndpoint(instance);
      if (started) {
        try {
          await startEndpoint(p);
        } catch (err) {
          await p.close();
          throw new IamdbError('RDS_INVALID_PARAMETER', { message: `Cannot listen on ${def.listen.host}:${def.listen.port}: ${(err as NodeJS.ErrnoException).code ?? 'error'}` });
        }
      }
      prepared.set(instance.id.toLowerCase(), p);
      logger.info({ instance: instance.id, target: `${def.target.host}:${def.target.port}` }, 'instance registered');
      return instance;
    } catch (err) {
      // Nothing half-made stays: an endpoint that cannot start is not registered.
      await instances.deregister(instance.id);
      throw err;
    }
  });
  /** DeregisterDBInstance: stop the endpoint (sessions get the drain timeout) and forget the instance. */
  const deregisterInstance = (id: string): Promise<DbInstance> => serially(async () => {
    const users = proxies.targetsOf(id);
    if (users.length > 0) {
      throw new IamdbError('RDS_INSTANCE_INVALID_STATE', { message: `DB instance ${id.toLowerCase()} is a target of DB proxy ${users[0]!.name}; deregister it from the proxy first.` });
    }
    const instance = await instances.deregister(id);
    const p = prepared.get(instance.id.toLowerCase());
    prepared.delete(instance.id.toLowerCase());
    const at = endpoints.findIndex((e) => e.instance === instance);
    if (at >= 0) endpoints.splice(at, 1);
    if (p !== undefined) {
      await p.listener.drain(config.gateway.drainTimeoutMs);
      await p.close();
    }
    logger.info({ instance: instance.id }, 'instance deregistered');
    return instance;
  });

  const where = { partition: config.partition, region: config.region, account: config.account };
  const instancePortOf = (id: string): number => endpoints.find((e) => e.instance.id === id)?.port ?? instances.get(id)?.listen.port ?? 0;
  const keyring = new Keyring(store, sealer, clock, where);
  const secrets = new SecretRegistry(store, sealer.deriveKey('secrets/value-digest'), clock, where);
  // RDS Proxy: secrets read with each proxy's role, target health, and the pooled sessions.
  const proxyCredentials = new ProxyCredentials({ iam, keyring, secrets, clock, freshness: () => `${store.writes}/${iam.directory.changes}` });
  const proxyTokenNames = (e: ProxyEndpoint): HostPort[] => endpointsFor({ listen: e.listen, aliases: config.proxyEndpoints.aliases });
  // Metrics (metrics.listen): made only when served; read at scrape time from the pools and target health below.
  let proxyMetrics: ProxyMetrics | undefined;
  const targetHealth = new TargetHealthChecker({
    source: {
      targets: () => proxies.list().map((p) => ({ proxy: { id: p.resourceId, ...proxyAuthInput(p, where) }, instanceIds: p.targetGroup.targets.map((t) => t.instanceId) })),
      instance: (id) => instances.get(id),
    },
    credentials: proxyCredentials,
  });
  const targetObservations: TargetObservations = { roleOf: (proxyId, instanceId) => targetHealth.roleOf(proxyId, instanceId), recheck: (proxyId) => void targetHealth.recheck(proxyId) };
  const proxyService = new ProxyService({
    proxies,
    where,
    instances,
    credentials: proxyCredentials,
    iamLogin,
    audit,
    logger: logger.child({ component: 'proxy' }),
    cancelMap,
    native: config.gateway.dataPath === 'node' ? undefined : nativePath(),
    certificate: (names) => issueServerCertificate(ca, endpointNames({ listen: names[0]!, endpoints: names })),
    endpointNames: proxyTokenNames,
    loginTimeoutMs: config.gateway.loginTimeoutMs,
    maxMessageBytes: config.gateway.maxMessageBytes,
    saltedPasswordCache,
    idleServerMs: config.proxyEndpoints.idleServerSeconds * 1000,
    clientStallMs: config.proxyEndpoints.clientStallSeconds * 1000,
    events: (proxy, endpoint) => proxyMetrics?.connectionEvents(proxy.name, endpoint.name) ?? NO_CONNECTION_EVENTS,
    mysqlProfile: (id) => prepared.get(id.toLowerCase())?.mysqlProfile,
    // Target choice reads the roles health checks see (writer, standby, down); failed logins ask for a check at once.
    observations: targetObservations,
  });
  // A change of targets, Auth or role is checked at once, not at the next round.
  proxies.on((e) => {
    // Pools of a deleted proxy, or of targets no longer registered, go.
    proxyService.prune();
    if (e.type !== 'proxy-changed') return;
    proxyService.refresh(e.proxy);
    if (started) void targetHealth.checkNow(e.proxy.resourceId);
  });
  targetHealth.onChange((c) => {
    logger.info({ proxy: c.proxyId, target: c.instanceId, state: c.health.State, reason: c.health.Reason, description: c.health.Description, role: c.role, previousRole: c.previousRole }, 'proxy target health changed');
    if (c.role !== c.previousRole) proxyService.targetRoleChanged(c.proxyId, c.instanceId, c.role);
  });
  const proxyListeners = new ProxyListeners({
    registry: proxies,
    handler: deps.handleProxyConnection ?? proxyService.handle,
    logger: logger.child({ component: 'proxy' }),
    preAuth,
    refusal: (family) => (family === 'POSTGRESQL' ? postgresTooManyClients() : mysqlTooManyConnections()),
    drainTimeoutMs: config.gateway.drainTimeoutMs,
  });
  const api = new ApiServer({
    iam,
    services: [
      stsService({ iam, sessions, partition: config.partition }),
      iamService({ iam, partition: config.partition }),
      withProxyActions(
        rdsService({
          instances,
          region: config.region,
          account: config.account,
          partition: config.partition,
          portOf: instancePortOf,
          register: registerInstance,
          deregister: deregisterInstance,
          caFingerprintSha256: ca.fingerprintSha256,
        }),
        {
          proxies,
          instances,
          ...where,
          clock,
          listenAliases: config.proxyEndpoints.aliases,
          instancePortOf,
          targetHealth: deps.targetHealth ?? ((proxy, instanceId) => targetHealth.healthOf(proxy.resourceId, instanceId)),
          targetRole: (proxy, instanceId) => reportedRoleOf(targetObservations, proxy.resourceId, proxy.targetGroup.targets, instanceId),
        },
      ),
      kmsService({ keyring, account: config.account }),
      secretsManagerService({ registry: secrets, keyring, ...where }),
    ],
    audit,
    logger: logger.child({ component: 'api' }),
    clock,
    region: config.region,
  });
  let metricsServer: MetricsServer | undefined;
  if (metricsRegistry !== undefined) {
    const registry = metricsRegistry;
    collectDefaultMetrics({ register: registry, prefix: 'iamdb_' });
    proxyMetrics = new ProxyMetrics(registry, {
      pools: () =>
        proxyService.poolViews().map(
          (v): PoolSample => ({ proxy: v.proxyName, targetRole: v.targetRole, target: v.target ?? '', user: v.user, stats: v.pool.snapshot(), maxServers: v.pool.maxServers, logins: v.pool.logins }),
        ),
      availability: () =>
        proxies.list().flatMap((p) =>
          p.targetGroup.targets.flatMap((t): TargetAvailability[] => {
            const h = targetHealth.healthOf(p.resourceId, t.instanceId);
            return h.State === 'REGISTERING' ? [] : [{ proxy: p.name, target: t.instanceId, targetRole: t.role, available: h.State === 'AVAILABLE' }];
          }),
        ),
    });
    metricsServer = new MetricsServer(registry, logger.child({ component: 'metrics' }));
  }
  let apiTls: { cert: string; key: string } | undefined;
  let apiListen: ReturnType<typeof parseHostPort> | undefined;
  if (config.api.listen !== undefined) {
    apiListen = parseHostPort(config.api.listen);
    const loopback = apiListen.host === 'localhost' || apiListen.host === '::1' || apiListen.host.startsWith('127.');
    if (config.api.tls === 'on' || (config.api.tls === 'auto' && !loopback)) {
      const names = endpointNames({ listen: apiListen, endpoints: [apiListen] });
      const cert = await issueServerCertificate(ca, names);
      apiTls = { cert: cert.chainPem, key: cert.keyPem.reveal() };
    }
  }
  let apiUrl: string | undefined;
  let metricsUrl: string | undefined;
  let closed = false;
  return {
    config,
    logger,
    store,
    sealer,
    instances,
    proxies,
    proxyPools: () => proxyService.pools(),
    iam,
    keyring,
    secrets,
    sessions,
    ca,
    get endpoints() {
      return endpoints;
    },
    get apiUrl() {
      return apiUrl;
    },
    get metricsUrl() {
      return metricsUrl;
    },
    async start() {
      // Clients point sslrootcert / --ssl-ca here; `iamdb ca export` prints the same.
      writeFileSync(join(config.stateDirPath, 'ca.pem'), ca.caBundlePem(), { mode: 0o644 });
      for (const p of prepared.values()) await startEndpoint(p);
      started = true;
      await proxyListeners.start();
      targetHealth.start();
      if (apiListen !== undefined) {
        const port = await api.listen(apiListen.host, apiListen.port, apiTls);
        const host = apiListen.host.includes(':') ? `[${apiListen.host}]` : apiListen.host;
        apiUrl = `${apiTls ? 'https' : 'http'}://${host}:${port}`;
        logger.info({ url: apiUrl, tls: apiTls !== undefined }, 'control plane listening');
      }
      if (metricsServer !== undefined && config.metrics.listen !== undefined) {
        const at = parseHostPort(config.metrics.listen);
        const port = await metricsServer.listen(at.host, at.port);
        metricsUrl = `http://${at.host.includes(':') ? `[${at.host}]` : at.host}:${port}/metrics`;
        logger.info({ url: metricsUrl }, 'metrics listening');
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await targetHealth.stop();
      await Promise.all([api.close(), metricsServer?.close(), proxyListeners.close(), ...[...prepared.values()].map((p) => p.listener.drain(config.gateway.drainTimeoutMs))]);
      for (const p of prepared.values()) await p.close();
      proxyService.close();
      await iam.flush();
      await audit.close();
      await store.close();
    },
  };
}
