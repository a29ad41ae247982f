/**
 * ResponseTracker, one response shape at a time, on hand-built exchanges laid
 * out as the MySQL and MariaDB protocol documentation describes them. Every
 * exchange is also replayed cut at every offset and in one-byte chunks
 * (eventsAtEverySplit). Recorded MariaDB exchanges are replayed in
 * response-tracker.recorded.test.ts; pipelining, unsolicited packets and
 * limits in response-tracker.stream.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { Capability, Command, MariadbCapability } from './constants.js';
import { ResponseTracker, commandDisposition, type ResponseEnd, type ResponseTrackerOptions } from './response-tracker.js';
import { iamdbErrorOf } from './test-support/hex.js';
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
  textResultSet,
} from './test-support/responses.js';
import { eventsAtEverySplit, pushChunks } from './test-support/tracking.js';

function tracker(options: Partial<ResponseTrackerOptions> = {}, ...commands: Buffer[]): ResponseTracker {
  const t = new ResponseTracker({ capabilityFlags: BASE_CAPS, ...options });
  for (const c of commands) t.sent(c);
  return t;
}

/** Events of `server` after `commands`, identical at every split; checked to leave the tracker idle. */
function responses(options: Partial<ResponseTrackerOptions>, commands: Buffer[], server: Buffer): ResponseEnd[] {
  const events = eventsAtEverySplit(() => tracker(options, ...commands), server);
  const t = tracker(options, ...commands);
  t.push(server);
  expect(t.idle).toBe(true);
  expect(events.every((e) => e.type === 'response')).toBe(true);
  return events as ResponseEnd[];
}

const deprecated = { capabilityFlags: DEPRECATE_EOF_CAPS };
const bothEofModes = [
  ['with EOF packets', {}, false],
  ['with CLIENT_DEPRECATE_EOF', deprecated, true],
] as const;

