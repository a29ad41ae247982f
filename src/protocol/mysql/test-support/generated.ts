/**
 * Generators of MySQL/MariaDB command-phase exchanges for property tests
 * (fast-check): every response shape, both EOF modes, MariaDB metadata
 * caching and progress reports, unsolicited ERRs; and how a server lays
 * them out on the wire. Used by response-tracker.fuzz.test.ts and by the
 * differential tests of the C tracker (src/gateway/native-mysql-tracker.test.ts).
 */
import fc from 'fast-check';
import { Command, MariadbCapability } from '../constants.js';
import { ResponseTracker, type ResponseEvent } from '../response-tracker.js';
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
} from './responses.js';

export interface Caps {
  readonly deprecateEof: boolean;
  readonly cache: boolean;
  readonly progress: boolean;
}

/** A packet of a generated response; `status` when the tracker reads status flags from it. */
export interface Pkt {
  readonly payload: Buffer;
  readonly status?: number;
}

/** The event a generated response must produce, but for `end` and `statusFlags` (computed when laid out). */
export type Final = Record<string, unknown> & { outcome: string };

export interface Exchange {
  readonly command: Buffer;
  readonly packets: readonly Pkt[];
  /** Undefined for commands without a response. */
  readonly final: Final | undefined;
}

export const statusArb = fc.constantFrom(AUTOCOMMIT, AUTOCOMMIT | IN_TRANS, IN_TRANS, AUTOCOMMIT | NO_BACKSLASH, 0);
export const bigCount = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 40 }));
export const errArb = fc.record({
  errno: fc.integer({ min: 1, max: 0xfffe }),
  sqlState: fc.option(fc.stringMatching(/^[0-9A-Z]{5}$/), { nil: undefined }),
});
export const textRowArb = fc
  .tuple(fc.integer({ min: 0, max: 0xfd }), fc.uint8Array({ maxLength: 12 }))
  .map(([first, rest]) => Buffer.concat([Buffer.from([first]), rest]));
export const binaryRowArb = fc.uint8Array({ maxLength: 12 }).map((rest) => Buffer.concat([Buffer.from([0]), rest]));

export function terminator(caps: Caps, status: number): Pkt {
  return { payload: caps.deprecateEof ? packet.okFe(status) : packet.eof(status), status };
}

export function errPkt(e: { errno: number; sqlState: string | undefined }): Pkt {
  return { payload: packet.err(e.errno, e.sqlState, 'generated') };
}

/** One result set: count, definitions (unless MariaDB skipped them), EOF, rows, then terminator or ERR. */
export const resultSetArb = (caps: Caps, binary: boolean) =>
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
export const resultsArb = (caps: Caps, binary: boolean): fc.Arbitrary<Exchange> =>
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

export const prepareArb = (caps: Caps): fc.Arbitrary<Exchange> =>
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
export const cursorArb = (caps: Caps): fc.Arbitrary<Exchange[]> =>
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
export const otherArb = (caps: Caps): fc.Arbitrary<Exchange> =>
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

export const capsArb = fc.record({ deprecateEof: fc.boolean(), cache: fc.boolean(), progress: fc.boolean() });

export const scenarioArb = capsArb.chain((caps) =>
  fc.record({
    caps: fc.constant(caps),
    initialStatus: statusArb,
    exchanges: fc
      .array(
        fc.oneof(
          resultsArb(caps, false).map((e) => [e]),
          resultsArb(caps, true).map((e) => [e]),
          // A cursor asked for but not opened (no SERVER_STATUS_CURSOR_EXISTS): the rows follow as without one.
          resultsArb(caps, true).map((e) => [{ ...e, command: command.execute(1, true) }]),
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
export function layOut(scenario: {
  caps: Caps;
  initialStatus: number;
  exchanges: Exchange[];
  progressAt: number[];
  unsolicitedBefore: number[];
}): { stream: Buffer; events: ResponseEvent[]; starts: number[] } {
  const parts: Buffer[] = [];
  const events: ResponseEvent[] = [];
  const starts: number[] = [];
  let length = 0;
  let status = scenario.initialStatus;
  let ticket = 0;
  let packetIndex = 0;
  const progressAt = new Set(scenario.progressAt.map((n) => n % 64));
  scenario.exchanges.forEach((x, i) => {
    ticket++;
    starts.push(length);
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
  return { stream: Buffer.concat(parts), events, starts };
}

export function trackerFor(caps: Caps, initialStatus: number, exchanges: readonly Exchange[]): ResponseTracker {
  const t = new ResponseTracker({
    capabilityFlags: caps.deprecateEof ? DEPRECATE_EOF_CAPS : BASE_CAPS,
    mariadbCapabilities:
      (caps.cache ? MariadbCapability.MARIADB_CLIENT_CACHE_METADATA : 0) | (caps.progress ? MariadbCapability.MARIADB_CLIENT_PROGRESS : 0),
    statusFlags: initialStatus,
  });
  for (const x of exchanges) t.sent(x.command);
  return t;
}

/** Command bytes the gateway relays or refuses itself (all but COM_SLEEP and COM_CHANGE_USER), with random arguments. */
export const relayedCommandBytes = Array.from({ length: 256 }, (_, b) => b).filter((b) => ![0x00, 0x11].includes(b));
export const randomCommandsArb = (maxLength: number): fc.Arbitrary<Buffer[]> =>
  fc.array(
    fc.tuple(fc.constantFrom(...relayedCommandBytes), fc.uint8Array({ minLength: 5, maxLength: 12 })).map(([b, rest]) => Buffer.concat([Buffer.from([b]), rest])),
    { maxLength },
  );
