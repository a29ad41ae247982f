#!/usr/bin/env node
/**
 * Holds N logged-in PostgreSQL clients open over TLS, idle, for
 * bench/proxy.js to read a proxy's memory per client. Run as a process of
 * its own so that its memory is not counted in the proxy's.
 *
 *   PGPASSWORD=... node bench/idle-clients.js HOST PORT USER DB COUNT [CONCURRENCY]
 *
 * Each client (the `pg` driver: TLS, then a cleartext or SCRAM login, as the
 * server asks) logs in and runs one `SELECT 1`, so the proxy has served it
 * once, then stays silent. When all are in, it prints one JSON line
 * `{"ready":N,"failed":M,"firstError":...}` and holds them until its stdin
 * closes; then it closes them and exits.
 */
import pg from 'pg';

const [host, port, user, database, countArg, concurrencyArg] = process.argv.slice(2);
const count = Number(countArg);
const concurrency = Number(concurrencyArg ?? 50);
if (!host || !Number.isInteger(Number(port)) || !user || !database || !Number.isInteger(count) || count < 1) {
  process.stderr.write('usage: PGPASSWORD=... node bench/idle-clients.js HOST PORT USER DB COUNT [CONCURRENCY]\n');
  process.exit(2);
}
const password = process.env.PGPASSWORD ?? '';

const clients = [];
let failed = 0;
let firstError;

async function one() {
  const c = new pg.Client({ host, port: Number(port), user, database, password, ssl: { rejectUnauthorized: false } });
  // A client dropped while idle is a failure of the proxy, not of this script.
  c.on('error', (e) => {
    failed++;
    firstError ??= `idle client dropped: ${e.message}`;
  });
  try {
    await c.connect();
    await c.query('SELECT 1');
    clients.push(c);
  } catch (e) {
    failed++;
    firstError ??= e.message;
    c.end().catch(() => undefined);
  }
}

let next = 0;
async function worker() {
  while (next < count) {
    next++;
    await one();
  }
}
await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
process.stdout.write(`${JSON.stringify({ ready: clients.length, failed, ...(firstError ? { firstError } : {}) })}\n`);

process.stdin.resume();
process.stdin.on('end', async () => {
  await Promise.allSettled(clients.map((c) => c.end()));
  process.exit(0);
});
