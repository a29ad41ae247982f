/**
 * What the benchmarks share: child processes that are always cleaned up, a
 * throwaway PostgreSQL 15, PgBouncer and MariaDB 10.11, pgbench runs, CPU
 * and memory of a process from /proc. Used by bench/run.js (instance
 * endpoints), bench/proxy.js (PostgreSQL proxy endpoints) and bench/mysql.js
 * (MySQL proxy endpoints).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PG_BIN = process.env.IAMDB_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PGBOUNCER = '/usr/sbin/pgbouncer';
const SERVICE_USER = 'postgres';
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser'].find((p) => existsSync(p)) ?? 'runuser';
const isRoot = process.getuid?.() === 0;

export function log(msg) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Environment without PG* variables (they could point the tools elsewhere). */
export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  return { ...env, LC_ALL: 'C', LANG: 'C', ...extra };
}

/** [cmd, args] running as the service user when we are root (servers refuse to run as root). */
function asService(cmd, args, user = SERVICE_USER) {
  return isRoot ? [RUNUSER, ['-u', user, '--', cmd, ...args]] : [cmd, args];
}

function ids(user) {
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === user) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`user ${user} not found in /etc/passwd`);
}

function giveToService(...paths) {
  giveTo(SERVICE_USER, ...paths);
}

function giveTo(user, ...paths) {
  if (!isRoot) return;
  const { uid, gid } = ids(user);
  for (const p of paths) chownSync(p, uid, gid);
}

/** Short-lived children (pgbench, psql, ...) still running: killed when we are interrupted. */
const running = new Set();
let interrupted = false;

/**
 * Runs a command to completion; rejects on a non-zero exit or after
 * timeoutMs. The rejection carries `out` and `err` (a failed pgbench run is a
 * result for the proxy benchmark, not only an error).
 */
