/**
 * ResponseTracker over a stream: pipelined commands whose responses arrive
 * in one chunk, unsolicited packets (MySQL 8 shapes hand-built from the
 * protocol documentation: no MySQL server runs here), sequence ids, bounds,
 * and what it does once it has thrown.
 */
import { describe, expect, it } from 'vitest';
import { Command } from './constants.js';
import { ResponseTracker, type ResponseTrackerOptions } from './response-tracker.js';
import { iamdbErrorOf } from './test-support/hex.js';
import { AUTOCOMMIT, BASE_CAPS, DEPRECATE_EOF_CAPS, IN_TRANS, command, framed, packet, textResultSet } from './test-support/responses.js';
import { eventsAtEverySplit, pushChunks } from './test-support/tracking.js';

function tracker(options: Partial<ResponseTrackerOptions> = {}, ...commands: Buffer[]): ResponseTracker {
  const t = new ResponseTracker({ capabilityFlags: BASE_CAPS, ...options });
  for (const c of commands) t.sent(c);
  return t;
}

describe('ResponseTracker: pipelined commands', () => {
  it("matches a refused DROP USER to its own ERR when it follows DO SLEEP(0.3) in one write (the relay's bug)", () => {
    const sleepOk = framed(1, packet.ok());
    const dropErr = framed(1, packet.err(1396, 'HY000', "Operation DROP USER failed for 'alice'@'%'"));
    const server = Buffer.concat([sleepOk, dropErr]);
    const events = eventsAtEverySplit(() => tracker({}, command.query('DO SLEEP(0.3)'), command.query('DROP USER alice')), server);
    expect(events).toMatchObject([
      { type: 'response', ticket: 1, end: sleepOk.length, outcome: 'ok' },
      { type: 'response', ticket: 2, end: server.length, outcome: 'err', errno: 1396 },
    ]);
  });

  it('reports each end as an offset in the chunk that holds it, so a relay can split there', () => {
    const t = tracker({}, command.query('SELECT 1'), command.simple(Command.COM_PING));
    const rs = framed(1, ...textResultSet({ columns: ['1'], rows: [['1']], deprecateEof: false }));
    const pong = framed(1, packet.ok());
    const chunk1 = Buffer.concat([rs.subarray(0, 10)]);
    const chunk2 = Buffer.concat([rs.subarray(10), pong.subarray(0, 3)]);
    const chunk3 = pong.subarray(3);
    expect(t.push(chunk1)).toEqual([]);
    expect(t.push(chunk2)).toMatchObject([{ ticket: 1, end: rs.length - 10 }]);
    expect(t.outstanding).toBe(1);
    expect(t.push(chunk3)).toMatchObject([{ ticket: 2, end: chunk3.length }]);
    expect(t.idle).toBe(true);
  });

  it('follows three pipelined shapes in one chunk with CLIENT_DEPRECATE_EOF', () => {
    const a = framed(1, ...textResultSet({ columns: ['a'], rows: [['x'], ['y']], deprecateEof: true, status: AUTOCOMMIT | IN_TRANS }));
    const b = framed(1, packet.prepareOk(3, 1, 0), packet.column('n'));
    const c = framed(1, packet.ok({ affectedRows: 2, statusFlags: AUTOCOMMIT }));
    const server = Buffer.concat([a, b, c]);
    const make = (): ResponseTracker =>
      tracker({ capabilityFlags: DEPRECATE_EOF_CAPS }, command.query('SELECT a'), Buffer.from('\x16SELECT n', 'latin1'), command.query('COMMIT'));
    expect(eventsAtEverySplit(make, server).map((e) => [e.type === 'response' && e.ticket, e.end])).toEqual([
      [1, a.length],
      [2, a.length + b.length],
      [3, server.length],
    ]);
  });

  it('numbers a response after a command spanning frames from sequence id 2', () => {
    const t = tracker({});
    t.sent(Buffer.from([Command.COM_QUERY, 0x53, 0x45, 0x4c, 0x45, 0x43]), 0xffffff + 20);
    expect(pushChunks(t, [framed(2, packet.ok())])).toMatchObject([{ ticket: 1, outcome: 'ok' }]);
    t.sent(command.query('SELECT 1'), 0xffffff);
    expect(iamdbErrorOf(() => t.push(framed(1, packet.ok()))).code).toBe('PROTO_MYSQL_SEQUENCE_MISMATCH');
  });
});

