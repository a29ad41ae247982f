/**
 * Differential tests of the C MySQL response tracker (native/my_resp.c,
 * driven through the addon's test-only mysqlTrack) against the TypeScript
 * one (src/protocol/mysql/response-tracker.ts): the same commands and
 * server bytes go through both, which must report the same events (ends,
 * outcomes, status flags, errno and SQLSTATE, statement ids, result-set
 * counts), refuse the same commands, and fail at the same op with the same
 * error code. Inputs: generated exchanges of every response shape with
 * random chunking and pipelining, the same with bytes changed, packet soups
 * of plausible and random packets, multi-frame packets, and the recorded
 * MariaDB exchanges.
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { IamdbError } from '../errors/index.js';
import { Capability, Command, Limits, MariadbCapability } from '../protocol/mysql/constants.js';
import { ResponseTracker, type ResponseEvent } from '../protocol/mysql/response-tracker.js';
import {
  capsArb,
  cursorArb,
  errArb,
  layOut,
  otherArb,
  prepareArb,
  randomCommandsArb,
  resultsArb,
  scenarioArb,
  type Caps,
  type Exchange,
} from '../protocol/mysql/test-support/generated.js';
import { recordingNames, replayOf, trackerOptionsFor } from '../protocol/mysql/test-support/recorded.js';
import { cutAt } from '../protocol/mysql/test-support/tracking.js';
import { AUTOCOMMIT, BASE_CAPS, DEPRECATE_EOF_CAPS, MORE, command, framed, packet } from '../protocol/mysql/test-support/responses.js';
import { nativeDataPath, type MysqlTrackOp, type NativeDataPath } from './native-data-path.js';

/** MYR_MAX_PENDING in my_resp.c; the TS tracker gets the same limit. */
const MAX_PENDING = 16;
const MAX_FRAME = 0xffffff;

interface Config {
  readonly caps: number;
  readonly mariadb: number;
  readonly status: number;
  readonly maxPacket: number;
}

/** One entry of a run, the same shape for both trackers. */
type Entry =
  | { op: number; event: Record<string, unknown> }
  | { op: number; refused: true }
  | { op: number; error: string; what?: string };

interface Run {
  entries: Entry[];
  /** After the last op, when no call failed. */
  final?: { idle: boolean; eof: number; status: number };
}

let native: NativeDataPath;

beforeAll(() => {
  const loaded = nativeDataPath();
  // The suite runs where `npm ci` built the addon; a missing build must fail here, not skip.
  expect(loaded.error?.message).toBeUndefined();
  native = loaded.path!;
});

/** The C reports a SQLSTATE as a NUL-terminated string: compare up to a NUL byte. */
function sqlStateOf(s: string | undefined): string {
  return (s ?? '').split('\0')[0]!;
}

function tsEvent(e: ResponseEvent): Record<string, unknown> {
  const errFields = e.outcome === 'err' ? { errno: e.errno, sqlState: sqlStateOf(e.sqlState) } : {};
  if (e.type === 'unsolicited') return { unsolicited: true, outcome: e.outcome, end: e.end, ...errFields };
  return {
    unsolicited: false,
    command: e.command,
    outcome: e.outcome,
    status: e.statusFlags,
    statusReported: e.statusReported,
    resultSets: e.resultSets,
    stmtId: e.outcome === 'ok' ? (e.statementId ?? 0) : 0,
    end: e.end,
    ...errFields,
  };
}