describe('ResponseTracker: COM_QUERY', () => {
  it('ends at an OK and reports affected rows, insert id and status flags', () => {
    const server = framed(1, packet.ok({ affectedRows: 3, lastInsertId: 7, statusFlags: AUTOCOMMIT | IN_TRANS }));
    const [end] = responses({}, [command.query('UPDATE t SET a = 1')], server);
    expect(end).toEqual({
      type: 'response',
      ticket: 1,
      command: Command.COM_QUERY,
      end: server.length,
      outcome: 'ok',
      affectedRows: 3,
      lastInsertId: 7,
      statementId: undefined,
      statusFlags: AUTOCOMMIT | IN_TRANS,
      statusReported: true,
      resultSets: 0,
    });
  });

  it('ends at an ERR with its errno and SQLSTATE, keeping the status flags seen before', () => {
    const server = framed(1, packet.err(1396, 'HY000', "Operation DROP USER failed for 'alice'@'%'"));
    const t = tracker({ statusFlags: AUTOCOMMIT | IN_TRANS }, command.query("DROP USER 'alice'"));
    const [end] = pushChunks(t, [server]);
    expect(end).toMatchObject({ outcome: 'err', errno: 1396, sqlState: 'HY000', statusFlags: AUTOCOMMIT | IN_TRANS, statusReported: false });
    expect(t.inTransaction).toBe(true);
  });

  it('reads an ERR without the SQLSTATE marker', () => {
    const [end] = responses({}, [command.query('x')], framed(1, packet.err(1045, undefined, 'Access denied')));
    expect(end).toMatchObject({ outcome: 'err', errno: 1045, sqlState: undefined });
  });

  for (const [mode, options, deprecateEof] of bothEofModes) {
    it(`follows a text result set ${mode}`, () => {
      const rs = textResultSet({ columns: ['id', 'name'], rows: [['1', 'ann'], ['2', null], ['3', '']], deprecateEof, status: AUTOCOMMIT | IN_TRANS });
      const server = framed(1, ...rs);
      const [end] = responses(options, [command.query('SELECT id, name FROM t')], server);
      expect(end).toMatchObject({ end: server.length, outcome: deprecateEof ? 'ok' : 'eof', statusFlags: AUTOCOMMIT | IN_TRANS, statusReported: true, resultSets: 1 });
    });

    it(`follows an empty result set ${mode}`, () => {
      const server = framed(1, ...textResultSet({ columns: ['id'], rows: [], deprecateEof }));
      const [end] = responses(options, [command.query('SELECT id FROM t WHERE 0')], server);
      expect(end).toMatchObject({ end: server.length, resultSets: 1 });
    });

    it(`ends at an ERR after some rows ${mode}`, () => {
      const rs = textResultSet({ columns: ['n'], rows: [['1'], ['2']], deprecateEof });
      const server = framed(1, ...rs.slice(0, -1), packet.err(1644, '45000', 'boom at row 3'));
      const [end] = responses(options, [command.query('SELECT boom(seq) FROM seq_1_to_5')], server);
      expect(end).toMatchObject({ end: server.length, outcome: 'err', errno: 1644, sqlState: '45000', resultSets: 1 });
    });

    it(`chains the results of a CALL with two result sets ${mode}`, () => {
      const server = framed(
        1,
        ...textResultSet({ columns: ['a'], rows: [['1']], deprecateEof, status: AUTOCOMMIT | MORE }),
        ...textResultSet({ columns: ['b', 'c'], rows: [['2', 'x']], deprecateEof, status: AUTOCOMMIT | MORE }),
        packet.ok({ statusFlags: AUTOCOMMIT }),
      );
      const [end] = responses(options, [command.query('CALL two_results()')], server);
      expect(end).toMatchObject({ end: server.length, outcome: 'ok', statusFlags: AUTOCOMMIT, resultSets: 2 });
    });

    it(`stops a multi-statement text at the ERR in its middle ${mode}`, () => {
      const server = framed(
        1,
        ...textResultSet({ columns: ['one'], rows: [['1']], deprecateEof, status: AUTOCOMMIT | MORE }),
        packet.ok({ affectedRows: 1, statusFlags: AUTOCOMMIT | MORE }),
        packet.err(1146, '42S02', "Table 'trk.no_such_table' doesn't exist"),
      );
      const [end] = responses(options, [command.query('SELECT 1; UPDATE t SET a=a; SELECT * FROM no_such_table; SELECT 3')], server);
      expect(end).toMatchObject({ end: server.length, outcome: 'err', errno: 1146, resultSets: 1 });
    });
  }

  it('takes a text row starting with 0xFE for a row when it spans frames (a 16 MiB value)', () => {
    const head = framed(1, packet.columnCount(1), packet.column('fe_row'), packet.eof());
    const rows = framed(4, packet.textRow(Buffer.alloc(16 * 1024 * 1024, 0x62)), packet.textRow('x'), packet.eof());
    expect(rows.subarray(0, 5)).toEqual(Buffer.from([0xff, 0xff, 0xff, 4, 0xfe])); // first frame full, first byte 0xFE
    const server = Buffer.concat([head, rows]);
    const [end] = pushChunks(tracker({}, command.query('SELECT REPEAT(...)')), [server]);
    expect(end).toMatchObject({ end: server.length, outcome: 'eof' });
  });

  it('follows a row of exactly 0xFFFFFF bytes, continued by an empty frame', () => {
    const row = packet.textRow(Buffer.alloc(0xffffff - 4, 0x61));
    expect(row.length).toBe(0xffffff);
    const server = framed(1, packet.columnCount(1), packet.column('exact'), packet.eof(), row, packet.eof(AUTOCOMMIT | IN_TRANS));
    const t = tracker({}, command.query('SELECT REPEAT(...)'));
    const [end] = pushChunks(t, [server]);
    expect(end).toMatchObject({ end: server.length, outcome: 'eof', statusFlags: AUTOCOMMIT | IN_TRANS });
  });

  it('streams a 16 MiB row through one reused 64 KiB buffer: nothing of a chunk is kept', () => {
    const head = framed(1, packet.columnCount(1), packet.column('big'), packet.eof());
    const rowLength = 0xffffff + 100;
    const rowHeader = Buffer.from([0xff, 0xff, 0xff, 4, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0]);
    rowHeader.writeBigUInt64LE(BigInt(rowLength - 9), 5);
    const tail = framed(5, Buffer.alloc(100, 0x61), packet.eof());
    const t = tracker({}, command.query('SELECT big'));
    expect(t.push(head)).toEqual([]);
    expect(t.push(rowHeader)).toEqual([]);
    const scratch = Buffer.alloc(65536);
    let left = 0xffffff - 9;
    while (left > 0) {
      const n = Math.min(left, scratch.length);
      scratch.fill(left & 0xff); // rewritten after each push, as a socket's pool would be
      expect(t.push(scratch.subarray(0, n))).toEqual([]);
      left -= n;
    }
    const [end] = t.push(tail);
    expect(end).toMatchObject({ end: tail.length, outcome: 'eof' });
  });

  it('refuses a LOCAL INFILE request (0xFB): the gateway never offers CLIENT_LOCAL_FILES', () => {
    const t = tracker({}, command.query("LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE t"));
    const err = iamdbErrorOf(() => t.push(framed(1, Buffer.from('\xfb/etc/passwd', 'latin1'))));
    expect(err.code).toBe('PROTO_MYSQL_LOCAL_INFILE_REQUEST');
  });

  it('refuses a 0xFE packet of 9 bytes or more as a terminator without CLIENT_DEPRECATE_EOF', () => {
    const t = tracker({}, command.query('SELECT 1'));
    const err = iamdbErrorOf(() =>
      t.push(framed(1, packet.columnCount(1), packet.column('a'), packet.eof(), packet.ok({ header: 0xfe, info: 'nine+' }, BASE_CAPS))),
    );
    expect(err.code).toBe('PROTO_MYSQL_UNEXPECTED_PACKET');
  });

  it('tracks SERVER_STATUS_NO_BACKSLASH_ESCAPES and the transaction flags as they change', () => {
    const t = tracker({});
    expect([t.inTransaction, t.autocommit, t.noBackslashEscapes]).toEqual([false, true, false]);
    t.sent(command.query("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"));
    t.push(framed(1, packet.ok({ statusFlags: AUTOCOMMIT | NO_BACKSLASH })));
    expect(t.noBackslashEscapes).toBe(true);
    t.sent(command.query('BEGIN'));
    t.push(framed(1, packet.ok({ statusFlags: AUTOCOMMIT | IN_TRANS | NO_BACKSLASH })));
    expect([t.inTransaction, t.statusFlags]).toEqual([true, AUTOCOMMIT | IN_TRANS | NO_BACKSLASH]);
    t.sent(command.query('COMMIT'));
    t.push(framed(1, packet.ok({ statusFlags: AUTOCOMMIT })));
    expect([t.inTransaction, t.noBackslashEscapes]).toEqual([false, false]);
  });

  it('updates the status flags from a result set before its end arrives', () => {
    const t = tracker({}, command.query('CALL p()'));
    t.push(framed(1, ...textResultSet({ columns: ['a'], rows: [], deprecateEof: false, status: AUTOCOMMIT | IN_TRANS | MORE })));
    expect(t.idle).toBe(false);
    expect(t.statusFlags).toBe(AUTOCOMMIT | IN_TRANS | MORE);
  });
});

