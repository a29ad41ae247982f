/**
 * A small client for the control plane's Query actions that the AWS CLI does
 * not know (iamdb's RegisterDBInstance and DeregisterDBInstance): it finds
 * credentials as the AWS CLI does, signs with SigV4, posts the form and
 * turns an AWS error response into a typed error. Responses are small, flat
 * XML; a few element reads are all the commands need.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { IamdbError } from '../errors/index.js';
import { signRequestHeaders } from '../sigv4/index.js';
import { Secret } from '../util/index.js';

export interface ControlPlaneTarget {
  /** e.g. http://127.0.0.1:7400 (--endpoint-url, IAMDB_ENDPOINT_URL or AWS_ENDPOINT_URL). */
  readonly endpointUrl: string;
  readonly region: string;
  readonly profile?: string;
  /** PEM bundle to verify an HTTPS endpoint (--ca-bundle or AWS_CA_BUNDLE). */
  readonly caBundle?: string;
}

const MAX_RESPONSE_BYTES = 1 << 20;

/** The text of the first `<name>` element, XML entities decoded. */
export function xmlText(xml: string, name: string): string | undefined {
  const m = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  if (m === null) return undefined;
  return m[1]!.replace(/&(lt|gt|quot|apos|amp|#13);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&', '#13': '\r' })[e]!);
}

export async function callQueryAction(target: ControlPlaneTarget, service: string, params: Record<string, string>): Promise<string> {
  let url: URL;
  try {
    url = new URL(target.endpointUrl);
  } catch {
    throw new IamdbError('CLI_USAGE', { reason: `not a URL: ${target.endpointUrl}` });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new IamdbError('CLI_USAGE', { reason: 'the endpoint URL must be http:// or https://' });
  let creds;
  try {
    creds = await fromNodeProviderChain(target.profile ? { profile: target.profile } : {})();
  } catch (err) {
    throw new IamdbError('CLI_USAGE', { reason: `Unable to locate credentials: ${(err as Error).message}` });
  }
  const body = Buffer.from(new URLSearchParams(params).toString(), 'utf8');
  const path = url.pathname || '/';
  const headers = signRequestHeaders(
    { method: 'POST', path, query: [], body, host: url.host },
    { accessKeyId: creds.accessKeyId, secretAccessKey: new Secret(creds.secretAccessKey), ...(creds.sessionToken ? { sessionToken: new Secret(creds.sessionToken) } : {}) },
    { region: target.region, service, date: new Date() },
  );
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = send(
      {
        hostname: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port || (url.protocol === 'https:' ? 443 : 80),
        path,
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'content-length': String(body.length) },
        ...(target.caBundle ? { ca: readFileSync(target.caBundle) } : {}),
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  }).catch((err: unknown) => {
    throw new IamdbError('CLI_UNAVAILABLE', { what: target.endpointUrl, reason: (err as Error).message });
  });
  if (status >= 300) {
    const code = xmlText(text, 'Code') ?? `HTTP ${status}`;
    throw new IamdbError('CLI_API_ERROR', { code, action: params['Action'] ?? '', message: xmlText(text, 'Message') ?? '' });
  }
  return text;
}
