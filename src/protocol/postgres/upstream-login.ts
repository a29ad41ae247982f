/**
 * The gateway's login to the real PostgreSQL server, as a pure state machine:
 * it builds the StartupMessage, then turns each backend message into the
 * bytes to send back and, at the end, the session facts (parameters,
 * cancel key, transaction status) or the server's refusal.
 *
 * Methods: trust (AuthenticationOk), cleartext, MD5, SCRAM-SHA-256 and
 * SCRAM-SHA-256-PLUS with tls-server-end-point channel binding. Like libpq's
 * `channel_binding=prefer`, -PLUS is used whenever the link is TLS (the caller
 * passes the certificate hash) and the server offers it; `require` refuses
 * any login that did not bind to the channel.
 *
 * SCRAM is not complete until the server proves it knows the password
 * (SASLFinal): an AuthenticationOk before that is refused, or a
 * man-in-the-middle could skip the proof.
 *
 * PBKDF2 runs synchronously inside {@link UpstreamLogin.receive} (a few ms
 * at 4,096 iterations); pass a {@link SaltedPasswordCache} so repeated logins
 * skip it.
 *
 * @see https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-START-UP
 * @see https://www.postgresql.org/docs/current/sasl-authentication.html
 * @module
 */
import { IamdbError } from '../../errors/index.js';
import { Secret } from '../../util/secret.js';
import {
  decodeBackendMessage,
  describeBackendMessage,
  authMethodName,
  type BackendMessage,
  type ErrorFields,
} from './backend/index.js';
import type { TransactionStatusLetter } from './codes.js';
import type { Frame } from './frame-decoder.js';
import { encodePasswordMessage } from './frontend/password-message.js';
import { md5Password } from './md5-password.js';
import { encodeSASLInitialResponse, encodeSASLResponse } from './frontend/sasl.js';
import { encodeStartupMessage, type ProtocolVersion } from './frontend/startup-message.js';
import type { SaltedPasswordCache } from './salted-password-cache.js';
import { ScramClient, ScramMechanism, type ScramChannelBinding } from './scram.js';

/**
 * Startup parameters the gateway may forward upstream (compared
 * case-insensitively, as PostgreSQL compares GUC names). Anything else a
 * client sends stays at the gateway: startup parameters must never reach an
 * internal query or pick an identity (PgBouncer CVE-2025-12819). `user`,
 * `database` and `replication` are set by the gateway itself.
 *
 * `options` passes `-c name=value` settings through; the server applies them
 * with the logged-in role's own privileges, as it would for a direct login.
 */
export const UPSTREAM_STARTUP_PARAM_ALLOW_LIST: readonly string[] = [
  'application_name',
  'client_encoding',
  'DateStyle',
  'IntervalStyle',
  'TimeZone',
  'extra_float_digits',
  'search_path',
  'options',
  'default_transaction_isolation',
  'default_transaction_read_only',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'standard_conforming_strings',
  'bytea_output',
  // Planner settings drivers send at startup (asyncpg's server_settings={'jit': 'off'} is common advice).
  'jit',
  'work_mem',
  'geqo',
];
const ALLOWED = new Set(UPSTREAM_STARTUP_PARAM_ALLOW_LIST.map((p) => p.toLowerCase()));

/** Most ParameterStatus messages kept from one login. */
export const MAX_UPSTREAM_PARAMETERS = 1024;

/**
 * Splits client startup parameters into those the allow-list lets through
 * and the names of those it drops.
 *
 * @example
 *   const { allowed, dropped } = pickAllowedStartupParams(startup.params);
 */
export function pickAllowedStartupParams(params: ReadonlyMap<string, string> | Readonly<Record<string, string>>): {
  allowed: Map<string, string>;
  dropped: string[];
} {
  const allowed = new Map<string, string>();
  const dropped: string[] = [];
  const entries = params instanceof Map ? [...params.entries()] : Object.entries(params);
  for (const [name, value] of entries) {
    if (ALLOWED.has(name.toLowerCase())) allowed.set(name, value);
    else dropped.push(name);
  }
  return { allowed, dropped };
}

