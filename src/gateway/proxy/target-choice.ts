/**
 * Which registered target a proxy's new server connection goes to (pure
 * decisions, plus the little memory they need). A target group may hold a
 * writer and its streaming replicas; which one is the writer is not what was
 * registered but what the servers say: target health asks each one
 * (PostgreSQL `pg_is_in_recovery()`, MySQL/MariaDB `@@read_only` /
 * `@@innodb_read_only`) at every check and at once when a pool's login
 * fails, so after a replica is promoted new logins go to it with no API call.
 *
 * - READ_WRITE endpoints: the target last seen out of recovery. The writer in
 *   use is kept while it is still seen as one, so an old primary that comes
 *   back without being demoted (two servers out of recovery) does not take
 *   the writes back. With no target observed at all yet (the first seconds,
 *   or checks that cannot log in), the registered READ_WRITE target: the
 *   login itself tells.
 * - READ_ONLY endpoints: the targets seen in recovery, least server
 *   connections of this pool first, ties taken in turn. A target group of
 *   one instance has no reader: RDS Proxy fails such requests at once; with
 *   readers registered but none available it waits, as for the writer.
 */
import type { TargetRole } from '../../rds/index.js';

/** What the last check of a target saw. */
export type ObservedRole =
  /** Logged in; not in recovery (PostgreSQL), not read-only (MySQL). */
  | 'writer'
  /** Logged in; in recovery or read-only (a standby, a replica). */
  | 'reader'
  /** No TCP connection. */
  | 'down'
  /** Not checked yet, or the check could not log in (the role is not known). */
  | 'unknown';

export interface TargetView {
  readonly instanceId: string;
  /** As registered: the first target READ_WRITE, the others READ_ONLY. */
  readonly registeredRole: TargetRole;
  readonly observed: ObservedRole;
}

/** Where a new server connection should go, or why it cannot go anywhere. */
export type TargetDecision =
  | { readonly kind: 'target'; readonly instanceId: string }
  /** None available now; one may become available (failover in progress): wait up to ConnectionBorrowTimeout. */
  | { readonly kind: 'wait' }
  /** None can ever serve this endpoint as registered (no target, or a READ_ONLY endpoint with no reader registered). */
  | { readonly kind: 'none'; readonly reason: 'NoTargets' | 'NoReaders' };

/** The writer for a READ_WRITE endpoint; `current` is the writer chosen last time (kept while it is still one). */
export function chooseWriter(targets: readonly TargetView[], current: string | undefined): TargetDecision {
  if (targets.length === 0) return { kind: 'none', reason: 'NoTargets' };
  const writers = targets.filter((t) => t.observed === 'writer');
  const kept = writers.find((t) => t.instanceId === current);
  if (kept !== undefined) return { kind: 'target', instanceId: kept.instanceId };
  // A new writer: the registered one first (a clean start), then registration order.
  const ranked = [...writers.filter((t) => t.registeredRole === 'READ_WRITE'), ...writers.filter((t) => t.registeredRole !== 'READ_WRITE')];
  if (ranked.length > 0) return { kind: 'target', instanceId: ranked[0]!.instanceId };
  // Nothing seen as a writer. Before any role is known, the registered writer (its login will tell);
  // once one is known (a standby seen, the writer down), wait for a promotion to be seen.
  if (targets.every((t) => t.observed === 'unknown')) {
    const registered = targets.find((t) => t.registeredRole === 'READ_WRITE') ?? targets[0]!;
    return { kind: 'target', instanceId: registered.instanceId };
  }
  return { kind: 'wait' };
}

/**
 * A reader for a READ_ONLY endpoint: of the targets seen in recovery, the one
 * this pool has the fewest server connections on; `turn` (a counter the
 * caller advances) breaks ties so logins rotate over equal readers.
 */
