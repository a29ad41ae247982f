import { describe, expect, it } from 'vitest';
import { Capability, MariadbCapability, ServerStatus } from '../constants.js';
import { PacketFramer, encodePacket } from '../packet-framer.js';
import { MARIADB_CLI_RESPONSE, MARIADB_GREETING, MYSQL2_RESPONSE } from '../test-support/captured.js';
import { hex, iamdbErrorOf, splits } from '../test-support/hex.js';
import { scrambleNativePassword } from '../auth/native-password.js';
import { decodeAuthMoreData, encodeAuthMoreData } from './auth-more-data.js';
import { decodeAuthSwitchRequest, encodeAuthSwitchRequest } from './auth-switch-request.js';
import { decodeAuthSwitchResponse } from './auth-switch-response.js';
import { decodeComChangeUser, encodeComChangeUser } from './com-change-user.js';
import { decodeComQuery, encodeComQuery } from './com-query.js';
import { decodeEofPacket, encodeEofPacket, isEofPacket } from './eof-packet.js';
import { decodeErrPacket, encodeErrPacket, errPacketFor } from './err-packet.js';
import {
  decodeClientHandshake,
  decodeHandshakeResponse41,
  encodeHandshakeResponse41,
  type HandshakeResponse41,
} from './handshake-response-41.js';
import { decodeHandshakeV10, encodeHandshakeV10 } from './handshake-v10.js';
import { isOkPacket, decodeOkPacket, encodeOkPacket } from './ok-packet.js';
import { decodeSslRequest, encodeSslRequest } from './ssl-request.js';

function onlyPacket(wire: Buffer): Buffer {
  const packets = new PacketFramer().push(wire);
  expect(packets).toHaveLength(1);
  return (packets[0] as { payload: Buffer }).payload;
}

describe('HandshakeV10', () => {
  it('decodes a MariaDB greeting, split at every offset', () => {
    for (const chunks of splits(MARIADB_GREETING)) {
      const framer = new PacketFramer();
      const packets = chunks.flatMap((c) => framer.push(c));
      expect(packets).toHaveLength(1);
      const g = decodeHandshakeV10((packets[0] as { payload: Buffer }).payload);
      expect(g.serverVersion).toBe('5.5.5-10.11.19-MariaDB-0+deb12u1');
      expect(g.connectionId).toBe(10);
      expect(g.authPluginData.toString('latin1')).toBe('Q={wdnz;W$I&!o.7f!l}');
      expect(g.capabilityFlags & Capability.CLIENT_LONG_PASSWORD).toBe(0);
      expect(g.capabilityFlags & Capability.CLIENT_PLUGIN_AUTH).not.toBe(0);
      expect(g.mariadbCapabilities).toBe(0x1d);
      expect(g.characterSet).toBe(45);
      expect(g.statusFlags).toBe(ServerStatus.SERVER_STATUS_AUTOCOMMIT);
      expect(g.authPluginName).toBe('mysql_native_password');
    }
  });

  it('re-encodes the captured greeting byte for byte', () => {
    const payload = onlyPacket(MARIADB_GREETING);
    const { type: _t, ...g } = decodeHandshakeV10(payload);
    expect(encodeHandshakeV10(g).equals(payload)).toBe(true);
  });

  it('round-trips a MySQL-style greeting (CLIENT_MYSQL set, no extended caps)', () => {
    const g = {
      serverVersion: '8.0.36-iamdb',
      connectionId: 0xfffffffe,
      authPluginData: Buffer.from('abcdefghijklmnopqrst'),
      capabilityFlags: (0xffffffff & ~Capability.CLIENT_COMPRESS) >>> 0,
      characterSet: 255,
      statusFlags: 2,
      mariadbCapabilities: 0,
      authPluginName: 'caching_sha2_password',
    };
    expect(decodeHandshakeV10(encodeHandshakeV10(g))).toEqual({ type: 'HandshakeV10', ...g });
  });

  it('refuses to encode a scramble with NUL or of the wrong length', () => {
    const base = decodeHandshakeV10(onlyPacket(MARIADB_GREETING));
    expect(iamdbErrorOf(() => encodeHandshakeV10({ ...base, authPluginData: Buffer.alloc(20) })).code).toBe(
      'PROTO_MYSQL_INVALID_ARGUMENT',
    );
    expect(iamdbErrorOf(() => encodeHandshakeV10({ ...base, authPluginData: Buffer.alloc(8, 1) })).code).toBe(
      'PROTO_MYSQL_INVALID_ARGUMENT',
    );
  });

  it('rejects another protocol version and truncation', () => {
    const payload = onlyPacket(MARIADB_GREETING);
    const other = Buffer.from(payload);
    other[0] = 9;
    expect(iamdbErrorOf(() => decodeHandshakeV10(other)).code).toBe('PROTO_MYSQL_UNEXPECTED_PACKET');
    for (let cut = 1; cut < payload.length; cut++) {
      // 49: ends after the lower capability flags (a valid pre-4.1 greeting); from 78 the plugin
      // name is read leniently, since some servers omit its NUL (MySQL bug #59453).
      if (cut === 49 || cut >= 78) continue;
      expect(iamdbErrorOf(() => decodeHandshakeV10(payload.subarray(0, cut))).kind).toBe('ProtocolViolation');
    }
  });
});

