/**
 * The gateway's side of a MySQL/MariaDB server login: open TCP (and TLS when
 * `targetTls` says so; by default whenever the server offers it), read the server's greeting, send the first
 * HandshakeResponse41 and work through the server's answers until OK.
 * Called only once a client has authenticated (IAM users) or has sent its
 * login answer (password users): never for a client that is merely
 * connected.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import { IamdbError } from '../../errors/index.js';
import {
  Capability,
  PacketHeader,
  decodeErrPacket,
  decodeHandshakeV10,
  encodeHandshakeResponse41,
  encodePacket,
  encodeSslRequest,
  type ErrPacket,
  type HandshakeResponse41,
  type HandshakeV10,
  type MysqlPacket,
} from '../../protocol/mysql/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import { LoginFailed, connectTarget } from '../session-common.js';
import { connectUpstreamTls } from '../tls-upgrade.js';
import type { ServerProfileCache } from './greeting.js';
import { PacketReader } from './packets.js';

/** Runs TLS on a server socket some other way (the native side's links, pooled-server-tls.ts); the login goes on over `socket`. */
export type ServerTlsStarter = (socket: Socket, instance: DbInstance, timeoutMs: number) => Promise<{ readonly socket: Socket; readonly nativeTls?: number }>;
import { ServerAuth } from './server-auth.js';

/**
 * Where a server connection's login stands: the server has greeted and waits
 * for our first packet; we have asked for TLS and its handshake has not
 * completed; it waits for our answer to a challenge; we wait for its reply;
 * or it is over (OK or ERR).
 */
export type LinkPhase = 'greeted' | 'tls-handshake' | 'awaiting-us' | 'awaiting-server' | 'done';

/** Where a link's packets come from: a reader on its socket during login, the command relay's feed during COM_CHANGE_USER. */
export type PacketSource = Pick<PacketReader, 'next' | 'pendingBytes' | 'detach'>;

/** An open server connection in its connection phase (or, for COM_CHANGE_USER, back in it). */
export interface ServerLink {
  socket: Socket;
  reader: PacketSource;
  readonly greeting: HandshakeV10;
  /** Sequence id of the next packet the gateway sends. */
  seq: number;
  /** Whether the login goes over TLS (targetTls and what the server's greeting offers); `tls` says once it does. */
  readonly wantsTls: boolean;
  tls: boolean;
  phase: LinkPhase;
  /** The native TLS link the login runs over (a pool's connections), whose plaintext end `socket` is. */
  nativeTls?: number;
}

/**
 * Capabilities that change how commands and responses are framed: the
 * client and the server must agree on them, or the relay would pass the
 * client responses shaped for another negotiation.
 */
const FRAMING_CAPS =
  (Capability.CLIENT_PROTOCOL_41 |
    Capability.CLIENT_DEPRECATE_EOF |
    Capability.CLIENT_MULTI_RESULTS |
    Capability.CLIENT_PS_MULTI_RESULTS |
    Capability.CLIENT_SESSION_TRACK |
    Capability.CLIENT_MULTI_STATEMENTS) >>>
  0;

/** Connects to the server and reads its greeting; an ERR greeting ("too many connections") goes to the client as the server said it. */
export async function openServer(instance: DbInstance, timeoutMs: number, profile: ServerProfileCache, maxPacket: number): Promise<ServerLink> {
  const socket = await connectTarget(instance, timeoutMs);
  try {
    const reader = new PacketReader(socket, maxPacket);
    const first = await reader.next();
    if (first.payload[0] === PacketHeader.ERR) {
      const err = decodeErrPacket(first.payload);
      throw new LoginFailed('UpstreamUnavailable', encodePacket(first.payload, 0), `${err.errno}: ${err.message}`);
    }
    const greeting = decodeHandshakeV10(first.payload);
    profile.learn(greeting);
    const offered = (greeting.capabilityFlags & Capability.CLIENT_SSL) !== 0;
    const mode = instance.targetTls.mode;
    // prefer (the default): TLS whenever the server offers it, in clear otherwise.
    if (mode !== 'disable' && mode !== 'prefer' && !offered) {
      throw new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: `${instance.target.host}:${instance.target.port}`, reason: 'the server does not offer TLS' });
    }
    return { socket, reader, greeting, seq: 1, wantsTls: mode !== 'disable' && offered, tls: false, phase: 'greeted' };
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * Capabilities toward the server: what the client negotiated with the
 * gateway (`negotiated`: the client's flags within what the gateway
 * offered) and the server offers, TLS only if that link has it. A client
 * that negotiated a framing capability this server lacks (the server
 * changed since the gateway last saw it) cannot be relayed.
 */
