/**
 * The server side of caching_sha2_password, for RDS Proxy's MySQL client
 * logins with MYSQL_CACHING_SHA2_PASSWORD. The proxy holds the cleartext
 * password (from the secret); it still runs the exchange as a MySQL 8 server
 * does, so clients see the same packets:
 *
 * - **Fast path.** The client's 32-byte scramble is checked against
 *   SHA256(SHA256(password)) only if a previous full authentication of the
 *   same user through the same proxy proved that value (the server's
 *   in-memory cache, {@link FastAuthCache}); then AuthMoreData 0x03 and OK.
 *   A cache entry is valid only for the password it proved: when the secret
 *   changes, the next login goes the full way, as after ALTER USER.
 * - **Full authentication.** Otherwise AuthMoreData 0x04: the client sends
 *   its password. RDS Proxy needs TLS for caching_sha2_password and offers no
 *   RSA key, so over TLS the password comes as is (with a NUL) and is
 *   compared in constant time; without TLS the proxy does not ask at all
 *   (that would invite a client to send the password in clear, and it has
 *   no key for the RSA exchange) and the login is refused with reason
 *   `FullAuthNeedsTls`. A client that asks for a public key (0x02) is
 *   refused the same way.
 *
 * Pure: payloads in, steps out; the session frames and sends.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { IamdbError } from '../../../errors/index.js';
import { constantTimeEqual, type Secret } from '../../../util/secret.js';
import { PacketHeader } from '../constants.js';
import { CachingSha2 } from './caching-sha2-password.js';
import { decodeClearPassword } from './clear-password.js';

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * What full authentications proved, per proxy and user: an HMAC (under a
 * per-cache random key) of SHA256(SHA256(password)), never the value
 * itself. In memory only and bounded; a restart empties it, as it empties a
 * MySQL server's.
 */
export class FastAuthCache {
  readonly #key = randomBytes(32);
  readonly #entries = new Map<string, Buffer>();

