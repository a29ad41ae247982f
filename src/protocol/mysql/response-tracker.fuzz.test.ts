/**
 * Property tests of ResponseTracker (fast-check):
 * - generated exchanges (every response shape, both EOF modes, MariaDB
 *   metadata caching and progress reports, unsolicited ERRs) give exactly
 *   the events the generator expects, however the stream is cut;
 * - the recorded MariaDB exchanges give the same events at random cuts;
 * - arbitrary and mutated bytes raise only IamdbError and always finish.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IamdbError } from '../../errors/index.js';
import { Command, MariadbCapability } from './constants.js';
import { ResponseTracker, type ResponseEvent } from './response-tracker.js';
import { recordingNames, replayOf, trackerOptionsFor } from './test-support/recorded.js';
import {
  AUTOCOMMIT,
  BASE_CAPS,
  CURSOR,
  DEPRECATE_EOF_CAPS,
  IN_TRANS,
  LAST_ROW,
  MORE,
  NO_BACKSLASH,
  command,
  framed,
  packet,
} from './test-support/responses.js';
import { cutAt, pushChunks } from './test-support/tracking.js';

interface Caps {
  readonly deprecateEof: boolean;
  readonly cache: boolean;
  readonly progress: boolean;
}

/** A packet of a generated response; `status` when the tracker reads status flags from it. */
interface Pkt {
  readonly payload: Buffer;
  readonly status?: number;
}

/** The event a generated response must produce, but for `end` and `statusFlags` (computed when laid out). */
type Final = Record<string, unknown> & { outcome: string };

interface Exchange {
  readonly command: Buffer;
  readonly packets: readonly Pkt[];
  /** Undefined for commands without a response. */
  readonly final: Final | undefined;
}

const statusArb = fc.constantFrom(AUTOCOMMIT, AUTOCOMMIT | IN_TRANS, IN_TRANS, AUTOCOMMIT | NO_BACKSLASH, 0);
const bigCount = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 40 }));
const errArb = fc.record({
  errno: fc.integer({ min: 1, max: 0xfffe }),
  sqlState: fc.option(fc.stringMatching(/^[0-9A-Z]{5}$/), { nil: undefined }),
});
const textRowArb = fc
  .tuple(fc.integer({ min: 0, max: 0xfd }), fc.uint8Array({ maxLength: 12 }))
  .map(([first, rest]) => Buffer.concat([Buffer.from([first]), rest]));
const binaryRowArb = fc.uint8Array({ maxLength: 12 }).map((rest) => Buffer.concat([Buffer.from([0]), rest]));

function terminator(caps: Caps, status: number): Pkt {
  return { payload: caps.deprecateEof ? packet.okFe(status) : packet.eof(status), status };
}

function errPkt(e: { errno: number; sqlState: string | undefined }): Pkt {
  return { payload: packet.err(e.errno, e.sqlState, 'generated') };
}

/** One result set: count, definitions (unless MariaDB skipped them), EOF, rows, then terminator or ERR. */
const resultSetArb = (caps: Caps, binary: boolean) =>
  fc.record({
    columns: fc.integer({ min: 1, max: 4 }),
    metadata: fc.boolean(),
    metaStatus: statusArb,
    rows: fc.array(binary ? binaryRowArb : textRowArb, { maxLength: 5 }),
    endStatus: statusArb,
  }).map((r) => (more: boolean, err?: { errno: number; sqlState: string | undefined }): Pkt[] => {
    const sendDefinitions = !caps.cache || r.metadata;
    return [
      { payload: packet.columnCount(r.columns, caps.cache ? (r.metadata ? 1 : 0) : undefined) },
      ...(sendDefinitions ? Array.from({ length: r.columns }, (_, i) => ({ payload: packet.column(`c${i}`) })) : []),
      ...(caps.deprecateEof ? [] : [{ payload: packet.eof(r.metaStatus), status: r.metaStatus }]),
      ...r.rows.map((payload) => ({ payload })),
      err ? errPkt(err) : terminator(caps, r.endStatus | (more ? MORE : 0)),
    ];
  });

