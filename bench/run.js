#!/usr/bin/env node
/**
 * iamdb benchmarks. Every number is reported next to a reference measured in
 * the same run against the same PostgreSQL server, and as a ratio:
 *
 *   1. pgbench select-only (-S) at 16 and 100 clients, TLS on every client
 *      connection (PGSSLMODE=require), through
 *        a. PostgreSQL directly (password, SCRAM),
 *        b. PgBouncer (Debian's, session pool, TLS on its client side, plain to the server),
 *        c. an iamdb instance endpoint (TLS with iamdb's CA, IAM token login, 1:1 relay).
 *   2. New connections per second (pgbench -C -S, connect per transaction):
 *      IAM logins through iamdb (TLS + SigV4 token check + policy + server
 *      login) against password logins direct to PostgreSQL over TLS.
 *
 * Usage:  npm run build && node bench/run.js [--seconds N] [--quick] [--only iamdb|logins] [--data-path auto|native|node]
 *   --seconds N   seconds per pgbench run (default 20; --quick: 5)
 *   --quick       5-second runs, for a smoke test
 *   --only iamdb  only the iamdb select-only run at 16 clients (for profiling)
 *   --only logins only the iamdb connect-per-transaction run (for profiling)
 *   --data-path P iamdb's gateway.dataPath (default auto: native when built)
 *
 * It starts (and always removes) its own PostgreSQL 15, PgBouncer and iamdb.
 * Exit status is non-zero when anything fails.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanEnv, cpuSeconds, freePort, log, onCleanup, psqlLocal, ROOT, run, runMain, startPgBouncer, startPostgres } from './lib.js';

const argv = process.argv.slice(2);
function option(name) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
const quick = argv.includes('--quick');
const SECONDS = Number(option('--seconds') ?? (quick ? 5 : 20));
const ONLY = option('--only');
const DATA_PATH = option('--data-path') ?? 'auto';
if (!Number.isInteger(SECONDS) || SECONDS < 1 || !['auto', 'native', 'node'].includes(DATA_PATH)) {
  process.stderr.write('usage: node bench/run.js [--seconds N] [--quick] [--only iamdb|logins] [--data-path auto|native|node]\n');
  process.exit(2);
}
const CLIENT_COUNTS = [16, 100];
const LOGIN_CLIENTS = 8;
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';

async function startIamdb(baseDir, pgi, key, iamUser) {
  const dist = (p) => pathToFileURL(join(ROOT, 'dist', p)).href;
  if (!existsSync(join(ROOT, 'dist', 'app.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const { createApp } = await import(dist('app.js'));
  const { loadConfig } = await import(dist('config/index.js'));
  const { stringify } = await import('yaml');
  const dir = join(baseDir, 'iamdb');
  mkdirSync(dir, { mode: 0o700 });
  const port = await freePort();
  const env = { IAMDB_MASTER_KEY: randomBytes(32).toString('hex') };
  const text = stringify({
    account: ACCOUNT,
    region: REGION,
    stateDir: join(dir, 'state'),
    log: { level: 'warn' },
    audit: { file: join(dir, 'audit.log') },
    gateway: { dataPath: DATA_PATH },
    iam: {
      users: [
        {
          name: 'bench',
          accessKeys: [key],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${iamUser}` }] } }],
        },
      ],
    },
    instances: [
      {
        id: 'bench-pg',
        engine: 'postgres',
        listen: `127.0.0.1:${port}`,
        target: `${pgi.host}:${pgi.port}`,
        // The gateway's server side is plain, like PgBouncer's.
        targetTls: { mode: 'disable' },
        master: { username: 'postgres', password: pgi.password },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  const app = await createApp(loadConfig({ text, env, baseDir: dir }), { env });
  onCleanup(async () => {
    log('stopping iamdb');
    await app.close();
  });
  await app.start();
  log(`iamdb data path: ${app.endpoints[0].dataPath}`);
  return { port, dataPath: app.endpoints[0].dataPath };
}

/** A fresh rds-db:connect token, as `aws rds generate-db-auth-token` makes it (valid 15 minutes). */
async function newToken(port, key, user) {
  const { presignDbAuthToken } = await import(pathToFileURL(join(ROOT, 'dist', 'sigv4', 'index.js')).href);
  const { Secret } = await import(pathToFileURL(join(ROOT, 'dist', 'util', 'index.js')).href);
  return presignDbAuthToken({
    hostname: '127.0.0.1',
    port,
    username: user,
    region: REGION,
    credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) },
    date: new Date(),
  }).reveal();
}

