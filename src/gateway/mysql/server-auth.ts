/**
 * The gateway's own answers in a server login with a password it knows (an
 * IAM user's managed credential): which plugin to start with, and what to
 * say to each AuthSwitchRequest and AuthMoreData the server sends until its
 * OK or ERR. Pure: packets in, decisions out; upstream.ts moves the bytes.
 *
 * - mysql_native_password (MariaDB, MySQL before 8.0, and MySQL 8.0 accounts
 *   still on it): one scramble of the nonce.
 * - caching_sha2_password (MySQL 8.0/8.4/9.x): the SHA-256 scramble. The
 *   server answers 0x01 0x03 when its cache knows the account (fast path, OK
 *   follows), or 0x01 0x04 (full authentication): the gateway then sends the
 *   password itself, with a NUL, over TLS; without TLS it encrypts it
 *   (XOR with the nonce, RSA-OAEP with SHA-1) with the configured public key
 *   of the server, or asks the server for its key (0x02) and uses what comes
 *   back. After an ALTER USER or a server restart the cache is empty, so
 *   the first login of each account goes the full way.
 * - Anything else (clear password, sha256_password, ed25519, …) is refused:
 *   iamdb installs its credentials with one of the two plugins above.
 *
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
 * @see https://dev.mysql.com/doc/dev/mysql-server/latest/page_caching_sha2_authentication_exchanges.html
 */
import type { KeyObject } from 'node:crypto';
import { isIamdbError } from '../../errors/index.js';
import {
  AuthPlugin,
  CachingSha2,
  PacketHeader,
  decodeAuthSwitchRequest,
  encodeClearPassword,
  encryptPasswordForServer,
  scrambleCachingSha2Password,
  scrambleNativePassword,
} from '../../protocol/mysql/index.js';

/** What the gateway does after a server packet that is neither OK nor ERR. */
export type AuthStep =
  | { readonly kind: 'send'; readonly payload: Buffer }
  /** Nothing to send: the server speaks again (its OK after fast-auth success). */
  | { readonly kind: 'read' }
  /** The login cannot go on; `reason` is for the audit log (never holds the password). */
  | { readonly kind: 'fail'; readonly reason: string };

export interface ServerAuthOptions {
  /** The password (the managed credential); never logged, never in a reason. */
  readonly password: string;
  /** Whether the server link runs TLS (full authentication may then send the password as is). */
  readonly tls: boolean;
  /** The server's RSA public key (PEM or KeyObject), when configured: used instead of asking the server. */
  readonly serverPublicKey?: string | KeyObject;
}

/**
 * Server packets one login may answer. A server that keeps switching
 * plugins or asking for more is out of protocol: the login fails instead of
 * looping.
 */
export const MAX_AUTH_STEPS = 6;

type State =
  | { readonly plugin: 'mysql_native_password' }
  | { readonly plugin: 'caching_sha2_password'; readonly nonce: Buffer; readonly stage: 'scrambled' | 'fast-ok' | 'key-requested' | 'password-sent' };

/** The 20 nonce bytes of a greeting's or switch's plugin data (servers add a NUL). */
function nonceOf(data: Uint8Array): Buffer | undefined {
  const n = data.length === 21 && data[20] === 0 ? data.subarray(0, 20) : data;
  return n.length === 20 ? Buffer.from(n) : undefined;
}

export class ServerAuth {
  #state: State;
  #steps = 0;
  readonly #first: { readonly authPluginName: string; readonly authResponse: Buffer };

  /**
   * Starts with the plugin the greeting names when it is one of ours (a
   * MySQL 8 server names caching_sha2_password), else with
   * mysql_native_password; the server switches if the account uses the
   * other.
   */
  constructor(
    greeting: { readonly authPluginName?: string | undefined; readonly authPluginData: Uint8Array },
    private readonly options: ServerAuthOptions,
  ) {
    const nonce = nonceOf(greeting.authPluginData) ?? Buffer.from(greeting.authPluginData.subarray(0, 20));
    if (greeting.authPluginName === AuthPlugin.CACHING_SHA2_PASSWORD) {
      this.#state = { plugin: 'caching_sha2_password', nonce, stage: 'scrambled' };
      this.#first = { authPluginName: AuthPlugin.CACHING_SHA2_PASSWORD, authResponse: scrambleCachingSha2Password(options.password, nonce) };
    } else {
      this.#state = { plugin: 'mysql_native_password' };
      this.#first = { authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD, authResponse: scrambleNativePassword(options.password, greeting.authPluginData) };
    }
  }

