import { afterEach, describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Signer } from '@aws-sdk/rds-signer';
import { isIamdbError } from '../errors/index.js';
import { Secret } from '../util/index.js';
import { presignDbAuthToken, type PresignDbAuthTokenInput } from './presign.js';

// botocore tests/unit/test_signers.py, TestGenerateDBAuthToken (Apache-2.0).
const BOTOCORE = {
  hostname: 'prod-instance.us-east-1.rds.amazonaws.com',
  port: 3306,
  username: 'someusername',
  region: 'us-east-1',
  credentials: { accessKeyId: 'akid', secretAccessKey: new Secret('skid') },
  date: new Date('2016-11-07T17:39:33Z'),
} satisfies PresignDbAuthTokenInput;

async function rdsSignerToken(input: PresignDbAuthTokenInput): Promise<string> {
  // rds-signer reads the wall clock; pin it to the same instant. Only Date is
  // faked so the SDK's promises and timers still run.
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(input.date);
  try {
    const signer = new Signer({
      hostname: input.hostname,
      port: input.port,
      username: input.username,
      region: input.region,
      credentials: {
        accessKeyId: input.credentials.accessKeyId,
        secretAccessKey: input.credentials.secretAccessKey.reveal(),
        ...(input.credentials.sessionToken ? { sessionToken: input.credentials.sessionToken.reveal() } : {}),
      },
    });
    return await signer.getAuthToken();
  } finally {
    vi.useRealTimers();
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('presignDbAuthToken', () => {
  it("reproduces botocore's RDS vector signature", () => {
    const token = presignDbAuthToken(BOTOCORE).reveal();
    expect(token).toBe(
      'prod-instance.us-east-1.rds.amazonaws.com:3306/?Action=connect&DBUser=someusername' +
        '&X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=akid%2F20161107%2Fus-east-1%2Frds-db%2Faws4_request' +
        '&X-Amz-Date=20161107T173933Z&X-Amz-Expires=900' +
        '&X-Amz-Signature=d1138cdbc0ca63eec012ec0fc6c2267e03642168f5884a7795320d4c18374c61' +
        '&X-Amz-SignedHeaders=host',
    );
  });

  it('returns the token wrapped in a Secret that prints redacted', () => {
    const token = presignDbAuthToken(BOTOCORE);
    expect(String(token)).toBe('[REDACTED]');
    expect(JSON.stringify({ token })).not.toContain('Signature');
  });

  it('is byte-identical to @aws-sdk/rds-signer for the botocore inputs', async () => {
    expect(presignDbAuthToken(BOTOCORE).reveal()).toBe(await rdsSignerToken(BOTOCORE));
  });

  it('is byte-identical to @aws-sdk/rds-signer with a session token, mixed-case host and a user needing encoding', async () => {
    const input: PresignDbAuthTokenInput = {
      hostname: 'My-Cluster.cluster-abc.eu-west-1.rds.amazonaws.com',
      port: 5432,
      username: "app user+ops@corp/é!'()*",
      region: 'eu-west-1',
      credentials: {
        accessKeyId: 'ASIAIOSFODNN7EXAMPLE',
        secretAccessKey: new Secret('wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'),
        sessionToken: new Secret('FwoGZXIvYXdzE+/=='.repeat(70)),
      },
      date: new Date('2024-02-29T23:59:59.500Z'),
    };
    const ours = presignDbAuthToken(input).reveal();
    expect(ours.length).toBeGreaterThan(1000);
    expect(ours).toBe(await rdsSignerToken(input));
  });

  it('matches @aws-sdk/rds-signer for arbitrary users, hosts, ports and instants', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }),
        fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9.-]{0,40}$/),
        fc.integer({ min: 1, max: 65535 }),
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }),
        fc.option(fc.string({ minLength: 1, maxLength: 60 }), { nil: undefined }),
        async (username, hostname, port, date, session) => {
          const input: PresignDbAuthTokenInput = {
            hostname,
            port,
            username,
            region: 'ap-southeast-2',
            credentials: {
              accessKeyId: 'AKIDEXAMPLE',
              secretAccessKey: new Secret('secret'),
              ...(session === undefined ? {} : { sessionToken: new Secret(session) }),
            },
            date,
          };
          expect(presignDbAuthToken(input).reveal()).toBe(await rdsSignerToken(input));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('accepts a shorter lifetime and writes it to X-Amz-Expires', () => {
    expect(presignDbAuthToken({ ...BOTOCORE, expiresIn: 60 }).reveal()).toContain('&X-Amz-Expires=60&');
  });

  it.each([
    ['an empty hostname', { hostname: '' }],
    ['a hostname with a slash', { hostname: 'db/evil' }],
    ['port 0', { port: 0 }],
    ['port 65536', { port: 65536 }],
    ['a fractional port', { port: 5432.5 }],
    ['an empty username', { username: '' }],
    ['a username with a lone surrogate', { username: 'a\uD800' }],
    ['an uppercase region', { region: 'US-EAST-1' }],
    ['expiresIn 0', { expiresIn: 0 }],
    ['expiresIn 901', { expiresIn: 901 }],
    ['an invalid date', { date: new Date(Number.NaN) }],
    ['an access key id with a slash', { credentials: { accessKeyId: 'a/b', secretAccessKey: new Secret('s') } }],
  ] as Array<[string, Partial<PresignDbAuthTokenInput>]>)('refuses %s', (_name, patch) => {
    let caught: unknown;
    try {
      presignDbAuthToken({ ...BOTOCORE, ...patch });
    } catch (err) {
      caught = err;
    }
    expect(isIamdbError(caught, 'SIGV4_INVALID_INPUT')).toBe(true);
  });
});
