/**
 * The control plane's HTTP(S) edge: one endpoint for every service, as
 * `--endpoint-url` expects. Each request is bounded, SigV4-authenticated
 * against iamdb's access keys (long-term and temporary), dispatched by the
 * signature's service name and the action (`Action` for the Query protocol,
 * `X-Amz-Target` for JSON 1.1), answered in the service's own format, and
 * audited. Handlers authorize through the request context, so every
 * decision names the action and resource it was made for.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { ApiAuditEvent, AuditSink } from '../audit/index.js';
import { IamdbError, isIamdbError } from '../errors/index.js';
import type { IamRuntime } from '../iam-runtime.js';
import { accessDeniedMessage, resourcePolicyAllows, type PolicyInput, type RequestContext } from '../iam/index.js';
import { checkRequestTime, parseRequestAuthorization, requestSignatureMatches, type RequestAuthorization, type SignedHttpRequest } from '../sigv4/index.js';
import { listenOn, type Clock } from '../util/index.js';
import { awsErrorFor, type AwsError, type Protocol } from './aws-errors.js';
import { QueryParams } from './query-params.js';
import type { ApiCaller, ApiRequestContext, ApiService, JsonHandler, JsonService, QueryHandler, QueryService } from './service.js';
import { renderXml } from './xml.js';

/** Bodies larger than this are refused before they are read (AWS's own Query limit is far lower in practice). */
export const MAX_API_BODY_BYTES = 1 << 20;

export interface ApiServerOptions {
  readonly iam: IamRuntime;
  readonly services: readonly ApiService[];
  readonly audit: AuditSink;
  readonly logger: Logger;
  readonly clock: Clock;
  /** iamdb's region: signatures for another region are refused. */
  readonly region: string;
  readonly maxBodyBytes?: number;
}

class BodyTooLarge extends Error {}

/** How AWS names each service in prose, for messages that name one. */
const SERVICE_TITLES: Readonly<Record<string, string>> = { iam: 'IAM', sts: 'STS', rds: 'RDS', kms: 'KMS', secretsmanager: 'Secrets Manager' };

/** A caller-chosen name, bounded and reduced to printable ASCII before it is echoed in a message. */
function printable(value: string, max: number): string {
  return value.slice(0, max).replace(/[^\x20-\x7e]/g, '?');
}

