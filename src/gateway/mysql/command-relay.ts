/**
 * The command phase of a MySQL session (interim: being rewritten).
 */
import type { Socket } from 'node:net';
import {
  Command,
  PacketFramer,
  PacketHeader,
  encodePacket,
  errPacketFor,
  nativePasswordHash,
  recognizeAccountStatement,
  type MysqlPacket,
} from '../../protocol/mysql/index.js';
import type { DbInstance, CredentialDraft } from '../../rds/index.js';
import { relay, type RelayResult } from '../relay.js';
import type { SessionAudit } from '../session-common.js';
import type { Account } from './iam-users.js';
import type { MysqlSessionDeps } from './session.js';

interface PendingStatement {
  readonly apply: () => Promise<void>;
}

export interface CommandRelayOptions {
  readonly deps: MysqlSessionDeps;
  readonly session: SessionAudit;
  readonly user: string;
  readonly capabilities: number;
}

export function relayCommands(client: Socket, server: Socket, options: CommandRelayOptions): Promise<RelayResult> {
  const { deps, session } = options;
  const clientFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
  let serverFramer: PacketFramer | undefined;
  let pending: PendingStatement | undefined;
  const { instance } = deps;

  const handleCommand = (packet: MysqlPacket, toServer: (b: Buffer) => void): boolean => {
    const command = packet.payload[0];
    if (command === Command.COM_CHANGE_USER) {
      session.auth('deny', 'ChangeUserRefused', { detail: 'COM_CHANGE_USER refused after login' });
      client.end(
        encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `This version of ${serverName(instance)} doesn't yet support 'COM_CHANGE_USER through the iamdb gateway'`), 1),
      );
      return false;
    }
    if (command === Command.COM_QUERY && packet.frames === 1 && mayBeAccountStatement(packet.payload)) {
      const sql = packet.payload.subarray(1).toString('utf8');
      const st = recognizeAccountStatement(sql);
      if (st.kind === 'create-iam-user' || st.kind === 'alter-iam-user') {
        if (st.multiStatement) {
          client.write(encodePacket(errPacketFor('ER_NOT_SUPPORTED_YET', `This version of ${serverName(instance)} doesn't yet support 'AWSAuthenticationPlugin in a multi-statement query'`), 1));
          return true;
        }
        const accounts: Account[] = st.accounts.map((a) => ({ user: a.user, host: a.host }));
        client.pause();
        void (async () => {
          const drafts = new Map<string, CredentialDraft>();
          for (const a of accounts) if (!drafts.has(a.user)) drafts.set(a.user, await deps.credentials.draft(instance.id, a.user));
          const rewritten = st.rewrite!((a) => nativePasswordHash(drafts.get(a.user)!.password.reveal()));
          pending = {
            apply: async () => {
              for (const d of drafts.values()) await d.commit();
              await deps.iamUsers.add(instance.id, accounts);
            },
          };
          serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
          toServer(encodePacket(Buffer.concat([Buffer.from([Command.COM_QUERY]), Buffer.from(rewritten, 'utf8')]), 0));
        })().catch((err: unknown) => {
          deps.logger.error({ err: String(err) }, 'cannot rewrite an IAM account statement');
          client.write(encodePacket(errPacketFor('ER_UNKNOWN_ERROR', 'Unknown error'), 1));
          client.resume();
        });
        return true;
      }
      if (st.kind === 'drop-user' || st.kind === 'set-password-user') {
        const accounts: Account[] = st.accounts.map((a) => ({ user: a.user, host: a.host }));
        pending = { apply: () => deps.iamUsers.remove(instance.id, accounts) };
        serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
      } else if (st.kind === 'rename-user' && st.renames) {
        const renames = st.renames;
        pending = { apply: () => deps.iamUsers.rename(instance.id, renames) };
        serverFramer = new PacketFramer({ maxAllowedPacket: deps.maxMessageBytes });
      }
    }
    toServer(encodePacket(packet.payload, packet.sequenceId));
    return true;
  };

  return relay(client, server, {
    onClientChunk: (chunk, toServer) => {
      for (const packet of clientFramer.push(chunk)) {
        if (packet.sequenceId === 0) {
          if (!handleCommand(packet, toServer)) return false;
        } else {
          toServer(encodePacket(packet.payload, packet.sequenceId));
        }
      }
      return 'handled';
    },
    onServerChunk: (chunk) => {
      if (serverFramer !== undefined && pending !== undefined) {
        for (const packet of serverFramer.push(chunk)) {
          const p = pending;
          pending = undefined;
          serverFramer = undefined;
          if (packet.payload[0] === PacketHeader.OK) {
            p.apply().catch((err: unknown) => deps.logger.error({ err: String(err) }, 'cannot record an IAM account change'));
          }
          client.resume();
          break;
        }
      }
      return true;
    },
  });
}

/** The server's name as its own messages say it. */
function serverName(instance: DbInstance): string {
  return instance.engineName === 'mysql' ? 'MySQL' : 'MariaDB';
}

const ACCOUNT_WORDS = /\b(?:user|password)\b/i;

function mayBeAccountStatement(payload: Buffer): boolean {
  return ACCOUNT_WORDS.test(payload.subarray(1, Math.min(payload.length, 64 * 1024)).toString('latin1'));
}
