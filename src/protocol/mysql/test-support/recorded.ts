/**
 * Recorded MySQL/MariaDB exchanges (fixtures/*.json, written by
 * test/fixtures/mysql-responses/record.ts): the file format, its compact hex
 * and the ground truth a replay checks against.
 *
 * The ground truth comes from the recording alone, never from the tracker
 * under test: the clients recorded never pipeline, so the server bytes that
 * arrived between one command and the next are that command's whole
 * response, and a command after which nothing arrived had no response.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Capability, CLIENT_MYSQL, Limits } from '../constants.js';
import { PacketFramer } from '../packet-framer.js';
import { decodeHandshakeResponse41 } from '../packets/handshake-response-41.js';
import { decodeHandshakeV10 } from '../packets/handshake-v10.js';

/** One stretch of bytes in one direction, in the order the recording proxy saw them. */
export interface TranscriptEntry {
  readonly from: 'client' | 'server';
  /** Compact hex: see {@link decodeCompactHex}. */
  readonly hex: string;
  /** What the bytes are, for people reading the file (command and SQL, or why they arrived). */
  readonly note?: string;
  /** Server bytes the recorder knows no command asked for (it was idle, waiting). */
  readonly unsolicited?: boolean;
}

/** A fixture file: one client connection through the recording proxy. */
export interface Recording {
  readonly description: string;
  /** Server version from the greeting, and how the server was started. */
  readonly server: string;
  /** The client program and version that drove the connection. */
  readonly client: string;
  readonly recordedWith: string;
  /** Capabilities in effect, written for people; replays recompute them from the handshake. */
  readonly negotiated: { readonly capabilityFlags: string; readonly mariadbCapabilities: string; readonly deprecateEof: boolean };
  readonly transcript: readonly TranscriptEntry[];
}

/**
 * Hex with runs: pairs of hex digits, and `(hh*N)` for byte hh repeated N
 * times (so a 16 MiB row stays a few bytes). Spaces and `|` are ignored.
 */
export function decodeCompactHex(text: string): Buffer {
  const parts: Buffer[] = [];
  let plain = '';
  const token = /\(([0-9a-fA-F]{2})\*(\d+)\)|([0-9a-fA-F]{2})|([\s|]+)|(.)/g;
  for (const m of text.matchAll(token)) {
    if (m[5] !== undefined) throw new Error(`bad compact hex near ${JSON.stringify(text.slice(m.index, m.index + 10))}`);
    if (m[3] !== undefined) plain += m[3];
    else if (m[1] !== undefined) {
      parts.push(Buffer.from(plain, 'hex'));
      plain = '';
      parts.push(Buffer.alloc(Number(m[2]), parseInt(m[1], 16)));
    }
  }
  parts.push(Buffer.from(plain, 'hex'));
  return Buffer.concat(parts);
}

/** Writes bytes as compact hex; runs of 32 or more equal bytes become `(hh*N)`. */
export function encodeCompactHex(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i] as number;
    let j = i + 1;
    while (j < bytes.length && bytes[j] === b) j++;
    const h = b.toString(16).padStart(2, '0');
    if (j - i >= 32) {
      out += `(${h}*${j - i})`;
      i = j;
    } else {
      out += h;
      i++;
    }
  }
  return out;
}

/** A command the client sent in the command phase, with what the recording shows of its response. */
export interface RecordedCommand {
  /** The command packet's payload (continuation frames joined). */
  readonly payload: Buffer;
  /** Offset in {@link Replay.server} when the command was sent. */
  readonly serverOffset: number;
  /**
   * Offset in {@link Replay.server} just after its response, when server
   * bytes arrived between this command and the next one (or the end);
   * undefined when none did.
   */
  readonly responseEnd: number | undefined;
}

/** A recording reduced to what a response tracker sees. */
export interface Replay {
  readonly name: string;
  readonly capabilityFlags: number;
  readonly mariadbCapabilities: number;
  /** Status flags of the server's final login OK. */
  readonly statusFlags: number;
  /** Server → client bytes of the command phase. */
  readonly server: Buffer;
  readonly commands: readonly RecordedCommand[];
  /** [start, end) ranges of {@link Replay.server} the recorder marked unsolicited. */
  readonly unsolicited: ReadonlyArray<readonly [number, number]>;
}

const fixturesDir = fileURLToPath(new URL('../fixtures/', import.meta.url));

/** Every fixture file name (without .json), sorted. */
export function recordingNames(): string[] {
  return readdirSync(fixturesDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -5))
    .sort();
}

