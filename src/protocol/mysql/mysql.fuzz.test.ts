/**
 * Property tests for every decoder in this folder: arbitrary and mutated
 * bytes raise only IamdbError; decode(encode(x)) === x; the same packets come
 * out however a stream is chunked. Seeds are the captured packets of
 * test-support/captured.ts (MariaDB 10.11 greeting, mysql2 and mariadb CLI
 * login responses).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IamdbError } from '../../errors/index.js';
import { classifyStatement, needsClassification } from './account-statements.js';
import { decodeClearPassword } from './auth/clear-password.js';
import { Capability } from './constants.js';
import { PacketFramer, encodePacket } from './packet-framer.js';
import { decodeAuthMoreData } from './packets/auth-more-data.js';
import { decodeAuthSwitchRequest, encodeAuthSwitchRequest } from './packets/auth-switch-request.js';
import { decodeComChangeUser } from './packets/com-change-user.js';
import { decodeComQuery } from './packets/com-query.js';
import { decodeEofPacket } from './packets/eof-packet.js';
import { decodeErrPacket, encodeErrPacket } from './packets/err-packet.js';
import {
  decodeClientHandshake,
  decodeHandshakeResponse41,
  encodeHandshakeResponse41,
} from './packets/handshake-response-41.js';
import { decodeHandshakeV10, encodeHandshakeV10 } from './packets/handshake-v10.js';
import { decodeOkPacket, encodeOkPacket } from './packets/ok-packet.js';
import { MARIADB_CLI_RESPONSE, MARIADB_GREETING, MYSQL2_RESPONSE } from './test-support/captured.js';

const RUNS = { numRuns: 400 };

function onlyIamdbErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof IamdbError)) throw err;
  }
}

const seeds = [MARIADB_GREETING, MYSQL2_RESPONSE, MARIADB_CLI_RESPONSE].map((b) => b.subarray(4));

/** A captured payload with a few bytes changed, cut or extended. */
const mutated = fc
  .tuple(
    fc.constantFrom(...seeds),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
    fc.nat(),
    fc.uint8Array({ maxLength: 8 }),
  )
  .map(([seed, flips, cut, tail]) => {
    const b = Buffer.from(seed);
    for (const [at, v] of flips) b[at % b.length] = v;
    return Buffer.concat([b.subarray(0, cut % (b.length + 1)), tail]);
  });

const anyBytes = fc.oneof(fc.uint8Array({ maxLength: 300 }).map((u) => Buffer.from(u)), mutated);

const capsArb = fc.integer({ min: 0, max: 0xffffffff });

const decoders: [string, (b: Buffer, caps: number) => unknown][] = [
  ['HandshakeV10', (b) => decodeHandshakeV10(b)],
  ['client handshake', (b) => decodeClientHandshake(b)],
  ['HandshakeResponse41', (b) => decodeHandshakeResponse41(b)],
  ['AuthSwitchRequest', (b) => decodeAuthSwitchRequest(b)],
  ['AuthMoreData', (b) => decodeAuthMoreData(b)],
  ['OK', (b, c) => decodeOkPacket(b, c)],
  ['ERR', (b) => decodeErrPacket(b)],
  ['EOF', (b, c) => decodeEofPacket(b, c)],
  ['COM_CHANGE_USER', (b, c) => decodeComChangeUser(b, c)],
  ['COM_QUERY', (b, c) => decodeComQuery(b, c)],
  ['clear password', (b) => decodeClearPassword(b)],
];

describe('decoders on arbitrary and mutated bytes', () => {
  it.each(decoders)('%s throws only IamdbError', (_name, decode) => {
    fc.assert(
      fc.property(anyBytes, capsArb, (bytes, caps) => onlyIamdbErrors(() => decode(bytes, caps))),
      RUNS,
    );
  });

  it('the framer throws only IamdbError and never buffers past its limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), (chunks) => {
        const framer = new PacketFramer({ maxAllowedPacket: 1000 });
        onlyIamdbErrors(() => {
          for (const c of chunks) {
            framer.push(c);
            expect(framer.bufferedBytes).toBeLessThanOrEqual(1000 + 4 + 64);
          }
          framer.end();
        });
      }),
      RUNS,
    );
  });
});