/** Options for {@link UpstreamLogin}. */
export interface UpstreamLoginOptions {
  /** Database role to log in as. */
  readonly user: string;
  readonly database: string;
  /** Extra startup parameters; each must be on {@link UPSTREAM_STARTUP_PARAM_ALLOW_LIST}. */
  readonly params?: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** The role's password; required unless the server trusts the gateway. */
  readonly password?: Secret<string>;
  /**
   * Hash of the upstream server's certificate (RFC 5929 tls-server-end-point)
   * when the link is TLS; enables SCRAM-SHA-256-PLUS.
   */
  readonly tlsServerEndPoint?: Buffer;
  /** Default `prefer`: bind when possible. `require` fails a login that cannot bind. */
  readonly channelBinding?: 'prefer' | 'require' | 'disable';
  /** Send the password in cleartext when asked. Default true; turn off on links without TLS. */
  readonly allowCleartextPassword?: boolean;
  /** Answer MD5 challenges. Default true. */
  readonly allowMd5?: boolean;
  /** Protocol version to request. Default 3.0. */
  readonly protocolVersion?: ProtocolVersion;
  /** Shared SaltedPassword cache; without it every SCRAM login runs PBKDF2. */
  readonly saltedPasswordCache?: SaltedPasswordCache;
  /** Fixed SCRAM client nonce, for test vectors only. */
  readonly scramClientNonce?: string;
}

/** How the login authenticated. */
export type UpstreamAuthMethod = 'trust' | 'cleartext' | 'md5' | 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS';

/** What a successful login learnt. */
export interface UpstreamLoginResult {
  /** Every ParameterStatus, last value wins. */
  readonly parameters: Map<string, string>;
  /** The server's cancel key (the gateway maps its own key onto it). */
  readonly backendKey: { readonly processId: number; readonly secretKey: Buffer };
  readonly transactionStatus: TransactionStatusLetter;
  readonly authMethod: UpstreamAuthMethod;
  /** Protocol version in effect, after any NegotiateProtocolVersion. */
  readonly protocolVersion: ProtocolVersion;
  /** `_pq_.` options the server did not recognise. */
  readonly unrecognizedOptions: readonly string[];
  /** NoticeResponses received during login. */
  readonly notices: readonly ErrorFields[];
}

/**
 * The outcome of one received message: bytes to send (in order), and at most
 * one of `done` (logged in) or `error` (the server's ErrorResponse: the
 * login failed and the connection should be closed).
 */
export interface UpstreamLoginStep {
  readonly send?: Buffer[];
  readonly done?: UpstreamLoginResult;
  readonly error?: ErrorFields;
}

/** What the login waits for. */
export type UpstreamLoginState =
  | 'Initial'
  | 'AwaitingAuthRequest'
  | 'AwaitingSaslContinue'
  | 'AwaitingSaslFinal'
  | 'AwaitingAuthOk'
  | 'AwaitingReady'
  | 'Done'
  | 'Failed';

const NOTHING: UpstreamLoginStep = Object.freeze({});

/**
 * @example
 *   const login = new UpstreamLogin({ user: 'app', database: 'app', password: new Secret(pw) });
 *   socket.write(login.start());
 *   for (const frame of frames.feed(chunk)) {
 *     const step = login.receive(frame);
 *     for (const b of step.send ?? []) socket.write(b);
 *     if (step.done) relay(step.done);
 *     if (step.error) fail(step.error);
 *   }
 */
export class UpstreamLogin {
  readonly #o: UpstreamLoginOptions;
  readonly #params: Map<string, string>;
  #state: UpstreamLoginState = 'Initial';
  #scram: ScramClient | undefined;
  #method: UpstreamAuthMethod = 'trust';
  #version: ProtocolVersion;
  #unrecognized: readonly string[] = [];
  readonly #parameters = new Map<string, string>();
  #backendKey: { processId: number; secretKey: Buffer } | undefined;
  readonly #notices: ErrorFields[] = [];

  /** Throws `PROTO_STARTUP_PARAM_NOT_ALLOWED` for a parameter off the allow-list. */
  constructor(options: UpstreamLoginOptions) {
    this.#o = options;
    this.#version = options.protocolVersion ?? { major: 3, minor: 0 };
    this.#params = new Map();
    const entries = options.params === undefined ? [] : options.params instanceof Map ? [...options.params.entries()] : Object.entries(options.params);
    for (const [name, value] of entries) {
      if (!ALLOWED.has(name.toLowerCase())) throw new IamdbError('PROTO_STARTUP_PARAM_NOT_ALLOWED', { name: name.slice(0, 64) });
      this.#params.set(name, value);
    }
    if (options.channelBinding === 'require' && options.tlsServerEndPoint === undefined) {
      throw new IamdbError('PROTO_CHANNEL_BINDING_REQUIRED', { reason: 'no TLS server certificate hash was given' });
    }
  }