export function chooseReader(targets: readonly TargetView[], load: ReadonlyMap<string, number>, turn: number): TargetDecision {
  if (targets.length === 0) return { kind: 'none', reason: 'NoTargets' };
  // One instance is a writer with no replica: there is nothing to wait for.
  if (targets.length < 2) return { kind: 'none', reason: 'NoReaders' };
  const readers = targets.filter((t) => t.observed === 'reader');
  if (readers.length === 0) return { kind: 'wait' };
  const least = Math.min(...readers.map((t) => load.get(t.instanceId) ?? 0));
  const tied = readers.filter((t) => (load.get(t.instanceId) ?? 0) === least);
  return { kind: 'target', instanceId: tied[((turn % tied.length) + tied.length) % tied.length]!.instanceId };
}

/**
 * The `Role` DescribeDBProxyTargets shows: what the server was seen to be;
 * the registered role while no target's role is known (nothing observed yet);
 * UNKNOWN for a target not seen when others were (down during a failover).
 */
export function reportedRole(target: TargetView, group: readonly TargetView[]): 'READ_WRITE' | 'READ_ONLY' | 'UNKNOWN' {
  if (target.observed === 'writer') return 'READ_WRITE';
  if (target.observed === 'reader') return 'READ_ONLY';
  return group.some((t) => t.observed === 'writer' || t.observed === 'reader') ? 'UNKNOWN' : target.registeredRole;
}

/** DescribeDBProxyTargets' `Role` of one of a proxy's targets. */
export function reportedRoleOf(observations: TargetObservations, proxyId: string, targets: ReadonlyArray<{ readonly instanceId: string; readonly role: TargetRole }>, instanceId: string): 'READ_WRITE' | 'READ_ONLY' | 'UNKNOWN' {
  const views = targets.map((t) => ({ instanceId: t.instanceId, registeredRole: t.role, observed: observations.roleOf(proxyId, t.instanceId) }));
  const view = views.find((v) => v.instanceId === instanceId);
  return view === undefined ? 'UNKNOWN' : reportedRole(view, views);
}

/** What the chooser needs to know about targets (target health provides it). */
export interface TargetObservations {
  /** The role the last check of (proxy resource id, instance) saw. */
  roleOf(proxyId: string, instanceId: string): ObservedRole;
  /** A login to one of the proxy's targets failed: check its targets again now (coalesced by the checker). */
  recheck(proxyId: string): void;
}

/** Nothing observed: every target 'unknown' (the registered writer is used; no readers are known). */
/**
 * How long a pool waits before trying a login again while its target is
 * unavailable (a failover): 50 ms, doubling, at most a second, so that a new
 * writer is found soon without hammering a server that is starting.
 */
export function failoverRetryPause(attempt: number): number {
  return Math.min(1000, 50 * 2 ** Math.min(attempt, 5));
}

export const NO_OBSERVATIONS: TargetObservations = { roleOf: () => 'unknown', recheck: () => undefined };

/**
 * The memory of target choice: the writer each proxy uses now (kept while it
 * is one) and a turn per pool for readers. One per ProxyService.
 */
export class TargetChooser {
  readonly #writers = new Map<string, string>();
  #turn = 0;

  constructor(readonly observations: TargetObservations) {}

  /** The views of a proxy's registered targets. */
  views(proxyId: string, targets: ReadonlyArray<{ readonly instanceId: string; readonly role: TargetRole }>): TargetView[] {
    return targets.map((t) => ({ instanceId: t.instanceId, registeredRole: t.role, observed: this.observations.roleOf(proxyId, t.instanceId) }));
  }

  /** Where a new server connection of an endpoint with `role` goes; `load` is the pool's server connections per instance. */
  decide(proxyId: string, targets: ReadonlyArray<{ readonly instanceId: string; readonly role: TargetRole }>, role: TargetRole, load: ReadonlyMap<string, number> = new Map()): TargetDecision {
    const views = this.views(proxyId, targets);
    if (role === 'READ_ONLY') return chooseReader(views, load, this.#turn++);
    const d = chooseWriter(views, this.#writers.get(proxyId));
    // Only a writer seen as one is remembered: the fallback to the registered one is not a choice.
    if (d.kind === 'target' && views.find((v) => v.instanceId === d.instanceId)?.observed === 'writer') this.#writers.set(proxyId, d.instanceId);
    return d;
  }
}