export function serverCapabilities(negotiated: number, link: ServerLink, instance: DbInstance, stripped: number): number {
  const missing = negotiated & FRAMING_CAPS & ~link.greeting.capabilityFlags;
  if (missing !== 0) {
    throw new IamdbError('GATEWAY_UPSTREAM_PROTOCOL', {
      target: `${instance.target.host}:${instance.target.port}`,
      reason: `the server no longer offers capabilities 0x${(missing >>> 0).toString(16)} the client was greeted with; it will be greeted anew`,
    });
  }
  return (
    ((negotiated & link.greeting.capabilityFlags & ~stripped & ~Capability.CLIENT_SSL) |
      (link.wantsTls ? Capability.CLIENT_SSL : 0)) >>>
    0
  );
}

/**
 * Starts TLS toward the server when the link wants it (SSLRequest with the capabilities of the
 * response that follows); `starter` runs it natively for pooled connections (pooled-server-tls.ts).
 */
export async function startServerTls(
  link: ServerLink,
  instance: DbInstance,
  caps: number,
  response: HandshakeResponse41,
  mariadbCaps: number,
  timeoutMs: number,
  maxPacket: number,
  starter?: ServerTlsStarter,
): Promise<void> {
  if (!link.wantsTls) return;
  link.reader.detach();
  link.socket.write(
    encodePacket(encodeSslRequest({ capabilityFlags: caps, maxPacketSize: response.maxPacketSize, characterSet: response.characterSet, mariadbCapabilities: mariadbCaps }), link.seq++),
  );
  link.phase = 'tls-handshake';
  const tls: { readonly socket: Socket; readonly nativeTls?: number } =
    starter !== undefined ? await starter(link.socket, instance, timeoutMs) : await connectUpstreamTls(link.socket, instance.target, instance.targetTls, timeoutMs);
  link.phase = 'greeted';
  link.socket = tls.socket;
  if (tls.nativeTls !== undefined) link.nativeTls = tls.nativeTls;
  link.reader = new PacketReader(tls.socket, maxPacket);
  link.tls = true;
}

/**
 * Sends the first HandshakeResponse41 to the server and works through its
 * answers until OK (returned): ERR becomes the LoginFailed `refused` makes;
 * anything else (AuthSwitchRequest, AuthMoreData) is answered by `challenge`,
 * or, when it returns nothing (caching_sha2_password's fast-auth success,
 * after which the server sends its OK unasked), the next packet is read.
 */
export async function serverHandshake(
  link: ServerLink,
  first: Buffer,
  handlers: { refused: (e: ErrPacket, payload: Buffer) => LoginFailed; challenge: (reply: MysqlPacket) => Promise<Buffer | undefined> },
): Promise<Buffer> {
  link.socket.write(encodePacket(first, link.seq++));
  for (;;) {
    link.phase = 'awaiting-server';
    const reply = await link.reader.next(link.seq);
    link.seq = (reply.lastSequenceId + 1) & 0xff;
    if (reply.payload[0] === PacketHeader.OK || reply.payload[0] === PacketHeader.ERR) link.phase = 'done';
    if (reply.payload[0] === PacketHeader.OK) return reply.payload;
    if (reply.payload[0] === PacketHeader.ERR) throw handlers.refused(decodeErrPacket(reply.payload), reply.payload);
    link.phase = 'awaiting-us';
    const answer = await handlers.challenge(reply);
    if (answer !== undefined) link.socket.write(encodePacket(answer, link.seq++));
  }
}