describe('ResponseTracker: prepared statements', () => {
  for (const [mode, options, deprecateEof] of bothEofModes) {
    it(`follows COM_STMT_PREPARE with parameters and columns ${mode}`, () => {
      const server = framed(
        1,
        packet.prepareOk(9, 2, 1),
        packet.column('?'),
        ...(deprecateEof ? [] : [packet.eof()]),
        packet.column('id'),
        packet.column('name'),
        ...(deprecateEof ? [] : [packet.eof(AUTOCOMMIT | IN_TRANS)]),
      );
      const [end] = responses(options, [Buffer.from('\x16SELECT id, name FROM t WHERE id > ?', 'latin1')], server);
      expect(end).toMatchObject({ end: server.length, outcome: 'ok', statementId: 9, affectedRows: 0, statusReported: !deprecateEof });
    });

    it(`follows COM_STMT_EXECUTE with a binary result set ${mode}`, () => {
      const server = framed(
        1,
        packet.columnCount(2),
        packet.column('id'),
        packet.column('name'),
        ...(deprecateEof ? [] : [packet.eof()]),
        packet.binaryRow('1', 'ann'),
        packet.binaryRow('2', null),
        deprecateEof ? packet.okFe() : packet.eof(),
      );
      const [end] = responses(options, [command.execute(9)], server);
      expect(end).toMatchObject({ end: server.length, command: Command.COM_STMT_EXECUTE, resultSets: 1 });
    });

    it(`ends a cursor's COM_STMT_EXECUTE after the column definitions; COM_STMT_FETCH brings the rows ${mode}`, () => {
      const opened = framed(1, packet.columnCount(1), packet.column('id'), deprecateEof ? packet.okFe(AUTOCOMMIT | CURSOR) : packet.eof(AUTOCOMMIT | CURSOR));
      const first = framed(1, packet.binaryRow('1'), packet.binaryRow('2'), deprecateEof ? packet.okFe(AUTOCOMMIT | CURSOR) : packet.eof(AUTOCOMMIT | CURSOR));
      const last = framed(1, packet.binaryRow('3'), deprecateEof ? packet.okFe(AUTOCOMMIT | LAST_ROW) : packet.eof(AUTOCOMMIT | LAST_ROW));
      const server = Buffer.concat([opened, first, last]);
      const events = responses(options, [command.execute(9, true), command.fetch(9, 2), command.fetch(9, 2)], server);
      expect(events.map((e) => [e.ticket, e.command, e.end, e.statusFlags])).toEqual([
        [1, Command.COM_STMT_EXECUTE, opened.length, AUTOCOMMIT | CURSOR],
        [2, Command.COM_STMT_FETCH, opened.length + first.length, AUTOCOMMIT | CURSOR],
        [3, Command.COM_STMT_FETCH, server.length, AUTOCOMMIT | LAST_ROW],
      ]);
    });

    it(`reads rows when a cursor was asked for but the server opened none ${mode}`, () => {
      const server = framed(
        1,
        packet.columnCount(1),
        packet.column('id'),
        ...(deprecateEof ? [] : [packet.eof()]),
        packet.binaryRow('1'),
        deprecateEof ? packet.okFe() : packet.eof(),
      );
      const [end] = responses(options, [command.execute(9, true)], server);
      expect(end).toMatchObject({ end: server.length, resultSets: 1 });
    });
  }

  it('ends COM_STMT_FETCH at its terminator even if that says more results exist: a fetch reads one cursor', () => {
    const server = framed(1, packet.binaryRow('1'), packet.eof(AUTOCOMMIT | CURSOR | MORE));
    const [end] = responses({}, [command.fetch(9, 1)], server);
    expect(end).toMatchObject({ end: server.length, command: Command.COM_STMT_FETCH, outcome: 'eof' });
  });

  it('ends a COM_STMT_PREPARE without parameters or columns at its OK', () => {
    const [end] = responses({}, [Buffer.from('\x16CALL p()', 'latin1')], framed(1, packet.prepareOk(4, 0, 0)));
    expect(end).toMatchObject({ outcome: 'ok', statementId: 4, statusReported: false });
  });

  it('ends a failed COM_STMT_PREPARE at its ERR', () => {
    const [end] = responses({}, [Buffer.from('\x16SELECT * FROM nope', 'latin1')], framed(1, packet.err(1146, '42S02', 'no table')));
    expect(end).toMatchObject({ outcome: 'err', errno: 1146 });
  });

  it('chains binary result sets of a prepared CALL (CLIENT_PS_MULTI_RESULTS)', () => {
    const server = framed(
      1,
      packet.columnCount(1),
      packet.column('a'),
      packet.eof(AUTOCOMMIT | MORE),
      packet.binaryRow('1'),
      packet.eof(AUTOCOMMIT | MORE),
      packet.columnCount(1),
      packet.column('b'),
      packet.eof(AUTOCOMMIT | MORE),
      packet.eof(AUTOCOMMIT | MORE),
      packet.ok({ statusFlags: AUTOCOMMIT }),
    );
    const [end] = responses({}, [command.execute(5)], server);
    expect(end).toMatchObject({ end: server.length, outcome: 'ok', resultSets: 2 });
  });

  it('follows COM_STMT_BULK_EXECUTE (MariaDB) to its OK', () => {
    const [end] = responses({}, [Buffer.from([0xfa, 1, 0, 0, 0, 0x80, 0, 8, 0])], framed(1, packet.ok({ affectedRows: 3 })));
    expect(end).toMatchObject({ command: Command.COM_STMT_BULK_EXECUTE, outcome: 'ok', affectedRows: 3 });
  });

  it('expects nothing for COM_STMT_CLOSE and COM_STMT_SEND_LONG_DATA, then tracks the next command', () => {
    const t = tracker({});
    expect(t.sent(Buffer.from([Command.COM_STMT_CLOSE, 1, 0, 0, 0]))).toEqual({ ticket: 1, expectsResponse: false });
    expect(t.sent(Buffer.from([Command.COM_STMT_SEND_LONG_DATA, 2, 0, 0, 0, 0, 0, 0x61]))).toEqual({ ticket: 2, expectsResponse: false });
    expect(t.idle).toBe(true);
    expect(t.sent(command.simple(Command.COM_PING))).toEqual({ ticket: 3, expectsResponse: true });
    expect(pushChunks(t, [framed(1, packet.ok())])).toMatchObject([{ ticket: 3, outcome: 'ok' }]);
  });
});

