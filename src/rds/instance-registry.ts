/**
 * The registry of DB instances: their settings from the config, their stable
 * resource ids (persisted so they survive restarts), and the mutable runtime
 * switch for IAM database authentication (the control plane flips it without
 * a restart). Shared by the gateway and the control plane, owned by neither.
 */
import { hostname } from 'node:os';
import type { Sealer } from '../crypto/index.js';
import { IamdbError, isIamdbError } from '../errors/index.js';
import type { StateStore } from '../store/state-store.js';
import { Secret } from '../util/index.js';
import { engineVersionOf } from './engine-version.js';
import { newDbiResourceId, DBI_RESOURCE_ID } from './resource-id.js';

export type Engine = 'postgres' | 'mysql';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** How the gateway's links to the real server use TLS (libpq's sslmode words). */
export type TargetTlsMode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
export const TARGET_TLS_MODES: readonly TargetTlsMode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'];
/** TLS when the server offers it, in clear otherwise: what every link does unless configured. */
export const DEFAULT_TARGET_TLS_MODE: TargetTlsMode = 'prefer';

export interface TargetTls {
  /**
   * disable: plain TCP; prefer: TLS when the server offers it, else plain (no verification);
   * require: TLS, no verification; verify-ca: the chain checked against `ca`; verify-full: and the name.
   */
  readonly mode: TargetTlsMode;
  readonly ca?: string;
  readonly serverName?: string;
  /** MySQL 8: the server's RSA public key file (PEM) for caching_sha2_password without TLS. */
  readonly rsaPublicKey?: string;
}

export interface InstanceDefinition {
  readonly id: string;
  /** As configured: postgres, mysql or mariadb (mariadb speaks the mysql protocol). */
  readonly engineName: 'postgres' | 'mysql' | 'mariadb';
  readonly listen: HostPort;
  readonly aliases: readonly string[];
  readonly target: HostPort;
  readonly targetTls: TargetTls;
  readonly master: { readonly username: string; readonly password: Secret<string> };
  readonly iamDatabaseAuthentication: boolean;
  readonly tags: Readonly<Record<string, string>>;
  /** MySQL: database users besides the master who may change IAM accounts' authentication. */
  readonly accountAdmins?: readonly string[];
}

export interface DbInstance {
  readonly id: string;
  readonly engine: Engine;
  readonly engineName: InstanceDefinition['engineName'];
  readonly resourceId: string;
  readonly listen: HostPort;
  /** Every host:port a token may be signed for to reach this instance. */
  readonly endpoints: readonly HostPort[];
  readonly target: HostPort;
  readonly targetTls: TargetTls;
  readonly master: InstanceDefinition['master'];
  /** MySQL: database users besides the master who may change IAM accounts' authentication. */
  readonly accountAdmins: readonly string[];
  iamDatabaseAuthentication: boolean;
  tags: Record<string, string>;
  /** When iamdb first registered the instance (epoch ms), kept across restarts: RDS's InstanceCreateTime. */
  readonly createdAt: number;
  /** The server's version as RDS reports it (`15.8`, `10.11.6`), once a connection to it has said; kept across restarts. */
  engineVersion: string | undefined;
}

/** Splits `host:port` (IPv6 in brackets). */
export function parseHostPort(value: string, defaultPort?: number): HostPort {
  const m = /^(?:\[([^\]]+)\]|([^:]+))(?::(\d+))?$/.exec(value);
  if (m === null) throw new Error(`not host:port: ${value}`);
  const host = (m[1] ?? m[2])!;
  const port = m[3] !== undefined ? Number(m[3]) : defaultPort;
  if (port === undefined) throw new Error(`missing port: ${value}`);
  return { host, port };
}

