/**
 * A PostgreSQL client proving it knows the password in the proxy's secret
 * (IAMAuth=DISABLED): SCRAM-SHA-256 (RDS Proxy's default) or MD5, over the
 * client's connection, with the server halves in src/protocol/postgres. The
 * password never crosses the wire in either method; the SCRAM verifier
 * (4096 iterations, as RDS Proxy fixes them) is derived once per secret
 * version and kept, since PBKDF2 is the cost of a login.
 */
import type { Socket } from 'node:net';
import {
  ByteReader,
  FrontendCode,
  ScramServer,
  createMd5Salt,
  createScramVerifier,
  decodePasswordMessage,
  decodeSASLInitialResponse,
  decodeSASLResponse,
  encodeAuthentication,
  verifyMd5Password,
  type ScramVerifier,
} from '../../protocol/postgres/index.js';
import type { Secret } from '../../util/index.js';
import type { MessageReader } from '../postgres/messages.js';

/** Verifiers by secret version: one PBKDF2 per password, not per login. */
export class ScramVerifierCache {
  readonly #byKey = new Map<string, ScramVerifier>();
  constructor(private readonly maxEntries = 1024) {}

  get(key: string, password: Secret<string>): ScramVerifier {
    let v = this.#byKey.get(key);
    if (v === undefined) {
      v = createScramVerifier(password);
      if (this.#byKey.size >= this.maxEntries) this.#byKey.delete(this.#byKey.keys().next().value!);
      this.#byKey.set(key, v);
    }
    return v;
  }
}

/**
 * Runs the method's exchange; true when the client proved the password.
 * `verifierKey` names the secret version (the cache key for SCRAM).
 * A client that hangs up instead of answering gets false.
 */
export async function postgresPasswordLogin(
  client: Socket,
  reader: MessageReader,
  args: { user: string; method: 'SCRAM-SHA-256' | 'MD5'; password: Secret<string>; verifierKey: string; verifiers: ScramVerifierCache },
): Promise<boolean> {
  if (args.method === 'MD5') {
    const salt = createMd5Salt();
    client.write(encodeAuthentication({ type: 'AuthenticationMD5Password', salt }));
    const answer = await reader.next();
    if (answer.type !== FrontendCode.PasswordMessage) return false;
    return verifyMd5Password(decodePasswordMessage(new ByteReader(answer.body)).password, args.user, args.password, salt);
  }
  const scram = new ScramServer({ verifier: args.verifiers.get(args.verifierKey, args.password) });
  client.write(encodeAuthentication({ type: 'AuthenticationSASL', mechanisms: scram.mechanisms }));
  const first = await reader.next();
  if (first.type !== FrontendCode.PasswordMessage) return false;
  const init = decodeSASLInitialResponse(new ByteReader(first.body));
  client.write(encodeAuthentication({ type: 'AuthenticationSASLContinue', data: Buffer.from(scram.receiveClientFirst(init.mechanism, init.data ?? Buffer.alloc(0))) }));
  const final = await reader.next();
  if (final.type !== FrontendCode.PasswordMessage) return false;
  const result = scram.receiveClientFinal(decodeSASLResponse(new ByteReader(final.body)).data);
  if (!result.ok) return false;
  client.write(encodeAuthentication({ type: 'AuthenticationSASLFinal', data: Buffer.from(result.serverFinal) }));
  return true;
}