describe('ResponseTracker: MariaDB extended capabilities', () => {
  const cache = { mariadbCapabilities: MariadbCapability.MARIADB_CLIENT_CACHE_METADATA };
  const progress = { mariadbCapabilities: MariadbCapability.MARIADB_CLIENT_PROGRESS };

  for (const [mode, options, deprecateEof] of bothEofModes) {
    it(`skips the column definitions when the metadata-follows byte is 0 (MARIADB_CLIENT_CACHE_METADATA) ${mode}`, () => {
      const server = framed(1, ...textResultSet({ columns: ['id', 'name'], rows: [['1', 'a']], deprecateEof, metadataByte: 0 }));
      const [end] = responses({ ...options, ...cache }, [command.execute(3)], server);
      expect(end).toMatchObject({ end: server.length, resultSets: 1 });
    });
  }

  it('reads the column definitions when the metadata-follows byte is 1', () => {
    const server = framed(1, ...textResultSet({ columns: ['id', 'name'], rows: [['1', 'a']], deprecateEof: false, metadataByte: 1 }));
    expect(responses(cache, [command.query('SELECT id, name FROM t')], server)).toHaveLength(1);
  });

  it('refuses a column count without its metadata-follows byte, and one with a byte not negotiated', () => {
    const missing = tracker(cache, command.query('SELECT 1'));
    expect(iamdbErrorOf(() => missing.push(framed(1, packet.columnCount(1)))).code).toBe('PROTO_MYSQL_MALFORMED');
    const extra = tracker({}, command.query('SELECT 1'));
    expect(iamdbErrorOf(() => extra.push(framed(1, packet.columnCount(1, 1)))).code).toBe('PROTO_MYSQL_MALFORMED');
  });

  it('passes over progress reports (ERR 0xFFFF) in the middle of a response (MARIADB_CLIENT_PROGRESS)', () => {
    const server = framed(
      1,
      packet.progress(1, 2, 250, 'copy to tmp table'),
      packet.progress(2, 2, 900, 'Enabling keys'),
      packet.ok({ affectedRows: 200000 }),
    );
    const [end] = responses(progress, [command.query('ALTER TABLE big FORCE')], server);
    expect(end).toMatchObject({ end: server.length, outcome: 'ok', affectedRows: 200000 });
  });

  it('passes over a progress report between rows and ends at the real ERR after it', () => {
    const server = framed(1, packet.columnCount(1), packet.column('n'), packet.eof(), packet.textRow('1'), packet.progress(1, 1, 10, 'x'), packet.err(1317, '70100', 'Query execution was interrupted'));
    const [end] = responses(progress, [command.query('SELECT n FROM t')], server);
    expect(end).toMatchObject({ end: server.length, outcome: 'err', errno: 1317 });
  });

  it('refuses a progress report when MARIADB_CLIENT_PROGRESS was not negotiated', () => {
    const t = tracker({}, command.query('ALTER TABLE big FORCE'));
    expect(iamdbErrorOf(() => t.push(framed(1, packet.progress(1, 1, 1, 'x')))).code).toBe('PROTO_MYSQL_UNEXPECTED_PACKET');
  });
});