describe('HandshakeResponse41', () => {
  it('decodes mysql2 and mariadb CLI responses, whose scramble matches ours', () => {
    const greeting = decodeHandshakeV10(onlyPacket(MARIADB_GREETING));
    const expected = scrambleNativePassword('pw', greeting.authPluginData);
    for (const wire of [MYSQL2_RESPONSE, MARIADB_CLI_RESPONSE]) {
      for (const chunks of splits(wire)) {
        const framer = new PacketFramer({ expectedSequenceId: 1 });
        const [packet] = chunks.flatMap((c) => framer.push(c));
        const r = decodeClientHandshake((packet as { payload: Buffer }).payload) as HandshakeResponse41;
        expect(r.type).toBe('HandshakeResponse41');
        expect(r.username).toBe('app');
        expect(r.database).toBe('db1');
        expect(r.authPluginName).toBe('mysql_native_password');
        expect(r.authResponse.equals(expected)).toBe(true);
      }
    }
    const cli = decodeHandshakeResponse41(onlyPacket(MARIADB_CLI_RESPONSE));
    expect(cli.mariadbCapabilities).toBe(0x1d);
    const attrs = new Map(cli.connectAttributes);
    expect(attrs.get('_client_name')).toBe('libmariadb');
    expect(attrs.get('program_name')).toBe('mysql');
    expect(attrs.size).toBe(7);
    const m2 = decodeHandshakeResponse41(onlyPacket(MYSQL2_RESPONSE));
    expect(m2.connectAttributes).toEqual([['_client_name', 'Node-MySQL-2'], ['_client_version', '3.24.6']]);
  });

  it('re-encodes the captured responses byte for byte', () => {
    for (const wire of [MYSQL2_RESPONSE, MARIADB_CLI_RESPONSE]) {
      const payload = onlyPacket(wire);
      const { type: _t, ...r } = decodeHandshakeResponse41(payload);
      expect(encodeHandshakeResponse41(r).equals(payload)).toBe(true);
    }
  });

  it('round-trips each auth-response form', () => {
    const base = {
      maxPacketSize: 1 << 24,
      characterSet: 45,
      mariadbCapabilities: MariadbCapability.MARIADB_CLIENT_PROGRESS,
      username: 'üser',
      database: undefined,
      authPluginName: undefined,
      connectAttributes: undefined,
    };
    const forms = [
      Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
      Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION,
      Capability.CLIENT_PROTOCOL_41,
    ];
    for (const caps of forms) {
      const authResponse = caps === Capability.CLIENT_PROTOCOL_41 ? Buffer.from('token') : Buffer.alloc(300 % (caps & Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA ? 301 : 256), 9);
      const v = { ...base, capabilityFlags: caps, authResponse };
      expect(decodeHandshakeResponse41(encodeHandshakeResponse41(v))).toEqual({ type: 'HandshakeResponse41', ...v });
    }
  });

  it('bounds the user name, the auth response and the attributes', () => {
    const caps = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | Capability.CLIENT_CONNECT_ATTRS | Capability.CLIENT_PLUGIN_AUTH;
    const make = (over: Partial<HandshakeResponse41>) =>
      encodeHandshakeResponse41({
        capabilityFlags: caps,
        maxPacketSize: 0,
        characterSet: 45,
        mariadbCapabilities: 0,
        username: 'u',
        authResponse: Buffer.alloc(0),
        database: undefined,
        authPluginName: 'mysql_clear_password',
        connectAttributes: undefined,
        ...over,
      });
    expect(iamdbErrorOf(() => decodeHandshakeResponse41(make({ username: 'u'.repeat(129) }))).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
    expect(decodeHandshakeResponse41(make({ username: 'u'.repeat(128) })).username).toHaveLength(128);
    expect(iamdbErrorOf(() => decodeHandshakeResponse41(make({ authResponse: Buffer.alloc(16 * 1024 + 1, 1) }))).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
    expect(iamdbErrorOf(() => decodeHandshakeResponse41(make({ connectAttributes: [['k', 'v'.repeat(70_000)]] }))).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
  });

  it('rejects invalid UTF-8 in the user name, and pre-4.1 clients', () => {
    const ok = onlyPacket(MYSQL2_RESPONSE);
    const bad = Buffer.from(ok);
    bad[32] = 0xff;
    expect(iamdbErrorOf(() => decodeHandshakeResponse41(bad)).code).toBe('PROTO_MYSQL_INVALID_TEXT');
    const old = Buffer.from(ok);
    old.writeUInt32LE(old.readUInt32LE(0) & ~Capability.CLIENT_PROTOCOL_41, 0);
    expect(iamdbErrorOf(() => decodeHandshakeResponse41(old)).code).toBe('PROTO_MYSQL_UNSUPPORTED');
  });

  it('rejects every truncation of a captured response', () => {
    const payload = onlyPacket(MARIADB_CLI_RESPONSE);
    // The plugin name (61) and the attribute block (83) are optional at the end of the packet.
    const valid = new Set([61, 83]);
    for (let cut = 0; cut < payload.length; cut++) {
      if (valid.has(cut)) continue;
      const err = iamdbErrorOf(() => decodeHandshakeResponse41(payload.subarray(0, cut)));
      expect(err.kind).toBe('ProtocolViolation');
    }
  });
});

describe('SSLRequest', () => {
  it('round-trips and is told apart from a HandshakeResponse41', () => {
    const wire = encodeSslRequest({ capabilityFlags: Capability.CLIENT_SECURE_CONNECTION, maxPacketSize: 1 << 24, characterSet: 45, mariadbCapabilities: 0x1d });
    expect(wire).toHaveLength(32);
    const decoded = decodeClientHandshake(wire);
    expect(decoded).toEqual({
      type: 'SSLRequest',
      capabilityFlags: Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_SSL | Capability.CLIENT_PROTOCOL_41,
      maxPacketSize: 1 << 24,
      characterSet: 45,
      mariadbCapabilities: 0x1d,
    });
    expect(iamdbErrorOf(() => decodeSslRequest(wire.subarray(0, 31))).code).toBe('PROTO_MYSQL_MALFORMED');
    // A 32-byte packet without CLIENT_SSL is a (truncated) HandshakeResponse41.
    const noSsl = Buffer.from(wire);
    noSsl.writeUInt32LE(Capability.CLIENT_PROTOCOL_41, 0);
    expect(iamdbErrorOf(() => decodeClientHandshake(noSsl)).code).toBe('PROTO_MYSQL_UNTERMINATED_STRING');
  });
});

describe('auth packets', () => {
  it('AuthSwitchRequest round-trips and keeps plugin data byte-exact', () => {
    const v = { pluginName: 'mysql_clear_password', pluginData: Buffer.alloc(0) };
    expect(encodeAuthSwitchRequest(v)).toEqual(hex('fe 6d 79 73 71 6c 5f 63 6c 65 61 72 5f 70 61 73 73 77 6f 72 64 00'));
    expect(decodeAuthSwitchRequest(encodeAuthSwitchRequest(v))).toEqual({ type: 'AuthSwitchRequest', ...v });
    const native = { pluginName: 'mysql_native_password', pluginData: Buffer.concat([Buffer.from('abcdefghijklmnopqrst'), hex('00')]) };
    expect(decodeAuthSwitchRequest(encodeAuthSwitchRequest(native))).toEqual({ type: 'AuthSwitchRequest', ...native });
    expect(iamdbErrorOf(() => decodeAuthSwitchRequest(hex('fe'))).code).toBe('PROTO_MYSQL_UNSUPPORTED');
    expect(iamdbErrorOf(() => decodeAuthSwitchRequest(hex('fe 61 62'))).code).toBe('PROTO_MYSQL_UNTERMINATED_STRING');
  });

  it('AuthMoreData and AuthSwitchResponse', () => {
    expect(decodeAuthMoreData(encodeAuthMoreData({ data: hex('03') }))).toEqual({ type: 'AuthMoreData', data: hex('03') });
    expect(iamdbErrorOf(() => decodeAuthMoreData(hex(''))).code).toBe('PROTO_MYSQL_UNEXPECTED_PACKET');
    expect(decodeAuthSwitchResponse(hex('61 00')).data).toEqual(hex('61 00'));
    expect(iamdbErrorOf(() => decodeAuthSwitchResponse(Buffer.alloc(16 * 1024 + 1))).code).toBe('PROTO_MYSQL_FIELD_TOO_LONG');
  });
});

describe('OK, ERR and EOF', () => {
  const caps41 = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_TRANSACTIONS;

  it('decodes a golden OK (protocol 4.1) and round-trips variants', () => {
    // OK after "UPDATE": 1 affected row, insert id 0, autocommit, 0 warnings, info text.
    const golden = hex('00 01 00 02 00 00 00') ;
    expect(decodeOkPacket(golden, caps41)).toEqual({
      type: 'OK', header: 0, affectedRows: 1, lastInsertId: 0, statusFlags: 2, warnings: 0, info: '', sessionStateChanges: undefined,
    });
    const variants: [number, Parameters<typeof encodeOkPacket>[0]][] = [
      [caps41, { affectedRows: 300, lastInsertId: 70_000, warnings: 3, info: 'Rows matched: 1  Changed: 1  Warnings: 0' }],
      [caps41 | Capability.CLIENT_SESSION_TRACK, { affectedRows: 2 ** 40, info: 'x' }],
      [caps41 | Capability.CLIENT_SESSION_TRACK, { statusFlags: 2 | ServerStatus.SERVER_SESSION_STATE_CHANGED, sessionStateChanges: hex('00 05 04 61 62 63 64') }],
      [Capability.CLIENT_TRANSACTIONS, { affectedRows: 5, info: 'legacy' }],
      [0, { affectedRows: 5, info: 'no 4.1' }],
      [caps41 | Capability.CLIENT_DEPRECATE_EOF, { header: 0xfe, statusFlags: 0x22 }],
    ];
    for (const [caps, v] of variants) {
      const wire = encodeOkPacket(v, caps);
      expect(isOkPacket(wire, caps)).toBe(true);
      const d = decodeOkPacket(wire, caps);
      expect(encodeOkPacket(d, caps).equals(wire)).toBe(true);
      if (v.info !== undefined) expect(d.info).toBe(v.info);
    }
    expect(isOkPacket(hex('fe 00 00 02 00'), caps41 | Capability.CLIENT_DEPRECATE_EOF)).toBe(false);
  });

  it('ERR with and without SQLSTATE, and from the errno table', () => {
    const denied = errPacketFor('ER_ACCESS_DENIED_ERROR', "Access denied for user 'u'@'h' (using password: YES)");
    expect(denied.subarray(0, 9)).toEqual(hex('ff 15 04 23 32 38 30 30 30'));
    expect(decodeErrPacket(denied)).toEqual({
      type: 'ERR', errno: 1045, sqlState: '28000', message: "Access denied for user 'u'@'h' (using password: YES)",
    });
    // Pre-handshake errors have no SQLSTATE marker (e.g. "Too many connections").
    const early = encodeErrPacket({ errno: 1040, sqlState: undefined, message: 'Too many connections' });
    expect(decodeErrPacket(early).sqlState).toBeUndefined();
    expect(iamdbErrorOf(() => decodeErrPacket(hex('ff 15'))).code).toBe('PROTO_MYSQL_TRUNCATED');
    expect(iamdbErrorOf(() => decodeErrPacket(hex('ff ff ff 01 00'))).code).toBe('PROTO_MYSQL_UNSUPPORTED');
    expect(iamdbErrorOf(() => encodeErrPacket({ errno: 1, sqlState: 'bad', message: '' })).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });

  it('EOF', () => {
    const wire = encodeEofPacket({ warnings: 1, statusFlags: 0x22 }, caps41);
    expect(wire).toEqual(hex('fe 01 00 22 00'));
    expect(isEofPacket(wire)).toBe(true);
    expect(decodeEofPacket(wire, caps41)).toEqual({ type: 'EOF', warnings: 1, statusFlags: 0x22 });
    expect(decodeEofPacket(hex('fe'), 0)).toEqual({ type: 'EOF', warnings: 0, statusFlags: 0 });
    expect(iamdbErrorOf(() => decodeEofPacket(hex('fe 01'), caps41)).code).toBe('PROTO_MYSQL_TRUNCATED');
  });
});

describe('commands', () => {
  it('COM_QUERY keeps the text as a view; query attributes are refused', () => {
    const wire = encodeComQuery('SELECT 1');
    expect(wire).toEqual(hex('03 53 45 4c 45 43 54 20 31'));
    const d = decodeComQuery(wire);
    expect(d.sql.toString()).toBe('SELECT 1');
    expect(d.sql.buffer).toBe(wire.buffer);
    expect(decodeComQuery(hex('03 00 01 41'), Capability.CLIENT_QUERY_ATTRIBUTES).sql.toString()).toBe('A');
    expect(iamdbErrorOf(() => decodeComQuery(hex('03 01 01 00'), Capability.CLIENT_QUERY_ATTRIBUTES)).code).toBe('PROTO_MYSQL_UNSUPPORTED');
    expect(iamdbErrorOf(() => decodeComQuery(hex('0e'))).code).toBe('PROTO_MYSQL_UNEXPECTED_PACKET');
  });

  it('COM_CHANGE_USER is recognised', () => {
    const caps = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH;
    const wire = Buffer.concat([
      hex('11'), Buffer.from('root\0'), hex('02 aa bb'), Buffer.from('mysql\0'), hex('2d 00'), Buffer.from('mysql_native_password\0'),
    ]);
    expect(decodeComChangeUser(wire, caps)).toEqual({
      type: 'ComChangeUser', username: 'root', authResponse: hex('aa bb'), database: 'mysql', characterSet: 45, authPluginName: 'mysql_native_password', connectAttributes: undefined,
    });
    expect(decodeComChangeUser(Buffer.concat([hex('11'), Buffer.from('u\0'), hex('00'), Buffer.from('\0')]), caps).characterSet).toBeUndefined();
    expect(iamdbErrorOf(() => decodeComChangeUser(hex('11 75'), caps)).code).toBe('PROTO_MYSQL_UNTERMINATED_STRING');
  });

  it('COM_CHANGE_USER round-trips with its connection attributes kept as sent', () => {
    const caps = Capability.CLIENT_PROTOCOL_41 | Capability.CLIENT_SECURE_CONNECTION | Capability.CLIENT_PLUGIN_AUTH | Capability.CLIENT_CONNECT_ATTRS;
    const attrs = Buffer.concat([hex('09 04'), Buffer.from('_pid'), hex('03'), Buffer.from('123')]);
    const value = { username: 'alice', authResponse: hex('01 02 03'), database: 'db', characterSet: 45, authPluginName: 'mysql_clear_password', connectAttributes: attrs };
    const wire = encodeComChangeUser(value, caps);
    expect(wire.subarray(wire.length - attrs.length)).toEqual(attrs);
    expect(decodeComChangeUser(wire, caps)).toEqual({ type: 'ComChangeUser', ...value });
    // Without CLIENT_CONNECT_ATTRS the attributes are neither read nor written.
    const plain = caps & ~Capability.CLIENT_CONNECT_ATTRS;
    expect(decodeComChangeUser(encodeComChangeUser(value, plain), plain).connectAttributes).toBeUndefined();
    expect(iamdbErrorOf(() => encodeComChangeUser({ ...value, authResponse: Buffer.alloc(256) }, caps)).code).toBe('PROTO_MYSQL_INVALID_ARGUMENT');
  });
});

it('frames a whole login exchange cut at every offset (greeting as seen by a client)', () => {
  const stream = Buffer.concat([MARIADB_GREETING, encodePacket(errPacketFor('ER_CON_COUNT_ERROR', 'Too many connections'), 1)]);
  for (const chunks of splits(stream)) {
    const framer = new PacketFramer();
    const packets = chunks.flatMap((c) => framer.push(c));
    expect(packets.map((p) => p.payload[0])).toEqual([0x0a, 0xff]);
  }
});