// ---------------------------------------------------------------- pgbench

/** One pgbench select-only run; returns its tps (or connections/s with -C). */
async function pgbench(label, conninfo, password, extra, proxyPid) {
  const cpu0 = proxyPid === undefined ? 0 : cpuSeconds(proxyPid);
  const args = ['-n', '-S', '-T', String(SECONDS), '-j', '2', ...extra, conninfo];
  log(`${label}: pgbench ${args.slice(0, -1).join(' ')}`);
  const { out } = await run('pgbench', args, { env: cleanEnv({ PGPASSWORD: password, PGSSLMODE: 'require' }), timeoutMs: (SECONDS + 120) * 1000 });
  const failed = /number of failed transactions: (\d+)/.exec(out);
  if (failed && Number(failed[1]) > 0) throw new Error(`${label}: ${failed[1]} failed transactions\n${out}`);
  const m = /tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  if (!m) throw new Error(`${label}: cannot read tps from pgbench output:\n${out}`);
  const tps = Number(m[1]);
  const done = /number of transactions actually processed: (\d+)/.exec(out);
  if (proxyPid === undefined) {
    log(`${label}: ${tps.toFixed(0)}`);
    return { tps };
  }
  // Proxy CPU per transaction (microseconds): what a 1:1 relay costs per round trip.
  const cpu = cpuSeconds(proxyPid) - cpu0;
  const usPerTx = done ? (cpu * 1e6) / Number(done[1]) : NaN;
  log(`${label}: ${tps.toFixed(0)}, proxy CPU ${cpu.toFixed(1)} s = ${usPerTx.toFixed(0)} us/transaction`);
  return { tps, usPerTx };
}

const fmt = (n) => n.toFixed(0).padStart(9);
const ratio = (a, b) => (a / b).toFixed(2);

// ---------------------------------------------------------------- main

