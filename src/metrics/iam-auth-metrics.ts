/**
 * RDS's IAM database authentication metrics for instance endpoints
 * (IamDbAuthConnectionRequests, …Success, …Failure and its kinds), counted
 * from the audit log's db.auth decisions: every IAM login decision is one
 * event there already, with its precise reason, so counting them costs a
 * lookup per login and cannot disagree with the audit log.
 */
import { Counter, type Registry } from 'prom-client';
import { auditReasons, type AuditEvent, type AuditSink } from '../audit/index.js';

/** RDS's failure kinds (IamDbAuthConnectionFailure<Kind>), and Other for what RDS has no kind for. */
export type IamAuthFailureKind = 'InvalidToken' | 'InsufficientPermissions' | 'Throttling' | 'ServerError' | 'Other';

const INVALID_TOKEN = new Set([
  'InvalidToken', 'ExpiredToken', 'FutureToken', 'WrongEndpoint', 'WrongRegion', 'WrongService', 'DBUserMismatch', 'SignatureMismatch',
  'UnknownAccessKey', 'InactiveAccessKey', 'InvalidSessionToken', 'ExpiredSessionCredentials', 'UnknownPrincipal',
]);
const INSUFFICIENT_PERMISSIONS = new Set(['NotAuthorized', 'ExplicitDeny']);
const THROTTLING = new Set(['ServerLoginsBusy', 'IamThrottled']);
const SERVER_ERROR = new Set(['InternalError', 'UpstreamUnavailable', 'UpstreamAuthFailed', 'UpstreamTlsRequired', 'UpstreamRefused']);

/** Pure: the RDS failure kind of a refused IAM login's audit reason. */
export function iamAuthFailureKind(reason: string): IamAuthFailureKind {
  if (INVALID_TOKEN.has(reason)) return 'InvalidToken';
  if (INSUFFICIENT_PERMISSIONS.has(reason)) return 'InsufficientPermissions';
  if (THROTTLING.has(reason)) return 'Throttling';
  if (SERVER_ERROR.has(reason)) return 'ServerError';
  return 'Other';
}

/** The reason label takes only the catalog's reasons (a bounded set). */
const KNOWN_REASONS: ReadonlySet<string> = new Set(auditReasons);

/** An audit sink that counts IAM login decisions on instance endpoints (tee it with the real sinks). */
export function iamAuthMetricsSink(registry: Registry): AuditSink {
  const registers = [registry];
  const requests = new Counter({ name: 'iamdb_iam_db_auth_connection_requests_total', help: 'IamDbAuthConnectionRequests: IAM login decisions on an instance endpoint.', labelNames: ['instance'], registers });
  const success = new Counter({ name: 'iamdb_iam_db_auth_connection_success_total', help: 'IamDbAuthConnectionSuccess: IAM logins allowed.', labelNames: ['instance'], registers });
  const failure = new Counter({
    name: 'iamdb_iam_db_auth_connection_failure_total',
    help: 'IamDbAuthConnectionFailure: IAM logins refused, by RDS failure kind (InvalidToken, InsufficientPermissions, Throttling, ServerError, Other) and audit reason.',
    labelNames: ['instance', 'kind', 'reason'],
    registers,
  });
  return {
    write(event: AuditEvent): void {
      if (event.event !== 'db.auth' || event.method !== 'iam' || event.instance === undefined) return;
      const instance = event.instance;
      requests.inc({ instance });
      if (event.decision === 'allow') success.inc({ instance });
      else failure.inc({ instance, kind: iamAuthFailureKind(event.reason), reason: KNOWN_REASONS.has(event.reason) ? event.reason : 'Unknown' });
    },
    close: () => Promise.resolve(),
  };
}
