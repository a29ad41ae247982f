/**
 * ResponseTracker over exchanges recorded from a real MariaDB 10.11
 * (fixtures/*.json; how they were made and how to re-record them:
 * fixtures/README.md). The expected response ends come from the recording,
 * not from the tracker: the recorded clients never pipeline, so a response
 * ends where the client's next command was sent.
 */
import { describe, expect, it } from 'vitest';
import { ResponseTracker, commandDisposition, type ResponseEnd, type ResponseEvent } from './response-tracker.js';
import { splits } from './test-support/hex.js';
import {
  decodeCompactHex,
  deprecatesEof,
  encodeCompactHex,
  readRecording,
  recordingNames,
  replayOf,
  trackerOptionsFor,
  type Replay,
} from './test-support/recorded.js';
import { cutAt, pushChunks } from './test-support/tracking.js';

const names = recordingNames();

/** A tracker with every command of the recording sent up front (pipelined). */
function pipelined(replay: Replay): ResponseTracker {
  const t = new ResponseTracker(trackerOptionsFor(replay));
  for (const c of replay.commands) t.sent(c.payload);
  return t;
}

/** [ticket, end] of every response, and [0, start, end] of each unsolicited range, as the recording shows them. */
function recordedEnds(replay: Replay): Array<[number, number]> {
  const ends: Array<[number, number]> = [];
  replay.commands.forEach((c, i) => {
    if (c.responseEnd !== undefined) ends.push([i + 1, c.responseEnd]);
  });
  return ends;
}

/** The packets of server[from, to), as [first byte, payload] pairs. */
function packetsIn(server: Buffer, from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let at = from;
  let current: Buffer[] = [];
  while (at < to) {
    const len = server.readUIntLE(at, 3);
    current.push(server.subarray(at + 4, at + 4 + len));
    at += 4 + len;
    if (len < 0xffffff) {
      out.push(Buffer.concat(current));
      current = [];
    }
  }
  return out;
}

/** Tickets and absolute ends of the responses among events. */
function ends(events: ResponseEvent[]): Array<[number, number]> {
  return events.filter((e): e is ResponseEnd => e.type === 'response').map((e) => [e.ticket, e.end]);
}

/** Packet boundaries of the server stream, and every offset within 24 bytes of one. */
function offsetsNearBoundaries(server: Buffer): number[] {
  const offsets = new Set<number>();
  let at = 0;
  while (at < server.length) {
    for (let d = -24; d <= 24; d++) if (at + d > 0 && at + d < server.length) offsets.add(at + d);
    at += 4 + server.readUIntLE(at, 3);
  }
  return [...offsets].sort((a, b) => a - b);
}