export function run(cmd, args, { env = cleanEnv(), cwd, timeoutMs = 120_000, duringCleanup = false } = {}) {
  if (interrupted && !duringCleanup) return Promise.reject(new Error('interrupted'));
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env, cwd });
    running.add(child);
    child.on('close', () => running.delete(child));
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ out, err });
      else reject(Object.assign(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${(err || out).slice(-4000)}`), { out, err, code, signal }));
    });
  });
}

// ---------------------------------------------------------------- cleanup

const cleanups = [];
let cleaning;

/** Registers a step of the cleanup; steps run last first. */
export function onCleanup(f) {
  cleanups.push(f);
}

export function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length) {
      const f = cleanups.pop();
      try {
        await f();
      } catch (e) {
        log(`cleanup: ${e.message}`);
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    log(`${sig}: cleaning up`);
    process.exitCode = 1;
    interrupted = true;
    for (const child of running) child.kill('SIGTERM');
    cleanup().finally(() => process.exit(1));
  });
}

/** Runs main, reports a failure, always cleans up, and exits (lingering sockets must not keep a finished run alive). */
export function runMain(main) {
  main()
    .catch((err) => {
      process.stderr.write(`bench failed: ${err.stack ?? err}\n`);
      process.exitCode = 1;
    })
    .finally(async () => {
      await cleanup();
      process.exit(process.exitCode ?? 0);
    });
}

// ---------------------------------------------------------------- servers

export function selfSignedCert(dir, name) {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
    { stdio: 'ignore' },
  );
  chmodSync(key, 0o600);
  return { key, crt };
}

/** A fresh PostgreSQL 15 cluster on a free port of 127.0.0.1: TLS on, SCRAM, fsync off. */
export async function startPostgres(baseDir, { maxConnections = 300 } = {}) {
  const dir = join(baseDir, 'pg');
  mkdirSync(dir, { mode: 0o700 });
  giveToService(dir);
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pwfile');
  const password = randomBytes(18).toString('base64url');
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  giveToService(pwfile);
  await run(...asService(join(PG_BIN, 'initdb'), ['-D', data, '--username=postgres', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions']), { cwd: dir });
  rmSync(pwfile);
  const { key, crt } = selfSignedCert(dir, 'server');
  giveToService(key, crt);
  const port = await freePort();
  const conf = {
    port,
    listen_addresses: "'127.0.0.1'",
    unix_socket_directories: `'${dir}'`,
    max_connections: maxConnections,
    shared_buffers: "'128MB'",
    fsync: 'off',
    synchronous_commit: 'off',
    full_page_writes: 'off',
    password_encryption: "'scram-sha-256'",
    ssl: 'on',
    ssl_cert_file: `'${crt}'`,
    ssl_key_file: `'${key}'`,
    log_min_messages: 'warning',
  };
  const confFile = join(data, 'bench.conf');
  writeFileSync(confFile, Object.entries(conf).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
  writeFileSync(join(data, 'postgresql.conf'), `${readFileSync(join(data, 'postgresql.conf'), 'utf8')}\ninclude 'bench.conf'\n`);
  // host (plain or TLS) with SCRAM: the proxies' server side is plain, clients use TLS.
  writeFileSync(join(data, 'pg_hba.conf'), 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n');
  giveToService(confFile, join(data, 'pg_hba.conf'));
  const pgctl = join(PG_BIN, 'pg_ctl');
  cleanups.push(async () => {
    if (!existsSync(join(data, 'postmaster.pid'))) return;
    log('stopping PostgreSQL');
    await run(...asService(pgctl, ['-D', data, '-m', 'immediate', '-w', '-t', '30', '-s', 'stop']), { cwd: dir, timeoutMs: 40_000, duringCleanup: true });
  });
  await run(...asService(pgctl, ['-D', data, '-l', join(dir, 'postgres.log'), '-w', '-t', '60', '-s', 'start']), { cwd: dir, timeoutMs: 70_000 });
  return { host: '127.0.0.1', port, password, socketDir: dir };
}

/** psql as the superuser over the Unix socket (trust). */
export function psqlLocal(pgi, sql, db = 'postgres') {
  return run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', pgi.socketDir, '-p', String(pgi.port), '-U', 'postgres', '-d', db, '-c', sql]);
}

/**
 * Debian's PgBouncer for database `bench`, SCRAM logins from an auth_file,
 * TLS toward clients, plain TCP toward PostgreSQL. `nofile` raises its
 * descriptor limit (runuser's PAM session starts at 1024) for many clients.
 */
export async function startPgBouncer(baseDir, pgi, user, password, { poolMode = 'session', poolSize = 120, maxClientConn = 200, nofile } = {}) {
  const dir = join(baseDir, 'pgbouncer');
  mkdirSync(dir, { mode: 0o700 });
  const { key, crt } = selfSignedCert(dir, 'client-tls');
  const port = await freePort();
  const ini = join(dir, 'pgbouncer.ini');
  const pidfile = join(dir, 'pgbouncer.pid');
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" "${password}"\n`, { mode: 0o600 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `bench = host=127.0.0.1 port=${pgi.port} dbname=bench`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${poolSize}`,
      `max_client_conn = ${maxClientConn}`,
      'client_tls_sslmode = require',
      `client_tls_key_file = ${key}`,
      `client_tls_cert_file = ${crt}`,
      'server_tls_sslmode = disable',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${pidfile}`,
      'log_connections = 0',
      'log_disconnections = 0',
      'log_pooler_errors = 1',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  if (isRoot) execFileSync('chown', ['-R', `${SERVICE_USER}:`, dir]);
  const [cmd, args] = nofile === undefined ? [PGBOUNCER, [ini]] : ['/bin/sh', ['-c', `ulimit -n ${nofile} && exec "$0" "$@"`, PGBOUNCER, ini]];
  const child = spawn(...asService(cmd, args), { stdio: ['ignore', 'ignore', 'pipe'], cwd: dir, env: cleanEnv() });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('close', resolve));
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    log('stopping PgBouncer');
    // SIGTERM (immediate shutdown) to PgBouncer itself (its pid file), and to runuser, which forwards it.
    let pid;
    try {
      pid = Number(readFileSync(pidfile, 'utf8').trim());
    } catch {
      /* not written yet */
    }
    for (const p of [pid, child.pid]) {
      try {
        if (p) process.kill(p, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    const t = setTimeout(() => {
      for (const p of [pid, child.pid]) {
        try {
          if (p) process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, 5_000);
    await exited;
    clearTimeout(t);
  });
  // Ready when a real login through it works.
  for (let i = 0; ; i++) {
    try {
      await run('psql', ['-X', '-q', '-c', 'select 1', `host=127.0.0.1 port=${port} dbname=bench user=${user} sslmode=require`], { env: cleanEnv({ PGPASSWORD: password }), timeoutMs: 10_000 });
      const pid = Number(readFileSync(pidfile, 'utf8').trim());
      return { port, pid };
    } catch (e) {
      if (child.exitCode !== null || i > 100) throw new Error(`PgBouncer did not start: ${e.message}\n${stderr}`);
      await sleep(100);
    }
  }
}

/**
 * A fresh MariaDB 10.11 (Debian's mariadbd) on a free port of 127.0.0.1, as
 * the `mysql` account when we are root: TLS on (a throwaway self-signed
 * certificate; `clientCa`, when given, is --ssl-ca: MariaDB refuses a
 * client certificate it cannot verify, and sysbench always sends one),
 * root by the Unix socket only, durability off like the PostgreSQL of the
 * other benchmarks. Returns how to reach it and `sql(text)` (the `mariadb`
 * client as root over the socket).
 */
export async function startMariaDb(baseDir, { maxConnections = 300, clientCa } = {}) {
  const user = 'mysql';
  const dir = join(baseDir, 'mariadb');
  mkdirSync(dir, { mode: 0o700 });
  giveTo(user, dir);
  const data = join(dir, 'data');
  const socket = join(dir, 'mysqld.sock');
  const speed = ['--innodb-log-file-size=64M', '--innodb-buffer-pool-size=256M', '--innodb-flush-log-at-trx-commit=0', '--innodb-doublewrite=0', '--skip-log-bin', '--skip-name-resolve'];
  await run(...asService('/usr/bin/mariadb-install-db', ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=socket', '--skip-test-db', ...speed], user), { cwd: dir, timeoutMs: 180_000 });
  const { key, crt } = selfSignedCert(dir, 'server');
  giveTo(user, key, crt);
  const caArgs = [];
  if (clientCa !== undefined) {
    copyFileSync(clientCa, join(dir, 'client-ca.crt'));
    giveTo(user, join(dir, 'client-ca.crt'));
    caArgs.push(`--ssl-ca=${join(dir, 'client-ca.crt')}`);
  }
  const port = await freePort();
  const args = ['--no-defaults', `--datadir=${data}`, `--port=${port}`, '--bind-address=127.0.0.1', `--socket=${socket}`, `--pid-file=${join(dir, 'mysqld.pid')}`, `--log-error=${join(dir, 'mariadb.log')}`, `--tmpdir=${dir}`, `--max-connections=${maxConnections}`, '--character-set-server=utf8mb4', `--ssl-cert=${crt}`, `--ssl-key=${key}`, ...caArgs, ...speed];
  const child = spawn(...asService('/usr/sbin/mariadbd', args, user), { stdio: 'ignore', cwd: dir, env: cleanEnv() });
  const exited = new Promise((resolve) => child.once('close', resolve));
  const pidOf = () => {
    try {
      return Number(readFileSync(join(dir, 'mysqld.pid'), 'utf8').trim());
    } catch {
      return undefined;
    }
  };
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    log('stopping MariaDB');
    for (const p of [pidOf(), child.pid]) {
      try {
        if (p) process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await exited;
  });
  const sql = (text) => run('mariadb', ['--no-defaults', '-S', socket, '-u', 'root', '-N', '-B', '-e', text], { timeoutMs: 60_000 });
  for (let i = 0; ; i++) {
    try {
      await sql('SELECT 1');
      break;
    } catch (e) {
      if (child.exitCode !== null || i > 600) throw new Error(`MariaDB did not start: ${e.message}
${readFileSync(join(dir, 'mariadb.log'), 'utf8').slice(-3000)}`);
      await sleep(100);
    }
  }
  return { host: '127.0.0.1', port, socket, caPath: crt, pid: pidOf(), sql };
}

// ---------------------------------------------------------------- /proc accounting

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** CPU seconds (user + system) a process has used so far; `self` means this process (an in-process iamdb). */
export function cpuSeconds(pid) {
  if (pid === 'self') {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK; // utime, stime
}

/** Resident set size of a process in bytes (VmRSS). */
/**
 * A process's resident memory split by kind of mapping (/proc/PID/smaps), in bytes:
 * `heap` the main thread's malloc heap ([heap]), `arenas` glibc's other malloc arenas (other
 * threads': anonymous mappings that start on a 64 MiB boundary, glibc's HEAP_MAX_SIZE on 64-bit,
 * and fill it with their PROT_NONE tail), `anon` every other anonymous mapping (V8's heap and
 * code space, thread stacks, large mmap'd malloc blocks), `files` file-backed mappings.
 */
export function rssByMapping(pid) {
  const out = { heap: 0, arenas: 0, anon: 0, files: 0 };
  const maps = [];
  let cur;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (m) {
      cur = { start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3], name: m[4], rss: 0 };
      maps.push(cur);
      continue;
    }
    const r = /^Rss:\s+(\d+) kB$/.exec(line);
    if (r && cur) cur.rss = Number(r[1]) * 1024;
  }
  const ARENA = 64n * 2n ** 20n;
  for (let i = 0; i < maps.length; i++) {
    const m = maps[i];
    const next = maps[i + 1];
    if (m.name === '[heap]') out.heap += m.rss;
    else if (m.name !== '' && !m.name.startsWith('[anon')) out.files += m.rss;
    else if (m.start % ARENA === 0n && (m.end - m.start === ARENA || (next && next.start === m.end && next.perms === '---p' && next.end - m.start === ARENA))) out.arenas += m.rss;
    else out.anon += m.rss;
  }
  return out;
}

export function rssBytes(pid) {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}
