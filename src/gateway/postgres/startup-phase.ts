/**
 * The first step of every PostgreSQL session, on instance and proxy
 * endpoints alike: untyped packets until a StartupMessage. An SSLRequest is
 * answered 'S' and upgraded (only when no other byte is buffered: STARTTLS
 * injection ends the connection), a GSSENCRequest 'N', a CancelRequest is
 * handed to the caller, and the StartupMessage's protocol version and
 * parameters are checked.
 */
import type { Socket } from 'node:net';
import { IamdbError } from '../../errors/index.js';
import {
  StartupDecoder,
  PG_PRE_AUTH_MAX_MESSAGE_BYTES,
  encodeNegotiateProtocolVersion,
  pickAllowedStartupParams,
  type StartupMessage,
} from '../../protocol/postgres/index.js';
import type { ClientTlsSession, ClientTlsTerminator } from '../client-tls.js';
import { SocketReader } from '../socket-reader.js';
import { MessageReader } from './messages.js';

export type StartupOutcome =
  | { kind: 'cancel'; processId: number; secretKey: Buffer }
  | {
      kind: 'startup';
      startup: StartupMessage;
      /** The plaintext socket: the TLS session's, or the raw one. */
      client: Socket;
      tls: ClientTlsSession | undefined;
      /** Reads the client's next messages, bounded by what a login needs. */
      reader: MessageReader;
      /** Allowed startup parameters, names in lower case (the server folds them so). */
      params: Map<string, string>;
      /** `_pq_.` options the client asked for, refused by NegotiateProtocolVersion. */
      unsupportedOptions: string[];
    };

export interface StartupDeps {
  readonly clientTls: ClientTlsTerminator;
  readonly loginTimeoutMs: number;
  /** Called once TLS is up, so the caller can cut the TLS session instead of the raw socket. */
  onTls?(tls: ClientTlsSession): void;
}

/** Reads packets until a StartupMessage (or a CancelRequest). */
export async function readStartup(raw: Socket, deps: StartupDeps): Promise<StartupOutcome> {
  let reader = new SocketReader(raw);
  const decoder = new StartupDecoder();
  let client: Socket = raw;
  let tls: ClientTlsSession | undefined;
  for (;;) {
    decoder.push(await reader.read());
    for (let packet = decoder.next(); packet !== undefined; packet = decoder.next()) {
      if (packet.type === 'SSLRequest') {
        if (tls) throw new IamdbError('GATEWAY_UNSUPPORTED', { what: 'a second SSLRequest' });
        const pending = decoder.pendingBytes() + reader.buffered;
        if (pending > 0) throw new IamdbError('GATEWAY_BYTES_BEFORE_TLS', { count: pending });
        reader.detach();
        tls = await deps.clientTls.accept(raw, Buffer.from('S'), deps.loginTimeoutMs);
        deps.onTls?.(tls);
        client = tls.socket;
        reader = new SocketReader(client);
        break;
      }
      if (packet.type === 'GSSENCRequest') {
        client.write('N');
        continue;
      }
      if (packet.type === 'CancelRequest') {
        return { kind: 'cancel', processId: packet.processId, secretKey: Buffer.from(packet.secretKey) };
      }
      const leftoverStartup = decoder.takePending();
      const leftoverChunks = reader.detach();
      // Until the client has authenticated, nothing it sends may be larger than a login needs.
      const messages = new MessageReader(client, PG_PRE_AUTH_MAX_MESSAGE_BYTES, 'client', Buffer.concat([leftoverStartup, ...leftoverChunks]));
      const params = new Map<string, string>();
      // One allow-list for what reaches the server; names folded to lower case as the server folds
      // them, so `OPTIONS` or `Application_Name` cannot slip past what iamdb adds to them.
      for (const [k, v] of pickAllowedStartupParams(packet.params).allowed) params.set(k.toLowerCase(), v);
      const unsupportedOptions = [...packet.params.keys()].filter((k) => k.startsWith('_pq_.'));
      return { kind: 'startup', startup: packet, client, tls, reader: messages, params, unsupportedOptions };
    }
  }
}

/** Tells a client asking for a newer minor version or `_pq_.` options what this side speaks (3.0). */
export function negotiateIfNeeded(client: Socket, startup: StartupMessage, unsupportedOptions: string[]): void {
  if (startup.protocolVersion.minor > 0 || unsupportedOptions.length > 0) {
    client.write(encodeNegotiateProtocolVersion({ newestMinor: 0, unrecognizedOptions: unsupportedOptions }));
  }
}
