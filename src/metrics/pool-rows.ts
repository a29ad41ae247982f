/**
 * Pure: the pools' counters, as RDS Proxy's database-side metrics report
 * them. Pools are per proxy, endpoint role, database user and database;
 * metrics sum them per proxy, endpoint role, target and user. The database
 * is summed away because clients choose it (a label per database would let
 * any client with a login add series), while users are bounded by the
 * proxy's Auth entries (at most 200).
 */
import type { PoolLoginCounts, PoolStats } from '../gateway/proxy/postgres-pool.js';

/** One pool at scrape time. */
export interface PoolSample {
  readonly proxy: string;
  readonly targetRole: string;
  /** The instance new server connections go to now ('' when none is registered). */
  readonly target: string;
  readonly user: string;
  readonly stats: PoolStats;
  /** The most server connections the pool may open (MaxDatabaseConnectionsAllowed). */
  readonly maxServers: number;
  readonly logins: PoolLoginCounts;
}

export interface PoolLabels {
  readonly proxy: string;
  readonly target_role: string;
  readonly target: string;
  readonly user: string;
}

/** The sums for one label set; latencies in seconds (Prometheus's base unit; RDS Proxy's are µs). */
export interface PoolRow {
  readonly labels: PoolLabels;
  servers: number;
  borrowed: number;
  inTransaction: number;
  pinned: number;
  waiting: number;
  maxServers: number;
  queries: number;
  borrows: number;
  borrowSeconds: number;
  responses: number;
  responseSeconds: number;
  loginsRequested: number;
  loginsSucceeded: number;
  loginsFailed: number;
}

/** Sums the samples that share labels, in first-seen order. */
export function poolRows(samples: Iterable<PoolSample>): PoolRow[] {
  const rows = new Map<string, PoolRow>();
  for (const s of samples) {
    const labels: PoolLabels = { proxy: s.proxy, target_role: s.targetRole, target: s.target, user: s.user };
    const key = JSON.stringify([labels.proxy, labels.target_role, labels.target, labels.user]);
    let row = rows.get(key);
    if (row === undefined) {
      row = { labels, servers: 0, borrowed: 0, inTransaction: 0, pinned: 0, waiting: 0, maxServers: 0, queries: 0, borrows: 0, borrowSeconds: 0, responses: 0, responseSeconds: 0, loginsRequested: 0, loginsSucceeded: 0, loginsFailed: 0 };
      rows.set(key, row);
    }
    const st = s.stats;
    row.servers += st.servers;
    row.borrowed += st.borrowed;
    row.inTransaction += st.inTransaction;
    row.pinned += st.pinned;
    row.waiting += st.waiting;
    row.maxServers += s.maxServers;
    row.queries += st.queries;
    row.borrows += st.borrows;
    row.borrowSeconds += st.borrowMicros / 1e6;
    row.responses += st.responses;
    row.responseSeconds += st.responseMicros / 1e6;
    row.loginsRequested += s.logins.requested;
    row.loginsSucceeded += s.logins.succeeded;
    row.loginsFailed += s.logins.failed;
  }
  return [...rows.values()];
}