/**
 * Logs in with a password the gateway itself knows (an IAM user's managed
 * credential): the plugin the greeting names, and every answer after it,
 * come from server-auth.ts (mysql_native_password, caching_sha2_password
 * with its fast path and full authentication over TLS or RSA). `first`
 * builds the HandshakeResponse41 around the chosen plugin and answer;
 * `failed` makes the error for an exchange the gateway cannot go on with.
 */
export function passwordHandshake(
  link: ServerLink,
  password: string,
  first: (auth: { authPluginName: string; authResponse: Buffer }) => Buffer,
  handlers: { refused: (e: ErrPacket, payload: Buffer) => LoginFailed; failed: (reason: string) => Error; serverPublicKey?: string | KeyObject | undefined },
): Promise<Buffer> {
  const auth = new ServerAuth(link.greeting, { password, tls: link.tls, ...(handlers.serverPublicKey !== undefined ? { serverPublicKey: handlers.serverPublicKey } : {}) });
  return serverHandshake(link, first(auth.first), {
    refused: handlers.refused,
    challenge: async (reply) => {
      const step = auth.next(reply.payload);
      if (step.kind === 'fail') throw handlers.failed(step.reason);
      return step.kind === 'send' ? step.payload : undefined;
    },
  });
}

/**
 * A whole login with a user and password the gateway holds itself (a
 * proxy's secret, an instance's master): capabilities the gateway's own
 * logins need, TLS as the link wants, then passwordHandshake. Returns the
 * server's OK; `refused` and `failed` make the errors as passwordHandshake's do.
 */
export async function credentialLogin(
  link: ServerLink,
  instance: DbInstance,
  credential: { readonly username: string; readonly password: Secret<string> },
  opts: {
    readonly timeoutMs: number;
    readonly maxPacket: number;
    /** Sent as connection attributes when the server takes them (program_name: who the connection is in the processlist). */
    readonly attributes?: ReadonlyArray<readonly [string, string]>;
    readonly refused: (e: ErrPacket, payload: Buffer) => LoginFailed;
    readonly failed: (reason: string) => Error;
  },
): Promise<Buffer> {
  const wanted = (Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_LONG_PASSWORD) >>> 0;
  const attrs = opts.attributes !== undefined && (link.greeting.capabilityFlags & Capability.CLIENT_CONNECT_ATTRS) !== 0 ? opts.attributes : undefined;
  const caps = (wanted | (attrs !== undefined ? Capability.CLIENT_CONNECT_ATTRS : 0)) & link.greeting.capabilityFlags;
  const base: Omit<HandshakeResponse41, 'authPluginName' | 'authResponse'> = {
    type: 'HandshakeResponse41',
    capabilityFlags: (caps | (link.wantsTls ? Capability.CLIENT_SSL : 0)) >>> 0,
    maxPacketSize: 1 << 24,
    characterSet: link.greeting.characterSet || 45,
    mariadbCapabilities: 0,
    username: credential.username,
    database: undefined,
    connectAttributes: attrs,
  };
  await startServerTls(link, instance, base.capabilityFlags, { ...base, authPluginName: undefined, authResponse: Buffer.alloc(0) }, 0, opts.timeoutMs, opts.maxPacket);
  const serverPublicKey = configuredServerKey(instance, link);
  return passwordHandshake(link, credential.password.reveal(), (auth) => encodeHandshakeResponse41({ ...base, ...auth }), {
    refused: opts.refused,
    failed: opts.failed,
    ...(serverPublicKey !== undefined ? { serverPublicKey } : {}),
  });
}

