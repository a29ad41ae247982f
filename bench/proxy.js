#!/usr/bin/env node
/**
 * Proxy benchmark (issue 10): iamdb's RDS-Proxy-style PostgreSQL proxy
 * endpoint (transaction multiplexing on the native pooled relay) against
 * Debian's PgBouncer in transaction pool mode and against PostgreSQL
 * directly, in one run on the same PostgreSQL 15, TLS on every client
 * connection, both poolers with the same number of server connections.
 *
 *   1. pgbench select-only (-S, simple and -M prepared) and TPC-B-like
 *      (the default script) at 16, 100 and 500 clients (-j 2): tps of each,
 *      iamdb/pgbouncer and iamdb/direct, each proxy's CPU per transaction.
 *   2. New connections per second (pgbench -C -S): IAM token logins to the
 *      proxy, password (SCRAM) logins to PgBouncer and to PostgreSQL.
 *   3. Memory per idle client: N idle logged-in TLS clients held by a
 *      separate process (bench/idle-clients.js) against each proxy; the
 *      proxy's RSS growth divided by N.
 *
 * Usage:  npm run build && node bench/proxy.js [--seconds N] [--clients 16,100,500] [--idle N] [--pool N] [--server-tls MODE] [--only throughput|logins|idle|setup]
 *   --seconds N    seconds per pgbench run, plus 1 s per 40 clients for their
 *                  logins, which pgbench -T counts (default 12; env IAMDB_BENCH_SECONDS)
 *   --clients L    client counts (default 16,100,500; env IAMDB_BENCH_CLIENTS)
 *   --idle N       idle clients per proxy (default 5000; env IAMDB_BENCH_IDLE)
 *   --idle-settle L seconds of quiet before the idle memory is read, e.g. 3,45: the
 *                  first is the result, the others are printed (default 3)
 *   --pool N       server connections per pool, both poolers (default 20)
 *   --server-tls M the proxy target's targetTls mode (default disable, plain TCP
 *                  like PgBouncer's server side here; prefer: TLS to the server)
 *   --only PART    one part only; `setup` starts everything, prints how to
 *                  reach it (for reproductions by hand) and waits for Ctrl-C
 *
 * iamdb runs as its own process (`iamdb serve`, the built CLI) so that its
 * CPU and memory are read from /proc like PgBouncer's. Everything is removed
 * at the end; the exit status is non-zero when the setup fails. A pgbench
 * run that fails (an aborted client, a timeout) is a result: printed as
 * "fails" with the first error, and the run goes on.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { cleanEnv, cpuSeconds, freePort, log, onCleanup, psqlLocal, ROOT, rssByMapping, rssBytes, run, runMain, sleep, startPgBouncer, startPostgres } from './lib.js';

const argv = process.argv.slice(2);
function option(name, envName, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : (process.env[envName] ?? fallback);
}
const SECONDS = Number(option('--seconds', 'IAMDB_BENCH_SECONDS', '12'));
const CLIENTS = String(option('--clients', 'IAMDB_BENCH_CLIENTS', '16,100,500')).split(',').map(Number);
const IDLE = Number(option('--idle', 'IAMDB_BENCH_IDLE', '5000'));
/**
 * How long the idle clients have been quiet when the proxy's memory is read (seconds; the
 * first point is the result, later ones are printed too: V8 gives back the young generation
 * it grew during the logins only when its memory reducer runs, some 10-40 s after a burst).
 */