  /** What the login waits for. */
  get state(): UpstreamLoginState {
    return this.#state;
  }

  /** The StartupMessage to send first. */
  start(): Buffer {
    this.#expect('Initial', 'start()');
    const params = new Map<string, string>([
      ['user', this.#o.user],
      ['database', this.#o.database],
    ]);
    for (const [k, v] of this.#params) params.set(k, v);
    const bytes = encodeStartupMessage({ protocolVersion: this.#version, params });
    this.#state = 'AwaitingAuthRequest';
    return bytes;
  }

  /**
   * Handles one message from the server (a raw {@link Frame} or an already
   * decoded message). Throws `IamdbError` on anything a well-behaved server
   * would not send; the state is then `Failed`.
   */
  receive(input: BackendMessage | Frame): UpstreamLoginStep {
    try {
      const msg = 'body' in input ? decodeBackendMessage(input) : input;
      return this.#step(msg);
    } catch (err) {
      this.#state = 'Failed';
      throw err;
    }
  }

  #step(msg: BackendMessage): UpstreamLoginStep {
    if (msg.type === 'ErrorResponse' && this.#state !== 'Initial' && this.#state !== 'Done' && this.#state !== 'Failed') {
      this.#state = 'Failed';
      return { error: msg.fields };
    }
    if (msg.type === 'NoticeResponse' && this.#state !== 'Initial' && this.#state !== 'Done' && this.#state !== 'Failed') {
      if (this.#notices.length < 64) this.#notices.push(msg.fields);
      return NOTHING;
    }
    switch (this.#state) {
      case 'AwaitingAuthRequest':
        return this.#onAuthRequest(msg);
      case 'AwaitingSaslContinue':
        if (msg.type === 'AuthenticationSASLContinue') {
          this.#state = 'AwaitingSaslFinal';
          const clientFinal = this.#scram!.receiveServerFirst(msg.data);
          return { send: [encodeSASLResponse({ data: Buffer.from(clientFinal, 'latin1') })] };
        }
        return this.#scramCut(msg);
      case 'AwaitingSaslFinal':
        if (msg.type === 'AuthenticationSASLFinal') {
          this.#scram!.receiveServerFinal(msg.data);
          this.#state = 'AwaitingAuthOk';
          return NOTHING;
        }
        return this.#scramCut(msg);
      case 'AwaitingAuthOk':
        if (msg.type === 'AuthenticationOk') {
          this.#state = 'AwaitingReady';
          return NOTHING;
        }
        throw this.#unexpected(msg);
      case 'AwaitingReady':
        return this.#onReadyPhase(msg);
      default:
        throw this.#unexpected(msg);
    }
  }

  #onAuthRequest(msg: BackendMessage): UpstreamLoginStep {
    const bindingRequired = this.#o.channelBinding === 'require';
    switch (msg.type) {
      case 'NegotiateProtocolVersion':
        if (msg.newestMinor < 0 || msg.newestMinor > this.#version.minor) {
          throw new IamdbError('PROTO_MALFORMED_MESSAGE', {
            what: 'NegotiateProtocolVersion',
            reason: `server offers minor ${msg.newestMinor}, we asked for ${this.#version.minor}`,
          });
        }
        this.#version = { major: this.#version.major, minor: msg.newestMinor };
        this.#unrecognized = msg.unrecognizedOptions;
        return NOTHING;
      case 'AuthenticationOk':
        if (bindingRequired) throw new IamdbError('PROTO_CHANNEL_BINDING_REQUIRED', { reason: 'the server did not authenticate (trust)' });
        this.#method = 'trust';
        this.#state = 'AwaitingReady';
        return NOTHING;
      case 'AuthenticationCleartextPassword': {
        if (bindingRequired) throw new IamdbError('PROTO_CHANNEL_BINDING_REQUIRED', { reason: 'the server asked for a cleartext password' });
        if (this.#o.allowCleartextPassword === false) throw new IamdbError('PROTO_CLEARTEXT_REFUSED');
        const password = this.#password('cleartext');
        this.#method = 'cleartext';
        this.#state = 'AwaitingAuthOk';
        return { send: [encodePasswordMessage({ password })] };
      }
      case 'AuthenticationMD5Password': {
        if (bindingRequired) throw new IamdbError('PROTO_CHANNEL_BINDING_REQUIRED', { reason: 'the server asked for MD5' });
        if (this.#o.allowMd5 === false) throw new IamdbError('PROTO_AUTH_METHOD_UNSUPPORTED', { method: 'MD5' });
        const password = this.#password('MD5');
        this.#method = 'md5';
        this.#state = 'AwaitingAuthOk';
        return { send: [encodePasswordMessage({ password: md5Password(password, this.#o.user, msg.salt) })] };
      }
      case 'AuthenticationSASL':
        return this.#startScram(msg.mechanisms);
      case 'AuthenticationUnsupported':
        throw new IamdbError('PROTO_AUTH_METHOD_UNSUPPORTED', { method: authMethodName(msg.code) });
      default:
        throw this.#unexpected(msg);
    }
  }

  #startScram(mechanisms: readonly string[]): UpstreamLoginStep {
    const mode = this.#o.channelBinding ?? 'prefer';
    const endPoint = this.#o.tlsServerEndPoint;
    let binding: ScramChannelBinding;
    if (mode !== 'disable' && endPoint !== undefined && mechanisms.includes(ScramMechanism.Sha256Plus)) {
      binding = { kind: 'tls-server-end-point', data: endPoint };
    } else if (mechanisms.includes(ScramMechanism.Sha256)) {
      if (mode === 'require') throw new IamdbError('PROTO_CHANNEL_BINDING_REQUIRED', { reason: 'the server does not offer SCRAM-SHA-256-PLUS' });
      // 'y': we could bind but the server did not offer it, so a server that
      // does support -PLUS can tell its offer was stripped in transit.
      binding = mode !== 'disable' && endPoint !== undefined ? { kind: 'unused' } : { kind: 'none' };
    } else {
      throw new IamdbError('PROTO_AUTH_METHOD_UNSUPPORTED', { method: `SASL (${mechanisms.join(', ').slice(0, 128)})` });
    }
    const password = this.#password('SCRAM');
    this.#scram = new ScramClient({
      password,
      channelBinding: binding,
      ...(this.#o.scramClientNonce !== undefined ? { clientNonce: this.#o.scramClientNonce } : {}),
      ...(this.#o.saltedPasswordCache !== undefined ? { cache: this.#o.saltedPasswordCache } : {}),
    });
    this.#method = this.#scram.mechanism;
    const first = this.#scram.clientFirstMessage();
    this.#state = 'AwaitingSaslContinue';
    return { send: [encodeSASLInitialResponse({ mechanism: this.#scram.mechanism, data: Buffer.from(first, 'latin1') })] };
  }

  #onReadyPhase(msg: BackendMessage): UpstreamLoginStep {
    switch (msg.type) {
      case 'ParameterStatus':
        if (!this.#parameters.has(msg.name) && this.#parameters.size >= MAX_UPSTREAM_PARAMETERS) {
          throw new IamdbError('PROTO_MALFORMED_MESSAGE', { what: 'login', reason: `more than ${MAX_UPSTREAM_PARAMETERS} parameters` });
        }
        this.#parameters.set(msg.name, msg.value);
        return NOTHING;
      case 'BackendKeyData':
        if (this.#backendKey !== undefined) throw this.#unexpected(msg);
        this.#backendKey = { processId: msg.processId, secretKey: msg.secretKey };
        return NOTHING;
      case 'ReadyForQuery':
        if (this.#backendKey === undefined) {
          throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: 'ReadyForQuery', state: 'awaiting BackendKeyData' });
        }
        this.#state = 'Done';
        return {
          done: {
            parameters: this.#parameters,
            backendKey: this.#backendKey,
            transactionStatus: msg.status,
            authMethod: this.#method,
            protocolVersion: this.#version,
            unrecognizedOptions: this.#unrecognized,
            notices: this.#notices,
          },
        };
      default:
        throw this.#unexpected(msg);
    }
  }

  /** During SCRAM, success before the server's proof is a skipped proof, not a login. */
  #scramCut(msg: BackendMessage): never {
    if (msg.type === 'AuthenticationOk') throw new IamdbError('PROTO_SCRAM_INCOMPLETE', { state: this.#state });
    throw this.#unexpected(msg);
  }

  #password(method: string): Secret<string> {
    if (this.#o.password === undefined) throw new IamdbError('PROTO_PASSWORD_REQUIRED', { method });
    return this.#o.password;
  }

  #expect(state: UpstreamLoginState, what: string): void {
    if (this.#state !== state) throw new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: what, state: this.#state });
  }

  #unexpected(msg: BackendMessage): IamdbError {
    return new IamdbError('PROTO_UNEXPECTED_MESSAGE', { message: describeBackendMessage(msg), state: this.#state });
  }
}