function sameTags(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * The names a token may be signed for: the listen address, the aliases, and,
 * for a loopback listener, both `localhost` and `127.0.0.1` (a laptop user
 * types either; both reach only this machine).
 */
export function endpointsFor(def: Pick<InstanceDefinition, 'listen' | 'aliases'>): HostPort[] {
  const out: HostPort[] = [def.listen];
  for (const a of def.aliases) out.push(parseHostPort(a, def.listen.port));
  if (LOOPBACK.has(def.listen.host)) {
    for (const h of LOOPBACK) if (h !== def.listen.host) out.push({ host: h, port: def.listen.port });
  }
  const seen = new Set<string>();
  return out.filter((e) => {
    const k = `${e.host.toLowerCase()}:${e.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/**
 * The host clients are told to use (RDS's `Endpoint`): the listen host, or for a wildcard listener
 * (0.0.0.0, ::) the first other name clients may use, else this machine's host name.
 */
export function advertisedHost(listenHost: string, names: readonly HostPort[]): string {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return listenHost;
  return names.find((e) => e.host !== listenHost)?.host ?? hostname();
}

interface StoredInstance {
  readonly resourceId: string;
  readonly iamDatabaseAuthentication?: boolean;
  readonly createdAt: number;
  readonly engineVersion?: string;
}

/** An instance registered at run time (RegisterDBInstance), stored with its master password sealed. */
interface RegisteredRecord {
  readonly id: string;
  readonly engineName: InstanceDefinition['engineName'];
  readonly listen: HostPort;
  readonly aliases: readonly string[];
  readonly target: HostPort;
  readonly targetTls: TargetTls;
  readonly masterUsername: string;
  readonly sealedMasterPassword: string;
  readonly iamDatabaseAuthentication: boolean;
  readonly tags: Readonly<Record<string, string>>;
}

const REGISTERED = 'rds-registered';

export class InstanceRegistry {
  readonly #byId = new Map<string, DbInstance>();
  /** Ids that came from the config file; the API may not deregister them. */
  readonly #fromConfig = new Set<string>();

  private constructor(
    private readonly store: StateStore,
    private readonly sealer: Sealer,
  ) {}

  /**
   * Loads or assigns resource ids for the configured instances. The config's
   * `iamDatabaseAuthentication` is the starting value at each start; runtime
   * changes (ModifyDBInstance) are persisted and win until the config changes.
   */
  static async open(store: StateStore, defs: readonly InstanceDefinition[], sealer: Sealer): Promise<InstanceRegistry> {
    const reg = new InstanceRegistry(store, sealer);
    for (const def of defs) {
      await reg.#add(def);
      reg.#fromConfig.add(def.id.toLowerCase());
    }
    for (const rec of await store.list<RegisteredRecord>(REGISTERED)) {
      // The config file wins over a registration with the same id.
      if (reg.#byId.has(rec.id)) continue;
      await reg.#add(reg.#definitionOf(rec.data));
    }
    return reg;
  }

  #definitionOf(r: RegisteredRecord): InstanceDefinition {
    const password = new Secret(this.sealer.open(r.sealedMasterPassword, `rds/registered/${r.id.toLowerCase()}`).toString('utf8'));
    return {
      id: r.id,
      engineName: r.engineName,
      listen: r.listen,
      aliases: r.aliases,
      target: r.target,
      targetTls: r.targetTls,
      master: { username: r.masterUsername, password },
      iamDatabaseAuthentication: r.iamDatabaseAuthentication,
      tags: r.tags,
    };
  }

  /** True when the instance came from the config file (and so belongs to it, not to the API). */
  isFromConfig(id: string): boolean {
    return this.#fromConfig.has(id.toLowerCase());
  }

  /**
   * Adopts an existing server at run time (iamdb's RegisterDBInstance): the
   * definition is stored with the master password sealed, and comes back at
   * every start until deregistered. Throws on a duplicate id or listen address.
   */
  async register(def: InstanceDefinition): Promise<DbInstance> {
    const key = def.id.toLowerCase();
    if (this.#byId.has(key)) throw new IamdbError('RDS_ALREADY_EXISTS', { id: def.id });
    const clash = this.list().find((i) => i.listen.host === def.listen.host && i.listen.port === def.listen.port);
    if (clash !== undefined) throw new IamdbError('RDS_INVALID_PARAMETER', { message: `The listen address ${def.listen.host}:${def.listen.port} is already used by ${clash.id}.` });
    // Everything that can fail on the definition fails before anything is written.
    try {
      endpointsFor(def);
    } catch (err) {
      throw new IamdbError('RDS_INVALID_PARAMETER', { message: `Invalid address: ${(err as Error).message.slice(0, 128)}` });
    }
    const record: RegisteredRecord = {
      id: def.id,
      engineName: def.engineName,
      listen: def.listen,
      aliases: def.aliases,
      target: def.target,
      targetTls: def.targetTls,
      masterUsername: def.master.username,
      sealedMasterPassword: this.sealer.seal(def.master.password.reveal(), `rds/registered/${key}`),
      iamDatabaseAuthentication: def.iamDatabaseAuthentication,
      tags: def.tags,
    };
    try {
      await this.store.put(REGISTERED, key, record, { expectVersion: 0 });
    } catch (err) {
      if (isIamdbError(err, 'STORE_VERSION_CONFLICT')) throw new IamdbError('RDS_ALREADY_EXISTS', { id: def.id });
      throw err;
    }
    try {
      return await this.#add(def);
    } catch (err) {
      await this.store.delete(REGISTERED, key);
      throw err;
    }
  }

  /** Forgets a registered instance (its resource id goes too: a new registration gets a new one). */
  async deregister(id: string): Promise<DbInstance> {
    const key = id.toLowerCase();
    const inst = this.#byId.get(key);
    if (inst === undefined) throw new IamdbError('RDS_DB_INSTANCE_NOT_FOUND', { id });
    if (this.#fromConfig.has(key)) throw new IamdbError('RDS_INVALID_PARAMETER', { message: `DB instance ${inst.id} is defined in the config file; remove it there.` });
    await this.store.transaction(async (tx) => {
      await tx.delete(REGISTERED, key);
      await tx.delete('rds-instance', key);
    });
    this.#byId.delete(key);
    return inst;
  }

  async #add(def: InstanceDefinition): Promise<DbInstance> {
    const key = def.id.toLowerCase();
    const rec = await this.store.get<StoredInstance & { configIam?: boolean; tags?: Record<string, string>; configTags?: Record<string, string> }>('rds-instance', key);
    let resourceId = rec?.data.resourceId;
    if (resourceId === undefined || !DBI_RESOURCE_ID.test(resourceId)) resourceId = newDbiResourceId();
    // A runtime change sticks until the config file itself changes the value.
    const iam =
      rec !== undefined && rec.data.configIam === def.iamDatabaseAuthentication && rec.data.iamDatabaseAuthentication !== undefined
        ? rec.data.iamDatabaseAuthentication
        : def.iamDatabaseAuthentication;
    // Tags follow the same rule: API changes stick until the file's tags change.
    const configTags = { ...def.tags };
    const tags = rec?.data.tags !== undefined && sameTags(rec.data.configTags ?? {}, configTags) ? rec.data.tags : configTags;
    const createdAt = rec?.data.createdAt ?? Date.now();
    const engineVersion = rec?.data.engineVersion;
    await this.store.put('rds-instance', key, {
      resourceId,
      iamDatabaseAuthentication: iam,
      configIam: def.iamDatabaseAuthentication,
      tags,
      configTags,
      createdAt,
      ...(engineVersion !== undefined ? { engineVersion } : {}),
    });
    const inst: DbInstance = {
      id: def.id,
      engine: def.engineName === 'postgres' ? 'postgres' : 'mysql',
      engineName: def.engineName,
      resourceId,
      listen: def.listen,
      endpoints: endpointsFor(def),
      target: def.target,
      targetTls: def.targetTls,
      master: def.master,
      accountAdmins: [...(def.accountAdmins ?? [])],
      iamDatabaseAuthentication: iam,
      tags: { ...tags },
      createdAt,
      engineVersion,
    };
    this.#byId.set(key, inst);
    return inst;
  }

  get(id: string): DbInstance | undefined {
    return this.#byId.get(id.toLowerCase());
  }

  list(): DbInstance[] {
    return [...this.#byId.values()];
  }

  /** Replaces an instance's tags (AddTagsToResource / RemoveTagsFromResource) and persists them. */
  async setTags(id: string, tags: Readonly<Record<string, string>>): Promise<void> {
    const inst = this.get(id);
    if (inst === undefined) throw new IamdbError('RDS_DB_INSTANCE_NOT_FOUND', { id });
    await this.#updateStored(inst, { tags: { ...tags } });
    inst.tags = { ...tags };
  }

  /** Changes fields of an instance's stored record in one transaction, so concurrent changes never undo each other. */
  async #updateStored(inst: DbInstance, change: Record<string, unknown>): Promise<void> {
    const key = inst.id.toLowerCase();
    await this.store.transaction(async (tx) => {
      const rec = await tx.get<Record<string, unknown>>('rds-instance', key);
      await tx.put('rds-instance', key, { ...(rec?.data ?? {}), resourceId: inst.resourceId, ...change }, { expectVersion: rec?.version ?? 0 });
    });
  }

  /**
   * What the server said its version is (a PostgreSQL `server_version`, a MySQL greeting), seen by
   * the gateway. Stored only when it changes, so DescribeDBInstances reports it after a restart
   * before the server has been reached again. Never throws: it is a by-product of a login.
   */
  async noteServerVersion(id: string, announced: string): Promise<void> {
    const inst = this.get(id);
    const version = engineVersionOf(announced);
    if (inst === undefined || version === undefined || version === inst.engineVersion) return;
    inst.engineVersion = version;
    const key = inst.id.toLowerCase();
    try {
      await this.store.transaction(async (tx) => {
        // Only onto a record that still exists: a login finishing after a deregistration must not bring it back.
        const rec = await tx.get<Record<string, unknown>>('rds-instance', key);
        if (rec === undefined) return;
        await tx.put('rds-instance', key, { ...rec.data, engineVersion: version }, { expectVersion: rec.version });
      });
    } catch {
      // A concurrent store change wins; the next login notes the version again.
    }
  }

  /** Turns IAM database authentication on or off at runtime; established sessions are untouched. */
  async setIamDatabaseAuthentication(id: string, enabled: boolean): Promise<void> {
    const inst = this.get(id);
    if (inst === undefined) throw new IamdbError('RDS_DB_INSTANCE_NOT_FOUND', { id });
    // Stored first: memory (what the gateway reads) changes only once the change will survive a restart.
    await this.#updateStored(inst, { iamDatabaseAuthentication: enabled });
    inst.iamDatabaseAuthentication = enabled;
  }
}
