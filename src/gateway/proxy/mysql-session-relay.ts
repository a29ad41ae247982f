/**
 * The command phase of one MySQL proxy session (session pooling): the
 * client's commands go to the server connection it borrowed, the server's
 * responses come back, and the relay follows both (PacketFramer for the
 * client's packets, ResponseTracker for the server's responses) for one
 * reason: when the client leaves, to say whether the server connection is
 * between commands, with nothing owed to anyone, and can be lent again.
 *
 * The client's COM_QUIT is not passed on (it would end the server
 * connection); the client's link is closed instead. Commands whose responses
 * cannot be followed (COM_CHANGE_USER, replication, unknown bytes) are
 * answered with ERR 1047, as a server that does not know them, in order:
 * commands after one wait until the server has answered those before it.
 */
import type { Socket } from 'node:net';
import { Command, PacketFramer, ResponseTracker, commandDisposition, encodePacket, errPacketFor, type MysqlPacket } from '../../protocol/mysql/index.js';
import type { RelayResult } from '../relay.js';
import type { PooledServer } from './mysql-server-link.js';

export interface PooledRelayResult extends RelayResult {
  /** The server connection is between commands and may be cleaned and lent again. */
  readonly reusable: boolean;
  /** The client was let go after IdleClientTimeout without a command. */
  readonly idledOut: boolean;
}

export interface PooledRelayOptions {
  readonly maxMessageBytes: number;
  /** Bytes from the client that arrived with its login, for the command phase. */
  readonly pending?: Buffer[];
  /** IdleClientTimeout: a client silent this long, with nothing in flight, is let go (0: never). */
  readonly idleClientTimeoutMs?: number;
  /** DebugLogging is on now (read per statement: ModifyDBProxy and the 24-hour end apply at once). */
  debugSql?(): boolean;
  /** A COM_QUERY ('Q') or COM_STMT_PREPARE ('P') text while DebugLogging is on (undefined: over 16 KB, not copied). */
  statement?(type: 'Q' | 'P', text: Buffer | undefined): void;
}

/** Statement text DebugLogging copies at most (RDS Proxy's long-statement threshold). */
const DEBUG_TEXT_MAX = 16 * 1024;

/** Relays until either side leaves; the server socket is left open (paused, no listeners of ours) when reusable. */
export function relayPooledSession(client: Socket, server: PooledServer, o: PooledRelayOptions): Promise<PooledRelayResult> {
  return new Promise((resolve) => {
    const up = server.socket;
    const framer = new PacketFramer({ maxAllowedPacket: o.maxMessageBytes });
    const tracker = new ResponseTracker({ capabilityFlags: server.capabilities, mariadbCapabilities: server.mariadbCapabilities, statusFlags: server.statusFlags, maxAllowedPacket: 1 << 30 });
    /** Client packets waiting for the server to answer everything before an ERR 1047 of ours. */
    const held: MysqlPacket[] = [];
    let bytesFromClient = 0;
    let bytesFromServer = 0;
    let broken = false;
    let done = false;
    let idledOut = false;

    const finish = (endedBy: RelayResult['endedBy']): void => {
      if (done) return;
      done = true;
      client.off('data', onClient);
      client.off('drain', resumeUp);
      client.off('end', onClientEnd);
      client.off('close', onClientEnd);
      client.off('error', onClientError);
      up.off('data', onServer);
      up.off('drain', resumeClient);
      up.off('end', onServerEnd);
      up.off('close', onServerEnd);
      client.off('timeout', onIdle);
      client.setTimeout(0);
      up.pause();
      const reusable = (endedBy === 'client' || idledOut) && !broken && tracker.idle && held.length === 0 && !up.destroyed && up.writableLength === 0;
      server.statusFlags = tracker.statusFlags;
      client.end(() => client.destroy());
      resolve({ bytesFromClient, bytesFromServer, endedBy, reusable, idledOut });
    };

    const toServer = (payload: Buffer): void => {
      tracker.sent(payload);
      if (!up.write(encodePacket(payload, 0))) client.pause();
    };
    const refuse = (): void => {
      if (!client.write(encodePacket(errPacketFor('ER_UNKNOWN_COM_ERROR', 'Unknown command'), 1))) up.pause();
    };
    /** One client command, or false to end the session. */
    const command = (p: MysqlPacket): boolean => {
      if (p.sequenceId !== 0) return false;
      const cmd = p.payload[0] as number;
      if (cmd === Command.COM_QUIT) return false;
      if (held.length > 0) {
        held.push({ ...p, payload: Buffer.from(p.payload) });
        return true;
      }
      if ((cmd === Command.COM_QUERY || cmd === Command.COM_STMT_PREPARE) && o.statement !== undefined && o.debugSql?.() === true) {
        o.statement(cmd === Command.COM_QUERY ? 'Q' : 'P', p.payload.length - 1 > DEBUG_TEXT_MAX ? undefined : Buffer.from(p.payload.subarray(1)));
      }
      if (commandDisposition(cmd) !== 'refuse') {
        toServer(Buffer.from(p.payload));
        return true;
      }
      if (tracker.idle) refuse();
      else held.push({ ...p, payload: Buffer.from(p.payload) });
      return true;
    };
    /** Once the server is idle: the held refusal, then what followed it. */
    const release = (): void => {
      while (held.length > 0 && tracker.idle) {
        const p = held.shift()!;
        if (commandDisposition(p.payload[0] as number) === 'refuse') refuse();
        else toServer(p.payload);
      }
    };

    const onClient = (chunk: Buffer): void => {
      bytesFromClient += chunk.length;
      try {
        for (const p of framer.push(chunk)) {
          if (!command(p)) return finish('client');
        }
      } catch {
        broken = true;
        return finish('error');
      }
    };
    const onServer = (chunk: Buffer): void => {
      bytesFromServer += chunk.length;
      try {
        for (const ev of tracker.push(chunk)) if (ev.type === 'unsolicited') broken = true;
      } catch {
        broken = true;
        return finish('error');
      }
      if (!client.write(chunk)) up.pause();
      if (held.length > 0) release();
    };
    const resumeUp = (): void => void up.resume();
    const resumeClient = (): void => void client.resume();
    const onClientEnd = (): void => finish('client');
    const onClientError = (): void => finish('client');
    /** Socket inactivity both ways; a statement still running keeps the client (the timer fires again after its answer). */
    const onIdle = (): void => {
      if (!tracker.idle || held.length > 0 || framer.hasPartialPacket) return;
      idledOut = true;
      finish('hook');
    };
    const onServerEnd = (): void => {
      broken = true;
      finish('server');
    };

    client.on('data', onClient);
    client.on('drain', resumeUp);
    client.on('end', onClientEnd);
    client.on('close', onClientEnd);
    client.on('error', onClientError);
    if ((o.idleClientTimeoutMs ?? 0) > 0) {
      client.setTimeout(o.idleClientTimeoutMs!);
      client.on('timeout', onIdle);
    }
    up.on('data', onServer);
    up.on('drain', resumeClient);
    up.on('end', onServerEnd);
    up.on('close', onServerEnd);
    // A server that left before these listeners (its 'end' and 'close' are emitted once) ends the session now.
    if (up.destroyed || up.readableEnded) return onServerEnd();
    for (const b of o.pending ?? []) onClient(b);
    if (done) return;
    client.resume();
    up.resume();
  });
}