const IDLE_SETTLE = String(option('--idle-settle', 'IAMDB_BENCH_IDLE_SETTLE', '3')).split(',').map(Number);
const POOL = Number(option('--pool', 'IAMDB_BENCH_POOL', '20'));
const ONLY = option('--only', 'IAMDB_BENCH_ONLY', undefined);
const SERVER_TLS = option('--server-tls', 'IAMDB_BENCH_SERVER_TLS', 'disable');
if (!IDLE_SETTLE.every((n, i) => Number.isInteger(n) && n >= 0 && (i === 0 || n > IDLE_SETTLE[i - 1]))) {
  process.stderr.write('--idle-settle takes increasing whole seconds, e.g. 3,45\n');
  process.exit(2);
}
if (![SECONDS, IDLE, POOL, ...CLIENTS].every((n) => Number.isInteger(n) && n >= 1) || ![undefined, 'throughput', 'logins', 'idle', 'setup'].includes(ONLY) || !['disable', 'prefer', 'require'].includes(SERVER_TLS)) {
  process.stderr.write('usage: node bench/proxy.js [--seconds N] [--clients 16,100,500] [--idle N] [--pool N] [--server-tls disable|prefer|require] [--only throughput|logins|idle|setup]\n');
  process.exit(2);
}
const LOGIN_CLIENTS = 8;
// The SDK (used once, for the proxy's secret) warns about Node 20 on stderr.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const SCENARIOS = [
  { name: 'select-only, simple', args: ['-S'] },
  { name: 'select-only, -M prepared', args: ['-S', '-M', 'prepared'] },
  { name: 'TPC-B-like, simple', args: [] },
];

/**
 * The server size that makes iamdb's pool exactly POOL connections: RDS
 * Proxy's pool is MaxConnectionsPercent of max_connections less the
 * superuser reserve (3), floored; room is left for the largest direct run
 * next to both pools.
 */
function serverSizing() {
  const need = Math.max(...CLIENTS) + 2 * POOL + 50;
  for (let percent = Math.min(100, Math.floor((POOL * 100) / need)); percent >= 1; percent--) {
    for (let usable = Math.ceil((POOL * 100) / percent); usable < Math.ceil((POOL * 100) / percent) + 3; usable++) {
      if (usable >= need && Math.floor((usable * percent) / 100) === POOL) return { maxConnections: usable + 3, percent };
    }
  }
  throw new Error(`no MaxConnectionsPercent gives a pool of ${POOL} with room for ${need} connections`);
}

// ---------------------------------------------------------------- iamdb

/** `iamdb serve` with a config file that declares the proxy; its secret is created through the Secrets Manager API. */
async function startIamdbProxy(baseDir, pgi, key, iamUser, iamPassword, percent) {
  const { stringify } = await import('yaml');
  const dir = join(baseDir, 'iamdb');
  mkdirSync(dir, { mode: 0o700 });
  const [apiPort, instancePort, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const secretName = 'bench/proxy-iam';
  // A partial ARN (no random suffix) finds the secret by name, so the file can name it before it exists.
  const secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretName}`;
  const roleArn = `arn:aws:iam::${ACCOUNT}:role/bench-proxy`;
  const config = {
    account: ACCOUNT,
    region: REGION,
    stateDir: join(dir, 'state'),
    log: { level: 'warn' },
    audit: { file: join(dir, 'audit.log') },
    api: { listen: `127.0.0.1:${apiPort}` },
    gateway: { drainTimeoutMs: 1000 },
    iam: {
      users: [
        {
          name: 'bench',
          accessKeys: [key],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:prx-*/${iamUser}` }] } }],
        },
      ],
      roles: [
        {
          name: 'bench-proxy',
          assumeRolePolicy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'rds.amazonaws.com' }, Action: 'sts:AssumeRole' }] },
          policies: [{ name: 'secrets', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: ['secretsmanager:GetSecretValue', 'kms:Decrypt'], Resource: '*' }] } }],
        },
      ],
    },
    instances: [
      {
        id: 'bench-pg',
        engine: 'postgres',
        listen: `127.0.0.1:${instancePort}`,
        target: `${pgi.host}:${pgi.port}`,
        // By default the pooled relay's server side is plain TCP, like PgBouncer's here.
        targetTls: { mode: SERVER_TLS },
        master: { username: 'postgres', password: pgi.password },
      },
    ],
    proxies: [
      {
        name: 'bench-proxy',
        engineFamily: 'POSTGRESQL',
        roleArn,
        requireTls: true,
        listen: `127.0.0.1:${proxyPort}`,
        auth: [{ secretArn, iamAuth: 'REQUIRED' }],
        targets: ['bench-pg'],
        connectionPool: { maxConnectionsPercent: percent },
      },
    ],
  };
  const configPath = join(dir, 'iamdb.yaml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });
  const env = cleanEnv({ IAMDB_MASTER_KEY: randomBytes(32).toString('hex') });
  // IAMDB_BENCH_IAMDB_NODE_ARGS: node options for iamdb only, as in bench/mysql.js (diagnosis: profiles, --expose-gc).
  const nodeArgs = (process.env.IAMDB_BENCH_IAMDB_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, join(ROOT, 'bin', 'iamdb.js'), 'serve', '-c', configPath], { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise((resolve) => child.once('close', resolve));
  onCleanup(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    log('stopping iamdb');
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  });

  // The secret, as an administrator would make it (the admin key iamdb writes at its first start).
  const SM = await import('@aws-sdk/client-secrets-manager');
  const credFile = join(dir, 'state', 'admin-credentials');
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`iamdb exited: ${stderr}`);
    try {
      const ini = readFileSync(credFile, 'utf8');
      const credentials = { accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(ini)[1], secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(ini)[1] };
      const sm = new SM.SecretsManagerClient({ endpoint: `http://127.0.0.1:${apiPort}`, region: REGION, credentials, maxAttempts: 1 });
      await sm.send(new SM.CreateSecretCommand({ Name: secretName, SecretString: JSON.stringify({ username: iamUser, password: iamPassword }) }));
      break;
    } catch (e) {
      if (i > 300) throw new Error(`cannot create the proxy's secret: ${e.message}\n${stderr}`);
      await sleep(100);
    }
  }
  log(`iamdb (pid ${child.pid}) proxy endpoint on 127.0.0.1:${proxyPort}`);
  return { pid: child.pid, port: proxyPort };
}