async function main() {
  const started = new Date();
  const baseDir = mkdtempSync(join(tmpdir(), 'iamdb-bench-'));
  chmodSync(baseDir, 0o755); // the service user must reach its subdirectories
  onCleanup(() => rmSync(baseDir, { recursive: true, force: true }));

  const pgi = await startPostgres(baseDir);
  log(`PostgreSQL on 127.0.0.1:${pgi.port} (${baseDir})`);
  const pwUser = 'bench_pw';
  const pwPassword = randomBytes(12).toString('hex');
  const iamUser = 'bench_iam';
  await psqlLocal(pgi, 'CREATE DATABASE bench');
  log('pgbench -i -s 10');
  await run('pgbench', ['-i', '-s', '10', '-q', '-h', pgi.socketDir, '-p', String(pgi.port), '-U', 'postgres', 'bench'], { timeoutMs: 300_000 });
  await psqlLocal(pgi, `CREATE ROLE ${pwUser} LOGIN PASSWORD '${pwPassword}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${pwUser};`, 'bench');

  const key = { id: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secret: randomBytes(30).toString('base64').slice(0, 40) };
  const iamdb = await startIamdb(baseDir, pgi, key, iamUser);
  // As on RDS: the master user creates the IAM user through the endpoint.
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', `CREATE USER ${iamUser}; GRANT rds_iam TO ${iamUser};`, `host=127.0.0.1 port=${iamdb.port} dbname=bench user=postgres sslmode=require`], { env: cleanEnv({ PGPASSWORD: pgi.password }) });
  await psqlLocal(pgi, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${iamUser}`, 'bench');
  const bouncer = await startPgBouncer(baseDir, pgi, pwUser, pwPassword);
  log(`iamdb endpoint on 127.0.0.1:${iamdb.port}, PgBouncer on 127.0.0.1:${bouncer.port}`);

  const direct = `host=127.0.0.1 port=${pgi.port} dbname=bench user=${pwUser}`;
  const viaBouncer = `host=127.0.0.1 port=${bouncer.port} dbname=bench user=${pwUser}`;
  const viaIamdb = `host=127.0.0.1 port=${iamdb.port} dbname=bench user=${iamUser}`;
  const token = () => newToken(iamdb.port, key, iamUser);

  if (ONLY === 'iamdb') {
    process.stdout.write(`iamdb 16 clients: ${(await pgbench('iamdb c=16', viaIamdb, await token(), ['-c', '16'], 'self')).tps.toFixed(0)} tps\n`);
    return;
  }
  if (ONLY === 'logins') {
    process.stdout.write(`iamdb logins: ${(await pgbench('iamdb logins', viaIamdb, await token(), ['-C', '-c', String(LOGIN_CLIENTS)], 'self')).tps.toFixed(0)}/s\n`);
    return;
  }
  if (ONLY !== undefined) throw new Error(`unknown --only ${ONLY}`);

  const results = [];
  for (const clients of CLIENT_COUNTS) {
    const c = ['-c', String(clients)];
    const d = (await pgbench(`direct c=${clients}`, direct, pwPassword, c)).tps;
    const bb = await pgbench(`pgbouncer c=${clients}`, viaBouncer, pwPassword, c, bouncer.pid);
    const ii = await pgbench(`iamdb c=${clients}`, viaIamdb, await token(), c, 'self');
    results.push({ clients, d, b: bb.tps, i: ii.tps, bCpu: bb.usPerTx, iCpu: ii.usPerTx });
  }
  const lc = ['-C', '-c', String(LOGIN_CLIENTS)];
  const loginDirect = (await pgbench('direct logins', direct, pwPassword, lc)).tps;
  const iamLogins = await pgbench('iamdb logins', viaIamdb, await token(), lc, 'self');
  const loginIamdb = iamLogins.tps;

  const r16 = results.find((r) => r.clients === 16);
  const lines = [
    '',
    `iamdb benchmark ${started.toISOString()}, ${SECONDS}s per run, node ${process.version}, iamdb data path ${iamdb.dataPath}, PostgreSQL 15, PgBouncer (session pool)`,
    '',
    'pgbench -S (select-only), TLS on every client connection; transactions/s',
    'clients     direct  pgbouncer      iamdb   iamdb/direct  pgbouncer/direct  iamdb/pgbouncer',
    ...results.map((r) => `${String(r.clients).padStart(7)}  ${fmt(r.d)}  ${fmt(r.b)}  ${fmt(r.i)}   ${ratio(r.i, r.d).padStart(12)}  ${ratio(r.b, r.d).padStart(16)}  ${ratio(r.i, r.b).padStart(15)}`),
    '',
    'proxy CPU per transaction (user+system, microseconds; lower is better)',
    'clients  pgbouncer      iamdb   iamdb/pgbouncer',
    ...results.map((r) => `${String(r.clients).padStart(7)}  ${r.bCpu.toFixed(1).padStart(9)}  ${r.iCpu.toFixed(1).padStart(9)}   ${ratio(r.iCpu, r.bCpu).padStart(15)}`),
    '',
    `new connections per second (pgbench -C -S -c ${LOGIN_CLIENTS}: one TLS login per transaction)`,
    `  direct, password (SCRAM) over TLS:                      ${loginDirect.toFixed(0).padStart(6)}/s`,
    `  iamdb, IAM token (TLS + SigV4 + policy + server login): ${loginIamdb.toFixed(0).padStart(6)}/s`,
    `  iamdb/direct: ${ratio(loginIamdb, loginDirect)}   (iamdb CPU per login: ${(iamLogins.usPerTx / 1000).toFixed(2)} ms)`,
    '',
    'targets:',
    `  relay at 16 clients >= PgBouncer (iamdb/pgbouncer >= 1.00): ${ratio(r16.i, r16.b)} ${r16.i >= r16.b ? 'MET' : 'NOT MET'}`,
    `  IAM logins/s >= 0.8 x direct password logins/s:         ${ratio(loginIamdb, loginDirect)} ${loginIamdb >= 0.8 * loginDirect ? 'MET' : 'NOT MET'}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
}

runMain(main);