describe('account statement recognizer', () => {
  const MODES = ['escapes', 'no-escapes', 'unknown'] as const;
  const HASH = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19';

  /** Text inside comments and strings: quotes, separators, words, backslashes; never a comment delimiter. */
  const inner = fc
    .array(fc.constantFrom('a', ' ', "'", '"', '`', ';', '\\', '-', '#', '\n', 'user', 'DROP USER x', 'password', '@', '(', ')'), { maxLength: 8 })
    .map((a) => a.join(''));
  const comment = fc.oneof(
    inner.map((t) => `/*${t.replace(/[*/]/g, '')}*/`),
    inner.map((t) => `-- ${t.replace(/\n/g, '')}\n`),
    inner.map((t) => `#${t.replace(/\n/g, '')}\n`),
  );
  const executableComment = inner.map((t) => `/*!50000${t.replace(/[*/]/g, '')}*/`);
  const space = fc.constantFrom(' ', '\n', '\t', '\r\n');
  const noise = (withExecutable: boolean) =>
    fc.array(withExecutable ? fc.oneof(space, comment, executableComment) : fc.oneof(space, comment), { maxLength: 3 }).map((a) => ` ${a.join(' ')} `);
  /** String literal content that reads the same in every mode: no backslash, quotes doubled. */
  const literal = fc.array(fc.constantFrom('a', ' ', "''", '"', ';', 'user', 'DROP USER x', '--', '/*', '#'), { maxLength: 6 }).map((a) => a.join(''));
  const ordinary = fc.oneof(
    fc.constant('SELECT 1'),
    literal.map((l) => `SELECT '${l}'`),
    literal.map((l) => `UPDATE users SET password = '${l}' WHERE user = 'u'`),
    literal.map((l) => `INSERT INTO t (user, password) VALUES ('${l}', 1)`),
    literal.map((l) => `SET @a = '${l}'`),
    fc.constant('CREATE TABLE users (user int, password int)'),
    fc.constant('SELECT `a``b` FROM users'),
    fc.constant('SHOW GRANTS FOR a'),
  );
  const accountStatement = fc.constantFrom(
    'DROP USER a',
    "SET PASSWORD = PASSWORD('x')",
    `SET PASSWORD FOR 'mallory'@'%' = '${HASH}'`,
    "CREATE USER a IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'",
    "GRANT SELECT ON d1.* TO a IDENTIFIED BY 'x'",
    'GRANT r1 TO a',
    "ALTER USER CURRENT_USER() IDENTIFIED BY 'x'",
    'ALTER USER a REQUIRE SSL',
    'RENAME USER a TO b',
    'KILL 5',
    "PREPARE s FROM 'DROP USER x'",
    "EXECUTE IMMEDIATE 'SET PASSWORD = PASSWORD(''x'')'",
    "SET @a = 1, PASSWORD = PASSWORD('x')",
    'SET STATEMENT max_statement_time = 1 FOR DROP USER a',
    'BEGIN NOT ATOMIC DROP USER a',
    "CREATE PROCEDURE p() ALTER USER a IDENTIFIED BY 'x'",
  );
  /** Statements joined by ';', each with comments and whitespace around it; `accounts` says how many are ours. */
  const composition = (withExecutable: boolean) =>
    fc
      .array(fc.tuple(fc.boolean(), ordinary, accountStatement, noise(withExecutable), noise(withExecutable)), { minLength: 1, maxLength: 4 })
      .map((parts) => ({
        text: parts.map(([ours, o, a, before, after]) => `${before}${ours ? a : o}${after}`).join(';'),
        accounts: parts.filter(([ours]) => ours).length,
      }));

  it('is never other when an account statement starts a statement, and other when none does', () => {
    fc.assert(
      fc.property(composition(false), ({ text, accounts }) => {
        for (const backslashes of MODES) {
          const v = classifyStatement(text, { backslashes });
          if (accounts > 0) expect(v.kind).not.toBe('other');
          else expect(v).toEqual({ kind: 'other' });
          expect(needsClassification(text, { backslashes })).toBe(accounts > 0 || v.kind !== 'other');
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('is never other with executable comments around account statements', () => {
    fc.assert(
      fc.property(composition(true), ({ text, accounts }) => {
        fc.pre(accounts > 0);
        for (const backslashes of MODES) expect(classifyStatement(text, { backslashes }).kind).not.toBe('other');
      }),
      { numRuns: 500 },
    );
  });

  const sqlish = fc.array(
    fc.constantFrom(
      'CREATE', 'USER', 'ALTER', 'DROP', 'RENAME', 'SET', 'PASSWORD', 'FOR', 'IF', 'NOT', 'EXISTS', 'IDENTIFIED', 'GRANT',
      'KILL', 'QUERY', 'PREPARE', 'FROM', 'EXECUTE', 'IMMEDIATE', 'BEGIN', 'THEN', 'ELSE', 'SELECT', 'UPDATE', 'REPLACE',
      'WITH', 'BY', 'AS', 'VIA', 'OR', 'AND', 'AWSAuthenticationPlugin', "'RDS'", "'a'", '"b"', '`c`', '@', ',', ';',
      '=', 'TO', 'CURRENT_USER', '(', ')', '/*', '*/', '/*!', '/*M!', '--', '#', '\n', "'", '"', '`', '\\', ' ', '5',
      'REQUIRE', 'SSL', 'x', '%', '.', ':',
    ),
    { maxLength: 30 },
  );
  const anyText = fc.oneof(fc.string({ maxLength: 200 }), sqlish.map((a) => a.join(' ')), sqlish.map((a) => a.join('')));

  it('throws nothing but IamdbError, and a rewrite is again a statement about the same accounts', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, fc.uint8Array({ maxLength: 200 })), fc.constantFrom(...MODES), (text, backslashes) => {
        onlyIamdbErrors(() => {
          const v = classifyStatement(text, { backslashes });
          if (v.kind !== 'account' || v.rewrite === undefined) return;
          const again = classifyStatement(v.rewrite(() => HASH), { backslashes });
          expect(again.kind).toBe('account');
          if (again.kind !== 'account') return;
          expect(again.effects.map((e) => e.action)).toEqual(v.effects.map(() => 'changes-auth'));
          expect(again.effects.map((e) => (e.action === 'changes-auth' ? e.account : undefined))).toEqual(
            v.effects.map((e) => (e.action === 'becomes-iam' ? e.account : undefined)),
          );
        });
      }),
      { numRuns: 3000 },
    );
  });

  it('gives the same verdict for a string, its bytes, and any chunking of them', () => {
    fc.assert(
      fc.property(fc.oneof(anyText, composition(false).map((c) => c.text)), fc.array(fc.nat(), { maxLength: 5 }), fc.constantFrom(...MODES), (text, cutsRaw, backslashes) => {
        const bytes = Buffer.from(text);
        const cuts = [...new Set(cutsRaw.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const chunks = [...cuts, bytes.length].map((c, i, all) => bytes.subarray(i === 0 ? 0 : (all[i - 1] as number), c));
        const strip = (v: ReturnType<typeof classifyStatement>) => JSON.stringify(v);
        const whole = strip(classifyStatement(text, { backslashes }));
        expect(strip(classifyStatement(bytes, { backslashes }))).toBe(whole);
        expect(strip(classifyStatement(chunks, { backslashes }))).toBe(whole);
        expect(needsClassification(chunks, { backslashes })).toBe(needsClassification(text, { backslashes }));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('round trips', () => {
  const name = fc.string({ maxLength: 20 }).filter((s) => !s.includes('\0'));
  const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((u) => Buffer.from(u));

  it('HandshakeResponse41', () => {
    fc.assert(
      fc.property(capsArb, fc.nat({ max: 0xffffffff }), fc.integer({ min: 0, max: 255 }), capsArb, name, bytes(250), fc.option(name, { nil: undefined }), fc.option(name, { nil: undefined }), fc.option(fc.array(fc.tuple(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 })), { maxLength: 4 }), { nil: undefined }),
        (rawCaps, maxPacketSize, characterSet, ext, username, auth, database, plugin, attrs) => {
          let caps = (rawCaps | Capability.CLIENT_PROTOCOL_41) >>> 0;
          caps = database === undefined ? caps & ~Capability.CLIENT_CONNECT_WITH_DB : caps | Capability.CLIENT_CONNECT_WITH_DB;
          caps = attrs === undefined ? caps & ~Capability.CLIENT_CONNECT_ATTRS : caps | Capability.CLIENT_CONNECT_ATTRS;
          if (attrs !== undefined || plugin !== undefined) caps |= Capability.CLIENT_PLUGIN_AUTH;
          else caps &= ~Capability.CLIENT_PLUGIN_AUTH;
          caps >>>= 0;
          const secure = (caps & (Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.CLIENT_SECURE_CONNECTION)) !== 0;
          const authResponse = secure ? auth : Buffer.from(auth.filter((b) => b !== 0));
          const v = {
            capabilityFlags: caps,
            maxPacketSize,
            characterSet,
            mariadbCapabilities: caps & Capability.CLIENT_LONG_PASSWORD ? 0 : ext >>> 0,
            username: username.slice(0, 32),
            authResponse,
            database,
            authPluginName: plugin ?? (attrs !== undefined ? 'mysql_native_password' : undefined),
            connectAttributes: attrs,
          };
          const decoded = decodeHandshakeResponse41(encodeHandshakeResponse41(v));
          expect(decoded).toEqual({ type: 'HandshakeResponse41', ...v });
        }),
      RUNS,
    );
  });

  it('HandshakeV10', () => {
    const scramble = fc.uint8Array({ minLength: 20, maxLength: 20 }).map((u) => Buffer.from(u.map((b) => (b % 94) + 33)));
    fc.assert(
      fc.property(name, fc.nat({ max: 0xffffffff }), scramble, capsArb, fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), capsArb, fc.string({ minLength: 1, maxLength: 30 }).filter((s) => !s.includes('\0')),
        (serverVersion, connectionId, authPluginData, rawCaps, characterSet, statusFlags, ext, plugin) => {
          const caps = (rawCaps | Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH) >>> 0;
          const v = {
            serverVersion, connectionId, authPluginData, capabilityFlags: caps, characterSet, statusFlags,
            mariadbCapabilities: caps & Capability.CLIENT_LONG_PASSWORD ? 0 : ext >>> 0, authPluginName: plugin,
          };
          expect(decodeHandshakeV10(encodeHandshakeV10(v))).toEqual({ type: 'HandshakeV10', ...v });
        }),
      RUNS,
    );
  });

  it('OK, ERR and AuthSwitchRequest', () => {
    fc.assert(
      fc.property(capsArb, fc.nat(), fc.nat(), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.string({ maxLength: 40 }),
        (caps, affectedRows, lastInsertId, statusFlags, warnings, info) => {
          const v = { affectedRows, lastInsertId, statusFlags: statusFlags & ~0x4000, warnings, info };
          const d = decodeOkPacket(encodeOkPacket(v, caps), caps);
          expect(d.affectedRows).toBe(affectedRows);
          expect(d.lastInsertId).toBe(lastInsertId);
          if (caps & (Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_TRANSACTIONS)) expect(d.statusFlags).toBe(v.statusFlags);
          expect(d.info).toBe(info);
          const e = { errno: statusFlags === 0xffff ? 1 : statusFlags, sqlState: 'HY000', message: info };
          expect(decodeErrPacket(encodeErrPacket(e))).toEqual({ type: 'ERR', ...e });
          const sw = { pluginName: info.replace(/\0/g, ''), pluginData: Buffer.from(info) };
          if (Buffer.byteLength(sw.pluginName) <= 64) {
            expect(decodeAuthSwitchRequest(encodeAuthSwitchRequest(sw))).toEqual({ type: 'AuthSwitchRequest', ...sw });
          }
        }),
      RUNS,
    );
  });
});

describe('chunking', () => {
  it('the framer yields the same packets at random cuts, continuations included', () => {
    const payloads = fc.array(fc.oneof(fc.uint8Array({ maxLength: 50 }), fc.constant(new Uint8Array(0))), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(payloads, fc.array(fc.nat(), { maxLength: 10 }), (list, cutsRaw) => {
        const wire = Buffer.concat(list.map((p, i) => encodePacket(p, i & 0xff)));
        const cuts = [...new Set(cutsRaw.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
        const framer = new PacketFramer();
        const out: Buffer[] = [];
        let from = 0;
        for (const c of [...cuts, wire.length]) {
          for (const p of framer.push(wire.subarray(from, c))) out.push(Buffer.from(p.payload));
          from = c;
        }
        framer.end();
        expect(out.map((b) => b.toString('hex'))).toEqual(list.map((p) => Buffer.from(p).toString('hex')));
      }),
      RUNS,
    );
  });

  it('a 0xFFFFFF continuation survives random cuts', () => {
    const payload = Buffer.alloc(0xffffff + 3, 0x5a);
    const wire = encodePacket(payload, 0);
    fc.assert(
      fc.property(fc.array(fc.nat({ max: wire.length }), { maxLength: 4 }), (cutsRaw) => {
        const cuts = [...new Set(cutsRaw)].sort((a, b) => a - b);
        const framer = new PacketFramer();
        const out = [];
        let from = 0;
        for (const c of [...cuts, wire.length]) {
          out.push(...framer.push(wire.subarray(from, c)));
          from = c;
        }
        expect(out).toHaveLength(1);
        expect(out[0]?.payload.length).toBe(payload.length);
      }),
      { numRuns: 10 },
    );
  });
});