/** A fresh rds-db:connect token for the proxy endpoint, as `aws rds generate-db-auth-token` makes it (valid 15 minutes). */
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

/** The first line of pgbench's output that says why a client stopped. */
function whyFailed(text) {
  const line = text.split('\n').find((l) => /error|aborted|FATAL/i.test(l) && !/^number of/.test(l));
  return (line ?? text.trim().split('\n').pop() ?? '').trim().slice(0, 200);
}

/**
 * One pgbench run. With a proxy pid, the proxy's CPU is read at pgbench's
 * first progress report (every client connected and running) and at its
 * last, and divided by the transactions between the two, so the logins of
 * 500 clients do not count as transaction cost. With -C every transaction
 * is a login, and the whole run counts.
 */
async function pgbench(label, conninfo, password, extra, proxyPid) {
  const connectEach = extra.includes('-C');
  // pgbench's -T counts the initial logins too (500 direct SCRAM logins take 5-10 s on 2 cores):
  // more clients get more time, so that every run has about SECONDS of transactions.
  const clients = Number(extra[extra.indexOf('-c') + 1]);
  const seconds = SECONDS + (connectEach ? 0 : Math.ceil(clients / 40));
  const args = ['-n', '-T', String(seconds), '-j', '2', '-P', '1', ...extra, conninfo];
  log(`${label}: pgbench ${args.slice(0, -1).join(' ')} (load average ${loadavg()[0].toFixed(1)})`);
  const env = cleanEnv({ PGPASSWORD: password, PGSSLMODE: 'require' });
  const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  const samples = []; // [{ t, tps, cpu }]
  const cpu0 = proxyPid === undefined ? 0 : cpuSeconds(proxyPid);
  createInterface({ input: child.stderr }).on('line', (line) => {
    err += `${line}\n`;
    const m = /^progress: ([\d.]+) s, ([\d.]+) tps/.exec(line);
    if (m && proxyPid !== undefined) samples.push({ t: Number(m[1]), tps: Number(m[2]), cpu: cpuSeconds(proxyPid) });
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 120) * 1000);
  const [code, signal] = await new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const cpuAll = proxyPid === undefined ? 0 : cpuSeconds(proxyPid) - cpu0;
  const text = `${out}\n${err}`;
  const fail = (why) => {
    log(`${label}: FAILS: ${why}\n${text.trim().split('\n').filter((l) => !l.startsWith('progress:')).slice(-25).join('\n')}`);
    return { failed: why, text };
  };
  if (signal === 'SIGKILL') return fail(`no answer: pgbench killed after ${seconds + 120} s`);
  const failedTx = /number of failed transactions: (\d+)/.exec(out);
  if (code !== 0 || /aborted/i.test(text) || (failedTx && Number(failedTx[1]) > 0)) {
    return fail(whyFailed(err) || `exit ${code}`);
  }
  const m = /tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/.exec(out) ?? /tps = ([\d.]+)/.exec(out);
  if (!m) return fail('no tps in pgbench output');
  const tps = Number(m[1]);
  let usPer;
  if (proxyPid !== undefined) {
    if (connectEach) {
      const done = /number of transactions actually processed: (\d+)/.exec(out);
      usPer = done ? (cpuAll * 1e6) / Number(done[1]) : NaN;
    } else {
      // From the first report with transactions in it (reports during the logins say 0 tps) to the
      // last: the transactions in between are each report's tps times its interval.
      const steady = samples.slice(samples.findIndex((x) => x.tps > 0));
      let tx = 0;
      for (let i = 1; i < steady.length; i++) tx += steady[i].tps * (steady[i].t - steady[i - 1].t);
      usPer = steady.length >= 3 ? ((steady.at(-1).cpu - steady[0].cpu) * 1e6) / tx : NaN;
    }
  }
  log(`${label}: ${tps.toFixed(0)}${usPer === undefined ? '' : `, proxy CPU ${usPer.toFixed(1)} us per ${connectEach ? 'login' : 'transaction'}`}`);
  return { tps, usPer };
}

