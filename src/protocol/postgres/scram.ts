/**
 * The client side of SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802,
 * RFC 7677) as PostgreSQL uses it, as a pure step machine over the SASL
 * payloads: no sockets, no framing.
 *
 * Bounded both ways (PgBouncer CVE-2026-6664/6665 class): server messages
 * over {@link SCRAM_MAX_SERVER_MESSAGE_BYTES}, nonces over
 * {@link SCRAM_MAX_NONCE_CHARS}, salts over {@link SCRAM_MAX_SALT_BYTES} and
 * iteration counts outside {@link SCRAM_MIN_ITERATIONS}..{@link SCRAM_MAX_ITERATIONS}
 * are refused before any work.
 *
 * PostgreSQL ignores the SCRAM user name (the startup packet names the role),
 * so the gateway sends `n=` empty like libpq; the name is a parameter only so
 * the RFC 7677 test vector can be reproduced.
 *
 * @see https://www.postgresql.org/docs/current/sasl-authentication.html
 * @see https://www.rfc-editor.org/rfc/rfc5802
 * @see https://www.rfc-editor.org/rfc/rfc7677
 * @module
 */
import { randomBytes } from 'node:crypto';
import { IamdbError } from '../../errors/index.js';
import { constantTimeEqual } from '../../util/secret.js';
import type { Secret } from '../../util/secret.js';
import { computeSaltedPassword, type SaltedPasswordCache } from './salted-password-cache.js';
import { saslprep } from './saslprep.js';
import { PRINTABLE_NONCE, decodeScramBase64, hmacSha256, parseScramAttributes, saslName, scramKeys, xorBytes } from './scram-primitives.js';

/** Mechanism names as PostgreSQL advertises them. */
export const ScramMechanism = {
  Sha256: 'SCRAM-SHA-256',
  Sha256Plus: 'SCRAM-SHA-256-PLUS',
} as const;
export type ScramMechanism = (typeof ScramMechanism)[keyof typeof ScramMechanism];

/** RFC 7677's floor, PostgreSQL's default. */
export const SCRAM_MIN_ITERATIONS = 4096;
/** Our ceiling: above it a hostile server could make each login burn CPU. */
export const SCRAM_MAX_ITERATIONS = 100_000;
/** Largest server-first or server-final message accepted. */
export const SCRAM_MAX_SERVER_MESSAGE_BYTES = 2048;
/** Longest combined nonce accepted (PostgreSQL's is 24 + 24 characters). */
export const SCRAM_MAX_NONCE_CHARS = 512;
/** Largest salt accepted, decoded (PostgreSQL uses 16 bytes). */
export const SCRAM_MAX_SALT_BYTES = 256;
/** Raw bytes in our client nonce (base64: 24 characters, as libpq). */
export const SCRAM_CLIENT_NONCE_BYTES = 18;

/**
 * Channel binding for this exchange:
 * - `none`: the link is not TLS (gs2 flag `n`);
 * - `unused`: TLS, but the server does not offer -PLUS (flag `y`, which lets a
 *   server that does support it detect a downgrade);
 * - `tls-server-end-point`: bind to the hash of the server certificate (flag `p`).
 */
export type ScramChannelBinding =
  | { readonly kind: 'none' }
  | { readonly kind: 'unused' }
  | { readonly kind: 'tls-server-end-point'; readonly data: Buffer };

/** Options for {@link ScramClient}. */
export interface ScramClientOptions {
  readonly password: Secret<string>;
  readonly channelBinding: ScramChannelBinding;
  /** SCRAM user name; PostgreSQL ignores it. Default ''. */
  readonly username?: string;
  /** Fixed client nonce, for test vectors only. Default: 18 random bytes, base64. */
  readonly clientNonce?: string;
  /** Reuses SaltedPassword across logins. */
  readonly cache?: SaltedPasswordCache;
}

/** What the machine waits for. */
export type ScramState = 'Initial' | 'AwaitingServerFirst' | 'AwaitingServerFinal' | 'Done';

const DECIMAL = /^[1-9][0-9]{0,9}$/;

function bad(step: string, reason: string): IamdbError {
  return new IamdbError('PROTO_SCRAM_BAD_SERVER_MESSAGE', { step, reason });
}

/** Reads a server message: size-capped, printable ASCII, split into `x=value` attributes. */
function parseAttributes(step: string, data: Uint8Array): Array<[string, string]> {
  return parseScramAttributes(data, SCRAM_MAX_SERVER_MESSAGE_BYTES, (reason) => bad(step, reason));
}

function decodeBase64(step: string, what: string, value: string, maxBytes: number): Buffer {
  return decodeScramBase64(what, value, maxBytes, (reason) => bad(step, reason));
}

/**
 * @example
 *   const scram = new ScramClient({ password, channelBinding: { kind: 'none' } });
 *   send(scram.mechanism, scram.clientFirstMessage());
 *   send(scram.receiveServerFirst(serverFirst));
 *   scram.receiveServerFinal(serverFinal); // throws unless the server proved itself
 */
export class ScramClient {
  readonly mechanism: ScramMechanism;
  readonly #password: Secret<string>;
  readonly #binding: ScramChannelBinding;
  readonly #gs2Header: string;
  readonly #clientFirstBare: string;
  readonly #clientNonce: string;
  readonly #cache: SaltedPasswordCache | undefined;
  #state: ScramState = 'Initial';
  #expectedServerSignature: Buffer | undefined;

