/**
 * Startup parameters a client sends through the PostgreSQL endpoint, as a raw
 * protocol client sends them (asyncpg's `server_settings`, e.g. jit=off, is
 * sent this way): the allow-listed ones reach the server, in any case
 * spelling; others are dropped, and neither kind makes the login fail.
 */
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { encodeStartupMessage } from '../../src/protocol/postgres/index.js';
import { pgTls, readBytes } from '../support/gateway-clients.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';

const pg = inject('iamdbPostgres');
let gw: TestIamdb;

beforeAll(async () => {
  gw = await startIamdb({
    instances: [{ id: 'params-pg', engine: 'postgres', listen: 'auto', target: `${pg.host}:${pg.port}`, master: { username: pg.user, password: pg.password } }],
  });
});

afterAll(async () => {
  await gw?.stop();
});

/** One backend message: its type byte and body. */
async function message(socket: TLSSocket): Promise<{ type: string; body: Buffer }> {
  const head = await readBytes(socket, 5);
  return { type: String.fromCharCode(head[0]!), body: await readBytes(socket, head.readUInt32BE(1) - 4) };
}

function frontend(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** Logs in as the master with `params` in the StartupMessage, runs `SHOW <name>` for each of `show`. */
async function loginWith(params: Record<string, string>, show: readonly string[]): Promise<Record<string, string>> {
  const socket = await pgTls(gw.endpoint('params-pg'), gw.caPath);
  try {
    socket.write(encodeStartupMessage({ params: { user: pg.user, database: 'postgres', ...params } }));
    for (;;) {
      const m = await message(socket);
      if (m.type === 'E') throw new Error(`login refused: ${m.body.toString('latin1')}`);
      if (m.type === 'R' && m.body.readUInt32BE(0) === 3) socket.write(frontend('p', Buffer.from(`${pg.password}\0`)));
      if (m.type === 'Z') break;
    }
    const out: Record<string, string> = {};
    for (const name of show) {
      socket.write(frontend('Q', Buffer.from(`SHOW ${name}\0`)));
      for (;;) {
        const m = await message(socket);
        if (m.type === 'E') throw new Error(`SHOW ${name}: ${m.body.toString('latin1')}`);
        if (m.type === 'D') out[name] = m.body.subarray(6, 6 + m.body.readInt32BE(2)).toString('utf8');
        if (m.type === 'Z') break;
      }
    }
    return out;
  } finally {
    socket.destroy();
  }
}

describe('startup parameters through the PostgreSQL endpoint', () => {
  it('passes jit, work_mem and geqo (asyncpg server_settings) to the server', async () => {
    expect(await loginWith({ jit: 'off', work_mem: '5MB', geqo: 'off' }, ['jit', 'work_mem', 'geqo'])).toEqual({ jit: 'off', work_mem: '5MB', geqo: 'off' });
  });

  it('passes allow-listed parameters whatever their case, and drops the rest without failing the login', async () => {
    const shown = await loginWith({ datestyle: 'SQL, DMY', bytea_output: 'escape', enable_seqscan: 'off' }, ['DateStyle', 'bytea_output', 'enable_seqscan']);
    expect(shown).toEqual({ DateStyle: 'SQL, DMY', bytea_output: 'escape', enable_seqscan: 'on' });
  });
});

describe('startup parameter names in another case', () => {
  it('passes OPTIONS and Application_Name as the server reads them (names fold to lower case)', async () => {
    const shown = await loginWith({ OPTIONS: '-c work_mem=7MB', Application_Name: 'mine' }, ['work_mem', 'application_name']);
    expect(shown).toEqual({ work_mem: '7MB', application_name: 'mine' });
  });
});