describe('recorded MariaDB 10.11 exchanges', () => {
  it('finds the fixtures, and the compact hex reads back what it wrote', () => {
    expect(names.length).toBeGreaterThanOrEqual(9);
    const bytes = Buffer.concat([Buffer.from('0001fe', 'hex'), Buffer.alloc(40, 0x61), Buffer.from([7])]);
    expect(decodeCompactHex(encodeCompactHex(bytes))).toEqual(bytes);
    expect(encodeCompactHex(bytes)).toBe('0001fe(61*40)07');
  });

  for (const name of names) {
    const replay = replayOf(name);
    const recording = readRecording(name);
    const mode = `${deprecatesEof(replay) ? 'CLIENT_DEPRECATE_EOF on' : 'EOF packets'}, MariaDB capabilities 0x${replay.mariadbCapabilities.toString(16)}`;

    describe(`${name} (${recording.client}; ${mode})`, () => {
      it('ends each response exactly where the client sent its next command, as the commands arrive', () => {
        const t = new ResponseTracker(trackerOptionsFor(replay));
        const got: ResponseEvent[] = [];
        let fed = 0;
        const feedTo = (offset: number): void => {
          if (offset > fed) {
            got.push(...pushChunks(t, [replay.server.subarray(fed, offset)]).map((e) => ({ ...e, end: e.end + fed })));
            fed = offset;
          }
        };
        for (const c of replay.commands) {
          feedTo(c.serverOffset);
          // The previous response is complete: nothing is outstanding when the client sends again.
          expect(t.idle).toBe(true);
          const sent = t.sent(c.payload);
          expect(sent.expectsResponse).toBe(c.responseEnd !== undefined);
          expect(commandDisposition(c.payload[0]!)).toBe(c.responseEnd === undefined ? 'no-response' : 'response');
        }
        feedTo(replay.server.length);
        t.end();
        expect(ends(got)).toEqual(recordedEnds(replay));
        expect(got.filter((e) => e.type === 'unsolicited').map((e) => e.end)).toEqual(replay.unsolicited.map(([, end]) => end));
        expect(t.idle).toBe(true);
      });

      it("reports the outcome the response's last packet shows", () => {
        const events = pushChunks(pipelined(replay), [replay.server]).filter((e): e is ResponseEnd => e.type === 'response');
        for (const e of events) {
          const c = replay.commands[e.ticket - 1]!;
          const packets = packetsIn(replay.server, c.serverOffset, c.responseEnd!);
          const last = packets[packets.length - 1]!;
          if (e.outcome === 'err') {
            expect([last[0], last.readUInt16LE(1)]).toEqual([0xff, e.errno]);
          } else if (e.outcome === 'eof') {
            expect([last[0], last.length < 9, last.readUInt16LE(3)]).toEqual([0xfe, true, e.statusFlags]);
          } else if (e.outcome === 'other') {
            expect(c.payload[0]).toBe(0x09); // COM_STATISTICS
          } else if (e.statementId !== undefined) {
            expect([packets[0]![0], packets[0]!.readUInt32LE(1)]).toEqual([0x00, e.statementId]);
          } else {
            expect([0x00, 0xfe]).toContain(last[0]);
          }
        }
      });

      it('reports the same events cut near every packet boundary and in random places', () => {
        const expected = JSON.stringify(pushChunks(pipelined(replay), [replay.server]));
        expect(ends(JSON.parse(expected) as ResponseEvent[])).toEqual(recordedEnds(replay));
        const offsets = offsetsNearBoundaries(replay.server);
        for (const at of offsets) {
          expect(JSON.stringify(pushChunks(pipelined(replay), cutAt(replay.server, [at])))).toBe(expected);
        }
        let seed = 12345;
        for (let run = 0; run < 20; run++) {
          const cuts: number[] = [];
          for (let k = 0; k < 40; k++) {
            seed = (seed * 1103515245 + 12345) & 0x7fffffff;
            cuts.push(seed % replay.server.length);
          }
          cuts.sort((a, b) => a - b);
          expect(JSON.stringify(pushChunks(pipelined(replay), cutAt(replay.server, cuts)))).toBe(expected);
        }
      });

      if (replay.server.length < 64 * 1024) {
        it('reports the same events cut at every offset and fed one byte at a time (golden frames)', () => {
          const expected = JSON.stringify(pushChunks(pipelined(replay), [replay.server]));
          for (const chunks of splits(replay.server)) {
            expect(JSON.stringify(pushChunks(pipelined(replay), chunks))).toBe(expected);
          }
        });
      }
    });
  }

  it('shows the shapes the tests rely on (so a re-recording cannot silently lose them)', () => {
    const all = names.map((n) => [n, replayOf(n)] as const);
    const has = (name: string, predicate: (r: Replay) => boolean): boolean => predicate(all.find(([n]) => n === name)![1]);
    // A cursor: COM_STMT_EXECUTE then COM_STMT_FETCH, in both EOF modes.
    for (const name of ['mariadb-raw-eof', 'mariadb-raw-deprecate-eof']) {
      expect(has(name, (r) => r.commands.some((c) => c.payload[0] === 0x1c && c.responseEnd !== undefined))).toBe(true);
    }
    // Progress reports: ERR packets with errno 0xFFFF before the OK.
    expect(has('mariadb-raw-progress', (r) => r.server.includes(Buffer.from([0xff, 0xff, 0xff])))).toBe(true);
    // A row of 16 MiB starting with 0xFE, and a command spanning two frames.
    expect(has('mariadb-mysql2-large', (r) => r.server.includes(Buffer.from([0xff, 0xff, 0xff, 0x04, 0xfe])))).toBe(true);
    expect(has('mariadb-mysql2-large', (r) => r.commands.some((c) => c.payload.length > 0xffffff))).toBe(true);
    // MARIADB_CLIENT_CACHE_METADATA negotiated by the mariadb CLI.
    expect(has('mariadb-cli', (r) => (r.mariadbCapabilities & 0x10) !== 0)).toBe(true);
  });
});
