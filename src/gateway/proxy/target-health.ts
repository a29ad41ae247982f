/**
 * RDS Proxy's target health: for each (proxy, registered target instance),
 * a check every `intervalMs` (and at once when asked) that reads the
 * proxy's credentials with its role and logs in to the target with each
 * of them, and reports a TargetHealth as DescribeDBProxyTargets shows it:
 *
 * | State | Reason | when |
 * |---|---|---|
 * | REGISTERING | | no check has completed yet |
 * | AVAILABLE | | every secret was read and logged in |
 * | UNAVAILABLE | AUTH_FAILURE | no auth entries ("Proxy does not have any registered credentials"); a secret the role cannot read (the description names the role, action and resource: GetSecretValue, kms:Decrypt, the trust of rds.amazonaws.com, …); the server refuses a secret's user and password |
 * | UNAVAILABLE | UNREACHABLE | no TCP connection to the server |
 * | UNAVAILABLE | CONNECTION_FAILED | any other failed login, with the server's message |
 *
 * One failing secret makes the target UNAVAILABLE and is named (the first
 * in the proxy's order; the description counts the others): health is a
 * report for the operator. Logins do not consult it; each resolves its own
 * user's credentials, so a bad secret breaks only that user, as on AWS.
 * PENDING_PROXY_CAPACITY and INVALID_REPLICATION_STATE are never reported:
 * iamdb has no capacity to provision and does not inspect replication.
 *
 * Each check also learns the target's role (`roleOf`): a login that works
 * asks PostgreSQL `pg_is_in_recovery()`, MySQL/MariaDB `@@read_only` /
 * `@@innodb_read_only` (target-probe.ts), so a standby is a reader and a
 * promoted one a writer by the next check; pools whose logins fail ask for
 * one at once (`recheck`). Target choice (target-choice.ts) reads it.
 *
 * Nothing is remembered between checks but the last health: a cause fixed
 * (a policy, the secret, the server) shows at the next check, by itself.
 */
import type { DbInstance, ProxyAuthInput, ProxyCredentialOutcome } from '../../rds/index.js';
import type { ObservedRole } from './target-choice.js';
import { probeTarget, type ProbeOutcome, type TargetProbe } from './target-probe.js';

export type TargetHealthState = 'REGISTERING' | 'AVAILABLE' | 'UNAVAILABLE';
export type TargetHealthReason = 'UNREACHABLE' | 'CONNECTION_FAILED' | 'AUTH_FAILURE' | 'PENDING_PROXY_CAPACITY' | 'INVALID_REPLICATION_STATE';

/** AWS's TargetHealth shape. */
export interface TargetHealth {
  readonly State: TargetHealthState;
  readonly Reason?: TargetHealthReason;
  readonly Description?: string;
}

/** A proxy as the checker needs it: its id (the registry's key) and what credential reads need. */
export interface HealthProxy extends ProxyAuthInput {
  readonly id: string;
}

/** Where the checker learns what to watch; read at every round, so registrations take effect by themselves. */
export interface TargetHealthSource {
  /** Each proxy with the instance ids registered as its targets. */
  targets(): Iterable<{ readonly proxy: HealthProxy; readonly instanceIds: readonly string[] }>;
  instance(id: string): DbInstance | undefined;
}

/** Reads a proxy's credentials (ProxyCredentials does). */
export interface CredentialReader {
  resolveAll(proxy: ProxyAuthInput): Promise<ProxyCredentialOutcome[]>;
}

export interface TargetHealthChange {
  readonly proxyId: string;
  readonly instanceId: string;
  readonly health: TargetHealth;
  readonly previous: TargetHealth;
  /** What the check saw the server to be (target-choice.ts), and before. */
  readonly role: ObservedRole;
  readonly previousRole: ObservedRole;
}

export interface TargetHealthOptions {
  readonly source: TargetHealthSource;
  readonly credentials: CredentialReader;
  /** Between rounds; default 10 s. */
  readonly intervalMs?: number;
  /** Per login; default 5 s. */
  readonly timeoutMs?: number;
  /** The login; default the engine's own (tests may count or slow it). */
  readonly probe?: TargetProbe;
}

