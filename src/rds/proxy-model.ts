/**
 * The shapes of an RDS Proxy as the rest of iamdb sees it: the proxy, its one
 * target group (`default`) and targets, and its endpoints, each an immutable
 * snapshot (the registry replaces a snapshot on every change, so whoever holds
 * one, a connection handler for instance, never sees it change under it). Also
 * how a proxy is kept in the state store.
 */
import { createHash } from 'node:crypto';
import type { HostPort } from './instance-registry.js';
import {
  DEBUG_LOGGING_MS,
  type ConnectionPoolConfig,
  type DefaultAuthScheme,
  type EndpointStatus,
  type EngineFamily,
  type ProxyStatus,
  type TargetRole,
  type UserAuthConfig,
} from './proxy-settings.js';

export interface ProxyTarget {
  /** The iamdb instance (lower case, as RDS keeps identifiers). */
  readonly instanceId: string;
  /**
   * As registered: READ_WRITE for the first target, READ_ONLY for the replicas registered beside
   * it (iamdb's extension: AWS takes one target). The role in use is what target health sees
   * (gateway/proxy/target-choice.ts): a promoted replica is the writer with no change here.
   */
  readonly role: TargetRole;
  readonly registeredAt: number;
}

export interface ProxyTargetGroup {
  /** `prx-tg-…`. */
  readonly id: string;
  readonly arn: string;
  readonly name: 'default';
  readonly connectionPool: ConnectionPoolConfig;
  readonly targets: readonly ProxyTarget[];
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface ProxyEndpoint {
  /** `prx-endpoint-…`, stable across renames. */
  readonly id: string;
  readonly arn: string;
  /** The default endpoint is named like its proxy (and renamed with it). */
  readonly name: string;
  readonly isDefault: boolean;
  readonly targetRole: TargetRole;
  readonly vpcSubnetIds: readonly string[];
  readonly vpcSecurityGroupIds: readonly string[];
  /** Where it listens: a port of `proxy.ports`, or the `iamdb:listen` address asked for at creation. */
  readonly listen: HostPort;
  readonly status: EndpointStatus;
  readonly createdAt: number;
  readonly tags: Readonly<Record<string, string>>;
  /** From the config file: DeleteDBProxyEndpoint refuses it. */
  readonly fromConfig: boolean;
}

export interface DbProxy {
  readonly name: string;
  /** `prx-…`: the resource id of `arn:aws:rds-db:REGION:ACCOUNT:dbuser:prx-…/DBUSER`, stable across renames and restarts. */
  readonly resourceId: string;
  readonly arn: string;
  readonly engineFamily: EngineFamily;
  readonly roleArn: string;
  readonly auth: readonly UserAuthConfig[];
  readonly defaultAuthScheme: DefaultAuthScheme;
  readonly requireTls: boolean;
  readonly idleClientTimeout: number;
  /** When DebugLogging was last switched on (epoch ms): on for 24 h from then (debugLoggingOn), then off by itself. */
  readonly debugLoggingSince: number | undefined;
  readonly vpcId: string;
  readonly vpcSubnetIds: readonly string[];
  readonly vpcSecurityGroupIds: readonly string[];
  readonly status: ProxyStatus;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly tags: Readonly<Record<string, string>>;
  readonly targetGroup: ProxyTargetGroup;
  /** The default endpoint first. */
  readonly endpoints: readonly ProxyEndpoint[];
  /** From the config file: DeleteDBProxy and renames refuse it. */
  readonly fromConfig: boolean;
}

/** A target's health as DescribeDBProxyTargets reports it (AWS's TargetHealth). */
export interface TargetHealth {
  readonly State: 'REGISTERING' | 'AVAILABLE' | 'UNAVAILABLE' | 'UNUSED';
  readonly Reason?: 'UNREACHABLE' | 'CONNECTION_FAILED' | 'AUTH_FAILURE' | 'PENDING_PROXY_CAPACITY' | 'INVALID_REPLICATION_STATE' | 'PROMOTED';
  readonly Description?: string;
}

/** Where target health comes from: the health checker, once wired (src/gateway/proxy/target-health.ts). */
export type TargetHealthPort = (proxy: DbProxy, instanceId: string) => TargetHealth;

/** What DescribeDBProxyTargets says before anything has checked a target: nothing is claimed to work. */
export const UNCHECKED_TARGET_HEALTH: TargetHealth = Object.freeze({
  State: 'UNAVAILABLE',
  Reason: 'PENDING_PROXY_CAPACITY',
  Description: 'iamdb has not checked this target yet',
});

/** Whether SQL text may be logged for this proxy at `now`: DebugLogging switches itself off after 24 h, as on AWS. */
export function debugLoggingOn(proxy: Pick<DbProxy, 'debugLoggingSince'>, now: number): boolean {
  return proxy.debugLoggingSince !== undefined && now < proxy.debugLoggingSince + DEBUG_LOGGING_MS;
}

export function defaultEndpointOf(proxy: DbProxy): ProxyEndpoint {
  return proxy.endpoints.find((e) => e.isDefault)!;
}

/**
 * A VPC id for the account and Region (AWS's `vpc-` and 17 hex digits): iamdb has no VPCs, and
 * code that reads `VpcId` finds the same value on every proxy, as with one default VPC.
 */
export function vpcIdFor(where: { partition: string; region: string; account: string }): string {
  return `vpc-${createHash('sha256').update(`iamdb-vpc:${where.partition}:${where.region}:${where.account}`).digest('hex').slice(0, 17)}`;
}

/** A proxy as stored: everything but what is derived (ARNs, VpcId, `default`) and the run-time statuses (which restart as `creating`). */
export type StoredProxy = Omit<DbProxy, 'arn' | 'vpcId' | 'status' | 'fromConfig' | 'debugLoggingSince' | 'targetGroup' | 'endpoints'> & {
  readonly debugLoggingSince?: number;
  readonly targetGroup: Omit<ProxyTargetGroup, 'arn' | 'name'>;
  readonly endpoints: ReadonlyArray<Omit<ProxyEndpoint, 'arn' | 'status'> & { readonly deleting?: boolean }>;
  /** Set while a deletion waits for listeners to close; a restart finishes it. */
  readonly deleting?: boolean;
  /** For proxies of the config file: the digest of the file's definition the record was built from. */
  readonly configDigest?: string;
};

export function storedFormOf(proxy: DbProxy, configDigest?: string): StoredProxy {
  const { arn: _arn, vpcId: _vpc, status, fromConfig: _config, debugLoggingSince, targetGroup, endpoints, ...kept } = proxy;
  const { arn: _tgArn, name: _tgName, ...group } = targetGroup;
  return {
    ...kept,
    ...(debugLoggingSince !== undefined ? { debugLoggingSince } : {}),
    targetGroup: group,
    endpoints: endpoints.map(({ arn: _epArn, status: epStatus, ...e }) => ({ ...e, ...(epStatus === 'deleting' ? { deleting: true } : {}) })),
    ...(status === 'deleting' ? { deleting: true } : {}),
    ...(configDigest !== undefined ? { configDigest } : {}),
  };
}

/** Deeply frozen, so a snapshot handed out cannot be changed by its holder either. */
export function frozen<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value as object)) frozen(v);
    Object.freeze(value);
  }
  return value;
}
