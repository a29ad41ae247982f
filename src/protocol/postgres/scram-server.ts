/**
 * The server side of SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL runs
 * it, for RDS Proxy's client logins: the proxy holds the database user's
 * password (from its secret) and checks the client's proof itself. A pure
 * step machine over the SASL payloads; the session frames them
 * (AuthenticationSASL, SASLContinue, SASLFinal).
 *
 * - The verifier (salt, iteration count, StoredKey, ServerKey) is derived
 *   from the cleartext with {@link createScramVerifier}: 16 random salt bytes
 *   (PostgreSQL's) and 4096 iterations, the count RDS Proxy fixes. Derive it
 *   once per password and reuse it: PBKDF2 is the whole cost of a login.
 * - Only `SCRAM-SHA-256` is offered, never `-PLUS`: like a PostgreSQL server
 *   without tls-server-end-point, the proxy accepts the gs2 flags `n` (no
 *   channel binding) and `y` (the client could bind but thinks the server
 *   cannot, which is true), and refuses `p=` as PostgreSQL does when the
 *   mechanism chosen has no channel binding ("malformed SCRAM message").
 * - An authorization identity (`a=`) and mandatory extensions (`m=`) are
 *   refused, as PostgreSQL refuses them. The SCRAM user name is ignored:
 *   the startup packet names the user.
 * - The proof is checked in constant time; a wrong one is an answer
 *   (`{ ok: false }`), not an exception: the session words the refusal.
 *
 * @see https://www.rfc-editor.org/rfc/rfc5802
 * @see https://www.postgresql.org/docs/current/sasl-authentication.html
 * @module
 */
import { randomBytes } from 'node:crypto';
import { IamdbError } from '../../errors/index.js';
import { constantTimeEqual, type Secret } from '../../util/secret.js';
import { computeSaltedPassword } from './salted-password-cache.js';
import { saslprep } from './saslprep.js';
import { ScramMechanism } from './scram.js';
import { PRINTABLE_NONCE, decodeScramBase64, hmacSha256, parseScramAttributes, scramKeys, sha256, xorBytes } from './scram-primitives.js';

/** RDS Proxy's fixed iteration count for client SCRAM (REFERENCE 4.8). */
export const PROXY_SCRAM_ITERATIONS = 4096;
/** Salt length, as PostgreSQL's own verifiers. */
export const SCRAM_SERVER_SALT_BYTES = 16;
/** Raw bytes of the server's half of the nonce (base64: 24 characters, as PostgreSQL). */
export const SCRAM_SERVER_NONCE_BYTES = 18;
/** Largest client-first or client-final message accepted. */
export const SCRAM_MAX_CLIENT_MESSAGE_BYTES = 2048;
/** Longest client nonce accepted. */
export const SCRAM_MAX_CLIENT_NONCE_CHARS = 256;

/** What a server needs to check a SCRAM proof: never the password itself. */
export interface ScramVerifier {
  readonly salt: Buffer;
  readonly iterations: number;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

/**
 * Derives a verifier from a cleartext password (SASLprep'd as PostgreSQL
 * does), with a fresh salt unless one is given.
 *
 * @example const verifier = createScramVerifier(secret.password);
 */
export function createScramVerifier(password: Secret<string>, options: { salt?: Buffer; iterations?: number } = {}): ScramVerifier {
  const salt = options.salt ?? randomBytes(SCRAM_SERVER_SALT_BYTES);
  const iterations = options.iterations ?? PROXY_SCRAM_ITERATIONS;
  const salted = computeSaltedPassword(saslprep(password.reveal()), salt, iterations);
  const { clientKey, storedKey, serverKey } = scramKeys(salted);
  salted.fill(0);
  clientKey.fill(0);
  return { salt, iterations, storedKey, serverKey };
}

/** What the machine waits for. */
export type ScramServerState = 'AwaitingClientFirst' | 'AwaitingClientFinal' | 'Done';

/** The outcome of the client's proof. */
export type ScramServerResult = { readonly ok: true; readonly serverFinal: string } | { readonly ok: false };

function bad(step: string, reason: string): IamdbError {
  return new IamdbError('PROTO_SCRAM_BAD_CLIENT_MESSAGE', { step, reason });
}

/**
 * @example
 *   const scram = new ScramServer({ verifier });
 *   send(AuthenticationSASL(scram.mechanisms));
 *   send(SASLContinue(scram.receiveClientFirst(mechanism, initialResponse)));
 *   const r = scram.receiveClientFinal(response);
 *   if (r.ok) send(SASLFinal(r.serverFinal), AuthenticationOk); else refuse();
 */
export class ScramServer {
  /** The mechanisms to advertise in AuthenticationSASL. */
  readonly mechanisms: readonly string[] = [ScramMechanism.Sha256];
  readonly #verifier: ScramVerifier;
  readonly #serverNonce: string;
  #state: ScramServerState = 'AwaitingClientFirst';
  #gs2Header = '';
  #nonce = '';
  #clientFirstBare = '';
  #serverFirst = '';

