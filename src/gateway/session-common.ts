/**
 * What both engines' sessions share: the login-failure signal, the audit
 * records of a session, the identity fields of an IAM outcome, and the TCP
 * link to the real server.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { auditReasons, type AuditReason, type AuditSink } from '../audit/index.js';
import { IamdbError } from '../errors/index.js';
import type { DbInstance } from '../rds/index.js';
import type { IamLoginOutcome } from './iam-login.js';
import type { RelayResult } from './relay.js';
import { pooledRandomBytes } from '../util/random-pool.js';

/**
 * A refused login: `reason` goes to the audit log with `detail` and `extra`;
 * `wire` (the engine's generic error) is what the client gets.
 */
export class LoginFailed extends Error {
  constructor(
    readonly reason: AuditReason,
    readonly wire: Buffer | undefined,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(reason);
  }
}

const KNOWN_REASONS: ReadonlySet<string> = new Set(auditReasons);

/** A reason carried by an error code, checked against the known reasons. */
export function asAuditReason(reason: string | undefined, fallback: AuditReason): AuditReason {
  return reason !== undefined && KNOWN_REASONS.has(reason) ? (reason as AuditReason) : fallback;
}

/** The audit fields naming who an IAM login was and what decided it. */
export function identityFields(outcome: IamLoginOutcome): Record<string, unknown> {
  return {
    resource: outcome.resource,
    ...(outcome.principal ? { principal: outcome.principal } : {}),
    ...(outcome.accessKeyId ? { accessKeyId: outcome.accessKeyId } : {}),
    ...(outcome.matchedStatements?.length ? { matchedStatements: outcome.matchedStatements } : {}),
  };
}

/**
 * Where a session arrived: an instance endpoint, or a proxy endpoint (whose
 * records name the proxy and the endpoint instead of an instance).
 */
export interface SessionPlace {
  readonly id: string;
  readonly listen: { readonly host: string; readonly port: number };
  readonly proxy?: { readonly endpointName: string };
}

/** Writes one session's audit events; the session fills in who and how as it learns them. */
export class SessionAudit {
  readonly sessionId = pooledRandomBytes(8).toString('hex');
  readonly sourceIp: string;
  readonly source: string;
  readonly #started = Date.now();
  dbUser = '';
  database: string | undefined;
  method: 'iam' | 'password' | 'none' = 'none';
  tls = false;
  principal: string | undefined;

  constructor(
    private readonly sink: AuditSink,
    private readonly engine: 'postgres' | 'mysql',
    private readonly instance: SessionPlace,
    socket: Socket,
  ) {
    this.sourceIp = (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    this.source = `${this.sourceIp}:${socket.remotePort ?? 0}`;
  }

  /** The instance, or the proxy and its endpoint, for every record. */
  #where(): Record<string, string> {
    const p = this.instance.proxy;
    return p ? { proxy: this.instance.id, proxyEndpoint: p.endpointName } : { instance: this.instance.id };
  }

  /** One authentication decision. */
  auth(decision: 'allow' | 'deny', reason: AuditReason, extra: Record<string, unknown> = {}): void {
    if (typeof extra['principal'] === 'string') this.principal = extra['principal'];
    this.sink.write({
      event: 'db.auth',
      time: new Date().toISOString(),
      decision,
      reason,
      engine: this.engine,
      ...this.#where(),
      endpoint: `${this.instance.listen.host}:${this.instance.listen.port}`,
      source: this.source,
      dbUser: this.dbUser,
      ...(this.database !== undefined ? { database: this.database } : {}),
      method: this.method,
      tls: this.tls,
      sessionId: this.sessionId,
      ...extra,
    });
  }

  /** A proxy session begins (after its db.auth allow): who, where, and how it logged in. */
  start(): void {
    const p = this.instance.proxy;
    if (p === undefined || this.method === 'none') return;
    this.sink.write({
      event: 'db.session.start',
      time: new Date().toISOString(),
      engine: this.engine,
      proxy: this.instance.id,
      proxyEndpoint: p.endpointName,
      source: this.source,
      dbUser: this.dbUser,
      ...(this.database !== undefined ? { database: this.database } : {}),
      method: this.method,
      tls: this.tls,
      ...(this.principal ? { principal: this.principal } : {}),
      sessionId: this.sessionId,
    });
  }

  /** Records a refused login and ends the client's connection with the engine's generic error. */
  refuse(client: Socket, err: LoginFailed): void {
    this.auth('deny', err.reason, { ...err.extra, ...(err.detail !== undefined ? { detail: err.detail } : {}) });
    if (err.wire && !client.destroyed) client.end(err.wire);
    else client.destroy();
  }

  /** An account statement applied or refused (MySQL). */
  account(decision: 'allow' | 'deny', reason: string, extra: Record<string, unknown> = {}): void {
    this.sink.write({
      event: 'db.account',
      time: new Date().toISOString(),
      decision,
      reason,
      engine: 'mysql',
      instance: this.instance.id,
      source: this.source,
      dbUser: this.dbUser,
      ...(this.principal ? { principal: this.principal } : {}),
      sessionId: this.sessionId,
      ...extra,
    });
  }

  /** The end of a relayed session; a pooled one says why it was pinned, if it was. */
  end(stats: RelayResult, extra: Record<string, unknown> = {}): void {
    this.sink.write({
      event: 'db.session.end',
      time: new Date().toISOString(),
      engine: this.engine,
      ...this.#where(),
      source: this.source,
      dbUser: this.dbUser,
      ...(this.principal ? { principal: this.principal } : {}),
      sessionId: this.sessionId,
      durationMs: Date.now() - this.#started,
      bytesIn: stats.bytesFromClient,
      bytesOut: stats.bytesFromServer,
      reason: stats.endedBy,
      ...extra,
    });
  }
}

/**
 * Ends a login's waits when the login is over (timeout, client gone). The
 * AbortController behind it is made only when something waits: thousands of
 * idle connections should not each carry one.
 */
export class LoginCancel {
  #controller: AbortController | undefined;
  #cancelled = false;

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#cancelled) this.#controller.abort();
    return this.#controller.signal;
  }

  cancel(): void {
    this.#cancelled = true;
    this.#controller?.abort();
  }
}

/** Opens TCP to the instance's server, with a timeout; errors are GATEWAY_UPSTREAM_UNAVAILABLE. */
export function connectTarget(instance: DbInstance, timeoutMs: number): Promise<Socket> {
  const target = `${instance.target.host}:${instance.target.port}`;
  return new Promise<Socket>((resolve, reject) => {
    const s = netConnect({ host: instance.target.host, port: instance.target.port, noDelay: true });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new IamdbError('GATEWAY_UPSTREAM_UNAVAILABLE', { target, reason: 'connect timeout' }));
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(new IamdbError('GATEWAY_UPSTREAM_UNAVAILABLE', { target, reason: (err as NodeJS.ErrnoException).code ?? err.message }, { cause: err }));
    });
  });
}
