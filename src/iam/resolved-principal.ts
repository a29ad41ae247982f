/**
 * Who signed a request or a token, resolved from the access key (and session
 * token) behind it: what authorization needs to know of a caller. Shared by
 * the control plane and the gateway, so it lives with IAM rather than with
 * either of them.
 */
export interface ResolvedPrincipal {
  readonly arn: string;
  readonly accountId: string;
  readonly type: 'user' | 'assumed-role';
  readonly name: string;
  readonly userId?: string;
  /** For assumed roles: the session's own policies (ceilings). */
  readonly sessionPolicies?: readonly string[];
  readonly roleName?: string;
  readonly sessionName?: string;
  /** For temporary credentials: how and when they were issued (aws:TokenIssueTime, aws:SourceIdentity, session tags). */
  readonly session?: {
    readonly via: 'AssumeRole' | 'GetSessionToken';
    readonly issuedAt: number;
    readonly expiresAt: number;
    readonly sourceIdentity?: string;
    readonly tags?: Readonly<Record<string, string>>;
  };
}