  constructor(options: { verifier: ScramVerifier; /** Fixed server nonce, for tests only. */ serverNonce?: string }) {
    this.#verifier = options.verifier;
    this.#serverNonce = options.serverNonce ?? randomBytes(SCRAM_SERVER_NONCE_BYTES).toString('base64');
  }

  get state(): ScramServerState {
    return this.#state;
  }

  /** Reads SASLInitialResponse (mechanism and client-first-message); returns server-first-message. */
  receiveClientFirst(mechanism: string, data: Uint8Array): string {
    const step = 'client-first-message';
    if (this.#state !== 'AwaitingClientFirst') throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: step, state: this.#state });
    if (mechanism !== ScramMechanism.Sha256) throw bad(step, `mechanism ${mechanism.slice(0, 32)} was not offered`);
    const text = readText(step, data);
    const { header, bare } = splitGs2(step, text);
    const attrs = parseScramAttributes(Buffer.from(bare, 'latin1'), SCRAM_MAX_CLIENT_MESSAGE_BYTES, (reason) => bad(step, reason));
    if (attrs[0]?.[0] === 'm') throw bad(step, 'mandatory extensions are not supported');
    if (attrs.length < 2 || attrs[0]![0] !== 'n' || attrs[1]![0] !== 'r') throw bad(step, 'expected n= and r=');
    const clientNonce = attrs[1]![1];
    if (!PRINTABLE_NONCE.test(clientNonce) || clientNonce.length > SCRAM_MAX_CLIENT_NONCE_CHARS) throw bad(step, 'bad client nonce');
    this.#gs2Header = header;
    this.#clientFirstBare = bare;
    this.#nonce = clientNonce + this.#serverNonce;
    this.#serverFirst = `r=${this.#nonce},s=${this.#verifier.salt.toString('base64')},i=${this.#verifier.iterations}`;
    this.#state = 'AwaitingClientFinal';
    return this.#serverFirst;
  }

  /** Reads SASLResponse (client-final-message) and checks the proof in constant time. */
  receiveClientFinal(data: Uint8Array): ScramServerResult {
    const step = 'client-final-message';
    if (this.#state !== 'AwaitingClientFinal') throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: step, state: this.#state });
    this.#state = 'Done';
    const text = readText(step, data);
    const attrs = parseScramAttributes(data, SCRAM_MAX_CLIENT_MESSAGE_BYTES, (reason) => bad(step, reason));
    const last = attrs.at(-1)!;
    if (attrs.length < 3 || attrs[0]![0] !== 'c' || attrs[1]![0] !== 'r' || last[0] !== 'p') throw bad(step, 'expected c=, r= and p= last');
    const cbind = decodeScramBase64('channel binding', attrs[0]![1], 512, (reason) => bad(step, reason));
    // Without channel binding the c= attribute is the gs2 header itself, byte for byte.
    if (cbind.toString('latin1') !== this.#gs2Header) throw bad(step, 'channel binding data does not match the gs2 header');
    if (attrs[1]![1] !== this.#nonce) throw bad(step, 'nonce does not match');
    const proof = decodeScramBase64('proof', last[1], 32, (reason) => bad(step, reason));
    if (proof.length !== 32) throw bad(step, 'bad proof length');
    const withoutProof = text.slice(0, text.length - last[1].length - 3);
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const clientKey = xorBytes(proof, hmacSha256(this.#verifier.storedKey, authMessage));
    const ok = constantTimeEqual(sha256(clientKey), this.#verifier.storedKey);
    clientKey.fill(0);
    if (!ok) return { ok: false };
    return { ok: true, serverFinal: `v=${hmacSha256(this.#verifier.serverKey, authMessage).toString('base64')}` };
  }
}

function readText(step: string, data: Uint8Array): string {
  if (data.length > SCRAM_MAX_CLIENT_MESSAGE_BYTES) throw bad(step, `longer than ${SCRAM_MAX_CLIENT_MESSAGE_BYTES} bytes`);
  for (const b of data) if (b < 0x20 || b > 0x7e) throw bad(step, 'not printable ASCII');
  return Buffer.from(data).toString('latin1');
}

/** The gs2 header (`n,,` or `y,,`) and the bare message after it; `p=` and `a=` are refused. */
function splitGs2(step: string, text: string): { header: string; bare: string } {
  const flag = text[0];
  if (flag === 'p') throw bad(step, 'the client selected SCRAM-SHA-256 without channel binding, but the SCRAM message includes channel binding data');
  if ((flag !== 'n' && flag !== 'y') || text[1] !== ',') throw bad(step, 'unexpected channel binding flag');
  const second = text.indexOf(',', 2);
  if (second < 0) throw bad(step, 'incomplete gs2 header');
  if (second !== 2) throw bad(step, 'authorization identities are not supported');
  return { header: text.slice(0, 3), bare: text.slice(3) };
}
