/**
 * RDS Proxy's CloudWatch metrics as Prometheus metrics: the client side
 * counted from each session's events (ProxyConnectionEvents), the database
 * side read from the pools' counters at scrape time, target availability
 * from the last health check. Names and labels are in docs/metrics.md.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProxyConnectionEvents } from '../gateway/proxy/connection-events.js';
import type { MysqlPinReason } from '../gateway/proxy/mysql-session-state.js';
import type { PinReason } from '../gateway/proxy/session-state.js';
import { poolRows, type PoolRow, type PoolSample } from './pool-rows.js';
import { SumCountSummary } from './sum-count-summary.js';

/** A registered target's last completed health check. */
export interface TargetAvailability {
  readonly proxy: string;
  readonly target: string;
  readonly targetRole: string;
  readonly available: boolean;
}

/** What is read at each scrape. */
export interface ProxyMetricsSources {
  pools(): Iterable<PoolSample>;
  /** Targets whose health has been checked at least once (REGISTERING ones are left out). */
  availability(): Iterable<TargetAvailability>;
}

const CLIENT_LABELS = ['proxy', 'endpoint'] as const;
const POOL_LABELS = ['proxy', 'target_role', 'target', 'user'] as const;
type ClientLabel = (typeof CLIENT_LABELS)[number];
type PoolLabel = (typeof POOL_LABELS)[number];

/** Database-side gauges and counters: name, RDS Proxy's name and meaning, the row's value. */
const POOL_GAUGES: ReadonlyArray<readonly [string, string, (r: PoolRow) => number]> = [
  ['iamdb_proxy_database_connections', 'DatabaseConnections: server connections open now.', (r) => r.servers],
  ['iamdb_proxy_database_connections_currently_borrowed', 'DatabaseConnectionsCurrentlyBorrowed: server connections lent to a client now.', (r) => r.borrowed],
  ['iamdb_proxy_database_connections_currently_in_transaction', 'DatabaseConnectionsCurrentlyInTransaction: server connections inside a transaction now.', (r) => r.inTransaction],
  ['iamdb_proxy_database_connections_currently_session_pinned', 'DatabaseConnectionsCurrentlySessionPinned: server connections pinned to one client until it leaves.', (r) => r.pinned],
  ['iamdb_proxy_max_database_connections_allowed', 'MaxDatabaseConnectionsAllowed: the most server connections the pools may open (MaxConnectionsPercent of max_connections less the superuser reserve, per pool).', (r) => r.maxServers],
  ['iamdb_proxy_database_connection_waiters', 'Clients waiting now for a server connection (up to ConnectionBorrowTimeout); not an RDS Proxy metric.', (r) => r.waiting],
];
const POOL_COUNTERS: ReadonlyArray<readonly [string, string, (r: PoolRow) => number]> = [
  ['iamdb_proxy_database_connection_requests_total', 'DatabaseConnectionRequests: server logins the pools attempted.', (r) => r.loginsRequested],
  ['iamdb_proxy_database_connections_setup_succeeded_total', 'DatabaseConnectionsSetupSucceeded: server logins that succeeded (InitQuery included).', (r) => r.loginsSucceeded],
  ['iamdb_proxy_database_connections_setup_failed_total', 'DatabaseConnectionsSetupFailed: server logins that failed.', (r) => r.loginsFailed],
  ['iamdb_proxy_query_requests_total', 'QueryRequests: queries received from clients (a simple Query counts once however many statements it holds; so does each extended-protocol Execute).', (r) => r.queries],
];

/** One endpoint's client series, shared by all of its sessions' events. */
interface ClientSeries {
  readonly labels: { proxy: string; endpoint: string };
  readonly received: Counter<ClientLabel>;
  readonly succeeded: Counter<ClientLabel>;
  readonly failedAuth: Counter<ClientLabel>;
  readonly closed: Counter<ClientLabel>;
  readonly open: Gauge<ClientLabel>;
  readonly openTls: Gauge<ClientLabel>;
  readonly openNoTls: Gauge<ClientLabel>;
  readonly pins: Counter<ClientLabel | 'reason'>;
}

/**
 * One client connection's events. A pooled client keeps this for as long as it stays, so it is
 * a class (three fields per session) rather than an object of closures.
 */
class SessionEvents implements ProxyConnectionEvents {
  #tls = false;
  #state: 'new' | 'open' | 'closed' = 'new';
  constructor(private readonly series: ClientSeries) {}

  received(): void {
    this.series.received.inc(this.series.labels);
  }

  tls(): void {
    this.#tls = true;
  }

