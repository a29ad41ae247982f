/**
 * AWS SDK v3 clients for a test iamdb's control plane. Most control-plane
 * tests are about what iamdb answers, not about the AWS CLI, and the CLI is a
 * Python program that costs 1-3 s a call on a loaded 2-core machine; those
 * tests drive the SDK (a real client too) and keep a few CLI calls per
 * service where the CLI itself is the point (signing, --endpoint-url,
 * --ca-bundle, shorthand arguments, output parsing).
 */
import { REGION } from './iamdb.js';

/** A key pair, with the session token of temporary credentials. */
export interface AwsKey {
  readonly id: string;
  readonly secret: string;
  readonly sessionToken?: string;
}

/** An SDK client for `endpoint` signing with `key`; one attempt, no retries. */
export function sdkClient<T>(Client: new (config: object) => T, endpoint: string, key: AwsKey): T {
  const credentials = { accessKeyId: key.id, secretAccessKey: key.secret, ...(key.sessionToken !== undefined ? { sessionToken: key.sessionToken } : {}) };
  return new Client({ endpoint, region: REGION, credentials, maxAttempts: 1 });
}

/**
 * How a call that must fail failed: `(Code): message`, with the error code
 * on the wire, so one assertion can look for the code as the CLI prints it
 * (`(AccessDenied)`) and for the message after the CLI's `: `. A call that succeeds fails the test, and so
 * does an error that is not an answer from the service (a bug in the test
 * cannot pass for the expected refusal).
 */
export async function failure(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (err) {
    // Code: the code on the wire, as the CLI prints it, for Query-protocol services, whose
    // modelled errors the SDK names differently (PackedPolicyTooLarge → PackedPolicyTooLargeException).
    if (err instanceof Error && '$metadata' in err) {
      const code = (err as { Code?: unknown }).Code;
      return `(${typeof code === 'string' ? code : err.name}): ${err.message}`;
    }
    throw err;
  }
  throw new Error('the call succeeded; the test expected the service to refuse it');
}

/** The temporary credentials of an AssumeRole or GetSessionToken answer as a key. */
export function sessionKey(c: { AccessKeyId?: string; SecretAccessKey?: string; SessionToken?: string } | undefined): Required<AwsKey> {
  if (c?.AccessKeyId === undefined || c.SecretAccessKey === undefined || c.SessionToken === undefined) throw new Error('no credentials in the answer');
  return { id: c.AccessKeyId, secret: c.SecretAccessKey, sessionToken: c.SessionToken };
}

/** An IAM policy document as IAM returns it (URL-encoded JSON), parsed. */
export function policyDocument(encoded: string | undefined): unknown {
  if (encoded === undefined) throw new Error('no policy document in the answer');
  return JSON.parse(decodeURIComponent(encoded));
}
