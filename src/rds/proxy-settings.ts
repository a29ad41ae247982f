/**
 * What an RDS Proxy is made of, and AWS's rules for it: names, the engine
 * families, authentication entries (UserAuthConfig), the target group's
 * connection pool settings, and their defaults and limits. Pure: every check
 * either returns the normalized value or throws the RDS error AWS would
 * answer with, so the API and the config file share one set of rules.
 */
import { IamdbError } from '../errors/index.js';
import type { HostPort } from './instance-registry.js';
import { checkTags } from './tags.js';

export type EngineFamily = 'POSTGRESQL' | 'MYSQL';
export const ENGINE_FAMILIES: readonly EngineFamily[] = ['POSTGRESQL', 'MYSQL'];

/** `ENABLED` exists on AWS for SQL Server only, which iamdb does not front. */
export type IamAuthMode = 'DISABLED' | 'REQUIRED';
export type ClientPasswordAuthType = 'MYSQL_NATIVE_PASSWORD' | 'MYSQL_CACHING_SHA2_PASSWORD' | 'POSTGRES_SCRAM_SHA_256' | 'POSTGRES_MD5';
/** `NONE`: clients log in as the users of `Auth`'s secrets; `IAM_AUTH`: end-to-end IAM, secrets optional. */
export type DefaultAuthScheme = 'NONE' | 'IAM_AUTH';
export type ProxyStatus = 'creating' | 'available' | 'modifying' | 'deleting' | 'incompatible-network';
export type EndpointStatus = 'creating' | 'available' | 'deleting' | 'incompatible-network';
export type TargetRole = 'READ_WRITE' | 'READ_ONLY';

/** One entry of a proxy's `Auth` (AWS's UserAuthConfig), defaults applied. */
export interface UserAuthConfig {
  readonly description?: string;
  readonly userName?: string;
  readonly authScheme: 'SECRETS';
  readonly secretArn?: string;
  readonly iamAuth: IamAuthMode;
  readonly clientPasswordAuthType: ClientPasswordAuthType;
}

/** As given (API or config): every field optional, unvalidated. */
export interface UserAuthInput {
  readonly description?: string | undefined;
  readonly userName?: string | undefined;
  readonly authScheme?: string | undefined;
  readonly secretArn?: string | undefined;
  readonly iamAuth?: string | undefined;
  readonly clientPasswordAuthType?: string | undefined;
}

/** The target group's ConnectionPoolConfiguration, defaults applied. */
export interface ConnectionPoolConfig {
  /** 1-100: how much of the target's max_connections the proxy may use. */
  readonly maxConnectionsPercent: number;
  /** 0..maxConnectionsPercent: how much of it may sit idle in the pool. */
  readonly maxIdleConnectionsPercent: number;
  /** 0-300 seconds a client waits for a server connection. */
  readonly connectionBorrowTimeout: number;
  /** Only `EXCLUDE_VARIABLE_SETS`, only for MYSQL. */
  readonly sessionPinningFilters: readonly string[];
  /** SQL run on every new server connection; unset when absent. */
  readonly initQuery?: string;
}

export type ConnectionPoolInput = { readonly [K in keyof ConnectionPoolConfig]?: ConnectionPoolConfig[K] | undefined };

/** AWS's quotas, kept here so the registry, the API and the docs agree. */
export const PROXY_LIMITS = {
  proxiesPerRegion: 20,
  authEntries: 200,
  /** Endpoints besides the default read/write one. */
  extraEndpoints: 20,
  /**
   * DB instances per target group. AWS takes one target (an instance, or a cluster whose writer
   * and readers it follows); iamdb has no clusters, so a writer and its streaming replicas are
   * registered as instances side by side (an Aurora cluster's bound: a writer and 15 readers).
   * Which one is the writer is seen by target health, not fixed by registration.
   */
  targets: 16,
  idleClientTimeout: { min: 1, max: 28_800, default: 1_800 },
  maxConnectionsPercent: { min: 1, max: 100, default: 100 },
  connectionBorrowTimeout: { min: 0, max: 300, default: 120 },
  /** iamdb's own bound: the query runs on every new server connection. */
  initQueryLength: 65_536,
} as const;