  constructor(options: ScramClientOptions) {
    this.#password = options.password;
    this.#binding = options.channelBinding;
    this.#cache = options.cache;
    this.mechanism = this.#binding.kind === 'tls-server-end-point' ? ScramMechanism.Sha256Plus : ScramMechanism.Sha256;
    this.#gs2Header =
      this.#binding.kind === 'tls-server-end-point' ? 'p=tls-server-end-point,,' : this.#binding.kind === 'unused' ? 'y,,' : 'n,,';
    this.#clientNonce = options.clientNonce ?? randomBytes(SCRAM_CLIENT_NONCE_BYTES).toString('base64');
    if (!PRINTABLE_NONCE.test(this.#clientNonce)) {
      throw new IamdbError('PROTO_UNENCODABLE', { what: 'SCRAM client nonce', reason: 'must be printable ASCII without commas' });
    }
    this.#clientFirstBare = `n=${saslName(options.username ?? '')},r=${this.#clientNonce}`;
  }

  /** What the machine waits for. */
  get state(): ScramState {
    return this.#state;
  }

  /** client-first-message: gs2 header plus `n=user,r=nonce`. */
  clientFirstMessage(): string {
    if (this.#state !== 'Initial') throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: 'client-first request', state: this.#state });
    this.#state = 'AwaitingServerFirst';
    return this.#gs2Header + this.#clientFirstBare;
  }

  /**
   * Checks server-first-message (`r=`, `s=`, `i=`) and returns
   * client-final-message with the proof.
   */
  receiveServerFirst(data: Uint8Array): string {
    const step = 'server-first-message';
    if (this.#state !== 'AwaitingServerFirst') {
      throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: step, state: this.#state });
    }
    const attrs = parseAttributes(step, data);
    if (attrs[0]?.[0] === 'm') throw bad(step, 'mandatory extension not supported');
    if (attrs.length < 3 || attrs[0]![0] !== 'r' || attrs[1]![0] !== 's' || attrs[2]![0] !== 'i') {
      throw bad(step, 'expected r=, s=, i=');
    }
    const nonce = attrs[0]![1];
    if (nonce.length > SCRAM_MAX_NONCE_CHARS) throw bad(step, `nonce longer than ${SCRAM_MAX_NONCE_CHARS} characters`);
    if (!PRINTABLE_NONCE.test(nonce)) throw bad(step, 'nonce not printable');
    if (!nonce.startsWith(this.#clientNonce) || nonce.length === this.#clientNonce.length) {
      throw new IamdbError('PROTO_SCRAM_NONCE_MISMATCH');
    }
    const salt = decodeBase64(step, 'salt', attrs[1]![1], SCRAM_MAX_SALT_BYTES);
    const iterText = attrs[2]![1];
    if (!DECIMAL.test(iterText)) throw bad(step, 'iteration count is not a positive integer');
    const iterations = Number(iterText);
    if (iterations < SCRAM_MIN_ITERATIONS || iterations > SCRAM_MAX_ITERATIONS) {
      throw new IamdbError('PROTO_SCRAM_BAD_ITERATIONS', { iterations, min: SCRAM_MIN_ITERATIONS, max: SCRAM_MAX_ITERATIONS });
    }

    const serverFirst = Buffer.from(data).toString('latin1');
    const cbind =
      this.#binding.kind === 'tls-server-end-point'
        ? Buffer.concat([Buffer.from(this.#gs2Header, 'latin1'), this.#binding.data])
        : Buffer.from(this.#gs2Header, 'latin1');
    const withoutProof = `c=${cbind.toString('base64')},r=${nonce}`;
    const authMessage = `${this.#clientFirstBare},${serverFirst},${withoutProof}`;

    const prepared = saslprep(this.#password.reveal());
    const saltedPassword = this.#cache
      ? this.#cache.derive(prepared, salt, iterations)
      : computeSaltedPassword(prepared, salt, iterations);
    const { clientKey, storedKey, serverKey } = scramKeys(saltedPassword);
    const proof = xorBytes(clientKey, hmacSha256(storedKey, authMessage));
    this.#expectedServerSignature = hmacSha256(serverKey, authMessage);
    saltedPassword.fill(0);
    clientKey.fill(0);

    this.#state = 'AwaitingServerFinal';
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /**
   * Checks server-final-message: `v=` must carry the ServerSignature we
   * expect (compared in constant time); `e=` is the server's refusal.
   */
  receiveServerFinal(data: Uint8Array): void {
    const step = 'server-final-message';
    if (this.#state !== 'AwaitingServerFinal') {
      throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: step, state: this.#state });
    }
    const attrs = parseAttributes(step, data);
    const [first] = attrs;
    if (first?.[0] === 'e') throw new IamdbError('PROTO_SCRAM_SERVER_ERROR', { error: first[1].slice(0, 64) });
    if (first?.[0] !== 'v') throw bad(step, 'expected v=');
    const signature = decodeBase64(step, 'server signature', first[1], 64);
    const expected = this.#expectedServerSignature!;
    if (!constantTimeEqual(signature, expected)) throw new IamdbError('PROTO_SCRAM_SERVER_SIGNATURE_MISMATCH');
    this.#state = 'Done';
  }
}