function runTs(config: Config, ops: readonly MysqlTrackOp[]): Run {
  let t: ResponseTracker;
  try {
    t = new ResponseTracker({
      capabilityFlags: config.caps,
      mariadbCapabilities: config.mariadb,
      statusFlags: config.status,
      maxAllowedPacket: config.maxPacket,
      maxPendingCommands: MAX_PENDING,
    });
  } catch (err) {
    return { entries: [errorEntry(-1, err)] };
  }
  const entries: Entry[] = [];
  for (const [op, x] of ops.entries()) {
    try {
      if (Buffer.isBuffer(x)) for (const e of t.push(x)) entries.push({ op, event: tsEvent(e) });
      else t.sent(x[0], x[1]);
    } catch (err) {
      const code = err instanceof IamdbError ? err.code : undefined;
      if (code === 'PROTO_MYSQL_COMMAND_REFUSED' || code === 'PROTO_MYSQL_INVALID_ARGUMENT') {
        entries.push({ op, refused: true });
        continue;
      }
      // A push that throws reports none of its events: the C ones of that op are dropped too (see runC).
      while (entries.length > 0 && entries[entries.length - 1]!.op === op) entries.pop();
      entries.push(errorEntry(op, err));
      return { entries };
    }
  }
  let eof = 0;
  try {
    t.end();
  } catch {
    eof = -1;
  }
  return { entries, final: { idle: t.idle, eof, status: t.statusFlags } };
}

function errorEntry(op: number, err: unknown): Entry {
  if (!(err instanceof IamdbError)) throw err;
  const what = err.details['what'];
  return { op, error: err.code, ...(typeof what === 'string' && what !== 'response tracker' ? { what } : {}) };
}

function runC(config: Config, ops: readonly MysqlTrackOp[], whatOf: (op: number) => string | undefined): Run {
  const result = native.mysqlTrack(config.caps, config.mariadb, config.status, config.maxPacket, ops);
  const entries: Entry[] = [];
  for (const r of result) {
    if ('error' in r) {
      while (entries.length > 0 && entries[entries.length - 1]!.op === r.op) entries.pop();
      const [code] = r.error.split(':');
      const what = whatOf(r.op);
      // The C names what it expected exactly as the TS does ("CODE: what" or "CODE: what: reason").
      const named = what !== undefined && (r.error === `${code}: ${what}` || r.error.startsWith(`${code}: ${what}: `));
      entries.push({ op: r.op, error: code!, ...(named ? { what } : {}) });
    } else if ('refused' in r) {
      entries.push({ op: r.op, refused: true });
    } else {
      const errFields = r.outcome === 'err' ? { errno: r.errno, sqlState: r.sqlState } : {};
      const event = r.unsolicited
        ? { unsolicited: true, outcome: r.outcome, end: r.end, ...errFields }
        : {
            unsolicited: false,
            command: r.command,
            outcome: r.outcome,
            status: r.status,
            statusReported: r.statusReported,
            resultSets: r.resultSets,
            stmtId: r.stmtId,
            end: r.end,
            ...errFields,
          };
      entries.push({ op: r.op, event });
    }
  }
  const failed = result.some((r) => 'error' in r);
  return failed ? { entries } : { entries, final: { idle: result.idle!, eof: result.eof!, status: result.status! } };
}

/** Runs both trackers and asserts they agree; returns the TS run. */
function same(config: Config, ops: readonly MysqlTrackOp[]): Run {
  const ts = runTs(config, ops);
  const last = ts.entries[ts.entries.length - 1];
  const tsWhat = last !== undefined && 'error' in last ? last.what : undefined;
  const c = runC(config, ops, (op) => (last !== undefined && last.op === op ? tsWhat : undefined));
  expect(c).toEqual(ts);
  return ts;
}

/** Ops for a laid-out stream: commands sent at most `window` ahead of their response, bytes cut at `cuts` and at each send. */
function opsFor(exchanges: readonly Exchange[], starts: readonly number[], stream: Buffer, o: { window: number; cuts: number[]; headOnly: boolean; lenBump: number }): MysqlTrackOp[] {
  const sends = exchanges.map((x, i) => ({ at: starts[Math.max(0, i - o.window + 1)] ?? 0, x }));
  const points = [...new Set([...o.cuts.map((c) => c % (stream.length + 1)), ...sends.map((s) => s.at), stream.length])].sort((a, b) => a - b);
  const ops: MysqlTrackOp[] = [];
  let from = 0;
  let next = 0;
  for (const p of points) {
    if (p > from) {
      ops.push(stream.subarray(from, p));
      from = p;
    }
    for (; next < sends.length && sends[next]!.at <= from; next++) {
      const cmd = sends[next]!.x.command;
      // A payload claimed to span frames must come with its first 6 bytes, as sent() asks.
      const head = o.lenBump > 0 ? Buffer.concat([cmd, Buffer.alloc(6)]).subarray(0, Math.max(6, cmd.length)) : cmd;
      ops.push([o.headOnly ? head.subarray(0, 6) : head, cmd.length + o.lenBump]);
    }
  }
  return ops;
}

