/**
 * Temporary credentials (ASIA… keys with a session token), as STS issues
 * them. The session token is self-contained, like AWS's: it carries the
 * session's secret key and identity sealed with a key only iamdb holds, so
 * verifying a token signed with temporary credentials needs no lookup beyond
 * revocation. The sealing key is derived from the master key.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import { IamdbError } from '../errors/index.js';
import { Secret, type Clock } from '../util/index.js';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const TOKEN_PREFIX = 'IQoJb3JpZ2luX2Vj';
/** The longest session token iamdb reads back; AssumeRole never issues a longer one. */
export const MAX_SESSION_TOKEN_CHARS = 8192;

/** Who a session acts as. */
export interface SessionIdentity {
  /** `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION` or, for GetSessionToken, the user ARN. */
  readonly principalArn: string;
  readonly accountId: string;
  readonly type: 'assumed-role' | 'user';
  readonly roleName?: string;
  readonly roleArn?: string;
  /** The role's unique id (AROA…) when the session began: a role deleted and created again under the same name does not inherit sessions. */
  readonly roleId?: string;
  readonly sessionName?: string;
  readonly userName?: string;
  /** The user's unique id (AIDA…) for GetSessionToken sessions: a user deleted and created again under the same name does not inherit them. */
  readonly userId?: string;
  /** Session policy JSON documents (ceilings), if any. */
  readonly sessionPolicies?: readonly string[];
  readonly sourceIdentity?: string;
  readonly tags?: Readonly<Record<string, string>>;
}

export interface SessionCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: Secret<string>;
  readonly sessionToken: Secret<string>;
  readonly expiration: Date;
  readonly identity: SessionIdentity;
}

interface Sealed {
  readonly v: 1;
  readonly akid: string;
  readonly sk: string;
  readonly iat: number;
  readonly exp: number;
  readonly id: SessionIdentity;
}

function newAccessKeyId(): string {
  let id = 'ASIA';
  for (let i = 0; i < 16; i++) id += BASE32[randomInt(32)];
  return id;
}

export class SessionCredentialIssuer {
  constructor(
    private readonly key: Secret<Buffer>,
    private readonly clock: Clock,
  ) {
    if (key.reveal().length !== 32) throw new IamdbError('INTERNAL', { what: 'session sealing key must be 32 bytes' });
  }

  /** Mints temporary credentials valid for `durationSeconds`. */
  issue(identity: SessionIdentity, durationSeconds: number): SessionCredentials {
    const now = this.clock.now();
    const accessKeyId = newAccessKeyId();
    const secret = randomBytes(30).toString('base64').slice(0, 40);
    const body: Sealed = { v: 1, akid: accessKeyId, sk: secret, iat: now, exp: now + durationSeconds * 1000, id: identity };
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key.reveal(), nonce);
    cipher.setAAD(Buffer.from(accessKeyId));
    const ct = Buffer.concat([cipher.update(JSON.stringify(body), 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const token = TOKEN_PREFIX + Buffer.concat([Buffer.from([1]), nonce, ct]).toString('base64');
    return {
      accessKeyId,
      secretAccessKey: new Secret(secret),
      sessionToken: new Secret(token),
      expiration: new Date(body.exp),
      identity,
    };
  }

  /**
   * Opens a session token presented with `accessKeyId`. Throws
   * STS_INVALID_SESSION_TOKEN (forged, altered, or not for this key) or
   * STS_SESSION_EXPIRED.
   */
  open(accessKeyId: string, sessionToken: Secret<string>): { secretAccessKey: Secret<string>; identity: SessionIdentity; issuedAt: number; expiresAt: number } {
    const token = sessionToken.reveal();
    if (token.length > MAX_SESSION_TOKEN_CHARS || !token.startsWith(TOKEN_PREFIX)) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
    const raw = Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64');
    if (raw.length < 1 + 12 + 16 + 2 || raw[0] !== 1) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
    let body: Sealed;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key.reveal(), raw.subarray(1, 13));
      decipher.setAAD(Buffer.from(accessKeyId));
      decipher.setAuthTag(raw.subarray(raw.length - 16));
      const pt = Buffer.concat([decipher.update(raw.subarray(13, raw.length - 16)), decipher.final()]);
      body = JSON.parse(pt.toString('utf8')) as Sealed;
    } catch {
      throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
    }
    if (body.v !== 1 || body.akid !== accessKeyId) throw new IamdbError('STS_INVALID_SESSION_TOKEN', { accessKeyId });
    if (this.clock.now() >= body.exp) throw new IamdbError('STS_SESSION_EXPIRED', { accessKeyId, at: new Date(body.exp).toISOString() });
    return { secretAccessKey: new Secret(body.sk), identity: body.id, issuedAt: body.iat, expiresAt: body.exp };
  }
}
