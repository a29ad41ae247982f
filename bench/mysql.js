#!/usr/bin/env node
/**
 * MySQL proxy benchmark (issue 10): sysbench's oltp_point_select and
 * oltp_read_write through iamdb's RDS-Proxy-style MySQL proxy endpoint
 * against MariaDB 10.11 directly, in one run on the same server, TLS on every
 * client connection (the proxy requires it; the direct user is REQUIRE SSL).
 * Printed: transactions/s of each, iamdb/direct, and iamdb's CPU (user +
 * system, from /proc) per transaction.
 *
 * Usage:  npm run build && node bench/mysql.js [--seconds N] [--threads 8,32] [--only setup]
 *   --seconds N   seconds per sysbench run (default 15; env IAMDB_BENCH_SECONDS)
 *   --threads L   sysbench thread counts (default 8,32; env IAMDB_BENCH_THREADS)
 *   --only setup  start everything, print how to reach it, wait for Ctrl-C
 *
 * sysbench is Debian's 1.0.20 on libmariadb. Its `--mysql-ssl=on` hands the
 * client library the files cacert.pem, client-cert.pem and client-key.pem of
 * its working directory (it has no options for them), so each run works in
 * a directory of its own holding the CA of the server it talks to (the
 * self-signed MariaDB certificate, or iamdb's CA) and a throwaway
 * self-signed client certificate. Without the three files libmariadb fails
 * (`TLS/SSL error: No such file or directory`); MariaDB resets a TLS
 * handshake whose client certificate it cannot verify, so the server is
 * given that certificate as its --ssl-ca (iamdb asks for none). iamdb runs as its own process (`iamdb serve`) with a password
 * login to the proxy (IAMAuth DISABLED, mysql_native_password, the secret's
 * password), as bench/proxy.js sets up its PostgreSQL proxy; iamdb reaches
 * MariaDB in plain TCP, as PgBouncer reaches PostgreSQL in bench/proxy.js.
 * Session pooling: each sysbench thread holds one server connection for its
 * whole run, so the pool is sized above the largest thread count.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, cpuSeconds, freePort, log, onCleanup, ROOT, run, runMain, selfSignedCert, sleep, startMariaDb } from './lib.js';

const argv = process.argv.slice(2);
function option(name, envName, fallback) {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : (process.env[envName] ?? fallback);
}
const SECONDS = Number(option('--seconds', 'IAMDB_BENCH_SECONDS', '15'));
const THREADS = String(option('--threads', 'IAMDB_BENCH_THREADS', '8,32')).split(',').map(Number);
const ONLY = option('--only', 'IAMDB_BENCH_ONLY', undefined);
if (![SECONDS, ...THREADS].every((n) => Number.isInteger(n) && n >= 1) || ![undefined, 'setup'].includes(ONLY)) {
  process.stderr.write('usage: node bench/mysql.js [--seconds N] [--threads 8,32] [--only setup]\n');
  process.exit(2);
}
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const ACCOUNT = '123456789012';
const REGION = 'us-east-1';
const TABLES = 4;
const TABLE_SIZE = 10_000;
const WORKLOADS = ['oltp_point_select', 'oltp_read_write'];
/** max_connections 300, MaxConnectionsPercent 50: a pool of 150, above any thread count here. */
const MAX_CONNECTIONS = 300;
const PERCENT = 50;