function configFor(caps: Caps, status: number, maxPacket = Limits.DEFAULT_MAX_ALLOWED_PACKET): Config {
  return {
    caps: caps.deprecateEof ? DEPRECATE_EOF_CAPS : BASE_CAPS,
    mariadb: (caps.cache ? MariadbCapability.MARIADB_CLIENT_CACHE_METADATA : 0) | (caps.progress ? MariadbCapability.MARIADB_CLIENT_PROGRESS : 0),
    status,
    maxPacket,
  };
}

const layoutArb = fc.record({
  scenario: scenarioArb,
  window: fc.integer({ min: 1, max: MAX_PENDING }),
  headOnly: fc.boolean(),
  // Claimed payload lengths of 0xFFFFFF or more: 256 and 2^20 extra frames keep the first sequence id, 1 moves it.
  frames: fc.constantFrom(0, 0, 0, 0, 256, 2 ** 20, 1),
});

describe('C MySQL response tracker against the TypeScript one', () => {
  it('agrees on generated exchanges of every shape, pipelined and cut anywhere', () => {
    fc.assert(
      fc.property(layoutArb, ({ scenario, window, headOnly, frames }) => {
        const { stream, starts } = layOut(scenario);
        const ops = opsFor(scenario.exchanges, starts, stream, { window, cuts: scenario.cuts, headOnly, lenBump: frames * MAX_FRAME });
        const ts = same(configFor(scenario.caps, scenario.initialStatus), ops);
        // The harness lays out valid streams: only the moved sequence id may fail them.
        if (frames !== 1) expect(ts.final?.idle).toBe(true);
      }),
      { numRuns: 600 },
    );
  });

  it('agrees on generated exchanges with bytes changed, and on a smaller packet limit', () => {
    fc.assert(
      fc.property(
        layoutArb,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        fc.oneof({ arbitrary: fc.constant(Limits.DEFAULT_MAX_ALLOWED_PACKET), weight: 8 }, { arbitrary: fc.constantFrom(64, 9), weight: 1 }),
        ({ scenario, window, headOnly }, flips, maxPacket) => {
          const laid = layOut(scenario);
          const stream = Buffer.from(laid.stream);
          if (stream.length > 0) for (const [at, v] of flips) stream[at % stream.length] = v;
          const ops = opsFor(scenario.exchanges, laid.starts, stream, { window, cuts: scenario.cuts, headOnly, lenBump: 0 });
          same(configFor(scenario.caps, scenario.initialStatus, maxPacket), ops);
        },
      ),
      { numRuns: 1500 },
    );
  });

  it('agrees on responses of every shape cut short by an ERR or a stray packet', () => {
    const exchangeArb = capsArb.chain((caps) =>
      fc.record({
        caps: fc.constant(caps),
        x: fc.oneof(resultsArb(caps, false), resultsArb(caps, true), prepareArb(caps), cursorArb(caps).map((xs) => xs[0]!), otherArb(caps)),
        keep: fc.nat(),
        // An ERR (servers send one mid-result when a query is killed), or an OK, EOF or a one-byte packet where none fits.
        last: fc.oneof(errArb.map((e) => packet.err(e.errno, e.sqlState, 'cut')), fc.constantFrom(packet.ok(), packet.eof(), Buffer.from([0xfe]), Buffer.from([0x01]))),
        cuts: fc.array(fc.nat(), { maxLength: 6 }),
      }),
    );
    fc.assert(
      fc.property(exchangeArb, ({ caps, x, keep, last, cuts }) => {
        const kept = x.packets.slice(0, x.packets.length === 0 ? 0 : keep % x.packets.length).map((p) => p.payload);
        const stream = framed(1, ...kept, last);
        same(configFor(caps, AUTOCOMMIT), opsFor([x], [0], stream, { window: 1, cuts, headOnly: false, lenBump: 0 }));
      }),
      { numRuns: 800 },
    );
  });

  /**
   * Packets a confused server might send: plausible first bytes (OK, column counts, LOCAL INFILE, EOF, ERR, progress),
   * random rest; numbered as a response would be (from 1) but now and then with a random sequence id, or empty.
   */
  const soupPacketArb = fc.record({
    first: fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x03, 0xfb, 0xfc, 0xfd, 0xfe, 0xff), fc.integer({ min: 0, max: 255 })),
    rest: fc.oneof(
      fc.uint8Array({ maxLength: 30 }),
      // Progress report; OK fields; prepare OK; ERR bodies of 8 and 9 bytes around the SQLSTATE's.
      fc.constantFrom(
        Buffer.from([0xff, 0xff]),
        Buffer.from([0, 0, 2, 0, 0, 0]),
        Buffer.from([1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0]),
        Buffer.from('\x15\x04#4200', 'latin1'),
        Buffer.from('\x15\x04#42000', 'latin1'),
      ),
    ),
    seq: fc.oneof({ arbitrary: fc.constant(-1), weight: 6 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 }),
    empty: fc.oneof({ arbitrary: fc.constant(false), weight: 15 }, { arbitrary: fc.constant(true), weight: 1 }),
  });
  const soupArb = fc.array(soupPacketArb, { minLength: 1, maxLength: 8 }).map((ps) => {
    let seq = 1;
    return Buffer.concat(
      ps.map((p) => {
        if (p.seq >= 0) seq = p.seq;
        return framed(seq++ & 0xff, p.empty ? Buffer.alloc(0) : Buffer.concat([Buffer.from([p.first]), p.rest]));
      }),
    );
  });
  const configArb = fc.oneof(
    {
      arbitrary: fc
        .record({
          caps: capsArb,
          status: fc.oneof(fc.constant(AUTOCOMMIT), fc.integer({ min: 0, max: 0xffff })),
          maxPacket: fc.oneof({ arbitrary: fc.constant(Limits.DEFAULT_MAX_ALLOWED_PACKET), weight: 8 }, { arbitrary: fc.constantFrom(40, 5), weight: 1 }),
        })
        .map((r) => configFor(r.caps, r.status, r.maxPacket)),
      weight: 12,
    },
    {
      // Now and then capabilities the tracker must refuse.
      arbitrary: fc.record({
        caps: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(BASE_CAPS | Capability.CLIENT_COMPRESS, BASE_CAPS | Capability.CLIENT_LOCAL_FILES, BASE_CAPS & ~Capability.CLIENT_PROTOCOL_41)),
        mariadb: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
        status: fc.constant(AUTOCOMMIT),
        maxPacket: fc.constantFrom(Limits.DEFAULT_MAX_ALLOWED_PACKET, 1),
      }),
      weight: 1,
    },
  );

  it('agrees on packet soups and random bytes, with commands sent between them', () => {
    // Commands of every shape (a cursor among them), then the soup as their answer.
    const validCommandArb = fc.constantFrom(
      command.query('q'),
      command.execute(1),
      command.execute(1, true),
      Buffer.from('\x16select ?', 'latin1'),
      command.fetch(1, 5),
      Buffer.from('\x04t\x00', 'latin1'),
      command.simple(Command.COM_PING),
      Buffer.from([Command.COM_SET_OPTION, 0, 0]),
      command.simple(Command.COM_STATISTICS),
      Buffer.from([Command.COM_STMT_CLOSE, 1, 0, 0, 0]),
    );
    const opArb: fc.Arbitrary<MysqlTrackOp[]> = fc.oneof(
      { arbitrary: randomCommandsArb(3).map((cs) => cs.map((c): MysqlTrackOp => [c, c.length])), weight: 1 },
      { arbitrary: fc.array(validCommandArb, { minLength: 1, maxLength: 2 }).map((cs) => cs.map((c): MysqlTrackOp => [c, c.length])), weight: 3 },
      { arbitrary: soupArb.chain((soup) => fc.array(fc.nat(soup.length), { maxLength: 3 }).map((cuts) => cutAt(soup, cuts.sort((a, b) => a - b)))), weight: 3 },
      { arbitrary: fc.uint8Array({ maxLength: 60 }).map((b) => [Buffer.from(b)]), weight: 1 },
    );
    fc.assert(
      fc.property(configArb, fc.array(opArb, { maxLength: 10 }), (config, groups) => {
        same(config, groups.flat());
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees past MYR_MAX_PENDING outstanding commands', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_PENDING + 4 }), fc.uint8Array({ maxLength: 40 }), (n, bytes) => {
        const pings = Array.from({ length: n }, (): MysqlTrackOp => [command.simple(Command.COM_PING), 1]);
        const oks = framed(1, packet.ok({ statusFlags: AUTOCOMMIT }));
        const run = same(configFor({ deprecateEof: false, cache: false, progress: false }, AUTOCOMMIT), [...pings, Buffer.concat([oks, Buffer.from(bytes)])]);
        if (n > MAX_PENDING) expect(run.entries).toEqual([{ op: MAX_PENDING, error: 'PROTO_MYSQL_TOO_MANY_PENDING' }]);
      }),
      { numRuns: 60 },
    );
  });

  describe('multi-frame packets', () => {
    // One 0xFFFFFF-byte frame payload, shared: rows of 16 MiB and more start with it.
    const bigs = new Map<number, Buffer>();
    const row16m = (first: number): Buffer[] => {
      let payload = bigs.get(first);
      if (payload === undefined) {
        payload = Buffer.alloc(MAX_FRAME, 0x61);
        payload[0] = first;
        bigs.set(first, payload);
      }
      return [payload];
    };
    /** A packet of first frame `payload` (0xFFFFFF bytes) and a continuation of `tail` bytes, framed from `seq`. */
    const spanning = (payload: Buffer, tail: number, seq: number): Buffer =>
      Buffer.concat([Buffer.from([0xff, 0xff, 0xff, seq]), payload, Buffer.from([tail & 0xff, (tail >> 8) & 0xff, tail >> 16, (seq + 1) & 0xff]), Buffer.alloc(tail, 0x62)]);

    const cases = (deprecateEof: boolean): Array<{ name: string; cmd: Buffer; stream: Buffer }> => {
      const end = deprecateEof ? packet.okFe(AUTOCOMMIT) : packet.eof(AUTOCOMMIT);
      const head = (n: number): Buffer[] => [packet.columnCount(n), ...Array.from({ length: n }, () => packet.column('c')), ...(deprecateEof ? [] : [packet.eof(AUTOCOMMIT)])];
      const rs = (rows: Buffer, seqAfter: number): Buffer => Buffer.concat([framed(1, ...head(1)), rows, framed(seqAfter, end)]);
      const firstRowSeq = deprecateEof ? 3 : 4;
      return [
        // A text row starting 0xFE that spans frames is a row, not a terminator; continuation of 0 and of some bytes.
        { name: '0xFE row, empty continuation', cmd: command.query('x'), stream: rs(spanning(row16m(0xfe)[0]!, 0, firstRowSeq), firstRowSeq + 2) },
        { name: '0xFE row, 100-byte continuation', cmd: command.query('x'), stream: rs(spanning(row16m(0xfe)[0]!, 100, firstRowSeq), firstRowSeq + 2) },
        { name: 'row with a bad continuation sequence id', cmd: command.query('x'), stream: rs(spanning(row16m(0x05)[0]!, 3, firstRowSeq).fill(9, MAX_FRAME + 7, MAX_FRAME + 8), firstRowSeq + 2) },
        // A field list's 0xFE packet spanning frames is a definition that may not start 0xFE.
        { name: 'field list with a spanning 0xFE packet', cmd: Buffer.from('\x04t\x00', 'latin1'), stream: spanning(row16m(0xfe)[0]!, 1, 1) },
        // A statistics text of 16 MiB, and an unsolicited spanning packet.
        { name: 'spanning COM_STATISTICS text', cmd: command.simple(Command.COM_STATISTICS), stream: spanning(row16m(0x55)[0]!, 10, 1) },
        { name: 'unsolicited spanning packet', cmd: command.simple(Command.COM_PING), stream: Buffer.concat([spanning(row16m(0xfe)[0]!, 4, 0), framed(1, packet.ok({ statusFlags: AUTOCOMMIT | MORE }))]) },
      ];
    };

    for (const deprecateEof of [false, true]) {
      it(`agrees on spanning packets (${deprecateEof ? 'CLIENT_DEPRECATE_EOF' : 'EOF packets'}), cut anywhere, at limits around their size`, () => {
        const list = cases(deprecateEof);
        fc.assert(
          fc.property(
            fc.nat(list.length - 1),
            fc.array(fc.nat(), { maxLength: 6 }),
            fc.constantFrom(Limits.DEFAULT_MAX_ALLOWED_PACKET, MAX_FRAME, MAX_FRAME + 4, MAX_FRAME - 1),
            (i, cuts, maxPacket) => {
              const c = list[i]!;
              const config = configFor({ deprecateEof, cache: false, progress: false }, AUTOCOMMIT, maxPacket);
              same(config, opsFor([{ command: c.cmd, packets: [], final: undefined }], [0], c.stream, { window: 1, cuts, headOnly: false, lenBump: 0 }));
            },
          ),
          { numRuns: 24 },
        );
      });
    }
  });

  describe('recorded MariaDB 10.11 exchanges', () => {
    const replays = recordingNames().map((n) => replayOf(n));

    /** Each command sent when the recording shows it was, its response's bytes pushed in pieces cut at `cuts`. */
    function recordedOps(r: (typeof replays)[number], cuts: number[]): MysqlTrackOp[] {
      const points = [...new Set([...cuts.map((c) => c % (r.server.length + 1)), ...r.commands.map((c) => c.serverOffset), r.server.length])].sort((a, b) => a - b);
      const ops: MysqlTrackOp[] = [];
      let from = 0;
      let next = 0;
      for (const p of points) {
        if (p > from) {
          ops.push(r.server.subarray(from, p));
          from = p;
        }
        for (; next < r.commands.length && r.commands[next]!.serverOffset <= from; next++) ops.push([r.commands[next]!.payload, r.commands[next]!.payload.length]);
      }
      return ops;
    }

    it('agrees on every recording, whole', () => {
      for (const r of replays) {
        const o = trackerOptionsFor(r);
        const run = same({ caps: o.capabilityFlags, mariadb: o.mariadbCapabilities, status: o.statusFlags, maxPacket: o.maxAllowedPacket }, recordedOps(r, []));
        expect(run.final).toMatchObject({ idle: true, eof: 0 });
        expect(run.entries.filter((e) => 'event' in e).length).toBeGreaterThan(0);
      }
    });

    it('agrees on every recording cut at random offsets', () => {
      fc.assert(
        fc.property(fc.nat(replays.length - 1), fc.array(fc.nat(), { maxLength: 30 }), (i, cuts) => {
          const r = replays[i]!;
          const o = trackerOptionsFor(r);
          same({ caps: o.capabilityFlags, mariadb: o.mariadbCapabilities, status: o.statusFlags, maxPacket: o.maxAllowedPacket }, recordedOps(r, cuts));
        }),
        { numRuns: 200 },
      );
    });
  });

  it('reports what a successful COM_STMT_PREPARE made: statement id, columns, parameters', () => {
    const stream = framed(1, packet.prepareOk(0xfedcba98, 2, 3), ...Array.from({ length: 3 }, () => packet.column('?')), packet.eof(AUTOCOMMIT), packet.column('a'), packet.column('b'), packet.eof(AUTOCOMMIT));
    const out = native.mysqlTrack(BASE_CAPS, 0, AUTOCOMMIT, Limits.DEFAULT_MAX_ALLOWED_PACKET, [[Buffer.from('\x16select ?', 'latin1'), 9], stream]);
    expect([...out]).toMatchObject([{ op: 1, command: 0x16, outcome: 'ok', stmtId: 0xfedcba98, numColumns: 2, numParams: 3, statusReported: true, end: stream.length }]);
  });
});