/** COM_QUERY / COM_STMT_EXECUTE: results chained by SERVER_MORE_RESULTS_EXISTS, maybe ending in an ERR. */
const resultsArb = (caps: Caps, binary: boolean): fc.Arbitrary<Exchange> =>
  fc
    .record({
      items: fc.array(
        fc.oneof(
          resultSetArb(caps, binary).map((rs) => ({ kind: 'rs' as const, rs })),
          fc.record({ affectedRows: bigCount, lastInsertId: bigCount, statusFlags: statusArb }).map((ok) => ({ kind: 'ok' as const, ok })),
        ),
        { minLength: 1, maxLength: 3 },
      ),
      err: fc.option(errArb, { nil: undefined }),
      errInRows: fc.boolean(),
    })
    .map(({ items, err, errInRows }) => {
      const packets: Pkt[] = [];
      let resultSets = 0;
      items.forEach((item, i) => {
        const last = i === items.length - 1;
        if (item.kind === 'rs') {
          resultSets++;
          packets.push(...item.rs(!last || err !== undefined, last && errInRows ? err : undefined));
        } else {
          const status = item.ok.statusFlags | (!last || err !== undefined ? MORE : 0);
          packets.push({ payload: packet.ok({ ...item.ok, statusFlags: status }), status });
        }
      });
      const lastItem = items[items.length - 1]!;
      if (err !== undefined && !(errInRows && lastItem.kind === 'rs')) packets.push(errPkt(err));
      let final: Final;
      if (err !== undefined) final = { outcome: 'err', errno: err.errno, sqlState: err.sqlState, statusReported: false, resultSets };
      else if (lastItem.kind === 'ok') {
        final = { outcome: 'ok', affectedRows: lastItem.ok.affectedRows, lastInsertId: lastItem.ok.lastInsertId, statementId: undefined, statusReported: true, resultSets };
      } else if (caps.deprecateEof) final = { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets };
      else final = { outcome: 'eof', statusReported: true, resultSets };
      return { command: binary ? command.execute(1) : command.query('generated'), packets, final };
    });

const prepareArb = (caps: Caps): fc.Arbitrary<Exchange> =>
  fc.record({ id: fc.nat(), params: fc.integer({ min: 0, max: 3 }), columns: fc.integer({ min: 0, max: 3 }), s1: statusArb, s2: statusArb }).map((p) => {
    const eofs = !caps.deprecateEof;
    const packets: Pkt[] = [
      { payload: packet.prepareOk(p.id, p.columns, p.params) },
      ...Array.from({ length: p.params }, () => ({ payload: packet.column('?') })),
      ...(eofs && p.params > 0 ? [{ payload: packet.eof(p.s1), status: p.s1 }] : []),
      ...Array.from({ length: p.columns }, (_, i) => ({ payload: packet.column(`c${i}`) })),
      ...(eofs && p.columns > 0 ? [{ payload: packet.eof(p.s2), status: p.s2 }] : []),
    ];
    const statusReported = eofs && (p.params > 0 || p.columns > 0);
    return {
      command: Buffer.from('\x16generated', 'latin1'),
      packets,
      final: { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: p.id, statusReported, resultSets: 0 },
    };
  });

/** A cursor opened by COM_STMT_EXECUTE, then COM_STMT_FETCH responses. */
const cursorArb = (caps: Caps): fc.Arbitrary<Exchange[]> =>
  fc
    .record({
      columns: fc.integer({ min: 1, max: 3 }),
      metadata: fc.boolean(),
      status: statusArb,
      fetches: fc.array(fc.record({ rows: fc.array(binaryRowArb, { maxLength: 4 }), last: fc.boolean(), status: statusArb }), { maxLength: 3 }),
    })
    .map((c) => {
      const opened = (c.status | CURSOR) >>> 0;
      const execute: Exchange = {
        command: command.execute(1, true),
        packets: [
          { payload: packet.columnCount(c.columns, caps.cache ? (c.metadata ? 1 : 0) : undefined) },
          ...(!caps.cache || c.metadata ? Array.from({ length: c.columns }, () => ({ payload: packet.column('c') })) : []),
          terminator(caps, opened),
        ],
        final: caps.deprecateEof
          ? { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets: 1 }
          : { outcome: 'eof', statusReported: true, resultSets: 1 },
      };
      const fetches = c.fetches.map((f): Exchange => ({
        command: command.fetch(1, 4),
        packets: [...f.rows.map((payload) => ({ payload })), terminator(caps, f.status | (f.last ? LAST_ROW : CURSOR))],
        final: caps.deprecateEof
          ? { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets: 0 }
          : { outcome: 'eof', statusReported: true, resultSets: 0 },
      }));
      return [execute, ...fetches];
    });

