/**
 * The byte relay between an authenticated client and its server connection.
 * It moves chunks as they come (no stream pipeline machinery, which costs
 * CPU per message) with explicit backpressure, and lets each engine observe
 * the chunks (message boundaries, transaction state, intercepted commands)
 * without copying them.
 */
import type { Socket } from 'node:net';

export interface RelayHooks {
  /**
   * Sees each client chunk before it is forwarded. Return true to forward it
   * as is, 'handled' when the hook forwarded (or withheld) it itself through
   * `toServer`, false to stop the session (the hook has already answered the
   * client if it wanted to).
   */
  onClientChunk?(chunk: Buffer, toServer: (bytes: Buffer) => void): boolean | 'handled';
  /**
   * Sees each server chunk before it is forwarded: true to forward it as is,
   * 'handled' when the hook forwarded (or held back) it itself through
   * `toClient`, false to stop the session.
   */
  onServerChunk?(chunk: Buffer, toClient: (bytes: Buffer) => void): boolean | 'handled';
}

export interface RelayResult {
  readonly bytesFromClient: number;
  readonly bytesFromServer: number;
  readonly endedBy: 'client' | 'server' | 'hook' | 'error';
  /** A pooled client: how the server connection it held at the end went back ('none': it held none). */
  readonly serverGivenBack?: 'none' | 'keep' | 'reset' | 'close';
  /** A pooled client let go after IdleClientTimeout, or at the 24-hour limit. */
  readonly idledOut?: boolean;
  readonly expired?: boolean;
  /** A pooled client let go because it took none of its answer for proxyEndpoints.clientStallSeconds while holding a server. */
  readonly stalled?: boolean;
}

/** How a pooled client's session ended, for its db.session.end record (both engines' proxy sessions). */
export function pooledEndFields(stats: RelayResult): Record<string, boolean> {
  return {
    ...(stats.serverGivenBack !== undefined && stats.serverGivenBack !== 'none' ? { serverConnectionReused: stats.serverGivenBack !== 'close' } : {}),
    ...(stats.idledOut ? { idleClientTimeout: true } : {}),
    ...(stats.expired ? { maxLifeReached: true } : {}),
    ...(stats.stalled ? { clientStoppedReading: true } : {}),
  };
}

/**
 * Relays until either side goes away. `pendingToServer` / `pendingToClient`
 * are bytes read during login that belong to the relay phase.
 */
export function relay(client: Socket, server: Socket, hooks: RelayHooks = {}, pending: { toServer?: Buffer[]; toClient?: Buffer[] } = {}): Promise<RelayResult> {
  return new Promise((resolve) => {
    let bytesFromClient = 0;
    let bytesFromServer = 0;
    let done = false;
    const finish = (endedBy: RelayResult['endedBy']): void => {
      if (done) return;
      done = true;
      client.off('data', onClientData);
      server.off('data', onServerData);
      // Let queued bytes flush, then close both.
      client.end();
      server.end();
      const hard = setTimeout(() => {
        client.destroy();
        server.destroy();
      }, 5_000);
      hard.unref();
      resolve({ bytesFromClient, bytesFromServer, endedBy });
    };
    const onClientData = (chunk: Buffer): void => {
      bytesFromClient += chunk.length;
      if (hooks.onClientChunk !== undefined) {
        let verdict: boolean | 'handled';
        try {
          verdict = hooks.onClientChunk(chunk, writeServer);
        } catch {
          // A hook that cannot frame the stream ends this session, never the process.
          return finish('error');
        }
        if (verdict === false) return finish('hook');
        if (verdict === 'handled') return;
      }
      writeServer(chunk);
    };
    const writeServer = (bytes: Buffer): void => {
      if (!server.write(bytes)) client.pause();
    };
    const writeClient = (bytes: Buffer): void => {
      if (!client.write(bytes)) server.pause();
    };
    const onServerData = (chunk: Buffer): void => {
      bytesFromServer += chunk.length;
      if (hooks.onServerChunk !== undefined) {
        let verdict: boolean | 'handled';
        try {
          verdict = hooks.onServerChunk(chunk, writeClient);
        } catch {
          return finish('error');
        }
        if (verdict === false) return finish('hook');
        if (verdict === 'handled') return;
      }
      writeClient(chunk);
    };
    client.on('drain', () => server.resume());
    server.on('drain', () => client.resume());
    client.on('data', onClientData);
    server.on('data', onServerData);
    client.once('end', () => finish('client'));
    server.once('end', () => finish('server'));
    client.once('close', () => finish('client'));
    server.once('close', () => finish('server'));
    client.on('error', () => finish('error'));
    server.on('error', () => finish('error'));
    for (const b of pending.toClient ?? []) onServerData(b);
    for (const b of pending.toServer ?? []) onClientData(b);
    client.resume();
    server.resume();
  });
}
