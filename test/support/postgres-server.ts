// An ephemeral PostgreSQL 15 server for integration tests: a fresh cluster in a
// temp directory, TCP on 127.0.0.1:<free port> with SCRAM passwords (like a
// real server), optional TLS, tuned for speed (no fsync). Run as the
// `postgres` account when we are root, as ourselves otherwise.
import { randomBytes } from 'node:crypto';
import { appendFile, chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { createTestCertificates, type TlsFiles } from './certs.js';
import { armWatchdog, asUser, fileTail, giveTo, harnessTmpRoot, isAlive, runChecked, runCommand, sleep, waitFor } from './exec.js';
import { getFreePort } from './free-port.js';

export const PG_BIN_DIR = process.env.IAMDB_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const SERVICE_USER = 'postgres';

export interface PgServer {
  host: string;
  port: number;
  superuser: string;
  superuserPassword: string;
  /** CA certificate that signed the server certificate (only when TLS is on). */
  caCertPath?: string;
  tls: boolean;
  /** Directory of the Unix socket (trust auth for local connections). */
  socketDir: string;
  dataDir: string;
  /** Server log (stderr of the postmaster). */
  logFile: string;
  /** Temp directory holding everything; removed by stop(). */
  baseDir: string;
  /** Postmaster pid. */
  pid: number;
  /** Milliseconds spent in each startup phase (for diagnosing slow CI). */
  timings: Record<string, number>;
  /** Stops the server (fast shutdown) and deletes its files. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Turn on TLS (ssl=on). Default false. */
  tls?: boolean;
  /** TLS material to use; a fresh CA and certificate are made when omitted. */
  certs?: TlsFiles;
  /** Only accept TCP connections over TLS (hostssl lines only). Default false. */
  requireTls?: boolean;
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string | number | boolean>;
  /** Milliseconds to wait for the server to accept connections. Default 60 s. */
  startTimeoutMs?: number;
}

function bin(name: string): string {
  return join(PG_BIN_DIR, name);
}

/** Environment without PG* variables that could redirect the tools elsewhere. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('PG')) env[k] = v;
  env.LC_ALL = 'C';
  env.LANG = 'C';
  return env;
}

function confValue(v: string | number | boolean): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return `'${v.replace(/'/g, "''")}'`;
}

async function runAsPostgres(cwd: string, command: string, args: string[], timeoutMs = 60_000) {
  const [cmd, argv] = asUser(SERVICE_USER, command, args);
  return runCommand(cmd, argv, { env: cleanEnv(), cwd, timeoutMs });
}

export async function startPostgres(opts: StartPostgresOptions = {}): Promise<PgServer> {
  const tls = opts.tls ?? false;
  const baseDir = await mkdtemp(join(harnessTmpRoot(), 'iamdb-pg-'));
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'postgres.log');
  const superuserPassword = randomBytes(18).toString('base64url');
  let ownCerts: Awaited<ReturnType<typeof createTestCertificates>> | undefined;
  let pid = 0;
  let disarm: (() => void) | undefined;
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (phase: string): void => {
    const now = Date.now();
    timings[phase] = now - mark;
    mark = now;
  };

  const removeAll = async (): Promise<void> => {
    disarm?.();
    await rm(baseDir, { recursive: true, force: true });
    await ownCerts?.remove();
  };

  try {
    await giveTo(SERVICE_USER, baseDir);
    await chmod(baseDir, 0o700);

    // The cluster, with the superuser password set from a file and SCRAM for TCP logins.
    const pwFile = join(baseDir, 'pwfile');
    await writeFile(pwFile, superuserPassword + '\n', { mode: 0o600 });
    await giveTo(SERVICE_USER, pwFile);
    const init = await runAsPostgres(baseDir, bin('initdb'), [
      '-D', dataDir, '--username=postgres', `--pwfile=${pwFile}`,
      '--auth-host=scram-sha-256', '--auth-local=trust',
      '--encoding=UTF8', '--locale=C', '--no-sync', '--no-instructions',
    ]);
    await rm(pwFile, { force: true });
    lap('initdb');
    if (init.code !== 0) throw new Error(`initdb failed (exit ${init.code}):\n${init.stdout}${init.stderr}`);

    // TLS material, copied in and owned by postgres (it refuses keys others can read).
    let caCertPath: string | undefined;
    const settings: Record<string, string | number | boolean> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: baseDir,
      max_connections: 300,
      shared_buffers: '128MB',
      fsync: false,
      synchronous_commit: false,
      full_page_writes: false,
      huge_pages: 'off',
      password_encryption: 'scram-sha-256',
      logging_collector: false,
      log_min_messages: 'warning',
      ssl: false,
    };
    if (tls) {
      let certs = opts.certs;
      if (!certs) {
        const dir = join(baseDir, 'tls-src'); // inside baseDir: removed with it, even by the watchdog
        await mkdir(dir);
        ownCerts = await createTestCertificates({ dir });
        certs = ownCerts;
      }
      const tlsDir = join(baseDir, 'tls');
      await mkdir(tlsDir, { mode: 0o700 });
      const crt = join(tlsDir, 'server.crt');
      const key = join(tlsDir, 'server.key');
      const ca = join(tlsDir, 'ca.crt');
      await copyFile(certs.serverCert, crt);
      await copyFile(certs.serverKey, key);
      await copyFile(certs.caCert, ca);
      await chmod(key, 0o600);
      await giveTo(SERVICE_USER, tlsDir, crt, key, ca);
      Object.assign(settings, { ssl: true, ssl_cert_file: crt, ssl_key_file: key, ssl_ca_file: ca });
      caCertPath = certs.caCert;
    }
    Object.assign(settings, opts.settings ?? {});
    lap('configure');

    const hba = [
      '# written by test/support/postgres-server.ts',
      'local all all trust',
      // Streaming replicas (startPostgresReplica) connect over the socket.
      'local replication all trust',
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      ...(opts.requireTls ? [] : ['host all all 127.0.0.1/32 scram-sha-256']),
      '',
    ].join('\n');
    await writeFile(join(dataDir, 'pg_hba.conf'), hba);
    await appendFile(join(dataDir, 'postgresql.conf'), "\ninclude 'iamdb-test.conf'\n");

    const started = await launch(baseDir, dataDir, logFile, settings, opts.startTimeoutMs);
    pid = started.pid;
    const port = started.port;
    lap('pg_ctl start');
    disarm = armWatchdog(baseDir, pid, 'QUIT');
    await waitForLogin(port, superuserPassword, caCertPath ? await readFile(caCertPath, 'utf8') : undefined, opts.startTimeoutMs);
    lap('first login');

    let stopped: Promise<void> | undefined;
    const server: PgServer = {
      host: '127.0.0.1',
      port,
      superuser: 'postgres',
      superuserPassword,
      tls,
      socketDir: baseDir,
      dataDir,
      logFile,
      baseDir,
      pid,
      timings,
      stop: () => (stopped ??= stopPostgres(baseDir, dataDir, pid, removeAll)),
    };
    if (caCertPath !== undefined) server.caCertPath = caCertPath;
    return server;
  } catch (e) {
    const log = await fileTail(logFile, 40);
    if (pid > 0 || (await hasPidFile(dataDir))) await stopPostgres(baseDir, dataDir, pid, async () => {});
    await removeAll().catch(() => {});
    const err = e as Error;
    if (!err.message.includes('--- ')) err.message += `\n--- postgres log tail ---\n${log}`;
    throw err;
  }
}

/** Starts the cluster in `dataDir` on a free port (a new one if another process takes it in between). */
async function launch(baseDir: string, dataDir: string, logFile: string, settings: Record<string, string | number | boolean>, startTimeoutMs = 60_000): Promise<{ port: number; pid: number }> {
  const confFile = join(dataDir, 'iamdb-test.conf');
  for (let attempt = 1; ; attempt++) {
    const port = await getFreePort();
    const conf = Object.entries({ ...settings, port })
      .map(([k, v]) => `${k} = ${confValue(v)}`)
      .join('\n');
    await writeFile(confFile, conf + '\n');
    await giveTo(SERVICE_USER, confFile, join(dataDir, 'pg_hba.conf'));
    const start = await runAsPostgres(baseDir, bin('pg_ctl'), ['-D', dataDir, '-l', logFile, '-w', '-t', String(Math.ceil(startTimeoutMs / 1000)), '-s', 'start'], startTimeoutMs + 10_000);
    if (start.code === 0) {
      const pidText = await readFile(join(dataDir, 'postmaster.pid'), 'utf8');
      return { port, pid: Number(pidText.split('\n')[0]) };
    }
    const log = await fileTail(logFile, 40);
    if (attempt < 3 && /could not bind|Address already in use/i.test(log)) continue;
    throw new Error(`pg_ctl start failed (exit ${start.code}):\n${start.stdout}${start.stderr}\n--- ${logFile} ---\n${log}`);
  }
}

/** Ready means a real login over TCP works, not that the port is open. */
async function waitForLogin(port: number, password: string, caPem: string | undefined, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    'postgres',
    async () => {
      const client = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres', ssl: caPem ? { ca: caPem } : false, connectionTimeoutMillis: 5_000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
      } finally {
        await client.end().catch(() => {});
      }
    },
    timeoutMs,
  );
}

