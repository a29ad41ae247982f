/**
 * What a control-plane service is: a protocol (Query with XML answers, or
 * JSON 1.1), its names, and a table of actions. Handlers get the
 * authenticated caller and authorize each request themselves, because only
 * they know the resource an action touches.
 */
import type { ResolvedPrincipal } from '../iam/resolved-principal.js';
import type { PolicyInput, RequestContext } from '../iam/index.js';
import type { ServiceErrorOverrides } from './aws-errors.js';
import type { QueryParams } from './query-params.js';
import type { XmlContent } from './xml.js';

export interface ApiCaller {
  readonly principal: ResolvedPrincipal;
  readonly accessKeyId: string;
}

export interface ApiRequestContext {
  readonly caller: ApiCaller;
  readonly requestId: string;
  /** The region of the signature's credential scope. */
  readonly region: string;
  readonly sourceIp: string;
  readonly secureTransport: boolean;
  /**
   * Throws API_ACCESS_DENIED (AWS's text) unless the caller may perform
   * `action` on `resource`. Resource policies (trust policies, secret and key
   * policies) join the evaluation when given.
   */
  authorize(
    action: string,
    resource: string,
    options?: {
      context?: RequestContext;
      resourcePolicies?: readonly PolicyInput[];
      /** The resource policy must itself allow (trust policies: an identity policy alone never opens a role). */
      requireResourceAllow?: boolean;
      /**
       * The resource policy is a role's trust policy. STS words an implicit refusal of AssumeRole
       * without naming a policy ("User: … is not authorized to perform: sts:AssumeRole on resource: …"),
       * and the audit log records a trust-policy refusal as STS_TRUST_POLICY_DENIED.
       */
      trustPolicy?: boolean;
    },
  ): void;
  /** The same evaluation as `authorize`, answered as a boolean and not recorded (for what-if checks such as KMS's lockout check). */
  allows(action: string, resource: string, options?: { context?: RequestContext; resourcePolicies?: readonly PolicyInput[]; requireResourceAllow?: boolean }): boolean;
}

export type QueryHandler = (ctx: ApiRequestContext, params: QueryParams) => Promise<XmlContent | undefined> | XmlContent | undefined;
export type JsonHandler = (ctx: ApiRequestContext, body: Readonly<Record<string, unknown>>) => Promise<Record<string, unknown> | undefined> | Record<string, unknown> | undefined;

export interface QueryService {
  readonly protocol: 'query';
  /** The signing name: iam, sts, rds. */
  readonly name: string;
  readonly xmlns: string;
  readonly version: string;
  readonly actions: Readonly<Record<string, QueryHandler>>;
  readonly errorOverrides?: ServiceErrorOverrides;
}

export interface JsonService {
  readonly protocol: 'json';
  /** The signing name: kms, secretsmanager. */
  readonly name: string;
  /** The X-Amz-Target prefix: TrentService, secretsmanager. */
  readonly targetPrefix: string;
  readonly actions: Readonly<Record<string, JsonHandler>>;
  readonly errorOverrides?: ServiceErrorOverrides;
}

export type ApiService = QueryService | JsonService;