/** `iamdb serve` with a MySQL proxy over the MariaDB; its secret is created through the Secrets Manager API. */
async function startIamdbProxy(baseDir, db, user, password) {
  const { stringify } = await import('yaml');
  const dir = join(baseDir, 'iamdb');
  mkdirSync(dir, { mode: 0o700 });
  const [apiPort, instancePort, proxyPort] = [await freePort(), await freePort(), await freePort()];
  const secretName = 'bench/mysql-proxy';
  const secretArn = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${secretName}`;
  const config = {
    account: ACCOUNT,
    region: REGION,
    stateDir: join(dir, 'state'),
    log: { level: 'warn' },
    audit: { file: join(dir, 'audit.log') },
    api: { listen: `127.0.0.1:${apiPort}` },
    gateway: { drainTimeoutMs: 1000 },
    iam: {
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
        id: 'bench-mariadb',
        engine: 'mariadb',
        listen: `127.0.0.1:${instancePort}`,
        target: `${db.host}:${db.port}`,
        targetTls: { mode: 'disable' },
        master: { username: 'bench_admin', password },
      },
    ],
    proxies: [
      {
        name: 'bench-mysql-proxy',
        engineFamily: 'MYSQL',
        roleArn: `arn:aws:iam::${ACCOUNT}:role/bench-proxy`,
        requireTls: true,
        listen: `127.0.0.1:${proxyPort}`,
        auth: [{ secretArn, iamAuth: 'DISABLED', clientPasswordAuthType: 'MYSQL_NATIVE_PASSWORD' }],
        targets: ['bench-mariadb'],
        connectionPool: { maxConnectionsPercent: PERCENT },
      },
    ],
  };
  const configPath = join(dir, 'iamdb.yaml');
  writeFileSync(configPath, stringify(config), { mode: 0o600 });
  const env = cleanEnv({ IAMDB_MASTER_KEY: randomBytes(32).toString('hex') });
  // IAMDB_BENCH_IAMDB_NODE_ARGS: node options for iamdb only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" (written when it stops).
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
  const SM = await import('@aws-sdk/client-secrets-manager');
  const credFile = join(dir, 'state', 'admin-credentials');
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`iamdb exited: ${stderr}`);
    try {
      const ini = readFileSync(credFile, 'utf8');
      const credentials = { accessKeyId: /aws_access_key_id\s*=\s*(\S+)/.exec(ini)[1], secretAccessKey: /aws_secret_access_key\s*=\s*(\S+)/.exec(ini)[1] };
      const sm = new SM.SecretsManagerClient({ endpoint: `http://127.0.0.1:${apiPort}`, region: REGION, credentials, maxAttempts: 1 });
      await sm.send(new SM.CreateSecretCommand({ Name: secretName, SecretString: JSON.stringify({ username: user, password }) }));
      break;
    } catch (e) {
      if (i > 300) throw new Error(`cannot create the proxy's secret: ${e.message}\n${stderr}`);
      await sleep(100);
    }
  }
  // The CA iamdb signs its endpoints' certificates with (written at its first start).
  const caPath = join(dir, 'state', 'ca.pem');
  for (let i = 0; !existsSync(caPath); i++) {
    if (i > 300) throw new Error(`iamdb wrote no CA at ${caPath}`);
    await sleep(100);
  }
  log(`iamdb (pid ${child.pid}) MySQL proxy endpoint on 127.0.0.1:${proxyPort}`);
  return { pid: child.pid, port: proxyPort, caPath };
}

/** A working directory for sysbench's TLS files (see the top of this file): `caPath` as cacert.pem, and the client certificate. */
function tlsDir(baseDir, name, caPath, client) {
  const dir = join(baseDir, `sysbench-${name}`);
  mkdirSync(dir);
  copyFileSync(caPath, join(dir, 'cacert.pem'));
  copyFileSync(client.key, join(dir, 'client-key.pem'));
  copyFileSync(client.crt, join(dir, 'client-cert.pem'));
  return dir;
}

function sysbenchArgs(target, user, password, workload, threads) {
  return [
    workload,
    '--db-driver=mysql',
    `--mysql-host=127.0.0.1`,
    `--mysql-port=${target.port}`,
    `--mysql-user=${user}`,
    `--mysql-password=${password}`,
    '--mysql-db=sbtest',
    '--mysql-ssl=on',
    `--tables=${TABLES}`,
    `--table-size=${TABLE_SIZE}`,
    `--threads=${threads}`,
    `--time=${SECONDS}`,
    '--report-interval=1',
    '--rand-type=uniform',
    'run',
  ];
}

/**
 * One sysbench run. With a proxy pid, its CPU is read at sysbench's first
 * interim report (every thread connected and running) and at its last, and
 * divided by the transactions between the two, so logins do not count.
 */
