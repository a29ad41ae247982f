/**
 * Loading the configuration: file (YAML) < environment (IAMDB_*) < flags,
 * validated by the zod schema plus cross-field checks, every problem reported
 * at once with its path, then deep-frozen with secrets wrapped in Secret<T>.
 * This is the only module that reads configuration files or process.env,
 * but for IAMDB_NATIVE_ADDON, which the native data path's loader reads
 * (src/gateway/native-data-path.ts): it picks a build of the addon for the
 * whole process, not a setting.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { IamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { configSchema, type ParsedConfig } from './schema.js';

export interface ConfigProblem {
  readonly path: string;
  readonly message: string;
}

type Deep<T> = T extends Secret<unknown> ? T : T extends string ? T : T extends Array<infer U> ? ReadonlyArray<Deep<U>> : T extends object ? { readonly [K in keyof T]: Deep<T[K]> } : T;

/** The validated configuration; secrets are Secret-wrapped. */
export type Config = Deep<
  Omit<ParsedConfig, 'instances' | 'iam'> & {
    iam: Omit<ParsedConfig['iam'], 'users'> & {
      users: Array<Omit<ParsedConfig['iam']['users'][number], 'accessKeys'> & {
        accessKeys: Array<{ id: string; secret: Secret<string>; status: 'Active' | 'Inactive' }>;
      }>;
    };
    instances: Array<Omit<ParsedConfig['instances'][number], 'master'> & {
      master: { username: string; password: Secret<string> };
    }>;
    /** Absolute path of the state directory. */
    stateDirPath: string;
    /** Absolute path of the master key file (used when IAMDB_MASTER_KEY is unset). */
    masterKeyPath: string;
    /** Absolute path of the audit log, or '-' for stdout. */
    auditPath: string;
  }
>;
export type InstanceSettings = Config['instances'][number];

export interface LoadOptions {
  /** Path of the YAML file; optional (defaults apply). */
  readonly file?: string;
  /** Raw YAML text instead of a file (tests, demo). */
  readonly text?: string;
  /** Environment, normally process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Flag overrides as dotted paths, e.g. { 'log.level': 'debug' }. */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** Base directory for relative paths when `text` is used. */
  readonly baseDir?: string;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

/** Sets a dotted path in a plain object, creating objects on the way. */
function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let cursor: Record<string, unknown> = target;
  for (const part of parts.slice(0, -1)) {
    const next = cursor[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) cursor[part] = {};
    cursor = cursor[part] as Record<string, unknown>;
  }
  cursor[parts[parts.length - 1]!] = value;
}

/** Scalar settings that may come from the environment, by env name. */
function envOverrides(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  // Only scalar keys of the schema are reachable from env: IAMDB_<KEY> or
  // IAMDB_<SECTION>__<KEY>, matched case-insensitively.
  const scalarPaths = [
    'account', 'region', 'partition', 'stateDir', 'masterKeyFile', 'log.level', 'audit.file',
    'gateway.loginTimeoutMs', 'gateway.maxMessageBytes', 'gateway.tokenFutureSkewSeconds', 'gateway.drainTimeoutMs',
    'gateway.dataPath', 'gateway.preAuth.maxConnections', 'gateway.preAuth.maxConnectionsPerSource', 'gateway.maxServerLoginsInProgress',
    'api.listen', 'api.tls', 'api.allowPlainHttp', 'metrics.listen',
  ];
  const byEnvName = new Map(scalarPaths.map((p) => [`IAMDB_${p.split('.').join('__').toUpperCase()}`, p]));
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const path = byEnvName.get(name.toUpperCase());
    if (path === undefined) continue;
    if (path === 'api.allowPlainHttp' && (value === 'true' || value === 'false')) out[path] = value === 'true';
    else out[path] = /^(gateway\.)/.test(path) && /^\d+$/.test(value) ? Number(value) : value;
  }
  return out;
}

