/**
 * Where a client's TLS is terminated and, after login, how its bytes reach
 * the server. A session asks a `ClientTlsTerminator` to accept TLS on the
 * raw socket; it runs its login on the plaintext socket it gets back, then
 * hands the server connection over with `relayTo`, which resolves when the
 * session is over.
 *
 * Two implementations: Node's own TLS with the JavaScript relay (here), and
 * the native data path (native-data-path.ts), which keeps TLS and the relay
 * on a thread of their own and out of the event loop.
 */
import type { Socket } from 'node:net';
import type { SecureContext } from 'node:tls';
import type { NativePoolControl, PooledClient } from './native-data-path.js';
import { relay, type RelayResult } from './relay.js';
import { acceptTls } from './tls-upgrade.js';

export interface RelayPending {
  /** Bytes for the client, in order, before anything the server sends next (the login's last messages). */
  readonly toClient: Buffer[];
  /** Bytes from the client that the login read ahead, for the server. */
  readonly toServer: Buffer[];
}

/**
 * A client's session after TLS, or (native data path, `adoptPlain`) a client
 * in the clear made a native session all the same: the rest is identical.
 */
export interface ClientTlsSession {
  /** Plaintext to and from the client, for the login. */
  readonly socket: Socket;
  /**
   * Relays between the client and `upstream` (a logged-in server
   * connection) until either leaves. Takes ownership of `upstream`.
   */
  relayTo(upstream: Socket, pending: RelayPending): Promise<RelayResult>;
  /** Ends the session now (drain deadline). */
  destroy(): void;
  /**
   * Native data path only: the client joins a pool instead of getting a
   * server of its own (proxy endpoints); resolves when the client leaves.
   */
  attachToPool?(pool: NativePoolControl, client: PooledClient, pending: RelayPending): Promise<RelayResult>;
  /** Native data path only: the session's id on the native side (cancel lookups). */
  readonly nativeId?: number;
}

export interface ClientTlsTerminator {
  /** 'node' or 'native': shown in logs and `iamdb serve`'s start-up line. */
  readonly kind: 'node' | 'native';
  /**
   * Writes `answer` in clear (the protocol's yes to a TLS request), then
   * runs the TLS handshake on `raw`. The caller has checked that no
   * cleartext bytes are pending. `early`: bytes of the handshake already
   * read from `raw` (MySQL clients do not wait for an answer to their SSL
   * request); without it, bytes pending on `raw` are refused.
   */
  accept(raw: Socket, answer: Buffer, timeoutMs: number, early?: Buffer): Promise<ClientTlsSession>;
  /**
   * Native data path only: a client that did not ask for TLS becomes a
   * native session all the same (no handshake), so that it can join a
   * native pool. Bytes Node read from `raw` and nobody consumed come first
   * on the session's socket.
   */
  adoptPlain?(raw: Socket, timeoutMs: number): Promise<ClientTlsSession>;
}

/** Node's TLSSocket and the JavaScript relay. */
export class NodeClientTls implements ClientTlsTerminator {
  readonly kind = 'node' as const;
  constructor(private readonly secureContext: () => SecureContext) {}

  async accept(raw: Socket, answer: Buffer, timeoutMs: number, early?: Buffer): Promise<ClientTlsSession> {
    if (answer.length > 0) raw.write(answer);
    // Handshake bytes already read go back to the socket for TLS to read.
    if (early !== undefined && early.length > 0) raw.unshift(early);
    const socket = await acceptTls(raw, this.secureContext(), timeoutMs);
    return {
      socket,
      relayTo: (upstream, pending) => relay(socket, upstream, {}, pending),
      destroy: () => socket.destroy(),
    };
  }
}