/** Reads fixtures/<name>.json. */
export function readRecording(name: string): Recording {
  return JSON.parse(readFileSync(`${fixturesDir}${name}.json`, 'utf8')) as Recording;
}

/**
 * Splits a recording into handshake and command phase: the greeting and the
 * HandshakeResponse41 give the capabilities (client's ANDed with the
 * server's, as the server applies them); the command phase starts after the
 * server's first OK.
 */
export function replayOf(name: string, recording: Recording = readRecording(name)): Replay {
  const serverFramer = new PacketFramer({ maxAllowedPacket: 1 << 30 });
  const clientFramer = new PacketFramer({ maxAllowedPacket: 1 << 30 });
  let greeting: ReturnType<typeof decodeHandshakeV10> | undefined;
  let response: ReturnType<typeof decodeHandshakeResponse41> | undefined;
  let statusFlags = 0;
  let inCommands = false;
  const serverParts: Buffer[] = [];
  let serverLength = 0;
  const commands: Array<{ payload: Buffer; serverOffset: number; responseEnd: number | undefined }> = [];
  const unsolicited: Array<[number, number]> = [];
  for (const entry of recording.transcript) {
    const bytes = decodeCompactHex(entry.hex);
    if (!inCommands) {
      if (entry.from === 'server') {
        for (const p of serverFramer.push(bytes)) {
          if (greeting === undefined) greeting = decodeHandshakeV10(p.payload);
          else if (p.payload[0] === 0x00) {
            inCommands = true;
            // OK: header, affected rows, insert id (one byte each at login), status.
            statusFlags = p.payload.readUInt16LE(3);
          }
        }
      } else {
        for (const p of clientFramer.push(bytes)) {
          if (response === undefined) response = decodeHandshakeResponse41(p.payload);
        }
      }
      continue;
    }
    if (entry.from === 'server') {
      if (entry.unsolicited) unsolicited.push([serverLength, serverLength + bytes.length]);
      serverParts.push(bytes);
      serverLength += bytes.length;
      const last = commands[commands.length - 1];
      if (last !== undefined && !entry.unsolicited) last.responseEnd = serverLength;
    } else {
      for (const p of clientFramer.push(bytes)) {
        // Only whole logical packets come out: a command spanning frames counts once.
        if (p.sequenceId !== 0) throw new Error(`${name}: client packet with sequence ${p.sequenceId} in the command phase`);
        commands.push({ payload: p.payload, serverOffset: serverLength, responseEnd: undefined });
      }
    }
  }
  if (greeting === undefined || response === undefined) throw new Error(`${name}: no handshake in the recording`);
  const capabilityFlags = (greeting.capabilityFlags & response.capabilityFlags) >>> 0;
  const mariadb =
    (greeting.capabilityFlags & CLIENT_MYSQL) === 0 && (response.capabilityFlags & CLIENT_MYSQL) === 0
      ? greeting.mariadbCapabilities & response.mariadbCapabilities
      : 0;
  return {
    name,
    capabilityFlags,
    mariadbCapabilities: mariadb,
    statusFlags,
    server: Buffer.concat(serverParts),
    commands,
    unsolicited,
  };
}

/** True when the recording negotiated CLIENT_DEPRECATE_EOF. */
export function deprecatesEof(replay: Replay): boolean {
  return (replay.capabilityFlags & Capability.CLIENT_DEPRECATE_EOF) !== 0;
}

/**
 * Capabilities the gateway never passes upstream (session.ts strips them).
 * The recordings connected directly, so mysql2 and the CLI negotiated
 * CLIENT_LOCAL_FILES; no recorded server sent a LOCAL INFILE request, so
 * masking it describes the same bytes as a gateway session would see.
 */
export const GATEWAY_STRIPPED_CAPABILITIES =
  Capability.CLIENT_COMPRESS | Capability.CLIENT_LOCAL_FILES | Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM;

/** Tracker options for a replay, as the gateway would pass them. */
export function trackerOptionsFor(replay: Replay): {
  capabilityFlags: number;
  mariadbCapabilities: number;
  statusFlags: number;
  maxAllowedPacket: number;
} {
  return {
    capabilityFlags: (replay.capabilityFlags & ~GATEWAY_STRIPPED_CAPABILITIES) >>> 0,
    mariadbCapabilities: replay.mariadbCapabilities,
    statusFlags: replay.statusFlags,
    maxAllowedPacket: Limits.DEFAULT_MAX_ALLOWED_PACKET,
  };
}
