import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { AuthAuditEvent } from '../audit/index.js';
import { iamAuthFailureKind, iamAuthMetricsSink } from './iam-auth-metrics.js';

function auth(over: Partial<AuthAuditEvent>): AuthAuditEvent {
  return { event: 'db.auth', time: new Date(0).toISOString(), decision: 'allow', reason: 'Allowed', engine: 'postgres', instance: 'db1', endpoint: '127.0.0.1:1', source: '127.0.0.1:2', dbUser: 'u', method: 'iam', tls: true, sessionId: 's', ...over };
}

describe('iamAuthFailureKind', () => {
  it("sorts reasons into RDS's failure kinds", () => {
    expect(iamAuthFailureKind('ExpiredToken')).toBe('InvalidToken');
    expect(iamAuthFailureKind('SignatureMismatch')).toBe('InvalidToken');
    expect(iamAuthFailureKind('ExplicitDeny')).toBe('InsufficientPermissions');
    expect(iamAuthFailureKind('ServerLoginsBusy')).toBe('Throttling');
    expect(iamAuthFailureKind('UpstreamUnavailable')).toBe('ServerError');
    expect(iamAuthFailureKind('TlsRequired')).toBe('Other');
  });
});

describe('iamAuthMetricsSink', () => {
  it('counts IAM decisions of instance endpoints only, with bounded reasons', async () => {
    const registry = new Registry();
    const sink = iamAuthMetricsSink(registry);
    sink.write(auth({}));
    sink.write(auth({ decision: 'deny', reason: 'ExpiredToken' }));
    sink.write(auth({ decision: 'deny', reason: 'made-up' }));
    sink.write(auth({ method: 'password', reason: 'PasswordLogin' }));
    sink.write(auth({ instance: undefined, proxy: 'p', proxyEndpoint: 'p' }));
    const text = await registry.metrics();
    expect(text).toContain('iamdb_iam_db_auth_connection_requests_total{instance="db1"} 3');
    expect(text).toContain('iamdb_iam_db_auth_connection_success_total{instance="db1"} 1');
    expect(text).toContain('iamdb_iam_db_auth_connection_failure_total{instance="db1",kind="InvalidToken",reason="ExpiredToken"} 1');
    expect(text).toContain('iamdb_iam_db_auth_connection_failure_total{instance="db1",kind="Other",reason="Unknown"} 1');
  });
});