describe('ResponseTracker: other commands', () => {
  it('ends COM_PING, COM_INIT_DB, COM_RESET_CONNECTION, COM_STMT_RESET, COM_REFRESH and COM_PROCESS_KILL at one packet', () => {
    const commands = [
      command.simple(Command.COM_PING),
      Buffer.from('\x02trk', 'latin1'),
      command.simple(Command.COM_RESET_CONNECTION),
      Buffer.from([Command.COM_STMT_RESET, 1, 0, 0, 0]),
      Buffer.from([Command.COM_REFRESH, 4]),
      Buffer.from([Command.COM_PROCESS_KILL, 0x3f, 0x42, 0x0f, 0]),
    ];
    const parts = [packet.ok(), packet.ok(), packet.ok(), packet.ok(), packet.ok(), packet.err(1094, 'HY000', 'Unknown thread id: 999999')];
    const server = Buffer.concat(parts.map((p) => framed(1, p)));
    const events = responses({}, commands, server);
    expect(events.map((e) => [e.command, e.outcome])).toEqual([
      [Command.COM_PING, 'ok'],
      [Command.COM_INIT_DB, 'ok'],
      [Command.COM_RESET_CONNECTION, 'ok'],
      [Command.COM_STMT_RESET, 'ok'],
      [Command.COM_REFRESH, 'ok'],
      [Command.COM_PROCESS_KILL, 'err'],
    ]);
  });

  for (const [mode, options, deprecateEof] of bothEofModes) {
    it(`ends COM_SET_OPTION, COM_DEBUG and COM_SHUTDOWN at their EOF ${mode}`, () => {
      const end = deprecateEof ? packet.okFe() : packet.eof();
      const commands = [Buffer.from([Command.COM_SET_OPTION, 1, 0]), command.simple(Command.COM_DEBUG), Buffer.from([Command.COM_SHUTDOWN, 0])];
      const events = responses(options, commands, Buffer.concat(commands.map(() => framed(1, end))));
      expect(events.map((e) => e.outcome)).toEqual(deprecateEof ? ['ok', 'ok', 'ok'] : ['eof', 'eof', 'eof']);
    });

    it(`follows COM_FIELD_LIST's column definitions to their end ${mode}`, () => {
      const server = framed(1, packet.column('id'), packet.column('name'), deprecateEof ? packet.okFe() : packet.eof());
      const [end] = responses(options, [Buffer.from('\x04people\x00', 'latin1')], server);
      expect(end).toMatchObject({ end: server.length, command: Command.COM_FIELD_LIST, outcome: deprecateEof ? 'ok' : 'eof' });
    });
  }

  it('takes COM_STATISTICS text as the whole response, not as an OK', () => {
    const text = Buffer.from('Uptime: 29  Threads: 1  Questions: 154  Slow queries: 0  Opens: 32  Open tables: 7  Queries per second avg: 5.310');
    const [end] = responses({}, [command.simple(Command.COM_STATISTICS)], framed(1, text));
    expect(end).toMatchObject({ outcome: 'other', statusReported: false });
  });

  it('follows COM_PROCESS_INFO like a query: a text result set', () => {
    const server = framed(1, ...textResultSet({ columns: ['Id', 'User'], rows: [['5', 'root']], deprecateEof: false }));
    const [end] = responses({}, [command.simple(Command.COM_PROCESS_INFO)], server);
    expect(end).toMatchObject({ end: server.length, resultSets: 1 });
  });
});