/** DebugLogging switches itself off this long after it was turned on, as on AWS. */
export const DEBUG_LOGGING_MS = 24 * 60 * 60 * 1000;

export const DEFAULT_TARGET_GROUP = 'default';

function invalid(message: string): IamdbError {
  return new IamdbError('RDS_INVALID_PARAMETER', { message });
}

function combination(message: string): IamdbError {
  return new IamdbError('RDS_INVALID_COMBINATION', { message });
}

/** RDS's identifier rule: 1-63 letters, digits and hyphens, a letter first, no `--`, no trailing `-`. */
const IDENTIFIER = /^[A-Za-z](?:-?[A-Za-z0-9]+)*$/;

/**
 * A proxy or endpoint name as RDS keeps it (lower case, so `Orders` and `orders`
 * are one proxy and one ARN); throws AWS's refusal otherwise.
 */
export function proxyIdentifier(value: string, parameter: 'DBProxyName' | 'NewDBProxyName' | 'DBProxyEndpointName'): string {
  if (value.length < 1 || value.length > 63 || !IDENTIFIER.test(value)) {
    throw invalid(
      `The parameter ${parameter} is not a valid identifier. Identifiers must begin with a letter; must contain only ASCII letters, digits, and hyphens; and must not end with a hyphen or contain two consecutive hyphens.`,
    );
  }
  return value.toLowerCase();
}

export function engineFamilyOf(value: string): EngineFamily {
  if (value === 'SQLSERVER') throw invalid('EngineFamily SQLSERVER is not supported: iamdb fronts PostgreSQL, MySQL and MariaDB.');
  if (!(ENGINE_FAMILIES as readonly string[]).includes(value)) throw invalid(`Invalid EngineFamily: ${value.slice(0, 32)}. Valid values: MYSQL | POSTGRESQL.`);
  return value as EngineFamily;
}

/** The family that speaks an instance's protocol: MariaDB is MYSQL, as on AWS. */
export function familyOfEngine(engine: 'postgres' | 'mysql'): EngineFamily {
  return engine === 'postgres' ? 'POSTGRESQL' : 'MYSQL';
}

export function roleArnOf(value: string, partition: string): string {
  if (value.length < 20 || value.length > 2048 || !new RegExp(`^arn:${partition}:iam::\\d{12}:role/[\\w+=,.@/-]+$`).test(value)) {
    throw invalid(`RoleArn must be the ARN of an IAM role, e.g. arn:${partition}:iam::123456789012:role/rds-proxy; got ${value.slice(0, 128)}.`);
  }
  return value;
}

export function idleClientTimeoutOf(value: number | undefined): number {
  const { min, max } = PROXY_LIMITS.idleClientTimeout;
  if (value === undefined) return PROXY_LIMITS.idleClientTimeout.default;
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`IdleClientTimeout must be between ${min} and ${max} seconds.`);
  return value;
}

export function defaultAuthSchemeOf(value: string | undefined): DefaultAuthScheme {
  if (value === undefined) return 'NONE';
  if (value !== 'NONE' && value !== 'IAM_AUTH') throw invalid(`Invalid DefaultAuthScheme: ${value.slice(0, 32)}. Valid values: NONE | IAM_AUTH.`);
  return value;
}

const CLIENT_AUTH_TYPES: Record<EngineFamily, readonly ClientPasswordAuthType[]> = {
  POSTGRESQL: ['POSTGRES_SCRAM_SHA_256', 'POSTGRES_MD5'],
  MYSQL: ['MYSQL_CACHING_SHA2_PASSWORD', 'MYSQL_NATIVE_PASSWORD'],
};

const SECRET_ARN = /^arn:[\w-]+:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]{1,512}$/;