describe('ResponseTracker: unsolicited packets', () => {
  // MySQL 8.0.24+: ERR 4031 (HY000) ER_CLIENT_INTERACTION_TIMEOUT, sent with sequence id 0 before closing an idle connection.
  const timeout = framed(0, packet.err(4031, 'HY000', 'The client was disconnected by the server because of inactivity.'));

  it('MySQL 8 (hand-built): reports ERR 4031 on an idle connection as unsolicited', () => {
    const t = tracker({ capabilityFlags: DEPRECATE_EOF_CAPS });
    const events = eventsAtEverySplit(() => tracker({ capabilityFlags: DEPRECATE_EOF_CAPS }), timeout);
    expect(events).toEqual([{ type: 'unsolicited', end: timeout.length, outcome: 'err', errno: 4031, sqlState: 'HY000' }]);
    t.push(timeout);
    expect(t.idle).toBe(true);
  });

  it('does not match an unsolicited ERR to the command sent after it', () => {
    const t = tracker({});
    expect(t.push(framed(0, packet.err(1053, '08S01', 'Server shutdown in progress')))).toMatchObject([{ type: 'unsolicited', errno: 1053 }]);
    t.sent(command.simple(Command.COM_PING));
    expect(t.push(framed(1, packet.ok()))).toMatchObject([{ type: 'response', ticket: 1, outcome: 'ok' }]);
  });

  it('MySQL 8 (hand-built): takes ERR 4031 with sequence id 0 for unsolicited while a command is outstanding, and keeps waiting for the response', () => {
    const server = Buffer.concat([timeout, framed(1, packet.ok())]);
    const events = eventsAtEverySplit(() => tracker({}, command.query('SELECT 1')), server);
    expect(events).toMatchObject([
      { type: 'unsolicited', end: timeout.length, errno: 4031 },
      { type: 'response', ticket: 1, end: server.length, outcome: 'ok' },
    ]);
  });

  it('describes unsolicited packets of any kind without throwing', () => {
    const server = framed(0, packet.ok({ statusFlags: AUTOCOMMIT | IN_TRANS }), packet.eof(), Buffer.from([0x42]), Buffer.from([0xff, 0x01]));
    const t = tracker({});
    expect(pushChunks(t, [server]).map((e) => e.type === 'unsolicited' && e.outcome)).toEqual(['ok', 'eof', 'other', 'other']);
    expect(t.statusFlags).toBe(AUTOCOMMIT);
  });

  it('reports an unsolicited packet spanning frames once, at its end', () => {
    const big = Buffer.alloc(0xffffff + 5, 0x41);
    const server = framed(0, big);
    expect(pushChunks(tracker({}), [server])).toEqual([{ type: 'unsolicited', end: server.length, outcome: 'other', errno: undefined, sqlState: undefined }]);
  });
});

describe('ResponseTracker: MySQL 8 shapes (hand-built from the protocol documentation)', () => {
  const STATE_CHANGED = 1 << 14; // SERVER_SESSION_STATE_CHANGED
  // Session-state block: SESSION_TRACK_SYSTEM_VARIABLES (0), "autocommit" = "OFF".
  const state = Buffer.from([0x00, 0x0f, 0x0a, ...Buffer.from('autocommit'), 0x03, ...Buffer.from('OFF')]);

  it('MySQL 8 (hand-built): reads the status flags of an OK longer than the bytes it reads (CLIENT_SESSION_TRACK)', () => {
    const ok = packet.ok({ statusFlags: IN_TRANS | STATE_CHANGED, info: 'Rows matched: 1  Changed: 1  Warnings: 0', sessionStateChanges: state }, DEPRECATE_EOF_CAPS);
    expect(ok.length).toBeGreaterThan(23);
    const server = framed(1, ok);
    const events = eventsAtEverySplit(() => tracker({ capabilityFlags: DEPRECATE_EOF_CAPS }, command.query('SET autocommit = 0')), server);
    expect(events).toMatchObject([{ outcome: 'ok', statusFlags: IN_TRANS | STATE_CHANGED, end: server.length }]);
  });

  it('MySQL 8 (hand-built): ends rows at an OK with a 0xFE header carrying session-state changes', () => {
    const end = packet.ok({ header: 0xfe, statusFlags: AUTOCOMMIT | STATE_CHANGED, sessionStateChanges: state }, DEPRECATE_EOF_CAPS);
    const server = framed(1, packet.columnCount(1), packet.column('a'), packet.textRow('1'), end);
    const events = eventsAtEverySplit(() => tracker({ capabilityFlags: DEPRECATE_EOF_CAPS }, command.query('SELECT 1')), server);
    expect(events).toMatchObject([{ outcome: 'ok', statusFlags: AUTOCOMMIT | STATE_CHANGED, end: server.length, resultSets: 1 }]);
  });
});