describe('commandDisposition', () => {
  it('knows the response of every command it relays', () => {
    const relayed = {
      'no-response': [Command.COM_QUIT, Command.COM_STMT_CLOSE, Command.COM_STMT_SEND_LONG_DATA],
      response: [
        Command.COM_INIT_DB,
        Command.COM_QUERY,
        Command.COM_FIELD_LIST,
        Command.COM_REFRESH,
        Command.COM_SHUTDOWN,
        Command.COM_STATISTICS,
        Command.COM_PROCESS_INFO,
        Command.COM_PROCESS_KILL,
        Command.COM_DEBUG,
        Command.COM_PING,
        Command.COM_STMT_PREPARE,
        Command.COM_STMT_EXECUTE,
        Command.COM_STMT_RESET,
        Command.COM_SET_OPTION,
        Command.COM_STMT_FETCH,
        Command.COM_RESET_CONNECTION,
        Command.COM_STMT_BULK_EXECUTE,
      ],
    };
    for (const [disposition, bytes] of Object.entries(relayed)) {
      for (const b of bytes) expect([b, commandDisposition(b)]).toEqual([b, disposition]);
    }
    const known = new Set<number>(Object.values(relayed).flat());
    for (let b = 0; b < 256; b++) if (!known.has(b)) expect([b, commandDisposition(b)]).toEqual([b, 'refuse']);
  });

  it('refuses COM_CHANGE_USER, replication and unknown commands in sent() rather than guess their response', () => {
    for (const [byte, reason] of [
      [Command.COM_CHANGE_USER, /identity/],
      [Command.COM_BINLOG_DUMP, /replication/],
      [Command.COM_BINLOG_DUMP_GTID, /replication/],
      [Command.COM_REGISTER_SLAVE, /replication/],
      [Command.COM_TABLE_DUMP, /replication/],
      [Command.COM_MULTI, /COM_MULTI/],
      [Command.COM_CLONE, /internal or obsolete/],
      [0x42, /unknown command/],
    ] as const) {
      const t = tracker({});
      const err = iamdbErrorOf(() => t.sent(Buffer.from([byte, 0, 0, 0, 0, 0])));
      expect(err.code).toBe('PROTO_MYSQL_COMMAND_REFUSED');
      expect(err.message).toMatch(reason);
    }
  });
});

