import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { POOL_STATS, type PoolStats } from '../gateway/proxy/postgres-pool.js';
import type { PoolSample } from './pool-rows.js';
import { ProxyMetrics, type TargetAvailability } from './proxy-metrics.js';

function stats(values: Partial<PoolStats>): PoolStats {
  return { ...(Object.fromEntries(POOL_STATS.map((k) => [k, 0])) as PoolStats), ...values };
}

function setUp(pools: PoolSample[] = [], availability: TargetAvailability[] = []): { registry: Registry; metrics: ProxyMetrics; lines: () => Promise<string[]> } {
  const registry = new Registry();
  const metrics = new ProxyMetrics(registry, { pools: () => pools, availability: () => availability });
  return { registry, metrics, lines: async () => (await registry.metrics()).split('\n').filter((l) => !l.startsWith('#')) };
}

describe('ProxyMetrics client connections', () => {
  it('shows an endpoint at zero from its first connection on', async () => {
    const { metrics, lines } = setUp();
    metrics.connectionEvents('p', 'p');
    const out = await lines();
    expect(out).toContain('iamdb_proxy_client_connections_setup_failed_auth_total{proxy="p",endpoint="p"} 0');
    expect(out).toContain('iamdb_proxy_client_connections{proxy="p",endpoint="p"} 0');
  });

  it('follows one session: received, TLS, set up, pinned, closed once however often it is reported', async () => {
    const { metrics, lines } = setUp();
    const e = metrics.connectionEvents('p', 'ro');
    e.received();
    e.tls();
    e.setupSucceeded();
    expect(await lines()).toEqual(
      expect.arrayContaining(['iamdb_proxy_client_connections{proxy="p",endpoint="ro"} 1', 'iamdb_proxy_client_connections_tls{proxy="p",endpoint="ro"} 1', 'iamdb_proxy_client_connections_no_tls{proxy="p",endpoint="ro"} 0']),
    );
    e.pinned('AdvisoryLock');
    e.closed();
    e.closed();
    expect(await lines()).toEqual(
      expect.arrayContaining([
        'iamdb_proxy_client_connections_received_total{proxy="p",endpoint="ro"} 1',
        'iamdb_proxy_client_connections_setup_succeeded_total{proxy="p",endpoint="ro"} 1',
        'iamdb_proxy_client_connections_closed_total{proxy="p",endpoint="ro"} 1',
        'iamdb_proxy_client_connections{proxy="p",endpoint="ro"} 0',
        'iamdb_proxy_client_connections_tls{proxy="p",endpoint="ro"} 0',
        'iamdb_proxy_client_sessions_pinned_total{proxy="p",endpoint="ro",reason="AdvisoryLock"} 1',
      ]),
    );
  });

  it('counts a refused session as received and failed, never as closed', async () => {
    const { metrics, lines } = setUp();
    const e = metrics.connectionEvents('p', 'p');
    e.received();
    e.setupFailedAuth();
    e.closed();
    const out = await lines();
    expect(out).toContain('iamdb_proxy_client_connections_setup_failed_auth_total{proxy="p",endpoint="p"} 1');
    expect(out).toContain('iamdb_proxy_client_connections_closed_total{proxy="p",endpoint="p"} 0');
    expect(out).toContain('iamdb_proxy_client_connections{proxy="p",endpoint="p"} 0');
  });

  it('counts a session without TLS apart', async () => {
    const { metrics, lines } = setUp();
    metrics.connectionEvents('p', 'p').setupSucceeded();
    expect(await lines()).toEqual(expect.arrayContaining(['iamdb_proxy_client_connections_no_tls{proxy="p",endpoint="p"} 1', 'iamdb_proxy_client_connections_tls{proxy="p",endpoint="p"} 0']));
  });
});

describe('ProxyMetrics pools and targets', () => {
  it('reads the pools at scrape time: gauges, counters, and latencies as summaries of sum and count', async () => {
    const pools: PoolSample[] = [];
    const { lines } = setUp(pools, [
      { proxy: 'p', target: 'db1', targetRole: 'READ_WRITE', available: true },
      { proxy: 'q', target: 'db2', targetRole: 'READ_WRITE', available: false },
    ]);
    expect((await lines()).filter((l) => l.startsWith('iamdb_proxy_database_connections{'))).toEqual([]);
    pools.push({
      proxy: 'p', targetRole: 'READ_WRITE', target: 'db1', user: 'app',
      stats: stats({ servers: 2, pinned: 1, queries: 7, borrows: 4, borrowMicros: 2_000, responses: 6, responseMicros: 30_000 }),
      maxServers: 20, logins: { requested: 3, succeeded: 2, failed: 1 },
    });
    const labels = '{proxy="p",target_role="READ_WRITE",target="db1",user="app"}';
    expect(await lines()).toEqual(
      expect.arrayContaining([
        `iamdb_proxy_database_connections${labels} 2`,
        `iamdb_proxy_database_connections_currently_session_pinned${labels} 1`,
        `iamdb_proxy_max_database_connections_allowed${labels} 20`,
        `iamdb_proxy_query_requests_total${labels} 7`,
        `iamdb_proxy_database_connection_requests_total${labels} 3`,
        `iamdb_proxy_database_connections_setup_failed_total${labels} 1`,
        `iamdb_proxy_database_connections_borrow_latency_seconds_sum${labels} 0.002`,
        `iamdb_proxy_database_connections_borrow_latency_seconds_count${labels} 4`,
        `iamdb_proxy_query_database_response_latency_seconds_sum${labels} 0.03`,
        `iamdb_proxy_query_database_response_latency_seconds_count${labels} 6`,
        'iamdb_proxy_availability_percentage{proxy="p",target="db1",target_role="READ_WRITE"} 100',
        'iamdb_proxy_availability_percentage{proxy="q",target="db2",target_role="READ_WRITE"} 0',
      ]),
    );
    pools.length = 0;
    expect((await lines()).filter((l) => l.includes('user="app"'))).toEqual([]);
  });

  it('declares each metric with its type', async () => {
    const { registry } = setUp();
    const text = await registry.metrics();
    expect(text).toContain('# TYPE iamdb_proxy_query_requests_total counter');
    expect(text).toContain('# TYPE iamdb_proxy_database_connections gauge');
    expect(text).toContain('# TYPE iamdb_proxy_query_database_response_latency_seconds summary');
    expect(text).toMatch(/# HELP iamdb_proxy_database_connections_currently_borrowed DatabaseConnectionsCurrentlyBorrowed: /);
  });
});
