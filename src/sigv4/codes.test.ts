import { describe, expect, it } from 'vitest';
import { sigv4Codes } from '../errors/codes/sigv4.js';
import { IamdbError } from '../errors/index.js';

const VERIFY_AUDIT: Record<string, string> = {
  AUTH_TOKEN_EXPIRED: 'ExpiredToken',
  AUTH_TOKEN_NOT_YET_VALID: 'FutureToken',
  AUTH_TOKEN_WRONG_ENDPOINT: 'WrongEndpoint',
  AUTH_TOKEN_WRONG_REGION: 'WrongRegion',
  AUTH_TOKEN_WRONG_SERVICE: 'WrongService',
  AUTH_TOKEN_DBUSER_MISMATCH: 'DBUserMismatch',
  AUTH_TOKEN_SIGNATURE_MISMATCH: 'SignatureMismatch',
};

describe('sigv4 error codes', () => {
  const entries = Object.entries(sigv4Codes);

  it('gives every verification failure AccessDenied and its precise audit reason', () => {
    for (const [code, audit] of Object.entries(VERIFY_AUDIT)) {
      expect(sigv4Codes[code as keyof typeof sigv4Codes]).toMatchObject({ kind: 'AccessDenied', audit });
    }
  });

  it('marks every other token code InvalidInput with audit reason InvalidToken', () => {
    for (const [code, spec] of entries) {
      if (!code.startsWith('AUTH_TOKEN_') || code in VERIFY_AUDIT) continue;
      expect(spec, code).toMatchObject({ kind: 'InvalidInput', audit: 'InvalidToken' });
    }
  });

  it('has no message template that could quote a token, signature or secret', () => {
    for (const [code, spec] of entries) {
      const holes = [...spec.message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const hole of holes) {
        expect(hole, code).not.toMatch(/token|signature|secret|password|query|credential/i);
      }
    }
  });

  it('renders through IamdbError with the catalog kind and audit', () => {
    const err = new IamdbError('AUTH_TOKEN_WRONG_REGION', { region: 'eu-west-1', expected: 'us-east-1' });
    expect(err.message).toBe('auth token was signed for region eu-west-1; this endpoint is in us-east-1');
    expect(err.kind).toBe('AccessDenied');
    expect(err.audit).toBe('WrongRegion');
  });
});
