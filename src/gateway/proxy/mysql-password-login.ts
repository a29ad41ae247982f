/**
 * A MySQL client proving it knows the password in the proxy's secret
 * (IAMAuth=DISABLED), by the entry's ClientPasswordAuthType:
 * mysql_native_password (a SHA-1 scramble) or caching_sha2_password (as a
 * MySQL 8 server: the fast path once a full authentication through this proxy
 * proved the password, else the password itself, only over TLS). The server
 * halves are in src/protocol/mysql/auth; this runs them on the client's link.
 *
 * The client answered the proxy's greeting with the plugin it chose; when
 * that is not the method's (or it gave no answer), it is switched to the
 * method with a fresh scramble, as a server does.
 */
import {
  AuthPlugin,
  CachingSha2Server,
  Capability,
  createScramble,
  encodeAuthSwitchRequest,
  encodePacket,
  fastAuthAccount,
  verifyNativePasswordWithCleartext,
  type FastAuthCache,
} from '../../protocol/mysql/index.js';
import type { Secret } from '../../util/index.js';
import type { ClientLogin } from '../mysql/client-handshake.js';

export interface MysqlPasswordLoginInput {
  readonly method: 'mysql_native_password' | 'caching_sha2_password';
  readonly password: Secret<string>;
  /** The scramble of the proxy's greeting (20 bytes). */
  readonly greetingScramble: Buffer;
  /** caching_sha2_password's memory of full authentications, and the proxy it is kept for. */
  readonly cache: FastAuthCache;
  readonly proxyId: string;
}

/** Why the client's answer is not accepted (audit reasons). */
export type MysqlPasswordRefusal = 'ProxyPasswordWrong' | 'FullAuthNeedsTls' | 'MalformedAuthResponse' | 'UnsupportedAuthMethod';

export type MysqlPasswordOutcome = { readonly ok: true } | { readonly ok: false; readonly reason: MysqlPasswordRefusal; /** Whether the client sent a password at all. */ readonly usingPassword: boolean };

/**
 * Runs the exchange on the client's link up to the point where the proxy
 * sends OK or ERR (it sends neither: `login.seq` is the sequence id for it).
 */
export async function mysqlPasswordLogin(login: ClientLogin, input: MysqlPasswordLoginInput): Promise<MysqlPasswordOutcome> {
  const { response } = login;
  let nonce = input.greetingScramble;
  let answer = response.authResponse;
  if (response.authPluginName !== input.method) {
    // A client that cannot switch plugins cannot be asked for the method's answer.
    if ((response.capabilityFlags & Capability.CLIENT_PLUGIN_AUTH) === 0) return { ok: false, reason: 'UnsupportedAuthMethod', usingPassword: answer.length > 0 };
    nonce = createScramble();
    login.socket.write(encodePacket(encodeAuthSwitchRequest({ pluginName: input.method, pluginData: Buffer.concat([nonce, Buffer.alloc(1)]) }), login.seq));
    answer = await next(login);
  }
  if (input.method === AuthPlugin.MYSQL_NATIVE_PASSWORD) {
    return verifyNativePasswordWithCleartext(answer, nonce, input.password.reveal()) ? { ok: true } : { ok: false, reason: 'ProxyPasswordWrong', usingPassword: answer.length > 0 };
  }
  const auth = new CachingSha2Server({ password: input.password, nonce, tls: login.tls, cache: input.cache, account: fastAuthAccount(input.proxyId, response.username) });
  let step = auth.receiveScramble(answer);
  if (step.kind === 'full-auth') {
    login.socket.write(encodePacket(step.payload, login.seq));
    step = auth.receiveFullAuth(await next(login));
  }
  if (step.kind === 'fast-auth-success') {
    // AuthMoreData 0x03, then the OK the caller sends, with the next sequence id.
    login.socket.write(encodePacket(step.payload, login.seq));
    login.seq = (login.seq + 1) & 0xff;
    return { ok: true };
  }
  if (step.kind === 'ok') return { ok: true };
  if (step.kind === 'refuse') {
    const reason = step.reason === 'WrongPassword' ? 'ProxyPasswordWrong' : step.reason;
    return { ok: false, reason, usingPassword: answer.length > 0 };
  }
  return { ok: false, reason: 'MalformedAuthResponse', usingPassword: answer.length > 0 };
}

/** The client's next answer in the exchange; the proxy's next packet follows it. */
async function next(login: ClientLogin): Promise<Buffer> {
  const p = await login.reader.next((login.seq + 1) & 0xff);
  login.seq = (p.lastSequenceId + 1) & 0xff;
  return p.payload;
}