describe('ResponseTracker: bounds and malformed streams', () => {
  it('checks max_allowed_packet across continuations from the frame headers, before the bytes arrive', () => {
    const t = tracker({ maxAllowedPacket: 0xffffff + 10 }, command.query('SELECT big'));
    t.push(framed(1, packet.columnCount(1), packet.column('b'), packet.eof()));
    t.push(Buffer.from([0xff, 0xff, 0xff, 4, 0x41]));
    t.push(Buffer.alloc(0xffffff - 1));
    expect(iamdbErrorOf(() => t.push(Buffer.from([11, 0, 0, 5]))).code).toBe('PROTO_MYSQL_PACKET_TOO_LARGE');
    const first = tracker({ maxAllowedPacket: 100 }, command.query('SELECT 1'));
    expect(iamdbErrorOf(() => first.push(Buffer.from([101, 0, 0, 1]))).code).toBe('PROTO_MYSQL_PACKET_TOO_LARGE');
  });

  it('checks sequence ids inside a response and across continuation frames', () => {
    const t = tracker({}, command.query('SELECT 1'));
    expect(iamdbErrorOf(() => t.push(Buffer.concat([framed(1, packet.columnCount(1)), framed(3, packet.column('a'))]))).code).toBe(
      'PROTO_MYSQL_SEQUENCE_MISMATCH',
    );
    const c = tracker({}, command.query('SELECT 1'));
    c.push(framed(1, packet.columnCount(1), packet.column('a'), packet.eof()));
    c.push(Buffer.concat([Buffer.from([0xff, 0xff, 0xff, 4]), Buffer.alloc(0xffffff, 0x41)]));
    expect(iamdbErrorOf(() => c.push(Buffer.from([1, 0, 0, 7, 0x41]))).code).toBe('PROTO_MYSQL_SEQUENCE_MISMATCH');
  });

  it('refuses an empty packet, a 0xFE where a result starts, and a column count beyond 65535', () => {
    for (const server of [
      Buffer.from([0, 0, 0, 1]),
      framed(1, Buffer.from([0xfe, 0, 0, 2, 0, 0, 0])),
      framed(1, Buffer.from([0xfd, 0, 0, 1])),
      framed(1, Buffer.from([0xfc, 0, 0])),
    ]) {
      const err = iamdbErrorOf(() => tracker({}, command.query('SELECT 1')).push(server));
      expect(['PROTO_MYSQL_MALFORMED', 'PROTO_MYSQL_UNEXPECTED_PACKET']).toContain(err.code);
    }
  });

  it('refuses a truncated OK, a short prepare OK and a column definition starting with 0xFE', () => {
    const cases: Array<[Buffer, Buffer]> = [
      [command.simple(Command.COM_PING), framed(1, Buffer.from([0x00, 0x00]))],
      [Buffer.from('\x16SELECT 1', 'latin1'), framed(1, Buffer.from([0x00, 1, 0, 0, 0]))],
      [command.query('SELECT 1'), framed(1, packet.columnCount(1), Buffer.from([0xfe, 0x01]))],
      [command.simple(Command.COM_PING), framed(1, Buffer.from([0x42]))],
    ];
    for (const [cmd, server] of cases) {
      const err = iamdbErrorOf(() => tracker({}, cmd).push(server));
      expect(['PROTO_MYSQL_MALFORMED', 'PROTO_MYSQL_UNEXPECTED_PACKET']).toContain(err.code);
    }
  });

  it('rethrows its first error on every later call', () => {
    const t = tracker({}, command.query('SELECT 1'));
    const err = iamdbErrorOf(() => t.push(Buffer.from([0, 0, 0, 1])));
    expect(iamdbErrorOf(() => t.push(framed(1, packet.ok())))).toBe(err);
    expect(iamdbErrorOf(() => t.sent(command.simple(Command.COM_PING)))).toBe(err);
    expect(iamdbErrorOf(() => t.end())).toBe(err);
  });

  it('bounds the commands awaiting a response', () => {
    const t = tracker({ maxPendingCommands: 2 }, command.simple(Command.COM_PING), command.simple(Command.COM_PING));
    expect(t.sent(Buffer.from([Command.COM_STMT_CLOSE, 1, 0, 0, 0])).expectsResponse).toBe(false);
    expect(iamdbErrorOf(() => t.sent(command.simple(Command.COM_PING))).code).toBe('PROTO_MYSQL_TOO_MANY_PENDING');
  });

  it('needs the first six bytes of a command and a sane length', () => {
    const t = tracker({});
    expect(iamdbErrorOf(() => t.sent(Buffer.from([Command.COM_STMT_EXECUTE, 1]), 10)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => t.sent(Buffer.alloc(0))).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(iamdbErrorOf(() => t.sent(command.query('SELECT 1'), 3)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    expect(t.sent(command.execute(1, true).subarray(0, 6), 10).expectsResponse).toBe(true);
  });

  it('throws PROTO_MYSQL_STREAM_ENDED when the stream ends inside a packet, not between packets', () => {
    const t = tracker({}, command.query('SELECT 1'));
    t.push(Buffer.from([5, 0]));
    expect(iamdbErrorOf(() => t.end()).code).toBe('PROTO_MYSQL_STREAM_ENDED');
    const u = tracker({}, command.query('SELECT 1'));
    u.push(framed(1, packet.columnCount(1)));
    expect(() => u.end()).not.toThrow();
    expect(u.idle).toBe(false);
  });
});