// ---------------------------------------------------------------- idle clients

/** The proxy's RSS growth while `IDLE` logged-in TLS clients sit idle on it. */
async function idleMemory(label, pid, port, user, password) {
  const before = rssBytes(pid);
  const mapsBefore = rssByMapping(pid);
  log(`${label}: ${IDLE} idle clients (RSS before ${(before / 2 ** 20).toFixed(1)} MiB)`);
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'idle-clients.js'), '127.0.0.1', String(port), user, 'bench', String(IDLE), '50'], {
    stdio: ['pipe', 'pipe', 'inherit'],
    env: cleanEnv({ PGPASSWORD: password }),
  });
  const exited = new Promise((resolve) => child.once('close', resolve));
  const line = await new Promise((resolve, reject) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', resolve);
    child.once('close', (code) => reject(new Error(`idle-clients exited (${code}) before its report`)));
  });
  const report = JSON.parse(line);
  // Idle means quiet for a moment: iamdb's data path gives a session's buffers back after a
  // second of silence (its sweep runs each second). Both proxies get the same wait.
  const points = [];
  let waited = 0;
  for (const s of IDLE_SETTLE) {
    await sleep((s - waited) * 1000);
    waited = s;
    const after = rssBytes(pid);
    const mapsAfter = rssByMapping(pid);
    const perClient = report.ready > 0 ? (after - before) / report.ready : NaN;
    // Growth per client by kind of mapping (see rssByMapping): where the memory went.
    const split = Object.keys(mapsAfter)
      .map((k) => `${k} ${((mapsAfter[k] - mapsBefore[k]) / Math.max(report.ready, 1) / 1024).toFixed(1)} KB`)
      .join(', ');
    log(`${label}: ${report.ready} held, ${report.failed} failed${report.firstError ? ` (${report.firstError})` : ''}; after ${s} s RSS ${(after / 2 ** 20).toFixed(1)} MiB, ${perClient.toFixed(0)} bytes per client (${split})`);
    points.push({ settle: s, after, perClient, split });
  }
  child.stdin.end();
  await exited;
  return { ...report, before, ...points[0], points };
}

// ---------------------------------------------------------------- report

const cell = (r, w = 9) => (r.failed ? 'fails' : r.tps.toFixed(0)).padStart(w);
const ratioCell = (a, b, w) => (a.failed || b.failed ? '-' : (a.tps / b.tps).toFixed(2)).padStart(w);
const cpuCell = (r, w) => (r.failed || !Number.isFinite(r.usPer) ? '-' : r.usPer.toFixed(1)).padStart(w);