  /** The plugin and answer for the first HandshakeResponse41. */
  get first(): { readonly authPluginName: string; readonly authResponse: Buffer } {
    return this.#first;
  }

  /** The answer to one server packet that is neither OK nor ERR. */
  next(payload: Uint8Array): AuthStep {
    if (++this.#steps > MAX_AUTH_STEPS) return fail(`more than ${MAX_AUTH_STEPS} authentication exchanges`);
    if (payload[0] === PacketHeader.EOF) return this.#switch(payload);
    if (payload[0] === PacketHeader.AUTH_MORE_DATA) return this.#moreData(payload.subarray(1));
    return fail(`unexpected packet 0x${(payload[0] ?? 0).toString(16).padStart(2, '0')} from the server during login`);
  }

  #switch(payload: Uint8Array): AuthStep {
    let sw: { pluginName: string; pluginData: Buffer };
    try {
      sw = decodeAuthSwitchRequest(payload);
    } catch (err) {
      return fail(`malformed AuthSwitchRequest${isIamdbError(err) ? ` (${err.message})` : ''}`);
    }
    const nonce = nonceOf(sw.pluginData);
    if (nonce === undefined) return fail(`the server switched to ${sw.pluginName} with a nonce of ${sw.pluginData.length} bytes`);
    if (sw.pluginName === AuthPlugin.MYSQL_NATIVE_PASSWORD) {
      this.#state = { plugin: 'mysql_native_password' };
      return send(scrambleNativePassword(this.options.password, nonce));
    }
    if (sw.pluginName === AuthPlugin.CACHING_SHA2_PASSWORD) {
      this.#state = { plugin: 'caching_sha2_password', nonce, stage: 'scrambled' };
      return send(scrambleCachingSha2Password(this.options.password, nonce));
    }
    return fail(`server asked for ${sw.pluginName}`);
  }

  #moreData(data: Uint8Array): AuthStep {
    const state = this.#state;
    if (state.plugin !== 'caching_sha2_password') return fail('AuthMoreData during mysql_native_password');
    if (state.stage === 'scrambled' && data.length === 1 && data[0] === CachingSha2.FAST_AUTH_SUCCESS) {
      this.#state = { ...state, stage: 'fast-ok' };
      return { kind: 'read' };
    }
    if (state.stage === 'scrambled' && data.length === 1 && data[0] === CachingSha2.PERFORM_FULL_AUTHENTICATION) {
      return this.#fullAuthentication(state.nonce);
    }
    if (state.stage === 'key-requested') return this.#encrypted(state.nonce, Buffer.from(data), 'the public key the server sent');
    return fail(`unexpected AuthMoreData (${data.length} bytes) in caching_sha2_password stage ${state.stage}`);
  }

  #fullAuthentication(nonce: Buffer): AuthStep {
    if (this.options.tls) {
      this.#state = { plugin: 'caching_sha2_password', nonce, stage: 'password-sent' };
      return send(encodeClearPassword(this.options.password));
    }
    if (this.options.serverPublicKey !== undefined) return this.#encrypted(nonce, this.options.serverPublicKey, 'the configured server public key');
    this.#state = { plugin: 'caching_sha2_password', nonce, stage: 'key-requested' };
    return send(Buffer.from([CachingSha2.REQUEST_PUBLIC_KEY]));
  }

  #encrypted(nonce: Buffer, key: string | Buffer | KeyObject, which: string): AuthStep {
    try {
      const payload = encryptPasswordForServer(this.options.password, nonce, key);
      this.#state = { plugin: 'caching_sha2_password', nonce, stage: 'password-sent' };
      return send(payload);
    } catch (err) {
      return fail(`cannot encrypt the password with ${which}${isIamdbError(err) ? `: ${err.message}` : ''}`);
    }
  }
}

function send(payload: Buffer): AuthStep {
  return { kind: 'send', payload };
}

function fail(reason: string): AuthStep {
  return { kind: 'fail', reason };
}