  setupSucceeded(): void {
    if (this.#state !== 'new') return;
    this.#state = 'open';
    const s = this.series;
    s.succeeded.inc(s.labels);
    s.open.inc(s.labels);
    (this.#tls ? s.openTls : s.openNoTls).inc(s.labels);
  }

  setupFailedAuth(): void {
    this.series.failedAuth.inc(this.series.labels);
  }

  closed(): void {
    // Once per logged-in session, whichever path reports it.
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    const s = this.series;
    s.closed.inc(s.labels);
    s.open.dec(s.labels);
    (this.#tls ? s.openTls : s.openNoTls).dec(s.labels);
  }

  pinned(reason: PinReason | MysqlPinReason): void {
    this.series.pins.inc({ ...this.series.labels, reason });
  }
}

export class ProxyMetrics {
  readonly #received: Counter<ClientLabel>;
  readonly #succeeded: Counter<ClientLabel>;
  readonly #failedAuth: Counter<ClientLabel>;
  readonly #closed: Counter<ClientLabel>;
  readonly #open: Gauge<ClientLabel>;
  readonly #openTls: Gauge<ClientLabel>;
  readonly #openNoTls: Gauge<ClientLabel>;
  readonly #pins: Counter<ClientLabel | 'reason'>;
  /** Endpoints whose client series exist (at zero from the first connection on, so rate() sees the first event). */
  readonly #series = new Map<string, ClientSeries>();

  constructor(registry: Registry, sources: ProxyMetricsSources) {
    const registers = [registry];
    const counter = (name: string, help: string): Counter<ClientLabel> => new Counter({ name, help, labelNames: CLIENT_LABELS, registers });
    const gauge = (name: string, help: string): Gauge<ClientLabel> => new Gauge({ name, help, labelNames: CLIENT_LABELS, registers });
    this.#received = counter('iamdb_proxy_client_connections_received_total', 'ClientConnectionsReceived: client connections that reached the proxy.');
    this.#succeeded = counter('iamdb_proxy_client_connections_setup_succeeded_total', 'ClientConnectionsSetupSucceeded: client logins that succeeded.');
    this.#failedAuth = counter('iamdb_proxy_client_connections_setup_failed_auth_total', 'ClientConnectionsSetupFailedAuth: client logins refused for authentication or TLS (wrong password or token, no secret for the user, TLS required).');
    this.#closed = counter('iamdb_proxy_client_connections_closed_total', 'ClientConnectionsClosed: logged-in client connections that ended.');
    this.#open = gauge('iamdb_proxy_client_connections', 'ClientConnections: logged-in client connections open now.');
    this.#openTls = gauge('iamdb_proxy_client_connections_tls', 'ClientConnectionsTLS: logged-in client connections with TLS open now.');
    this.#openNoTls = gauge('iamdb_proxy_client_connections_no_tls', 'ClientConnectionsNoTLS: logged-in client connections without TLS open now.');
    this.#pins = new Counter({
      name: 'iamdb_proxy_client_sessions_pinned_total',
      help: 'Client sessions pinned to their server connection, by reason (the pinReasons of db.session.end); not an RDS Proxy metric.',
      labelNames: [...CLIENT_LABELS, 'reason'],
      registers,
    });
    this.#registerPools(registry, sources);
    new Gauge({
      name: 'iamdb_proxy_availability_percentage',
      help: 'AvailabilityPercentage: 100 while the last health check found the target AVAILABLE, 0 otherwise; avg_over_time() gives the share of a window.',
      labelNames: ['proxy', 'target', 'target_role'],
      registers,
      collect() {
        this.reset();
        for (const a of sources.availability()) this.set({ proxy: a.proxy, target: a.target, target_role: a.targetRole }, a.available ? 100 : 0);
      },
    });
  }

  #registerPools(registry: Registry, sources: ProxyMetricsSources): void {
    const registers = [registry];
    for (const [name, help, value] of POOL_GAUGES) {
      new Gauge<PoolLabel>({
        name,
        help,
        labelNames: POOL_LABELS,
        registers,
        collect() {
          this.reset();
          for (const r of poolRows(sources.pools())) this.set(r.labels, value(r));
        },
      });
    }
    for (const [name, help, value] of POOL_COUNTERS) {
      new Counter<PoolLabel>({
        name,
        help,
        labelNames: POOL_LABELS,
        registers,
        collect() {
          // The pools keep the totals; the counter only carries them out.
          this.reset();
          for (const r of poolRows(sources.pools())) this.inc(r.labels, value(r));
        },
      });
    }
    const summary = (name: string, help: string, sum: (r: PoolRow) => number, count: (r: PoolRow) => number): void => {
      new SumCountSummary<PoolLabel>(name, help, () => poolRows(sources.pools()).map((r) => ({ labels: r.labels, sum: sum(r), count: count(r) }))).registerWith(registry);
    };
    summary(
      'iamdb_proxy_database_connections_borrow_latency_seconds',
      'DatabaseConnectionsBorrowLatency: time a client waited for a server connection, per borrow (ms resolution).',
      (r) => r.borrowSeconds,
      (r) => r.borrows,
    );
    summary(
      'iamdb_proxy_query_database_response_latency_seconds',
      "QueryDatabaseResponseLatency: from a Query or Sync sent to the server to the server's ReadyForQuery.",
      (r) => r.responseSeconds,
      (r) => r.responses,
    );
  }

  /** The events of one client connection on a proxy endpoint (ProxyServiceDeps.events). */
  connectionEvents(proxy: string, endpoint: string): ProxyConnectionEvents {
    return new SessionEvents(this.#seriesOf(proxy, endpoint));
  }

  #seriesOf(proxy: string, endpoint: string): ClientSeries {
    const key = JSON.stringify([proxy, endpoint]);
    let series = this.#series.get(key);
    if (series !== undefined) return series;
    const labels = { proxy, endpoint };
    series = {
      labels,
      received: this.#received,
      succeeded: this.#succeeded,
      failedAuth: this.#failedAuth,
      closed: this.#closed,
      open: this.#open,
      openTls: this.#openTls,
      openNoTls: this.#openNoTls,
      pins: this.#pins,
    };
    this.#series.set(key, series);
    for (const c of [this.#received, this.#succeeded, this.#failedAuth, this.#closed]) c.inc(labels, 0);
    for (const g of [this.#open, this.#openTls, this.#openNoTls]) g.inc(labels, 0);
    return series;
  }
}