/**
 * A streaming replica of a running `primary` (started by startPostgres): a
 * base backup over the primary's Unix socket (`pg_basebackup -R`, so it
 * starts as a standby following the primary), in its own temp directory on
 * a free port, with the primary's settings, password and TLS material.
 * `promotePostgres` makes it a primary; `stop()` stops it and deletes it.
 */
export async function startPostgresReplica(primary: PgServer, opts: { startTimeoutMs?: number } = {}): Promise<PgServer> {
  const baseDir = await mkdtemp(join(harnessTmpRoot(), 'iamdb-pg-replica-'));
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'postgres.log');
  let pid = 0;
  let disarm: (() => void) | undefined;
  const timings: Record<string, number> = {};
  let mark = Date.now();
  const lap = (phase: string): void => {
    timings[phase] = Date.now() - mark;
    mark = Date.now();
  };
  const removeAll = async (): Promise<void> => {
    disarm?.();
    await rm(baseDir, { recursive: true, force: true });
  };
  try {
    await giveTo(SERVICE_USER, baseDir);
    await chmod(baseDir, 0o700);
    const backup = await runAsPostgres(baseDir, bin('pg_basebackup'), ['-h', primary.socketDir, '-p', String(primary.port), '-U', 'postgres', '-D', dataDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
    lap('pg_basebackup');
    if (backup.code !== 0) throw new Error(`pg_basebackup failed (exit ${backup.code}):\n${backup.stdout}${backup.stderr}`);
    // The primary's settings, with this directory's socket and TLS files (primary_conninfo in postgresql.auto.conf still names the primary).
    const conf = await readFile(join(dataDir, 'iamdb-test.conf'), 'utf8');
    const settings: Record<string, string> = {};
    for (const line of conf.split('\n')) {
      const m = /^(\w+) = '?(.*?)'?$/.exec(line);
      if (m && m[1] !== 'port') settings[m[1]!] = m[2]!.split(primary.baseDir).join(baseDir).replace(/''/g, "'");
    }
    if (primary.tls) {
      await runChecked('cp', ['-a', join(primary.baseDir, 'tls'), join(baseDir, 'tls')]);
    }
    const started = await launch(baseDir, dataDir, logFile, settings, opts.startTimeoutMs);
    pid = started.pid;
    lap('pg_ctl start');
    disarm = armWatchdog(baseDir, pid, 'QUIT');
    await waitForLogin(started.port, primary.superuserPassword, primary.caCertPath ? await readFile(primary.caCertPath, 'utf8') : undefined, opts.startTimeoutMs);
    lap('first login');
    let stopped: Promise<void> | undefined;
    const server: PgServer = {
      ...primary,
      port: started.port,
      socketDir: baseDir,
      dataDir,
      logFile,
      baseDir,
      pid,
      timings,
      stop: () => (stopped ??= stopPostgres(baseDir, dataDir, pid, removeAll)),
    };
    return server;
  } catch (e) {
    const log = await fileTail(logFile, 40);
    if (pid > 0 || (await hasPidFile(dataDir))) await stopPostgres(baseDir, dataDir, pid, async () => {});
    await removeAll().catch(() => {});
    const err = e as Error;
    err.message += `\n--- replica log tail ---\n${log}`;
    throw err;
  }
}

/** Promotes a standby (`pg_ctl promote -w`: returns once it accepts writes). */
export async function promotePostgres(server: PgServer): Promise<void> {
  const r = await runAsPostgres(server.baseDir, bin('pg_ctl'), ['-D', server.dataDir, '-w', '-t', '60', '-s', 'promote'], 70_000);
  if (r.code !== 0) throw new Error(`pg_ctl promote failed (exit ${r.code}):\n${r.stdout}${r.stderr}\n${await fileTail(server.logFile, 40)}`);
}

/**
 * Kills a server as a crash would (`pg_ctl stop -m immediate`: no checkpoint,
 * every backend ends at once). Its files stay until `stop()`.
 */
export async function crashPostgres(server: PgServer): Promise<void> {
  const r = await runAsPostgres(server.baseDir, bin('pg_ctl'), ['-D', server.dataDir, '-m', 'immediate', '-w', '-t', '30', '-s', 'stop'], 40_000);
  if (r.code !== 0) throw new Error(`pg_ctl stop -m immediate failed (exit ${r.code}):\n${r.stdout}${r.stderr}`);
}

async function hasPidFile(dataDir: string): Promise<boolean> {
  try {
    await readFile(join(dataDir, 'postmaster.pid'));
    return true;
  } catch {
    return false;
  }
}

async function stopPostgres(baseDir: string, dataDir: string, pid: number, removeAll: () => Promise<void>): Promise<void> {
  const r = await runAsPostgres(baseDir, bin('pg_ctl'), ['-D', dataDir, '-m', 'fast', '-w', '-t', '30', '-s', 'stop'], 40_000);
  if (r.code !== 0 && pid > 0 && isAlive(pid)) {
    // pg_ctl could not do it: immediate shutdown, then the hard way.
    try {
      process.kill(pid, 'SIGQUIT');
    } catch {
      /* gone */
    }
    for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(50);
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
  await removeAll();
}
