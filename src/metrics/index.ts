/** Prometheus metrics: RDS Proxy's set for proxy endpoints, and the scrape endpoint (docs/metrics.md). */
export { MetricsServer } from './metrics-server.js';
export { ProxyMetrics, type ProxyMetricsSources, type TargetAvailability } from './proxy-metrics.js';
export { poolRows, type PoolLabels, type PoolRow, type PoolSample } from './pool-rows.js';
export { iamAuthFailureKind, iamAuthMetricsSink, type IamAuthFailureKind } from './iam-auth-metrics.js';