type Dispatch =
  | { readonly protocol: 'query'; readonly action: string; readonly handler: QueryHandler; readonly params: QueryParams }
  | { readonly protocol: 'json'; readonly action: string; readonly handler: JsonHandler };

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(new BodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

interface Outcome {
  service?: ApiService;
  action: string;
  caller?: ApiCaller;
  accessKeyId?: string;
  authorization?: ApiAuditEvent['authorization'];
}

export class ApiServer {
  readonly #opts: ApiServerOptions;
  readonly #byName: ReadonlyMap<string, ApiService>;
  readonly #byTarget: ReadonlyMap<string, JsonService>;
  #server: Server | undefined;

  constructor(opts: ApiServerOptions) {
    this.#opts = opts;
    this.#byName = new Map(opts.services.map((s) => [s.name, s]));
    this.#byTarget = new Map(opts.services.filter((s): s is JsonService => s.protocol === 'json').map((s) => [s.targetPrefix, s]));
  }

  /** Listens on host:port; with `tls` the endpoint is HTTPS. Resolves to the bound port. */
  async listen(host: string, port: number, tls?: SecureContextOptions): Promise<number> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      this.handle(req, res).catch((err: unknown) => {
        this.#opts.logger.error({ err: String(err) }, 'control plane request failed unexpectedly');
        if (!res.headersSent) res.writeHead(500).end();
        else res.destroy();
      });
    };
    const server = tls ? createHttpsServer({ ...tls, minVersion: 'TLSv1.2' }, handler) : createHttpServer(handler);
    server.requestTimeout = 30_000;
    server.headersTimeout = 10_000;
    server.keepAliveTimeout = 5_000;
    this.#server = server;
    return listenOn(server, { host, port });
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }

  /** Serves one request: read, authenticate, dispatch, answer, audit. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const source = req.socket.remoteAddress ?? '';
    const protocolGuess: Protocol = req.headers['x-amz-target'] !== undefined ? 'json' : 'query';
    const outcome: Outcome = { action: 'unknown' };
    try {
      let body: Buffer;
      try {
        body = await readBody(req, this.#opts.maxBodyBytes ?? MAX_API_BODY_BYTES);
      } catch (err) {
        if (err instanceof BodyTooLarge) throw new IamdbError('API_BODY_TOO_LARGE', { limit: this.#opts.maxBodyBytes ?? MAX_API_BODY_BYTES });
        throw err;
      }
      const rawUrl = req.url ?? '/';
      const q = rawUrl.indexOf('?');
      const rawQuery = q >= 0 ? rawUrl.slice(q + 1) : '';
      const signed: SignedHttpRequest = {
        method: req.method ?? 'GET',
        path: q >= 0 ? rawUrl.slice(0, q) : rawUrl,
        query: [...new URLSearchParams(rawQuery)],
        headers: req.headers as SignedHttpRequest['headers'],
        body,
      };
      const auth = parseRequestAuthorization(signed);
      outcome.accessKeyId = auth.accessKeyId;
      const service = this.#byName.get(auth.service);
      if (service === undefined) throw new IamdbError('API_UNSUPPORTED_SERVICE', { service: auth.service.slice(0, 64) });
      outcome.service = service;
      // Know the action before authentication fails, so the audit log says what was attempted.
      const dispatch: Dispatch = service.protocol === 'query' ? this.#queryDispatch(service, rawQuery, req, body) : this.#jsonDispatch(service, req);
      outcome.action = dispatch.action;
      const caller = await this.#authenticate(signed, auth, service);
      outcome.caller = caller;
      const ctx = this.#context(caller, auth, requestId, source, req, outcome);
      // IAM changes are saved asynchronously; each answer waits until they are stored.
      if (service.protocol === 'query' && dispatch.protocol === 'query') {
        const run = dispatch;
        const result = await run.handler(ctx, run.params);
        const content = { ...(result === undefined ? {} : { [`${run.action}Result`]: result }), ResponseMetadata: { RequestId: requestId } };
        await this.#opts.iam.flush();
        this.#send(res, 200, 'text/xml', renderXml(`${run.action}Response`, content, service.xmlns), requestId);
      } else if (dispatch.protocol === 'json') {
        const run = dispatch;
        const input = parseJsonBody(body);
        const result = await run.handler(ctx, input);
        await this.#opts.iam.flush();
        this.#send(res, 200, 'application/x-amz-json-1.1', JSON.stringify(result ?? {}), requestId);
      }
      this.#audit({ requestId, source, outcome, decision: 'allow' });
    } catch (err) {
      const protocol = outcome.service?.protocol ?? protocolGuess;
      const aws = awsErrorFor(err, protocol, outcome.service?.errorOverrides);
      if (aws.source === 'UNEXPECTED') this.#opts.logger.error({ err: err instanceof Error ? err.stack : String(err), requestId }, 'control plane handler threw');
      this.#sendError(res, aws, protocol, outcome.service, requestId);
      const decision = isIamdbError(err) && (err.kind === 'AccessDenied' || err.code.startsWith('REQUEST_')) ? 'deny' : 'error';
      this.#audit({ requestId, source, outcome, decision, aws, detail: isIamdbError(err) ? err.message : 'unexpected failure' });
    }
  }

  #queryDispatch(service: QueryService, rawQuery: string, req: IncomingMessage, body: Buffer): Dispatch {
    const type = String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const params = type === 'application/x-www-form-urlencoded' || type === '' ? QueryParams.parse(rawQuery, body.toString('utf8')) : QueryParams.parse(rawQuery);
    const action = params.action;
    if (action === undefined) throw new IamdbError('API_MISSING_ACTION', {});
    const handler = Object.hasOwn(service.actions, action) ? service.actions[action] : undefined;
    if (handler === undefined) throw new IamdbError('API_INVALID_ACTION', { action: printable(action, 64), service: SERVICE_TITLES[service.name] ?? service.name });
    return { protocol: 'query', action, handler, params };
  }

  #jsonDispatch(service: JsonService, req: IncomingMessage): Dispatch {
    const target = String(req.headers['x-amz-target'] ?? '');
    const dot = target.indexOf('.');
    const prefix = dot < 0 ? '' : target.slice(0, dot);
    const action = dot < 0 ? target : target.slice(dot + 1);
    const owner = this.#byTarget.get(prefix);
    if (owner !== service || !Object.hasOwn(service.actions, action)) {
      // A target of another service's prefix is named whole, so the message shows what was asked.
      throw new IamdbError('API_INVALID_ACTION', { action: printable(owner === service ? action : target, 96), service: SERVICE_TITLES[service.name] ?? service.name });
    }
    return { protocol: 'json', action, handler: service.actions[action]! };
  }

  async #authenticate(signed: SignedHttpRequest, auth: RequestAuthorization, service: ApiService): Promise<ApiCaller> {
    // The region is part of what a policy sees (aws:RequestedRegion); only iamdb's own counts. IAM and
    // STS are global on AWS and the SDKs sign them for us-east-1 whatever the configured region.
    const globalService = service.name === 'iam' || service.name === 'sts';
    if (auth.region !== this.#opts.region && !(globalService && auth.region === 'us-east-1')) {
      throw new IamdbError('REQUEST_WRONG_REGION', { region: auth.region.slice(0, 32) });
    }
    // JSON services name the action in X-Amz-Target: unsigned, a captured request could be replayed as another action.
    if (service.protocol === 'json' && !auth.signedHeaders.includes('x-amz-target')) throw new IamdbError('REQUEST_UNSIGNED_HEADER', { header: 'X-Amz-Target' });
    checkRequestTime(auth, this.#opts.clock.now());
    const resolved = await this.#opts.iam.credentialResolver.resolve(auth.accessKeyId, auth.sessionToken);
    if (!requestSignatureMatches(signed, auth, resolved.secretAccessKey)) throw new IamdbError('REQUEST_SIGNATURE_MISMATCH', {});
    return { principal: resolved.principal, accessKeyId: auth.accessKeyId };
  }

  #context(caller: ApiCaller, auth: RequestAuthorization, requestId: string, sourceIp: string, req: IncomingMessage, outcome: Outcome): ApiRequestContext {
    const secureTransport = 'encrypted' in req.socket && req.socket.encrypted === true;
    const iam = this.#opts.iam;
    const evaluateFor = (action: string, resource: string, options: { context?: RequestContext; resourcePolicies?: readonly PolicyInput[] }) =>
      iam.authorizeRequest({
        principal: caller.principal,
        action,
        resource,
        context: {
          'aws:SourceIp': sourceIp.replace(/^::ffff:/, ''),
          'aws:SecureTransport': secureTransport,
          'aws:RequestedRegion': auth.region,
          ...(options.context ?? {}),
        },
        ...(options.resourcePolicies ? { resourcePolicies: options.resourcePolicies } : {}),
      });
    const resourceAllowed = resourcePolicyAllows;
    return {
      caller,
      requestId,
      region: auth.region,
      sourceIp,
      secureTransport,
      allows(action, resource, options = {}) {
        const analysis = evaluateFor(action, resource, options);
        if ('missingPrincipal' in analysis || analysis.decision !== 'allowed') return false;
        return !options.requireResourceAllow || resourceAllowed(analysis);
      },
      authorize(action, resource, options = {}) {
        const analysis = evaluateFor(action, resource, options);
        if ('missingPrincipal' in analysis) {
          outcome.authorization = { action, resource, decision: 'implicitDeny', matchedStatements: [] };
          throw new IamdbError('API_ACCESS_DENIED', { message: `User: ${caller.principal.arn} is not authorized to perform: ${action} on resource: ${resource}` });
        }
        outcome.authorization = {
          action,
          resource,
          decision: analysis.decision,
          matchedStatements: analysis.matchedStatements.map((m) => `${m.source}#${m.index}${m.sid ? `(${m.sid})` : ''}:${m.effect}`),
        };
        const message = accessDeniedMessage(analysis);
        const resourceRefused = options.requireResourceAllow === true && !resourceAllowed(analysis);
        if (options.trustPolicy && analysis.decision !== 'explicitDeny' && (message !== undefined || resourceRefused)) {
          outcome.authorization = { ...outcome.authorization, decision: 'implicitDeny' };
          const plain = `User: ${caller.principal.arn} is not authorized to perform: ${action} on resource: ${resource}`;
          throw new IamdbError(resourceRefused ? 'STS_TRUST_POLICY_DENIED' : 'API_ACCESS_DENIED', { message: plain });
        }
        if (message !== undefined) throw new IamdbError('API_ACCESS_DENIED', { message });
        if (resourceRefused) {
          outcome.authorization = { ...outcome.authorization, decision: 'implicitDeny' };
          throw new IamdbError('API_ACCESS_DENIED', {
            message: `User: ${caller.principal.arn} is not authorized to perform: ${action} on resource: ${resource} because no resource-based policy allows the ${action} action`,
          });
        }
      },
    };
  }

  #send(res: ServerResponse, status: number, type: string, body: string, requestId: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'x-amzn-requestid': requestId, ...extra });
    res.end(body);
  }

  #sendError(res: ServerResponse, aws: AwsError, protocol: Protocol, service: ApiService | undefined, requestId: string): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (protocol === 'json') {
      this.#send(res, aws.status, 'application/x-amz-json-1.1', JSON.stringify({ __type: aws.code, message: aws.message }), requestId, { 'x-amzn-errortype': aws.code });
      return;
    }
    const xmlns = service?.protocol === 'query' ? service.xmlns : undefined;
    const body = renderXml('ErrorResponse', { Error: { Type: aws.type, Code: aws.code, Message: aws.message }, RequestId: requestId }, xmlns);
    this.#send(res, aws.status, 'text/xml', body, requestId);
  }

  #audit(input: { requestId: string; source: string; outcome: Outcome; decision: ApiAuditEvent['decision']; aws?: AwsError; detail?: string }): void {
    const { outcome, aws } = input;
    const event: ApiAuditEvent = {
      event: 'api.call',
      time: new Date(this.#opts.clock.now()).toISOString(),
      requestId: input.requestId,
      service: outcome.service?.name ?? 'unknown',
      action: outcome.action,
      decision: input.decision,
      source: input.source,
      ...(aws ? { reason: aws.source, errorCode: aws.code } : {}),
      ...(outcome.caller ? { principal: outcome.caller.principal.arn } : {}),
      ...(outcome.accessKeyId ? { accessKeyId: outcome.accessKeyId } : {}),
      ...(outcome.authorization ? { authorization: outcome.authorization } : {}),
      ...(input.detail ? { detail: input.detail } : {}),
    };
    this.#opts.audit.write(event);
  }
}

function parseJsonBody(body: Buffer): Readonly<Record<string, unknown>> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new IamdbError('API_MALFORMED_REQUEST', { message: 'Start of structure or map found where not expected.' });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new IamdbError('API_MALFORMED_REQUEST', { message: 'Start of structure or map found where not expected.' });
  return value as Record<string, unknown>;
}