function crossChecks(cfg: ParsedConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const ids = new Map<string, number>();
  const listens = new Map<string, number>();
  cfg.instances.forEach((inst, i) => {
    const key = inst.id.toLowerCase();
    if (ids.has(key)) problems.push({ path: `instances[${i}].id`, message: `duplicate instance id '${inst.id}' (also instances[${ids.get(key)}])` });
    else ids.set(key, i);
    if (listens.has(inst.listen)) problems.push({ path: `instances[${i}].listen`, message: `address ${inst.listen} is already used by instances[${listens.get(inst.listen)}]` });
    else listens.set(inst.listen, i);
    if (inst.targetTls.mode === 'verify-full' || inst.targetTls.mode === 'verify-ca') {
      if (inst.targetTls.ca === undefined) problems.push({ path: `instances[${i}].targetTls.ca`, message: `required when mode is ${inst.targetTls.mode}` });
    }
  });
  const proxyNames = new Map<string, number>();
  cfg.proxies.forEach((proxy, i) => {
    const key = proxy.name.toLowerCase();
    if (proxyNames.has(key)) problems.push({ path: `proxies[${i}].name`, message: `duplicate proxy name '${proxy.name}' (also proxies[${proxyNames.get(key)}])` });
    else proxyNames.set(key, i);
    const addresses = [{ path: `proxies[${i}].listen`, listen: proxy.listen }, ...proxy.endpoints.map((e, j) => ({ path: `proxies[${i}].endpoints[${j}].listen`, listen: e.listen }))];
    for (const { path, listen } of addresses) {
      if (listen !== undefined && listens.has(listen)) problems.push({ path, message: `address ${listen} is already used by instances[${listens.get(listen)}]` });
    }
  });
  if (cfg.api.listen !== undefined) {
    const host = cfg.api.listen.slice(0, cfg.api.listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
    const loopback = host === 'localhost' || host === '::1' || /^127\./.test(host);
    if (!loopback && cfg.api.tls === 'off' && !cfg.api.allowPlainHttp) {
      problems.push({ path: 'api.tls', message: `plain HTTP on ${cfg.api.listen} would send signed requests and returned secrets in the clear off this machine; use tls: auto or on, or set api.allowPlainHttp: true` });
    }
    if (listens.has(cfg.api.listen)) problems.push({ path: 'api.listen', message: `address ${cfg.api.listen} is already used by instances[${listens.get(cfg.api.listen)}]` });
  }
  if (cfg.metrics.listen !== undefined) {
    if (listens.has(cfg.metrics.listen)) problems.push({ path: 'metrics.listen', message: `address ${cfg.metrics.listen} is already used by instances[${listens.get(cfg.metrics.listen)}]` });
    if (cfg.metrics.listen === cfg.api.listen) problems.push({ path: 'metrics.listen', message: `address ${cfg.metrics.listen} is already used by api.listen` });
  }
  const names = (list: ReadonlyArray<{ name: string }>, path: string): void => {
    const seen = new Map<string, number>();
    list.forEach((e, i) => {
      const k = e.name.toLowerCase();
      if (seen.has(k)) problems.push({ path: `${path}[${i}].name`, message: `duplicate name '${e.name}' (names are unique case-insensitively)` });
      else seen.set(k, i);
    });
  };
  names(cfg.iam.users, 'iam.users');
  names(cfg.iam.groups, 'iam.groups');
  names(cfg.iam.roles, 'iam.roles');
  names(cfg.iam.managedPolicies, 'iam.managedPolicies');
  const keyIds = new Map<string, string>();
  cfg.iam.users.forEach((u, i) => {
    u.accessKeys.forEach((k, j) => {
      const where = `iam.users[${i}].accessKeys[${j}]`;
      if (keyIds.has(k.id)) problems.push({ path: `${where}.id`, message: `access key ${k.id} is already used at ${keyIds.get(k.id)}` });
      else keyIds.set(k.id, where);
    });
    u.groups.forEach((g, j) => {
      if (!cfg.iam.groups.some((x) => x.name.toLowerCase() === g.toLowerCase())) {
        problems.push({ path: `iam.users[${i}].groups[${j}]`, message: `no group named '${g}' in iam.groups` });
      }
    });
  });
  return problems;
}

function expandHome(p: string): string {
  return p === '~' ? homedir() : p.startsWith('~/') ? join(homedir(), p.slice(2)) : p;
}

/**
 * Loads and validates the configuration. Throws CONFIG_INVALID listing every
 * problem (`path: message` per line) or CONFIG_UNREADABLE.
 *
 * @example
 *   const config = loadConfig({ file: 'iamdb.yaml', env: process.env });
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? {};
  let text = options.text;
  let baseDir = options.baseDir ?? process.cwd();
  if (text === undefined && options.file !== undefined) {
    try {
      text = readFileSync(options.file, 'utf8');
    } catch (err) {
      throw new IamdbError('CONFIG_UNREADABLE', { path: options.file, reason: (err as NodeJS.ErrnoException).code ?? 'error' });
    }
    baseDir = dirname(resolve(options.file));
  }
  const problems: ConfigProblem[] = [];
  let raw: Record<string, unknown> = {};
  if (text !== undefined && text.trim() !== '') {
    const doc = parseDocument(text, { uniqueKeys: true });
    for (const e of doc.errors) {
      const line = e.linePos?.[0];
      problems.push({ path: line ? `line ${line.line}:${line.col}` : '(yaml)', message: e.message.split('\n')[0]! });
    }
    if (problems.length === 0) {
      const value: unknown = doc.toJS();
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        problems.push({ path: '(root)', message: 'expected a mapping of settings' });
      } else {
        raw = value as Record<string, unknown>;
      }
    }
  }
  if (problems.length === 0) {
    for (const [path, value] of Object.entries(envOverrides(env))) setPath(raw, path, value);
    for (const [path, value] of Object.entries(options.flags ?? {})) if (value !== undefined) setPath(raw, path, value);
  }
  let parsed: ParsedConfig | undefined;
  if (problems.length === 0) {
    const result = configSchema.safeParse(raw);
    if (!result.success) {
      for (const issue of result.error.issues as z.core.$ZodIssue[]) {
        problems.push({ path: formatPath(issue.path), message: issue.message });
      }
    } else {
      parsed = result.data;
      problems.push(...crossChecks(parsed));
    }
  }
  if (problems.length > 0 || parsed === undefined) {
    throw new IamdbError('CONFIG_INVALID', {
      problems: problems.map((p) => `  ${p.path}: ${p.message}`).join('\n'),
      count: problems.length,
    });
  }
  const absolute = (p: string): string => (isAbsolute(expandHome(p)) ? expandHome(p) : resolve(baseDir, p));
  const stateDirPath = absolute(parsed.stateDir);
  const xdg = env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config');
  const config = {
    ...parsed,
    stateDirPath,
    masterKeyPath: parsed.masterKeyFile !== undefined ? absolute(parsed.masterKeyFile) : join(xdg, 'iamdb', 'master.key'),
    auditPath: parsed.audit.file === '-' ? '-' : parsed.audit.file !== undefined ? absolute(parsed.audit.file) : join(stateDirPath, 'audit.log'),
    iam: {
      ...parsed.iam,
      users: parsed.iam.users.map((u) => ({
        ...u,
        accessKeys: u.accessKeys.map((k) => ({ ...k, secret: new Secret(k.secret) })),
      })),
    },
    instances: parsed.instances.map((inst) => ({
      ...inst,
      targetTls: {
        ...inst.targetTls,
        ...(inst.targetTls.ca !== undefined ? { ca: absolute(inst.targetTls.ca) } : {}),
        ...(inst.targetTls.rsaPublicKey !== undefined ? { rsaPublicKey: absolute(inst.targetTls.rsaPublicKey) } : {}),
      },
      master: { username: inst.master.username, password: new Secret(inst.master.password) },
    })),
  };
  return deepFreeze(config) as unknown as Config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !(value instanceof Secret) && !Object.isFrozen(value)) {
    for (const v of Object.values(value as object)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