function throughputReport(results) {
  const lines = [];
  for (const s of SCENARIOS) {
    lines.push('', `pgbench ${s.args.join(' ') || '(TPC-B-like)'} -j 2 (${s.name}); transactions/s, TLS on every client connection`);
    lines.push('clients     direct  pgbouncer      iamdb  iamdb/pgbouncer  iamdb/direct   CPU us/tx pgbouncer  iamdb');
    for (const r of results.filter((x) => x.scenario === s)) {
      lines.push(
        `${String(r.clients).padStart(7)}  ${cell(r.d)}  ${cell(r.b)}  ${cell(r.i)}  ${ratioCell(r.i, r.b, 15)}  ${ratioCell(r.i, r.d, 12)}   ${cpuCell(r.b, 19)}  ${cpuCell(r.i, 5)}`,
      );
    }
  }
  const failures = results.flatMap((r) => [['direct', r.d], ['pgbouncer', r.b], ['iamdb', r.i]].filter(([, x]) => x.failed).map(([who, x]) => `  ${who}, ${r.scenario.name}, ${r.clients} clients: ${x.failed}`));
  if (failures.length) lines.push('', 'failed runs (first error):', ...failures);
  return lines;
}

// ---------------------------------------------------------------- main

async function main() {
  const started = new Date();
  const startLoad = loadavg().map((x) => x.toFixed(1)).join(' ');
  const { maxConnections, percent } = serverSizing();
  const baseDir = mkdtempSync(join(tmpdir(), 'iamdb-proxy-bench-'));
  chmodSync(baseDir, 0o755); // the service user must reach its subdirectories
  onCleanup(() => rmSync(baseDir, { recursive: true, force: true }));
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');

  const pgi = await startPostgres(baseDir, { maxConnections });
  log(`PostgreSQL on 127.0.0.1:${pgi.port}, max_connections ${maxConnections} (${baseDir})`);
  const pwUser = 'bench_pw';
  const pwPassword = randomBytes(12).toString('hex');
  const iamUser = 'bench_iam';
  const iamPassword = randomBytes(12).toString('hex');
  await psqlLocal(pgi, 'CREATE DATABASE bench');
  log('pgbench -i -s 10');
  await run('pgbench', ['-i', '-s', '10', '-q', '-h', pgi.socketDir, '-p', String(pgi.port), '-U', 'postgres', 'bench'], { timeoutMs: 300_000 });
  for (const [u, p] of [[pwUser, pwPassword], [iamUser, iamPassword]]) {
    await psqlLocal(pgi, `CREATE ROLE ${u} LOGIN PASSWORD '${p}'; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO ${u};`, 'bench');
  }

  const key = { id: `AKIA${randomBytes(8).toString('hex').toUpperCase()}`, secret: randomBytes(30).toString('base64').slice(0, 40) };
  const iamdb = await startIamdbProxy(baseDir, pgi, key, iamUser, iamPassword, percent);
  const token = () => newToken(iamdb.port, key, iamUser);
  const viaIamdb = `host=127.0.0.1 port=${iamdb.port} dbname=bench user=${iamUser}`;
  // Ready when an IAM login through the proxy works (the pool learns max_connections at its first login).
  for (let i = 0; ; i++) {
    try {
      await run('psql', ['-X', '-q', '-c', 'select 1', `${viaIamdb} sslmode=require`], { env: cleanEnv({ PGPASSWORD: await token() }), timeoutMs: 10_000 });
      break;
    } catch (e) {
      if (i > 100) throw new Error(`no login through the iamdb proxy: ${e.message}`);
      await sleep(200);
    }
  }
  const bouncer = await startPgBouncer(baseDir, pgi, pwUser, pwPassword, { poolMode: 'transaction', poolSize: POOL, maxClientConn: IDLE + Math.max(...CLIENTS) + 100, nofile: 2 * IDLE + 2000 });
  log(`PgBouncer (pid ${bouncer.pid}) on 127.0.0.1:${bouncer.port}, transaction pool of ${POOL}; iamdb MaxConnectionsPercent ${percent}`);
  const direct = `host=127.0.0.1 port=${pgi.port} dbname=bench user=${pwUser}`;
  const viaBouncer = `host=127.0.0.1 port=${bouncer.port} dbname=bench user=${pwUser}`;

  /** Server connections each pooler holds, as PostgreSQL counts them (bench_pw's are PgBouncer's once no direct run is on). */
  const countsOf = async () => {
    const { out } = await run('psql', ['-X', '-At', '-h', pgi.socketDir, '-p', String(pgi.port), '-U', 'postgres', '-d', 'postgres', '-c', `SELECT usename, count(*) FROM pg_stat_activity WHERE usename IN ('${pwUser}', '${iamUser}') GROUP BY usename`]);
    const m = Object.fromEntries(out.trim().split('\n').filter(Boolean).map((l) => l.split('|')));
    return { pgbouncer: Number(m[pwUser] ?? 0), iamdb: Number(m[iamUser] ?? 0) };
  };
  const maxServers = { pgbouncer: 0, iamdb: 0 };
  const noteServers = async () => {
    const c = await countsOf();
    maxServers.pgbouncer = Math.max(maxServers.pgbouncer, c.pgbouncer);
    maxServers.iamdb = Math.max(maxServers.iamdb, c.iamdb);
  };

  if (ONLY === 'setup') {
    const tokenFile = join(baseDir, 'token');
    writeFileSync(tokenFile, await token(), { mode: 0o600 });
    process.stdout.write(
      [
        `direct:    PGSSLMODE=require PGPASSWORD=${pwPassword} pgbench '${direct}'`,
        `pgbouncer: PGSSLMODE=require PGPASSWORD=${pwPassword} pgbench '${viaBouncer}'`,
        `iamdb:     PGSSLMODE=require PGPASSWORD=$(cat ${tokenFile}) pgbench '${viaIamdb}'   (token valid 15 minutes)`,
        `pids: iamdb ${iamdb.pid}, pgbouncer ${bouncer.pid}; Ctrl-C ends it`,
        '',
      ].join('\n'),
    );
    await new Promise(() => undefined);
  }
  let throughput, logins, idle;
  const lines = [
    '',
    `iamdb proxy benchmark ${started.toISOString()}, ${SECONDS}s per run (+1 s per 40 clients for their logins), node ${process.version}, PostgreSQL 15 (max_connections ${maxConnections}), PgBouncer (transaction pool, default_pool_size ${POOL}), iamdb proxy (MaxConnectionsPercent ${percent}: pool of ${POOL})`,
  ];

  if (ONLY === undefined || ONLY === 'throughput') {
    const results = [];
    for (const scenario of SCENARIOS) {
      for (const clients of CLIENTS) {
        const c = [...scenario.args, '-c', String(clients)];
        const tag = `${scenario.name} c=${clients}`;
        const d = await pgbench(`direct ${tag}`, direct, pwPassword, c);
        const b = await pgbench(`pgbouncer ${tag}`, viaBouncer, pwPassword, c, bouncer.pid);
        await noteServers();
        const i = await pgbench(`iamdb ${tag}`, viaIamdb, await token(), c, iamdb.pid);
        await noteServers();
        results.push({ scenario, clients, d, b, i });
      }
    }
    lines.push(...throughputReport(results));
    lines.push('', `server connections seen after the runs (most): pgbouncer ${maxServers.pgbouncer}, iamdb ${maxServers.iamdb} (pool size ${POOL} each)`);
    lines.push('proxy CPU: user+system of the proxy process from /proc, between pgbench\'s first and last progress report, per transaction');
    throughput = results;
  }

  if (ONLY === undefined || ONLY === 'logins') {
    const lc = ['-C', '-S', '-c', String(LOGIN_CLIENTS)];
    const d = await pgbench('direct logins', direct, pwPassword, lc);
    const b = await pgbench('pgbouncer logins', viaBouncer, pwPassword, lc, bouncer.pid);
    const i = await pgbench('iamdb logins', viaIamdb, await token(), lc, iamdb.pid);
    lines.push(
      '',
      `new connections per second (pgbench -C -S -c ${LOGIN_CLIENTS} -j 2: a TLS login per transaction)`,
      `  direct, password (SCRAM) to PostgreSQL:  ${cell(d, 7)}/s`,
      `  pgbouncer, password (SCRAM):             ${cell(b, 7)}/s   (PgBouncer CPU per login: ${cpuCell(b, 0)} us)`,
      `  iamdb proxy, IAM token:                  ${cell(i, 7)}/s   (iamdb CPU per login: ${cpuCell(i, 0)} us)`,
      `  iamdb/pgbouncer: ${ratioCell(i, b, 0)}   iamdb/direct: ${ratioCell(i, d, 0)}`,
    );
    logins = { d, b, i };
  }

  if (ONLY === undefined || ONLY === 'idle') {
    const b = await idleMemory('pgbouncer idle', bouncer.pid, bouncer.port, pwUser, pwPassword);
    const i = await idleMemory('iamdb idle', iamdb.pid, iamdb.port, iamUser, await token());
    const mib = (n) => (n / 2 ** 20).toFixed(1);
    lines.push(
      '',
      `memory per idle client (${IDLE} logged-in TLS clients, each ran one SELECT 1, held by a separate process)`,
      `  pgbouncer: ${b.ready} held, ${b.failed} failed; RSS ${mib(b.before)} -> ${mib(b.after)} MiB, ${b.perClient.toFixed(0)} bytes per client (after ${b.settle} s)`,
      `  iamdb:     ${i.ready} held, ${i.failed} failed; RSS ${mib(i.before)} -> ${mib(i.after)} MiB, ${i.perClient.toFixed(0)} bytes per client (after ${i.settle} s)`,
      `    per client by mapping: ${i.split}`,
      ...i.points.slice(1).flatMap((p, k) => [
        `  after ${p.settle} s: pgbouncer ${b.points[k + 1].perClient.toFixed(0)}, iamdb ${p.perClient.toFixed(0)} bytes per client (${(p.perClient / b.points[k + 1].perClient).toFixed(2)})`,
        `    iamdb per client by mapping: ${p.split}`,
      ]),
      `  iamdb/pgbouncer: ${(i.perClient / b.perClient).toFixed(2)}`,
      ...[b, i].filter((x) => x.firstError).map((x) => `  first error: ${x.firstError}`),
    );
    idle = { b, i };
  }

  lines.push('', 'targets (issue 10):');
  if (throughput) {
    for (const s of SCENARIOS) {
      const r = throughput.find((x) => x.scenario === s && x.clients === 100);
      if (!r) continue;
      const v = r.i.failed ? 'iamdb fails' : r.b.failed ? 'PgBouncer fails' : (r.i.tps / r.b.tps).toFixed(2);
      const met = !r.i.failed && (r.b.failed || r.i.tps >= r.b.tps);
      lines.push(`  iamdb/pgbouncer >= 1.00 at 100 clients, ${s.name}: ${v} ${met ? 'MET' : 'NOT MET'}`);
    }
    const prepared = throughput.filter((x) => x.scenario === SCENARIOS[1]);
    const iOk = prepared.every((x) => !x.i.failed);
    const bFails = prepared.filter((x) => x.b.failed).length;
    lines.push(`  -M prepared works through iamdb (PgBouncer fails in ${bFails} of ${prepared.length}): ${iOk ? 'MET' : 'NOT MET'}`);
  }
  if (logins) {
    const { d, b, i } = logins;
    const okB = !i.failed && !b.failed && i.tps >= b.tps;
    const okD = !i.failed && !d.failed && i.tps >= 10 * d.tps;
    lines.push(`  IAM logins/s >= PgBouncer password logins/s: ${ratioCell(i, b, 0)} ${okB ? 'MET' : 'NOT MET'}`);
    lines.push(`  IAM logins/s >= 10 x direct logins/s: ${ratioCell(i, d, 0)} ${okD ? 'MET' : 'NOT MET'}`);
  }
  if (idle) {
    const r = idle.i.perClient / idle.b.perClient;
    lines.push(`  memory per idle client <= 1.5 x PgBouncer's: ${r.toFixed(2)} ${r <= 1.5 && idle.i.failed === 0 ? 'MET' : 'NOT MET'}`);
  }
  lines.push(`  (load average at the start ${startLoad}, at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}: other work on the machine moves transactions/s)`);
  lines.push('  MySQL proxy >= 0.75 x direct: measured by bench/mysql.js (sysbench)', '');
  process.stdout.write(lines.join('\n'));
}

runMain(main);
