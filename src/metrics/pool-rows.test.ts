import { describe, expect, it } from 'vitest';
import { POOL_STATS, type PoolStats } from '../gateway/proxy/postgres-pool.js';
import { poolRows, type PoolSample } from './pool-rows.js';

function stats(values: Partial<PoolStats>): PoolStats {
  return { ...(Object.fromEntries(POOL_STATS.map((k) => [k, 0])) as PoolStats), ...values };
}

function sample(over: Partial<PoolSample>): PoolSample {
  return { proxy: 'p', targetRole: 'READ_WRITE', target: 'db1', user: 'app', stats: stats({}), maxServers: 1, logins: { requested: 0, succeeded: 0, failed: 0 }, ...over };
}

describe('poolRows', () => {
  it('sums the pools of one user (their databases) into one row, microseconds into seconds', () => {
    const rows = poolRows([
      sample({ stats: stats({ servers: 2, borrowed: 1, pinned: 1, queries: 10, borrows: 4, borrowMicros: 1_500_000, responses: 10, responseMicros: 250_000 }), maxServers: 5, logins: { requested: 3, succeeded: 2, failed: 1 } }),
      sample({ stats: stats({ servers: 1, inTransaction: 1, waiting: 2, queries: 5, borrows: 1, borrowMicros: 500_000, responses: 5, responseMicros: 750_000 }), maxServers: 5, logins: { requested: 1, succeeded: 1, failed: 0 } }),
    ]);
    expect(rows).toEqual([
      {
        labels: { proxy: 'p', target_role: 'READ_WRITE', target: 'db1', user: 'app' },
        servers: 3, borrowed: 1, inTransaction: 1, pinned: 1, waiting: 2, maxServers: 10,
        queries: 15, borrows: 5, borrowSeconds: 2, responses: 15, responseSeconds: 1,
        loginsRequested: 4, loginsSucceeded: 3, loginsFailed: 1,
      },
    ]);
  });

  it('keeps apart what differs in any label, in first-seen order', () => {
    const rows = poolRows([
      sample({ user: 'a' }),
      sample({ user: 'b' }),
      sample({ targetRole: 'READ_ONLY', user: 'a' }),
      sample({ proxy: 'q', user: 'a' }),
      sample({ target: '', user: 'a' }),
      sample({ user: 'a', stats: stats({ servers: 7 }) }),
    ]);
    expect(rows.map((r) => [r.labels.proxy, r.labels.target_role, r.labels.target, r.labels.user, r.servers])).toEqual([
      ['p', 'READ_WRITE', 'db1', 'a', 7],
      ['p', 'READ_WRITE', 'db1', 'b', 0],
      ['p', 'READ_ONLY', 'db1', 'a', 0],
      ['q', 'READ_WRITE', 'db1', 'a', 0],
      ['p', 'READ_WRITE', '', 'a', 0],
    ]);
  });

  it('does not confuse label values that would join the same way', () => {
    expect(poolRows([sample({ proxy: 'a/b', user: 'c' }), sample({ proxy: 'a', user: 'b/c' })])).toHaveLength(2);
  });

  it('has no rows without pools', () => {
    expect(poolRows([])).toEqual([]);
  });
});