/** One-packet responses, COM_FIELD_LIST, COM_STATISTICS and commands without a response. */
const otherArb = (caps: Caps): fc.Arbitrary<Exchange> =>
  fc.oneof(
    fc.tuple(fc.constantFrom(Command.COM_PING, Command.COM_INIT_DB, Command.COM_RESET_CONNECTION), fc.oneof(errArb, statusArb)).map(([cmd, r]): Exchange => {
      if (typeof r === 'number') {
        return { command: command.simple(cmd), packets: [{ payload: packet.ok({ statusFlags: r }), status: r }], final: { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets: 0 } };
      }
      return { command: command.simple(cmd), packets: [errPkt(r)], final: { outcome: 'err', errno: r.errno, sqlState: r.sqlState, statusReported: false, resultSets: 0 } };
    }),
    statusArb.map((s): Exchange => ({
      command: Buffer.from([Command.COM_SET_OPTION, 0, 0]),
      packets: [terminator(caps, s)],
      final: caps.deprecateEof
        ? { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets: 0 }
        : { outcome: 'eof', statusReported: true, resultSets: 0 },
    })),
    fc.tuple(fc.integer({ min: 0, max: 4 }), statusArb).map(([n, s]): Exchange => ({
      command: Buffer.from('\x04t\x00', 'latin1'),
      packets: [...Array.from({ length: n }, () => ({ payload: packet.column('f') })), terminator(caps, s)],
      final: caps.deprecateEof
        ? { outcome: 'ok', affectedRows: 0, lastInsertId: 0, statementId: undefined, statusReported: true, resultSets: 0 }
        : { outcome: 'eof', statusReported: true, resultSets: 0 },
    })),
    fc.string({ minLength: 1, maxLength: 40 }).map((text): Exchange => ({
      command: command.simple(Command.COM_STATISTICS),
      packets: [{ payload: Buffer.from(`U${text}`, 'utf8') }],
      final: { outcome: 'other', statusReported: false, resultSets: 0 },
    })),
    fc.constant<Exchange>({ command: Buffer.from([Command.COM_STMT_CLOSE, 1, 0, 0, 0]), packets: [], final: undefined }),
  );

const capsArb = fc.record({ deprecateEof: fc.boolean(), cache: fc.boolean(), progress: fc.boolean() });

const scenarioArb = capsArb.chain((caps) =>
  fc.record({
    caps: fc.constant(caps),
    initialStatus: statusArb,
    exchanges: fc
      .array(
        fc.oneof(
          resultsArb(caps, false).map((e) => [e]),
          resultsArb(caps, true).map((e) => [e]),
          prepareArb(caps).map((e) => [e]),
          cursorArb(caps),
          otherArb(caps).map((e) => [e]),
        ),
        { maxLength: 6 },
      )
      .map((groups) => groups.flat()),
    progressAt: fc.array(fc.nat(), { maxLength: 4 }),
    unsolicitedBefore: fc.array(fc.nat(), { maxLength: 2 }),
    cuts: fc.array(fc.nat(), { maxLength: 12 }),
  }),
);

/** Lays the exchanges out as a server would send them; returns the stream and the events it must produce. */
function layOut(scenario: {
  caps: Caps;
  initialStatus: number;
  exchanges: Exchange[];
  progressAt: number[];
  unsolicitedBefore: number[];
}): { stream: Buffer; events: ResponseEvent[] } {
  const parts: Buffer[] = [];
  const events: ResponseEvent[] = [];
  let length = 0;
  let status = scenario.initialStatus;
  let ticket = 0;
  let packetIndex = 0;
  const progressAt = new Set(scenario.progressAt.map((n) => n % 64));
  scenario.exchanges.forEach((x, i) => {
    ticket++;
    if (scenario.unsolicitedBefore.includes(i)) {
      // ERR with sequence id 0 where a response should start: unsolicited.
      const u = framed(0, packet.err(4031, 'HY000', 'The client was disconnected by the server because of inactivity.'));
      parts.push(u);
      length += u.length;
      events.push({ type: 'unsolicited', end: length, outcome: 'err', errno: 4031, sqlState: 'HY000' });
    }
    if (x.final === undefined) return;
    let seq = 1;
    x.packets.forEach((p) => {
      // A progress report may come before any packet of a response, never after its last.
      const payloads = scenario.caps.progress && progressAt.has(packetIndex++) ? [packet.progress(1, 1, 5, 'p'), p.payload] : [p.payload];
      const bytes = framed(seq, ...payloads);
      seq = (seq + payloads.length) & 0xff;
      parts.push(bytes);
      length += bytes.length;
      if (p.status !== undefined) status = p.status;
    });
    events.push({ type: 'response', ticket, command: x.command[0]!, end: length, statusFlags: status, ...x.final } as unknown as ResponseEvent);
  });
  return { stream: Buffer.concat(parts), events };
}