describe('ResponseTracker: construction', () => {
  it('refuses capabilities whose framing it does not follow, naming them', () => {
    for (const [bit, name] of [
      [Capability.CLIENT_COMPRESS, 'CLIENT_COMPRESS'],
      [Capability.CLIENT_ZSTD_COMPRESSION_ALGORITHM, 'CLIENT_ZSTD_COMPRESSION_ALGORITHM'],
      [Capability.CLIENT_LOCAL_FILES, 'CLIENT_LOCAL_FILES'],
      [Capability.CLIENT_OPTIONAL_RESULTSET_METADATA, 'CLIENT_OPTIONAL_RESULTSET_METADATA'],
    ] as const) {
      const err = iamdbErrorOf(() => new ResponseTracker({ capabilityFlags: (BASE_CAPS | bit) >>> 0 }));
      expect([err.code, err.message.includes(name)]).toEqual(['PROTO_MYSQL_UNSUPPORTED', true]);
    }
    expect(iamdbErrorOf(() => new ResponseTracker({ capabilityFlags: BASE_CAPS & ~Capability.CLIENT_PROTOCOL_41 })).code).toBe('PROTO_MYSQL_UNSUPPORTED');
    expect(iamdbErrorOf(() => new ResponseTracker({ capabilityFlags: BASE_CAPS, mariadbCapabilities: 1 << 6 })).code).toBe('PROTO_MYSQL_UNSUPPORTED');
  });

  it('accepts every known MariaDB extended capability and CLIENT_REMEMBER_OPTIONS (bit 31)', () => {
    const t = new ResponseTracker({ capabilityFlags: (BASE_CAPS | Capability.CLIENT_REMEMBER_OPTIONS) >>> 0, mariadbCapabilities: 0x3f });
    expect([t.capabilityFlags >>> 31, t.mariadbCapabilities]).toEqual([1, 0x3f]);
  });

  it('checks its numeric options', () => {
    for (const bad of [
      { capabilityFlags: -1 },
      { capabilityFlags: 2 ** 32 },
      { capabilityFlags: BASE_CAPS, mariadbCapabilities: 0.5 },
      { capabilityFlags: BASE_CAPS, maxAllowedPacket: 0 },
      { capabilityFlags: BASE_CAPS, maxPendingCommands: Number.NaN },
      { capabilityFlags: BASE_CAPS, statusFlags: 0x10000 },
    ]) {
      expect(iamdbErrorOf(() => new ResponseTracker(bad)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
    }
  });
});