  constructor(private readonly maxEntries = 10_000) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'FastAuthCache', reason: 'maxEntries must be a positive integer' });
  }

  #mac(hash2: Uint8Array): Buffer {
    return createHmac('sha256', this.#key).update(hash2).digest();
  }

  /** Whether a full authentication of `account` proved exactly this SHA256(SHA256(password)). */
  knows(account: string, hash2: Uint8Array): boolean {
    const entry = this.#entries.get(account);
    return entry !== undefined && constantTimeEqual(entry, this.#mac(hash2));
  }

  remember(account: string, hash2: Uint8Array): void {
    this.#entries.delete(account);
    this.#entries.set(account, this.#mac(hash2));
    while (this.#entries.size > this.maxEntries) this.#entries.delete(this.#entries.keys().next().value as string);
  }

  forget(account: string): void {
    this.#entries.delete(account);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** The key of an account in a {@link FastAuthCache}: the proxy and the user, which no name can forge. */
export function fastAuthAccount(proxyId: string, user: string): string {
  return JSON.stringify([proxyId, user]);
}

/** Why the proxy refuses a caching_sha2_password login (audit reasons). */
export type CachingSha2Refusal = 'WrongPassword' | 'FullAuthNeedsTls' | 'MalformedAuthResponse';

/** What the session does next. */
export type CachingSha2ServerStep =
  /** Send AuthMoreData 0x03, then OK. */
  | { readonly kind: 'fast-auth-success'; readonly payload: Buffer }
  /** Send AuthMoreData 0x04 and pass the client's next packet to `receiveFullAuth`. */
  | { readonly kind: 'full-auth'; readonly payload: Buffer }
  /** Send OK. */
  | { readonly kind: 'ok' }
  /** Send ERR 1045 (Access denied); `reason` goes to the audit log. */
  | { readonly kind: 'refuse'; readonly reason: CachingSha2Refusal };

export interface CachingSha2ServerOptions {
  readonly password: Secret<string>;
  /** The 20-byte scramble of the greeting or AuthSwitchRequest the client answered. */
  readonly nonce: Uint8Array;
  /** Whether the client link runs TLS. */
  readonly tls: boolean;
  readonly cache: FastAuthCache;
  /** `fastAuthAccount(proxyId, user)`. */
  readonly account: string;
}

/**
 * @example
 *   const auth = new CachingSha2Server({ password, nonce, tls, cache, account: fastAuthAccount(proxy.id, user) });
 *   let step = auth.receiveScramble(response.authResponse);
 *   if (step.kind === 'full-auth') { send(step.payload); step = auth.receiveFullAuth(await next()); }
 */
export class CachingSha2Server {
  #stage: 'scramble' | 'full-auth' | 'done' = 'scramble';
  readonly #nonce: Buffer;

  constructor(private readonly options: CachingSha2ServerOptions) {
    const n = options.nonce.length === 21 && options.nonce[20] === 0 ? options.nonce.subarray(0, 20) : options.nonce;
    if (n.length !== 20) throw new IamdbError('PROTO_MYSQL_INVALID_ARGUMENT', { what: 'caching_sha2_password server', reason: 'the nonce must be 20 bytes' });
    this.#nonce = Buffer.from(n);
  }

  /** The client's first answer: the scramble of the HandshakeResponse41 or AuthSwitchResponse. */
  receiveScramble(response: Uint8Array): CachingSha2ServerStep {
    if (this.#stage !== 'scramble') return this.#refuse('MalformedAuthResponse');
    const pw = Buffer.from(this.options.password.reveal(), 'utf8');
    try {
      // An empty password is answered with an empty response; either alone is a wrong password.
      if (pw.length === 0 || response.length === 0) return pw.length === 0 && response.length === 0 ? this.#done() : this.#refuse('WrongPassword');
      if (response.length !== 32) return this.#refuse('MalformedAuthResponse');
      const hash2 = sha256(sha256(pw));
      if (this.options.cache.knows(this.options.account, hash2) && this.#scrambleMatches(response, hash2)) {
        this.#stage = 'done';
        return { kind: 'fast-auth-success', payload: Buffer.from([PacketHeader.AUTH_MORE_DATA, CachingSha2.FAST_AUTH_SUCCESS]) };
      }
      // A MySQL server asks for the password whether the cache missed or the scramble did not match.
      if (!this.options.tls) return this.#refuse('FullAuthNeedsTls');
      this.#stage = 'full-auth';
      return { kind: 'full-auth', payload: Buffer.from([PacketHeader.AUTH_MORE_DATA, CachingSha2.PERFORM_FULL_AUTHENTICATION]) };
    } finally {
      pw.fill(0);
    }
  }

  /** The client's answer to AuthMoreData 0x04: its password and a NUL, over TLS. */
  receiveFullAuth(payload: Uint8Array): CachingSha2ServerStep {
    if (this.#stage !== 'full-auth') return this.#refuse('MalformedAuthResponse');
    if (payload.length === 1 && payload[0] === CachingSha2.REQUEST_PUBLIC_KEY) return this.#refuse('FullAuthNeedsTls');
    let given: Buffer;
    try {
      given = decodeClearPassword(payload);
    } catch {
      return this.#refuse('MalformedAuthResponse');
    }
    const pw = Buffer.from(this.options.password.reveal(), 'utf8');
    try {
      const same = constantTimeEqual(sha256(given), sha256(pw)) && given.length === pw.length;
      if (!same) return this.#refuse('WrongPassword');
      this.options.cache.remember(this.options.account, sha256(sha256(pw)));
      return this.#done();
    } finally {
      given.fill(0);
      pw.fill(0);
    }
  }

  /** SHA256(pw) = scramble XOR SHA256(hash2 + nonce), then SHA256 of it must be hash2. */
  #scrambleMatches(response: Uint8Array, hash2: Buffer): boolean {
    const mask = sha256(hash2, this.#nonce);
    for (let i = 0; i < 32; i++) mask[i] = (mask[i] as number) ^ (response[i] as number);
    return constantTimeEqual(sha256(mask), hash2);
  }

  #done(): CachingSha2ServerStep {
    this.#stage = 'done';
    return { kind: 'ok' };
  }

  #refuse(reason: CachingSha2Refusal): CachingSha2ServerStep {
    this.#stage = 'done';
    return { kind: 'refuse', reason };
  }
}