async function sysbench(label, target, user, password, workload, threads, proxyPid) {
  const args = sysbenchArgs(target, user, password, workload, threads);
  log(`${label}: sysbench ${workload} --threads=${threads} --time=${SECONDS} (load average ${loadavg()[0].toFixed(1)})`);
  const child = spawn('sysbench', args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: target.tlsDir, env: cleanEnv() });
  let out = '';
  let err = '';
  const samples = []; // [{ t, tps, cpu }]
  let pending = '';
  child.stdout.on('data', (d) => {
    out += d;
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop();
    for (const line of lines) {
      const m = /^\[ (\d+)s \] thds: \d+ tps: ([\d.]+)/.exec(line);
      if (m && proxyPid !== undefined) samples.push({ t: Number(m[1]), tps: Number(m[2]), cpu: cpuSeconds(proxyPid) });
    }
  });
  child.stderr.on('data', (d) => (err += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 120) * 1000);
  const [code, signal] = await new Promise((resolve) => child.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const text = `${out}\n${err}`;
  const fail = (why) => {
    log(`${label}: FAILS: ${why}\n${text.trim().split('\n').filter((l) => !l.startsWith('[ ')).slice(-20).join('\n')}`);
    return { failed: why };
  };
  if (signal === 'SIGKILL') return fail(`no answer: sysbench killed after ${SECONDS + 120} s`);
  const m = /transactions:\s+(\d+)\s+\(([\d.]+) per sec\.\)/.exec(out);
  if (code !== 0 || !m) return fail((text.split('\n').find((l) => /FATAL|error/i.test(l)) ?? `exit ${code}`).trim().slice(0, 200));
  const errors = Number(/ignored errors:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const tps = Number(m[2]);
  let usPer;
  if (proxyPid !== undefined) {
    const steady = samples.slice(samples.findIndex((x) => x.tps > 0));
    let tx = 0;
    for (let i = 1; i < steady.length; i++) tx += steady[i].tps * (steady[i].t - steady[i - 1].t);
    usPer = steady.length >= 3 ? ((steady.at(-1).cpu - steady[0].cpu) * 1e6) / tx : NaN;
  }
  log(`${label}: ${tps.toFixed(0)} tps${errors ? `, ${errors} ignored errors` : ''}${usPer === undefined ? '' : `, proxy CPU ${usPer.toFixed(1)} us per transaction`}`);
  return { tps, usPer, errors };
}

const cell = (r, w = 9) => (r.failed ? 'fails' : r.tps.toFixed(0)).padStart(w);
const ratioCell = (a, b, w) => (a.failed || b.failed ? '-' : (a.tps / b.tps).toFixed(2)).padStart(w);
const cpuCell = (r, w) => (r.failed || !Number.isFinite(r.usPer) ? '-' : r.usPer.toFixed(1)).padStart(w);

async function main() {
  const started = new Date();
  const startLoad = loadavg().map((x) => x.toFixed(1)).join(' ');
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const baseDir = mkdtempSync(join(tmpdir(), 'iamdb-mysql-bench-'));
  chmodSync(baseDir, 0o755); // the mysql account must reach its subdirectory
  onCleanup(() => rmSync(baseDir, { recursive: true, force: true }));

  const client = selfSignedCert(baseDir, 'sysbench-client');
  const db = await startMariaDb(baseDir, { maxConnections: MAX_CONNECTIONS, clientCa: client.crt });
  log(`MariaDB on 127.0.0.1:${db.port} (pid ${db.pid}), max_connections ${MAX_CONNECTIONS} (${baseDir})`);
  const user = 'bench_pw';
  const password = randomBytes(12).toString('hex');
  // The proxy's user: the proxy requires TLS of its clients; its own server connections are plain TCP.
  const proxyUser = 'bench_px';
  await db.sql(
    [
      'CREATE DATABASE sbtest',
      `CREATE USER ${user}@'%' IDENTIFIED BY '${password}' REQUIRE SSL`,
      `GRANT ALL ON sbtest.* TO ${user}@'%'`,
      `CREATE USER ${proxyUser}@'%' IDENTIFIED BY '${password}'`,
      `GRANT ALL ON sbtest.* TO ${proxyUser}@'%'`,
      // The instance's master user (iamdb's own control connection), plain TCP like the proxy's.
      `CREATE USER bench_admin@'%' IDENTIFIED BY '${password}'`,
      `GRANT ALL ON *.* TO bench_admin@'%' WITH GRANT OPTION`,
    ].join('; '),
  );
  const direct = { port: db.port, tlsDir: tlsDir(baseDir, 'direct', db.caPath, client) };
  log(`sysbench prepare: ${TABLES} tables of ${TABLE_SIZE} rows`);
  await run('sysbench', ['oltp_read_write', ...sysbenchArgs(direct, user, password, 'x', 2).slice(1, -1).filter((a) => !/^--(threads|time|report-interval)/.test(a)), 'prepare'], { cwd: direct.tlsDir, timeoutMs: 600_000 });

  const iamdb = await startIamdbProxy(baseDir, db, proxyUser, password);
  const proxy = { port: iamdb.port, tlsDir: tlsDir(baseDir, 'iamdb', iamdb.caPath, client) };
  // Ready when a password login through the proxy works over TLS (the pool learns max_connections at its first login).
  for (let i = 0; ; i++) {
    try {
      await run('mariadb', ['--no-defaults', '-h', '127.0.0.1', '-P', String(proxy.port), '-u', proxyUser, `-p${password}`, '--ssl', `--ssl-ca=${iamdb.caPath}`, '-D', 'sbtest', '-N', '-B', '-e', 'SELECT 1'], { timeoutMs: 10_000 });
      break;
    } catch (e) {
      if (i > 100) throw new Error(`no login through the iamdb proxy: ${e.message}`);
      await sleep(200);
    }
  }
  if (ONLY === 'setup') {
    process.stdout.write(
      [
        `direct: cd ${direct.tlsDir} && sysbench ${sysbenchArgs(direct, user, password, 'oltp_point_select', 8).join(' ')}`,
        `iamdb:  cd ${proxy.tlsDir} && sysbench ${sysbenchArgs(proxy, proxyUser, password, 'oltp_point_select', 8).join(' ')}`,
        `pids: iamdb ${iamdb.pid}, mariadbd ${db.pid}; Ctrl-C ends it`,
        '',
      ].join('\n'),
    );
    await new Promise(() => undefined);
  }

  const results = [];
  for (const workload of WORKLOADS) {
    for (const threads of THREADS) {
      const d = await sysbench(`direct ${workload} t=${threads}`, direct, user, password, workload, threads);
      const i = await sysbench(`iamdb ${workload} t=${threads}`, proxy, proxyUser, password, workload, threads, iamdb.pid);
      results.push({ workload, threads, d, i });
    }
  }
  const lines = [
    '',
    `iamdb MySQL proxy benchmark ${started.toISOString()}, ${SECONDS}s per run, node ${process.version}, MariaDB 10.11 (max_connections ${MAX_CONNECTIONS}), sysbench 1.0.20 (${TABLES} tables of ${TABLE_SIZE} rows), TLS on every client connection, iamdb proxy (session pooling, MaxConnectionsPercent ${PERCENT})`,
  ];
  for (const workload of WORKLOADS) {
    lines.push('', `sysbench ${workload}; transactions/s`, 'threads     direct      iamdb  iamdb/direct   iamdb CPU us/tx');
    for (const r of results.filter((x) => x.workload === workload)) {
      lines.push(`${String(r.threads).padStart(7)}  ${cell(r.d)}  ${cell(r.i)}  ${ratioCell(r.i, r.d, 12)}   ${cpuCell(r.i, 15)}`);
    }
  }
  const failures = results.flatMap((r) => [['direct', r.d], ['iamdb', r.i]].filter(([, x]) => x.failed).map(([who, x]) => `  ${who}, ${r.workload}, ${r.threads} threads: ${x.failed}`));
  if (failures.length) lines.push('', 'failed runs (first error):', ...failures);
  lines.push('', "proxy CPU: user+system of the iamdb process from /proc, between sysbench's first and last interim report, per transaction");
  lines.push(`(load average at the start ${startLoad}, at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}: other work on the machine moves transactions/s)`);
  process.stdout.write(lines.join('\n') + '\n');
  if (failures.length) process.exitCode = 1;
}

runMain(main);