/** Configured server public keys by path, read once (a new key file needs a restart, as the server's does). */
const configuredKeys = new Map<string, string>();

/**
 * The server's RSA public key from `targetTls.rsaPublicKey`, when configured
 * and the link has no TLS (with TLS full authentication needs no key).
 */
export function configuredServerKey(instance: DbInstance, link: ServerLink): string | undefined {
  const path = instance.targetTls.rsaPublicKey;
  if (path === undefined || link.tls) return undefined;
  let pem = configuredKeys.get(path);
  if (pem === undefined) {
    try {
      pem = readFileSync(path, 'utf8');
    } catch (err) {
      throw new IamdbError('GATEWAY_UPSTREAM_UNAVAILABLE', { target: `${instance.target.host}:${instance.target.port}`, reason: `cannot read targetTls.rsaPublicKey (${(err as { code?: string }).code ?? 'error'})` });
    }
    configuredKeys.set(path, pem);
  }
  return pem;
}

/** How long an abandoned login may take to end with the server's refusal. */
const ABANDON_MS = 2_000;
/** A user name no one has: an abandoned login ends with the server's ordinary "access denied". */
const ABANDONED_USER = 'iamdb_abandoned_login';

/**
 * Ends a server connection whose login will not complete (the client left,
 * timed out, or was refused), without cutting the server's handshake short.
 * MySQL and MariaDB count a handshake cut short as a connection error of the
 * gateway's host, and block the host after `max_connect_errors` of them; a
 * failed login does not count. So the gateway finishes the handshake with a
 * login that fails (an unknown user, or a wrong answer to the pending
 * challenge), then closes. A link already past its login is just closed.
 */
export function abandonServerLink(link: ServerLink): void {
  const close = (): void => {
    link.socket.destroy();
  };
  // A link whose TLS handshake did not complete can only be closed: a login packet in clear
  // would land in the middle of the server's handshake (and tell the network the user's name).
  if (link.phase === 'done' || link.phase === 'tls-handshake' || link.socket.destroyed) return close();
  const timer = setTimeout(close, ABANDON_MS);
  timer.unref();
  const finish = async (): Promise<void> => {
    for (let step = 0; step < 4; step++) {
      if (link.phase === 'greeted') {
        link.socket.write(encodePacket(abandonedResponse(link), link.seq++));
        link.phase = 'awaiting-server';
      } else if (link.phase === 'awaiting-us') {
        link.socket.write(encodePacket(randomBytes(20), link.seq++));
        link.phase = 'awaiting-server';
      } else if (link.phase === 'awaiting-server') {
        const reply = await link.reader.next();
        link.seq = (reply.lastSequenceId + 1) & 0xff;
        const head = reply.payload[0];
        // Should the unknown user get in after all, it leaves politely.
        if (head === PacketHeader.OK) link.socket.write(encodePacket(Buffer.from([0x01]), 0));
        link.phase = head === PacketHeader.OK || head === PacketHeader.ERR ? 'done' : 'awaiting-us';
      } else break;
    }
  };
  finish()
    .catch(() => undefined)
    .finally(() => {
      clearTimeout(timer);
      close();
    });
}

/** A HandshakeResponse41 for no existing user, answering with random bytes in the server's default plugin. */
function abandonedResponse(link: ServerLink): Buffer {
  const caps = (Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH | (link.tls ? Capability.CLIENT_SSL : 0)) >>> 0;
  return encodeHandshakeResponse41({
    capabilityFlags: caps & link.greeting.capabilityFlags,
    maxPacketSize: 1 << 24,
    characterSet: link.greeting.characterSet || 45,
    mariadbCapabilities: 0,
    username: ABANDONED_USER,
    authResponse: randomBytes(20),
    database: undefined,
    authPluginName: link.greeting.authPluginName ?? 'mysql_native_password',
    connectAttributes: undefined,
  });
}