export const REGISTERING: TargetHealth = Object.freeze({ State: 'REGISTERING' });
const AVAILABLE: TargetHealth = Object.freeze({ State: 'AVAILABLE' });
export const NO_CREDENTIALS_DESCRIPTION = 'Proxy does not have any registered credentials';

const keyOf = (proxyId: string, instanceId: string): string => JSON.stringify([proxyId, instanceId]);

/**
 * @example
 *   const health = new TargetHealthChecker({ source, credentials: new ProxyCredentials(deps) });
 *   health.onChange((c) => log.info(c, 'target health'));
 *   health.start();
 *   health.healthOf('prx-1', 'db1'); // { State: 'UNAVAILABLE', Reason: 'AUTH_FAILURE', Description: '…' }
 */
export class TargetHealthChecker {
  readonly #o: Required<Omit<TargetHealthOptions, 'probe'>> & { probe: TargetProbe };
  readonly #health = new Map<string, TargetHealth>();
  readonly #roles = new Map<string, ObservedRole>();
  readonly #prompt = new Map<string, Promise<void>>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #listeners = new Set<(c: TargetHealthChange) => void>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: TargetHealthOptions) {
    this.#o = { intervalMs: 10_000, timeoutMs: 5_000, probe: probeTarget, ...options };
  }

  /** The last health of a target; REGISTERING until its first check completes. */
  healthOf(proxyId: string, instanceId: string): TargetHealth {
    return this.#health.get(keyOf(proxyId, instanceId)) ?? REGISTERING;
  }

  /**
   * What the last check of a target saw it to be: `writer` or `reader` (a
   * login worked and the server said whether it is in recovery), `down` (no
   * TCP connection), `unknown` (not checked yet, or no login worked).
   */
  roleOf(proxyId: string, instanceId: string): ObservedRole {
    return this.#roles.get(keyOf(proxyId, instanceId)) ?? 'unknown';
  }

  /**
   * A prompt check of a proxy's targets, shared by every caller while it
   * runs (pools whose logins fail during a failover ask all at once).
   */
  recheck(proxyId: string): Promise<void> {
    let p = this.#prompt.get(proxyId);
    if (p === undefined) {
      p = this.checkNow(proxyId).finally(() => this.#prompt.delete(proxyId));
      this.#prompt.set(proxyId, p);
    }
    return p;
  }

  /** Calls `listener` on every change of a target's health; returns the unsubscribe. */
  onChange(listener: (c: TargetHealthChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Checks now, then every interval. */
  start(): void {
    this.#stopped = false;
    void this.checkNow();
    this.#timer ??= setInterval(() => void this.checkNow(), this.#o.intervalMs);
    this.#timer.unref();
  }

  /** Stops the rounds and waits for checks in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    await Promise.all(this.#running.values());
  }

  /**
   * A prompt check of every target (of `proxyId` only, when given); resolves
   * when those checks are done. A check already running for a target is
   * awaited and followed by a fresh one, so a change made before this call
   * is seen.
   */
  async checkNow(proxyId?: string): Promise<void> {
    const checks: Array<Promise<void>> = [];
    const watched = new Set<string>();
    for (const { proxy, instanceIds } of this.#o.source.targets()) {
      for (const instanceId of instanceIds) watched.add(keyOf(proxy.id, instanceId));
      if (proxyId !== undefined && proxy.id !== proxyId) continue;
      for (const instanceId of instanceIds) checks.push(this.#schedule(proxy, instanceId));
    }
    // Targets no longer registered are forgotten: a new registration starts at REGISTERING.
    if (proxyId === undefined) {
      for (const k of this.#health.keys()) if (!watched.has(k)) this.#health.delete(k);
      for (const k of this.#roles.keys()) if (!watched.has(k)) this.#roles.delete(k);
    }
    await Promise.all(checks);
  }

  #schedule(proxy: HealthProxy, instanceId: string): Promise<void> {
    const key = keyOf(proxy.id, instanceId);
    const before = this.#running.get(key) ?? Promise.resolve();
    const next = before
      .then(() => (this.#stopped ? undefined : this.#check(proxy, instanceId)))
      .then((seen) => {
        if (seen !== undefined) this.#set(proxy.id, instanceId, seen.health, seen.role);
      })
      .catch(() => undefined)
      .finally(() => {
        if (this.#running.get(key) === next) this.#running.delete(key);
      });
    this.#running.set(key, next);
    return next;
  }

  #set(proxyId: string, instanceId: string, health: TargetHealth, role: ObservedRole): void {
    const key = keyOf(proxyId, instanceId);
    const previous = this.#health.get(key) ?? REGISTERING;
    const previousRole = this.#roles.get(key) ?? 'unknown';
    this.#health.set(key, health);
    this.#roles.set(key, role);
    if (previous.State === health.State && previous.Reason === health.Reason && previous.Description === health.Description && previousRole === role) return;
    for (const l of this.#listeners) l({ proxyId, instanceId, health, previous, role, previousRole });
  }

  /** One check of one target: its health, and its role as the first login that worked saw it. */
  async #check(proxy: HealthProxy, instanceId: string): Promise<{ health: TargetHealth; role: ObservedRole }> {
    const unknown = (health: TargetHealth): { health: TargetHealth; role: ObservedRole } => ({ health, role: 'unknown' });
    const instance = this.#o.source.instance(instanceId);
    if (instance === undefined) return unknown(unavailable('CONNECTION_FAILED', `The DB instance ${instanceId} is not registered with iamdb.`));
    if (proxy.auth.length === 0) return unknown(unavailable('AUTH_FAILURE', NO_CREDENTIALS_DESCRIPTION));
    const outcomes = await this.#o.credentials.resolveAll(proxy);
    const failures = outcomes.filter((o) => !o.ok);
    if (failures.length > 0) return unknown(unavailable('AUTH_FAILURE', withOthers(failures[0]!.description, failures.length - 1)));
    const refusals: TargetHealth[] = [];
    let role: ObservedRole = 'unknown';
    for (const c of outcomes) {
      if (!c.ok) continue;
      const outcome = await this.#o.probe(instance, c, this.#o.timeoutMs).catch((err: unknown): ProbeOutcome => ({ kind: 'failed', detail: `internal error: ${err instanceof Error ? err.message : String(err)}` }));
      if (outcome.kind === 'ok' && outcome.inRecovery !== undefined && role === 'unknown') role = outcome.inRecovery ? 'reader' : 'writer';
      const health = healthOfProbe(outcome, instance, c);
      // No answer from the server is the same for every user: no need to try the others.
      if (health.Reason === 'UNREACHABLE') return { health, role: 'down' };
      if (health.State === 'UNAVAILABLE') refusals.push(health);
    }
    if (refusals.length === 0) return { health: AVAILABLE, role };
    return { health: { ...refusals[0]!, Description: withOthers(refusals[0]!.Description!, refusals.length - 1) }, role };
  }
}

function unavailable(Reason: TargetHealthReason, Description: string): TargetHealth {
  return { State: 'UNAVAILABLE', Reason, Description };
}

function withOthers(description: string, others: number): string {
  return others === 0 ? description : `${description} (${others} more of the proxy's secrets fail too.)`;
}

function healthOfProbe(outcome: ProbeOutcome, instance: DbInstance, c: { username: string; secretArn: string }): TargetHealth {
  const where = `${instance.target.host}:${instance.target.port}`;
  switch (outcome.kind) {
    case 'ok':
      return AVAILABLE;
    case 'unreachable':
      return unavailable('UNREACHABLE', `The database server at ${where} (DB instance ${instance.id}) does not answer: ${outcome.detail}. Check that it is running and that iamdb can reach it.`);
    case 'auth-refused':
      return unavailable(
        'AUTH_FAILURE',
        `The database server at ${where} refused the user "${c.username}" with the password in the AWS Secrets Manager secret "${c.secretArn}" (${outcome.detail}). Update the secret or the user's password so that they match.`,
      );
    case 'failed':
      return unavailable('CONNECTION_FAILED', `The login of "${c.username}" to the database server at ${where} failed: ${outcome.detail}.`);
  }
}