/** One Auth entry with AWS's defaults: SECRETS, IAMAuth DISABLED, the family's default client password type. */
function userAuth(input: UserAuthInput, family: EngineFamily, scheme: DefaultAuthScheme, at: number): UserAuthConfig {
  const where = `Auth.member.${at + 1}`;
  const authScheme = input.authScheme ?? 'SECRETS';
  if (authScheme !== 'SECRETS') throw invalid(`${where}: AuthScheme must be SECRETS.`);
  const iamAuth = input.iamAuth ?? 'DISABLED';
  if (iamAuth === 'ENABLED') throw combination(`${where}: IAMAuth ENABLED is supported only for the SQLSERVER engine family; use REQUIRED or DISABLED.`);
  if (iamAuth !== 'DISABLED' && iamAuth !== 'REQUIRED') throw invalid(`${where}: invalid IAMAuth ${iamAuth.slice(0, 32)}. Valid values: DISABLED | REQUIRED.`);
  const allowed = CLIENT_AUTH_TYPES[family];
  const clientPasswordAuthType = input.clientPasswordAuthType ?? allowed[0]!;
  if (!(allowed as readonly string[]).includes(clientPasswordAuthType)) {
    const known = Object.values(CLIENT_AUTH_TYPES).flat() as readonly string[];
    if (!known.includes(clientPasswordAuthType)) throw invalid(`${where}: invalid ClientPasswordAuthType ${clientPasswordAuthType.slice(0, 48)}.`);
    throw combination(`${where}: ClientPasswordAuthType ${clientPasswordAuthType} does not apply to the ${family} engine family; use ${allowed.join(' or ')}.`);
  }
  if (input.secretArn !== undefined && !SECRET_ARN.test(input.secretArn)) throw invalid(`${where}: SecretArn must be the ARN of a Secrets Manager secret; got ${input.secretArn.slice(0, 128)}.`);
  if (input.secretArn === undefined && scheme === 'NONE') throw invalid(`${where}: SecretArn is required when DefaultAuthScheme is NONE.`);
  if (input.description !== undefined && input.description.length > 1000) throw invalid(`${where}: Description is longer than 1000 characters.`);
  if (input.userName !== undefined && (input.userName.length < 1 || input.userName.length > 128)) throw invalid(`${where}: UserName must be 1 to 128 characters.`);
  return {
    ...(input.description !== undefined ? { description: input.description } : {}),
    ...(input.userName !== undefined ? { userName: input.userName } : {}),
    authScheme: 'SECRETS',
    ...(input.secretArn !== undefined ? { secretArn: input.secretArn } : {}),
    iamAuth,
    clientPasswordAuthType: clientPasswordAuthType as ClientPasswordAuthType,
  };
}

/** A whole `Auth` list: each entry checked, at most 200, no secret twice; required unless end-to-end IAM. */
export function userAuthList(inputs: readonly UserAuthInput[], family: EngineFamily, scheme: DefaultAuthScheme): UserAuthConfig[] {
  if (inputs.length === 0 && scheme === 'NONE') throw invalid('Auth is required when DefaultAuthScheme is NONE: give at least one AuthScheme=SECRETS,SecretArn=… entry.');
  if (inputs.length > PROXY_LIMITS.authEntries) throw invalid(`A DB proxy can have at most ${PROXY_LIMITS.authEntries} Auth entries.`);
  const out = inputs.map((input, i) => userAuth(input, family, scheme, i));
  const seen = new Set<string>();
  for (const a of out) {
    if (a.secretArn === undefined) continue;
    if (seen.has(a.secretArn)) throw invalid(`SecretArn ${a.secretArn} appears more than once in Auth.`);
    seen.add(a.secretArn);
  }
  return out;
}

/**
 * The pool settings after a change: given values checked, others kept from `current` (AWS's
 * defaults when there is none). MaxIdleConnectionsPercent follows AWS's default rule, half of
 * MaxConnectionsPercent, whenever MaxConnectionsPercent is given without it.
 */
