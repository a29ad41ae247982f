/**
 * `iamdb generate-db-auth-token`: the same token `aws rds
 * generate-db-auth-token` prints, signed locally with the caller's own
 * credentials found the way the AWS CLI and SDKs find them.
 */
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { IamdbError } from '../../errors/index.js';
import { presignDbAuthToken } from '../../sigv4/index.js';
import { Secret } from '../../util/index.js';
import { resolveRegion } from '../aws-region.js';

export interface GenerateTokenOptions {
  readonly hostname: string;
  readonly port: number;
  readonly username: string;
  readonly region?: string;
  readonly profile?: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly now?: Date;
}

export async function generateDbAuthToken(opts: GenerateTokenOptions): Promise<Secret<string>> {
  const region = resolveRegion({ ...(opts.region ? { flag: opts.region } : {}), ...(opts.profile ? { profile: opts.profile } : {}), env: opts.env });
  if (!region) {
    throw new IamdbError('CLI_USAGE', { reason: 'You must specify a region. Use --region, set AWS_DEFAULT_REGION (or AWS_REGION), or add region to your AWS config profile.' });
  }
  let creds;
  try {
    creds = await fromNodeProviderChain(opts.profile ? { profile: opts.profile } : {})();
  } catch (err) {
    throw new IamdbError('CLI_USAGE', { reason: `Unable to locate credentials: ${(err as Error).message}` });
  }
  return presignDbAuthToken({
    hostname: opts.hostname,
    port: opts.port,
    username: opts.username,
    region,
    credentials: {
      accessKeyId: creds.accessKeyId,
      secretAccessKey: new Secret(creds.secretAccessKey),
      ...(creds.sessionToken ? { sessionToken: new Secret(creds.sessionToken) } : {}),
    },
    date: opts.now ?? new Date(),
    // Byte for byte what `aws rds generate-db-auth-token` prints.
    keyOrder: 'aws-cli',
  });
}
