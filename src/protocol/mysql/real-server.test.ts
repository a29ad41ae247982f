/**
 * The codec against the system MariaDB on 127.0.0.1:3306: decode its real
 * greeting, log in with a HandshakeResponse41 and native scramble we encode,
 * and check that a rewritten IAM CREATE USER is valid MariaDB. Throwaway
 * accounts are created with the mariadb CLI as root and dropped afterwards.
 * Skipped (with the reason printed) when no server answers there.
 */
import { execFileSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyStatement } from './account-statements.js';
import { nativePasswordHash, scrambleNativePassword } from './auth/native-password.js';
import { AuthPlugin, Capability, Command } from './constants.js';
import { MysqlError } from './errno.js';
import { PacketFramer, encodePacket, type MysqlPacket } from './packet-framer.js';
import { decodeAuthSwitchRequest } from './packets/auth-switch-request.js';
import { decodeErrPacket, type ErrPacket } from './packets/err-packet.js';
import { encodeHandshakeResponse41 } from './packets/handshake-response-41.js';
import { decodeHandshakeV10 } from './packets/handshake-v10.js';
import { decodeOkPacket, type OkPacket } from './packets/ok-packet.js';

const HOST = '127.0.0.1';
const PORT = 3306;
const USER = 'iamdb_codec_test';
const IAM_USER = 'iamdb_codec_iam';

function sql(statement: string): string {
  return execFileSync('mariadb', ['-uroot', '-N', '-B', '-e', statement], { encoding: 'utf8', timeout: 10_000 }).trim();
}

function serverAvailable(): boolean {
  try {
    sql('SELECT 1');
    return true;
  } catch (err) {
    console.warn(`real-server tests skipped: mariadb -uroot failed (${String(err).split('\n')[0]})`);
    return false;
  }
}

/** A socket plus a framer, read packet by packet. */
class Conn {
  readonly #framer = new PacketFramer();
  readonly #ready: MysqlPacket[] = [];
  #waiter: (() => void) | undefined;
  #error: Error | undefined;
  constructor(readonly socket: Socket) {
    socket.on('data', (chunk) => {
      this.#ready.push(...this.#framer.push(chunk));
      this.#waiter?.();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#waiter?.();
    });
    socket.on('close', () => this.#waiter?.());
  }
  static open(): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = connect(PORT, HOST, () => resolve(new Conn(s)));
      s.once('error', reject);
    });
  }
  async next(): Promise<MysqlPacket> {
    for (;;) {
      const p = this.#ready.shift();
      if (p !== undefined) return p;
      if (this.#error !== undefined) throw this.#error;
      if (this.socket.destroyed) throw new Error('closed');
      await new Promise<void>((r) => (this.#waiter = r));
    }
  }
}

const CAPS =
  Capability.CLIENT_LONG_PASSWORD |
  Capability.CLIENT_PROTOCOL_41 |
  Capability.CLIENT_SECURE_CONNECTION |
  Capability.CLIENT_PLUGIN_AUTH |
  Capability.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.CLIENT_CONNECT_ATTRS |
  Capability.CLIENT_TRANSACTIONS |
  Capability.CLIENT_DEPRECATE_EOF;

/** Logs in with our own encoder; returns the server's final OK or ERR. */
async function login(user: string, password: string): Promise<OkPacket | ErrPacket> {
  const conn = await Conn.open();
  try {
    const greetingPacket = await conn.next();
    expect(greetingPacket.sequenceId).toBe(0);
    const greeting = decodeHandshakeV10(greetingPacket.payload);
    const caps = (CAPS & greeting.capabilityFlags) >>> 0;
    let seq = 1;
    conn.socket.write(
      encodePacket(
        encodeHandshakeResponse41({
          capabilityFlags: caps,
          maxPacketSize: 16 << 20,
          characterSet: 45,
          mariadbCapabilities: 0,
          username: user,
          authResponse: scrambleNativePassword(password, greeting.authPluginData),
          database: undefined,
          authPluginName: AuthPlugin.MYSQL_NATIVE_PASSWORD,
          connectAttributes: [['_client_name', 'iamdb-codec-test']],
        }),
        seq,
      ),
    );
    for (;;) {
      const reply = await conn.next();
      seq = (reply.lastSequenceId + 1) & 0xff;
      if (reply.payload[0] === 0x00) {
        const ok = decodeOkPacket(reply.payload, caps);
        // The session works: COM_PING answers OK.
        conn.socket.write(encodePacket(Buffer.from([Command.COM_PING]), 0));
        const pong = await conn.next();
        expect(decodeOkPacket(pong.payload, caps).type).toBe('OK');
        return ok;
      }
      if (reply.payload[0] === 0xff) return decodeErrPacket(reply.payload);
      const sw = decodeAuthSwitchRequest(reply.payload);
      expect(sw.pluginName).toBe(AuthPlugin.MYSQL_NATIVE_PASSWORD);
      conn.socket.write(encodePacket(scrambleNativePassword(password, sw.pluginData), seq));
    }
  } finally {
    conn.socket.destroy();
  }
}

describe.skipIf(!serverAvailable())('against the system MariaDB', () => {
  beforeAll(() => {
    sql(`DROP USER IF EXISTS ${USER}@'%', ${IAM_USER}@'%'`);
    sql(`CREATE USER IF NOT EXISTS ${USER}@'%' IDENTIFIED BY 'pw'`);
  });
  afterAll(() => {
    sql(`DROP USER IF EXISTS ${USER}@'%', ${IAM_USER}@'%'`);
  });

  it('logs in with our HandshakeResponse41 and native scramble', async () => {
    const ok = await login(USER, 'pw');
    expect(ok.type).toBe('OK');
  });

  it('gets ERR 1045 (28000) for a wrong password', async () => {
    const err = await login(USER, 'wrong');
    expect(err).toMatchObject({ type: 'ERR', ...MysqlError.ER_ACCESS_DENIED_ERROR });
  });

  it('computes the same hash as PASSWORD()', () => {
    expect(sql("SELECT PASSWORD('pw')")).toBe(nativePasswordHash('pw'));
  });

  it('produces a rewritten IAM CREATE USER that MariaDB accepts', async () => {
    const st = classifyStatement(
      `CREATE USER IF NOT EXISTS '${IAM_USER}'@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS' REQUIRE NONE`,
    );
    if (st.kind !== 'account' || st.rewrite === undefined) throw new Error(`expected an IAM CREATE USER, got ${st.kind}`);
    sql(st.rewrite(() => nativePasswordHash('managed-secret')).toString('utf8'));
    expect((await login(IAM_USER, 'managed-secret')).type).toBe('OK');
    // Without the rewrite the server refuses the plugin, as RDS documents.
    expect(() => sql(`CREATE USER ${IAM_USER}_x@'%' IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'`)).toThrow(/1524/);
  });
});