export function connectionPoolConfig(input: ConnectionPoolInput, family: EngineFamily, current?: ConnectionPoolConfig): ConnectionPoolConfig {
  const lim = PROXY_LIMITS;
  const max = input.maxConnectionsPercent ?? current?.maxConnectionsPercent ?? lim.maxConnectionsPercent.default;
  if (!Number.isInteger(max) || max < lim.maxConnectionsPercent.min || max > lim.maxConnectionsPercent.max) throw invalid('MaxConnectionsPercent must be between 1 and 100.');
  const idle = input.maxIdleConnectionsPercent ?? (input.maxConnectionsPercent !== undefined || current === undefined ? Math.floor(max / 2) : current.maxIdleConnectionsPercent);
  if (!Number.isInteger(idle) || idle < 0 || idle > max) throw invalid(`MaxIdleConnectionsPercent must be between 0 and MaxConnectionsPercent (${max}).`);
  const borrow = input.connectionBorrowTimeout ?? current?.connectionBorrowTimeout ?? lim.connectionBorrowTimeout.default;
  if (!Number.isInteger(borrow) || borrow < lim.connectionBorrowTimeout.min || borrow > lim.connectionBorrowTimeout.max) throw invalid('ConnectionBorrowTimeout must be between 0 and 300 seconds.');
  const filters = input.sessionPinningFilters ?? current?.sessionPinningFilters ?? [];
  for (const f of filters) if (f !== 'EXCLUDE_VARIABLE_SETS') throw invalid(`Invalid SessionPinningFilters value ${f.slice(0, 48)}. The only filter is EXCLUDE_VARIABLE_SETS.`);
  if (filters.length > 0 && family !== 'MYSQL') throw combination('SessionPinningFilters apply only to the MYSQL engine family.');
  // An empty InitQuery clears it.
  const initQuery = input.initQuery !== undefined ? input.initQuery : current?.initQuery;
  if (initQuery !== undefined && initQuery.length > lim.initQueryLength) throw invalid(`InitQuery is longer than ${lim.initQueryLength} characters.`);
  return {
    maxConnectionsPercent: max,
    maxIdleConnectionsPercent: idle,
    connectionBorrowTimeout: borrow,
    sessionPinningFilters: [...new Set(filters)],
    ...(initQuery !== undefined && initQuery !== '' ? { initQuery } : {}),
  };
}

/**
 * Tag keys under `iamdb:` are iamdb's. `iamdb:listen` (HOST:PORT) asks for a listen address when a
 * proxy or endpoint is created, and reads back the address in use; `iamdb:port` reads back the port.
 * They are shown by ListTagsForResource, never stored as tags, and cannot be set or removed later.
 */
export const LISTEN_TAG = 'iamdb:listen';
export const PORT_TAG = 'iamdb:port';
export const RESERVED_TAG_PREFIX = 'iamdb:';

/** checkTags, and no key under `iamdb:` (those are read-only views, see LISTEN_TAG). */
export function checkProxyTags(all: Readonly<Record<string, string>>, added: Readonly<Record<string, string>>): void {
  for (const k of Object.keys(added)) {
    if (k.toLowerCase().startsWith(RESERVED_TAG_PREFIX)) throw invalid(`The tag key ${k.slice(0, 128)} is reserved: only ${LISTEN_TAG} may be given, when a proxy or endpoint is created.`);
  }
  checkTags(all, added);
}

/** Splits the tags of a create request into the resource's own tags and the listen address asked for. */
export function splitCreateTags(tags: Readonly<Record<string, string>>): { tags: Record<string, string>; listen?: HostPort } {
  const own: Record<string, string> = {};
  let listen: HostPort | undefined;
  for (const [k, v] of Object.entries(tags)) {
    if (k === LISTEN_TAG) listen = listenAddressOf(v);
    else own[k] = v;
  }
  checkProxyTags(own, own);
  return { tags: own, ...(listen !== undefined ? { listen } : {}) };
}

/** `HOST:PORT` (IPv6 in brackets) with a port from 1 to 65535. */
export function listenAddressOf(value: string): HostPort {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.\-_]+)):(\d{1,5})$/.exec(value);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || port < 1 || port > 65535) throw invalid(`The ${LISTEN_TAG} tag must be HOST:PORT with a port from 1 to 65535, e.g. 127.0.0.1:7600; got ${value.slice(0, 128)}.`);
  return { host: (m[1] ?? m[2])!, port };
}
