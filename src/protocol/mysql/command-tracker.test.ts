import { describe, expect, it } from 'vitest';
import { CommandTracker, type TrackedSegment } from './command-tracker.js';
import { Command } from './constants.js';
import { encodePacket } from './packet-framer.js';
import { encodeComQuery } from './packets/com-query.js';
import { hex, iamdbErrorOf, splits } from './test-support/hex.js';

/** Forwarded bytes plus a compact log of commands, from any chunking. */
function run(chunks: Buffer[], tracker = new CommandTracker()) {
  const forwarded: Buffer[] = [];
  const commands: string[] = [];
  for (const c of chunks) {
    for (const s of tracker.push(c) as TrackedSegment[]) {
      if (s.type === 'bytes') forwarded.push(s.bytes);
      else {
        commands.push(`${s.command.toString(16)}:${s.payload === undefined ? '-' : s.payload.subarray(1).toString('latin1')}`);
        if (s.packet !== undefined) forwarded.push(s.packet);
      }
    }
  }
  tracker.end();
  return { forwarded: Buffer.concat(forwarded), commands };
}

// COM_PING, COM_QUERY "SELECT 1", COM_STMT_EXECUTE (not captured), COM_QUIT.
const stream = Buffer.concat([
  encodePacket(hex('0e'), 0),
  encodePacket(encodeComQuery('SELECT 1'), 0),
  encodePacket(hex('17 01 00 00 00 00 01 00 00 00'), 0),
  encodePacket(hex('01'), 0),
]);

describe('CommandTracker', () => {
  it('reports every command and forwards every byte, however the stream is cut', () => {
    for (const chunks of splits(stream)) {
      const { forwarded, commands } = run(chunks);
      expect(commands).toEqual(['e:-', '3:SELECT 1', '17:-', '1:-']);
      expect(forwarded.equals(stream)).toBe(true);
    }
  });

  it('hands over a captured packet as a view when it sits in one chunk', () => {
    const segments = new CommandTracker().push(stream);
    const q = segments.find((s) => s.type === 'command' && s.command === Command.COM_QUERY);
    expect(q?.type === 'command' && q.packet?.buffer).toBe(stream.buffer);
  });

  it('does not capture past the bound, and passes continuation packets through', () => {
    const big = Buffer.concat([hex('03'), Buffer.alloc(100_000, 0x41)]);
    const more = Buffer.concat([encodePacket(big, 0), encodePacket(hex('61'), 1)]); // seq 1: data, not a command
    const { forwarded, commands } = run([more.subarray(0, 3), more.subarray(3, 50_000), more.subarray(50_000)]);
    expect(commands).toEqual(['3:-']);
    expect(forwarded.equals(more)).toBe(true);
  });

  it('enforces maxAllowedPacket across 0xFFFFFF continuations from the headers', () => {
    const tracker = new CommandTracker({ maxAllowedPacket: 0xffffff + 10 });
    tracker.push(Buffer.concat([hex('ff ff ff 00 03'), Buffer.alloc(0xffffff - 1)]));
    expect(iamdbErrorOf(() => tracker.push(hex('0b 00 00 01'))).code).toBe('PROTO_MYSQL_PACKET_TOO_LARGE');
    expect(iamdbErrorOf(() => new CommandTracker({ maxAllowedPacket: 10 }).push(hex('0b 00 00 00'))).code).toBe(
      'PROTO_MYSQL_PACKET_TOO_LARGE',
    );
  });

  it('checks continuation sequence ids and refuses empty commands', () => {
    const tracker = new CommandTracker();
    tracker.push(Buffer.concat([hex('ff ff ff 00 03'), Buffer.alloc(0xffffff - 1)]));
    expect(iamdbErrorOf(() => tracker.push(hex('00 00 00 05'))).code).toBe('PROTO_MYSQL_SEQUENCE_MISMATCH');
    expect(iamdbErrorOf(() => new CommandTracker().push(hex('00 00 00 00'))).code).toBe('PROTO_MYSQL_MALFORMED');
  });

  it('reports a stream ending inside a packet', () => {
    const tracker = new CommandTracker();
    tracker.push(hex('05 00 00 00 03 41'));
    expect(iamdbErrorOf(() => tracker.end()).code).toBe('PROTO_MYSQL_STREAM_ENDED');
  });
});
