/**
 * A password user's login through the gateway to a scripted MySQL 8.0 server
 * replaying a RECONSTRUCTED exchange (test/fixtures/mysql8/, not a live MySQL
 * server, none being available here): the server greets with
 * mysql_native_password, switches the account to caching_sha2_password, and
 * answers the client's scramble with fast-auth success (0x01 0x03) and its OK.
 * The gateway relays the switch to the real client (mysql2), which answers
 * it; after 0x03 the client sends nothing, so the gateway must pass the OK on
 * rather than wait for an answer.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { PacketFramer, encodePacket } from '../../src/protocol/mysql/index.js';
import { startIamdb, type TestIamdb } from '../support/iamdb.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/mysql8');
const recorded = JSON.parse(readFileSync(join(fixtures, 'exchanges.json'), 'utf8')) as {
  exchanges: Record<string, { steps: Array<{ from: string; seq: number; packet?: string; parts?: Array<[string, string]> }> }>;
  packets: Record<string, Array<[string, string]>>;
};
const steps = recorded.exchanges['mysql-8.0-switch-to-caching-sha2']!.steps;
const bytesOf = (parts: Array<[string, string]>): Buffer => Buffer.concat(parts.map(([hex]) => Buffer.from(hex, 'hex')));

let server: Server;
let gw: TestIamdb;
/** Client packets the scripted server received, per connection. */
const transcripts: number[][] = [];

beforeAll(async () => {
  // Every connection (the gateway's control link and each login) gets the same exchange, then stays open until closed.
  server = createServer((socket) => {
    const seen: number[] = [];
    transcripts.push(seen);
    const framer = new PacketFramer({ maxAllowedPacket: 1 << 20 });
    let step = 0;
    const play = (): void => {
      while (step < steps.length && steps[step]!.from === 'server') {
        const s = steps[step++]!;
        socket.write(encodePacket(bytesOf(s.packet !== undefined ? recorded.packets[s.packet]! : s.parts!), s.seq));
      }
    };
    socket.on('data', (chunk) => {
      for (const p of framer.push(chunk)) {
        seen.push(p.sequenceId);
        if (steps[step]?.from === 'client') step++;
        play();
      }
    });
    socket.on('error', () => undefined);
    play();
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  gw = await startIamdb({
    instances: [
      {
        id: 'my8',
        engine: 'mysql',
        listen: 'auto',
        target: `127.0.0.1:${(server.address() as AddressInfo).port}`,
        master: { username: 'admin', password: 'master-pw' },
      },
    ],
  });
});

afterAll(async () => {
  await gw?.stop();
  server?.close();
});

it('relays caching_sha2_password fast-auth success to a password user and passes the OK on', async () => {
  const { host, port } = gw.endpoint('my8');
  const before = transcripts.length;
  const conn = await mysql.createConnection({ host, port, user: 'jane', password: 'jane-pw', connectTimeout: 20_000 });
  try {
    expect(gw.lastAuth()).toMatchObject({ decision: 'allow', reason: 'PasswordLogin' });
    // The login's server connection saw the HandshakeResponse41 (1) and the client's answer to the switch (3), nothing more.
    expect(transcripts.slice(before).some((t) => t.join() === '1,3')).toBe(true);
  } finally {
    conn.destroy();
  }
});
