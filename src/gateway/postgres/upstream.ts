/**
 * The gateway's link to the real PostgreSQL server: TCP, then TLS when the
 * instance says so (SSLRequest, exactly one 'S' byte, nothing after it, then
 * a verified handshake), then a login as the database user with a password
 * the gateway holds (the user's own, or the managed credential of an IAM
 * user). Nothing the server says before TLS is ever relayed.
 */
import type { Socket } from 'node:net';
import { connectTarget } from '../session-common.js';
import { IamdbError } from '../../errors/index.js';
import { encodeCancelRequest, encodeSSLRequest, UpstreamLogin, type ErrorFields, type SaltedPasswordCache } from '../../protocol/postgres/index.js';
import type { DbInstance } from '../../rds/index.js';
import type { Secret } from '../../util/index.js';
import { connectUpstreamTls } from '../tls-upgrade.js';
import { MessageReader } from './messages.js';

export interface UpstreamSession {
  readonly socket: Socket;
  readonly parameters: ReadonlyMap<string, string>;
  readonly backendKey: { readonly processId: number; readonly secretKey: Buffer };
  readonly transactionStatus: string;
  /** Bytes the server sent after ReadyForQuery (normally none). */
  readonly leftover: Buffer[];
}

/** An open link to the server: TCP, or TLS when `serverEndPoint` is present. */
export interface UpstreamLink {
  readonly socket: Socket;
  /** tls-server-end-point channel binding data: present exactly when the link is TLS. */
  readonly serverEndPoint?: Buffer;
  /** The native side runs this link's TLS (pooled servers); `socket` is the plaintext end. */
  readonly nativeTls?: number;
}

/**
 * Runs TLS on `socket` once the server has answered SSLRequest with 'S':
 * Node's TLS (instance endpoints, probes) or the native side's (pools).
 */
export type UpstreamTlsStarter = (socket: Socket, instance: DbInstance, timeoutMs: number) => Promise<UpstreamLink>;

/** Node's TLS toward the server (connectUpstreamTls). */
export const nodeUpstreamTls: UpstreamTlsStarter = (socket, instance, timeoutMs) => connectUpstreamTls(socket, instance.target, instance.targetTls, timeoutMs);

/** What SSLRequest's 'N' answer means: refused under every mode but `prefer`. */
export const SERVER_WITHOUT_TLS = 'the server does not accept TLS';

export type UpstreamLoginResult = { ok: true; session: UpstreamSession } | { ok: false; error: ErrorFields };

function targetName(instance: DbInstance): string {
  return `${instance.target.host}:${instance.target.port}`;
}

/**
 * Opens TCP, then TLS as `targetTls` says: under `prefer` (the default) a
 * server that answers the SSLRequest with 'N' gets the login in clear, as
 * libpq's sslmode=prefer does; every other mode but `disable` refuses it.
 * `serverEndPoint` is present exactly when the link is TLS.
 */
export async function openUpstream(instance: DbInstance, timeoutMs: number, startTls: UpstreamTlsStarter = nodeUpstreamTls): Promise<UpstreamLink> {
  const socket = await connectTarget(instance, timeoutMs);
  if (instance.targetTls.mode === 'disable') return { socket };
  try {
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => reject(new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: targetName(instance), reason: 'no answer to SSLRequest' })), timeoutMs);
      socket.once('data', (b) => {
        clearTimeout(timer);
        socket.pause();
        resolve(b);
      });
      socket.once('close', () => {
        clearTimeout(timer);
        reject(new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', { target: targetName(instance), reason: 'closed after SSLRequest' }));
      });
      socket.write(encodeSSLRequest());
    });
    socket.removeAllListeners('close');
    // Exactly one byte: anything more was sent before TLS and must not be trusted.
    if (answer.length === 1 && answer[0] === 0x4e /* N */ && instance.targetTls.mode === 'prefer') return { socket };
    if (answer.length !== 1 || answer[0] !== 0x53 /* S */) {
      throw new IamdbError('GATEWAY_UPSTREAM_TLS_FAILED', {
        target: targetName(instance),
        reason: answer[0] === 0x4e /* N */ ? SERVER_WITHOUT_TLS : 'unexpected answer to SSLRequest',
      });
    }
    return await startTls(socket, instance, timeoutMs);
  } catch (err) {
    socket.destroy();
    throw err;
  }
}