function trackerFor(caps: Caps, initialStatus: number, exchanges: readonly Exchange[]): ResponseTracker {
  const t = new ResponseTracker({
    capabilityFlags: caps.deprecateEof ? DEPRECATE_EOF_CAPS : BASE_CAPS,
    mariadbCapabilities:
      (caps.cache ? MariadbCapability.MARIADB_CLIENT_CACHE_METADATA : 0) | (caps.progress ? MariadbCapability.MARIADB_CLIENT_PROGRESS : 0),
    statusFlags: initialStatus,
  });
  for (const x of exchanges) t.sent(x.command);
  return t;
}

/** Same fields in the same order as the tracker builds them, for a plain deep comparison. */
function normal(events: readonly ResponseEvent[]): unknown[] {
  return events.map((e) => JSON.parse(JSON.stringify(e, Object.keys(e).sort())));
}

function onlyIamdbErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof IamdbError)) throw err;
  }
}

describe('ResponseTracker properties', () => {
  it('reports exactly the generated responses, however the stream is cut', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { stream, events } = layOut(scenario);
        const t = trackerFor(scenario.caps, scenario.initialStatus, scenario.exchanges);
        const cuts = scenario.cuts.map((c) => c % (stream.length + 1)).sort((a, b) => a - b);
        expect(normal(pushChunks(t, cutAt(stream, cuts)))).toEqual(normal(events));
        expect(t.idle).toBe(true);
        t.end();
      }),
      { numRuns: 500 },
    );
  });

  const replays = recordingNames().map((n) => replayOf(n));

  it('reports the same events for recorded exchanges cut at random offsets', () => {
    const expected = replays.map((r) => {
      const t = new ResponseTracker(trackerOptionsFor(r));
      for (const c of r.commands) t.sent(c.payload);
      return JSON.stringify(pushChunks(t, [r.server]));
    });
    fc.assert(
      fc.property(fc.nat(replays.length - 1), fc.array(fc.nat(), { maxLength: 30 }), (i, raw) => {
        const r = replays[i]!;
        const t = new ResponseTracker(trackerOptionsFor(r));
        for (const c of r.commands) t.sent(c.payload);
        const cuts = raw.map((c) => c % (r.server.length + 1)).sort((a, b) => a - b);
        expect(JSON.stringify(pushChunks(t, cutAt(r.server, cuts)))).toBe(expected[i]);
      }),
      { numRuns: 300 },
    );
  });

  const relayed = Array.from({ length: 256 }, (_, b) => b).filter((b) => ![0x00, 0x11].includes(b));
  const commandsArb = fc.array(
    fc.tuple(fc.constantFrom(...relayed), fc.uint8Array({ minLength: 5, maxLength: 12 })).map(([b, rest]) => Buffer.concat([Buffer.from([b]), rest])),
    { maxLength: 6 },
  );

  it('throws only IamdbError on arbitrary server bytes, and finishes', () => {
    fc.assert(
      fc.property(capsArb, commandsArb, fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 6 }), (caps, commands, chunks) => {
        onlyIamdbErrors(() => {
          const t = trackerFor(caps, AUTOCOMMIT, []);
          for (const c of commands) onlyIamdbErrors(() => t.sent(c));
          for (const chunk of chunks) t.push(chunk);
          t.end();
        });
      }),
      { numRuns: 2000 },
    );
  });

  it('throws only IamdbError on recorded exchanges with bytes changed, cut or added', () => {
    const small = replays.filter((r) => r.server.length < 64 * 1024);
    fc.assert(
      fc.property(
        fc.nat(small.length - 1),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.nat(),
        (i, flips, cut) => {
          const r = small[i]!;
          const server = Buffer.from(r.server);
          for (const [at, v] of flips) server[at % server.length] = v;
          onlyIamdbErrors(() => {
            const t = new ResponseTracker(trackerOptionsFor(r));
            for (const c of r.commands) t.sent(c.payload);
            t.push(server.subarray(0, cut % (server.length + 1)));
            t.push(server.subarray(cut % (server.length + 1)));
            t.end();
          });
        },
      ),
      { numRuns: 1000 },
    );
  });
});