/**
 * Logs in on an open upstream link. A refusal by the server comes back as
 * `{ ok: false, error }` with the server's own fields (the caller decides
 * what the client sees); protocol trouble throws.
 */
export async function loginUpstream(
  instance: DbInstance,
  link: UpstreamLink,
  args: { user: string; database: string; params: ReadonlyMap<string, string>; password: Secret<string>; maxMessageBytes: number; saltedPasswordCache?: SaltedPasswordCache },
): Promise<UpstreamLoginResult> {
  const login = new UpstreamLogin({
    user: args.user,
    database: args.database,
    params: args.params,
    password: args.password,
    // Cleartext only where the link is encrypted.
    allowCleartextPassword: link.serverEndPoint !== undefined,
    ...(args.saltedPasswordCache ? { saltedPasswordCache: args.saltedPasswordCache } : {}),
    ...(link.serverEndPoint !== undefined && link.serverEndPoint.length > 0 ? { tlsServerEndPoint: link.serverEndPoint } : {}),
  });
  const reader = new MessageReader(link.socket, args.maxMessageBytes, 'upstream');
  link.socket.resume();
  link.socket.write(login.start());
  for (;;) {
    const frame = await reader.next();
    const step = login.receive(frame);
    for (const out of step.send ?? []) link.socket.write(out);
    if (step.error !== undefined) {
      reader.handOff();
      link.socket.destroy();
      return { ok: false, error: step.error };
    }
    if (step.done !== undefined) {
      const leftover = reader.handOff();
      link.socket.pause();
      return {
        ok: true,
        session: {
          socket: link.socket,
          parameters: step.done.parameters,
          backendKey: step.done.backendKey,
          transactionStatus: step.done.transactionStatus,
          leftover,
        },
      };
    }
  }
}

/**
 * True when the server refused a login only because the link is in clear:
 * pg_hba.conf has no line (or a reject line) for unencrypted connections
 * (`hostssl` only). PostgreSQL 14+ ends that message with "no encryption",
 * older ones with "SSL off".
 */
export function refusedForCleartext(error: ErrorFields): boolean {
  return error.code === '28000' && error.message.includes('pg_hba.conf') && /, (no encryption|SSL off)$/.test(error.message);
}

/** How long a cancel may take to reach the server (its TCP connect and TLS handshake included). */
const CANCEL_TIMEOUT_MS = 5_000;

/**
 * Sends a CancelRequest to the server for the given upstream key, over the
 * same kind of link the session's server connection has: TLS as `targetTls`
 * says (PostgreSQL reads a CancelRequest after SSLRequest and the handshake
 * as it reads a StartupMessage there), so the backend's secret key never
 * crosses the network in clear where the session's own link does not. When
 * TLS is required and fails, the cancel is dropped rather than sent in clear.
 * `linkWasTls`: the session's server link is TLS, so under `prefer` the
 * cancel requires it too (a 'N' now, from the server or from someone in
 * between, does not get the key in clear).
 */
export async function sendUpstreamCancel(instance: DbInstance, key: { processId: number; secretKey: Buffer }, linkWasTls: boolean): Promise<void> {
  const target = linkWasTls && instance.targetTls.mode === 'prefer' ? { ...instance, targetTls: { ...instance.targetTls, mode: 'require' as const } } : instance;
  let link: UpstreamLink;
  try {
    link = await openUpstream(target, CANCEL_TIMEOUT_MS);
  } catch {
    return;
  }
  const { socket } = link;
  await new Promise<void>((resolve) => {
    socket.setTimeout(CANCEL_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => resolve());
    socket.on('close', () => resolve());
    // The server answers nothing and closes; what it might send is not read.
    socket.resume();
    socket.end(encodeCancelRequest(key));
  });
}
