// An ephemeral MariaDB 10.11 server for integration tests: a fresh data
// directory in a temp directory, TCP on 127.0.0.1:<free port>, root with a
// generated password for every host (the gateway logs in over TCP), optional
// TLS, tuned for speed. Runs as the `mysql` account when we are root, as
// ourselves otherwise.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { createTestCertificates, type TlsFiles } from './certs.js';
import { armWatchdog, asUser, fileTail, giveTo, harnessTmpRoot, isAlive, runCommand, waitFor } from './exec.js';
import { getFreePort } from './free-port.js';

export const MARIADBD = process.env.IAMDB_TEST_MARIADBD ?? '/usr/sbin/mariadbd';
export const MARIADB_INSTALL_DB = process.env.IAMDB_TEST_MARIADB_INSTALL_DB ?? '/usr/bin/mariadb-install-db';
const SERVICE_USER = 'mysql';

export interface MariaDbServer {
  host: string;
  port: number;
  rootUser: string;
  rootPassword: string;
  /** CA certificate that signed the server certificate (only when TLS is on). */
  caCertPath?: string;
  tls: boolean;
  /** Unix socket (root needs the password there too). */
  socketPath: string;
  dataDir: string;
  /** Server error log. */
  logFile: string;
  /** Temp directory holding everything; removed by stop(). */
  baseDir: string;
  /** mariadbd pid. */
  pid: number;
  /** Milliseconds spent in each startup phase (for diagnosing slow CI). */
  timings: Record<string, number>;
  /** Stops the server (SIGTERM, then SIGKILL after 30 s) and deletes its files. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartMariaDbOptions {
  /** Turn on TLS (--ssl-ca/--ssl-cert/--ssl-key). Default false. */
  tls?: boolean;
  /** TLS material to use; a fresh CA and certificate are made when omitted. */
  certs?: TlsFiles;
  /** --require-secure-transport: refuse TCP logins without TLS. Default false. */
  requireTls?: boolean;
  /** Extra mariadbd options, e.g. ['--plugin-load-add=auth_pam']. */
  extraArgs?: string[];
  /** Milliseconds to wait for the server to accept connections. Default 60 s. */
  startTimeoutMs?: number;
  /** Root's password; generated when omitted (a replica takes its primary's: replication replays root's setup). */
  rootPassword?: string;
  /** Write a binary log (ROW, GTID) with this server id, so that replicas can follow this server. Default: no binary log. */
  binlogServerId?: number;
}

// Shared by mariadb-install-db (which passes them to the bootstrap server) and mariadbd.
const SPEED_ARGS = [
  '--innodb-log-file-size=16M',
  '--innodb-buffer-pool-size=64M',
  '--innodb-flush-log-at-trx-commit=0',
  '--innodb-doublewrite=0',
  '--innodb-use-native-aio=0',
  '--skip-log-bin',
  '--skip-name-resolve',
];

function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export async function startMariaDb(opts: StartMariaDbOptions = {}): Promise<MariaDbServer> {
  const tls = opts.tls ?? false;
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const baseDir = await mkdtemp(join(harnessTmpRoot(), 'iamdb-mariadb-'));
  const dataDir = join(baseDir, 'data');
  const logFile = join(baseDir, 'mariadb.log');
  const socketPath = join(baseDir, 'mysqld.sock');
  const pidFile = join(baseDir, 'mysqld.pid');
  const rootPassword = opts.rootPassword ?? randomBytes(18).toString('base64url');
  let ownCerts: Awaited<ReturnType<typeof createTestCertificates>> | undefined;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
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

  const kill = async (): Promise<void> => {
    const target = pid > 0 ? pid : await readPid(pidFile);
    if (target > 0 && isAlive(target)) {
      try {
        process.kill(target, 'SIGTERM');
      } catch {
        /* gone */
      }
    } else if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
    }
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      exited.then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 30_000);
      }),
    ]);
    clearTimeout(timer);
    if (!done) {
      if (target > 0 && isAlive(target)) process.kill(target, 'SIGKILL');
      child?.kill('SIGKILL');
      await exited;
    }
  };

  try {
    await giveTo(SERVICE_USER, baseDir);
    await chmod(baseDir, 0o700);

    const [installCmd, installArgs] = asUser(SERVICE_USER, MARIADB_INSTALL_DB, [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      ...SPEED_ARGS,
    ]);
    let install = await runCommand(installCmd, installArgs, { cwd: baseDir, timeoutMs: 120_000 });
    if (install.code !== 0 && /got signal \d+/.test(install.stdout + install.stderr)) {
      // MariaDB 10.11's bootstrap server has been seen to crash (SIGSEGV in ha_maria::drop_table while
      // creating the sys schema's views, once in several hundred starts): a server bug, not ours.
      // A fresh data directory and one more bootstrap; a second crash fails the run.
      process.stderr.write('[test harness] mariadb-install-db: the bootstrap server crashed; bootstrapping once more\n');
      await rm(dataDir, { recursive: true, force: true });
      install = await runCommand(installCmd, installArgs, { cwd: baseDir, timeoutMs: 120_000 });
    }
    lap('install-db');
    if (install.code !== 0) {
      throw new Error(`mariadb-install-db failed (exit ${install.code}):\n${install.stdout}${install.stderr}`);
    }

    const tlsArgs: string[] = [];
    let caCertPath: string | undefined;
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
      tlsArgs.push(`--ssl-ca=${ca}`, `--ssl-cert=${crt}`, `--ssl-key=${key}`);
      caCertPath = certs.caCert;
    }

    lap('configure');

    // Start; if another process took the port in between, try again with a new one.
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await getFreePort();
      const [cmd, args] = asUser(SERVICE_USER, MARIADBD, [
        '--no-defaults',
        `--datadir=${dataDir}`,
        `--port=${port}`,
        '--bind-address=127.0.0.1',
        `--socket=${socketPath}`,
        `--pid-file=${pidFile}`,
        `--log-error=${logFile}`,
        `--tmpdir=${baseDir}`,
        '--max-connections=300',
        '--character-set-server=utf8mb4',
        '--collation-server=utf8mb4_general_ci',
        ...(opts.binlogServerId === undefined ? SPEED_ARGS : [...SPEED_ARGS.filter((a) => a !== '--skip-log-bin'), ...binlogArgs(opts.binlogServerId)]),
        ...tlsArgs,
        ...(opts.requireTls ? ['--require-secure-transport=ON'] : []),
        ...(opts.extraArgs ?? []),
      ]);
      const proc = spawn(cmd, args, { cwd: baseDir, stdio: 'ignore' });
      child = proc;
      let spawnError: Error | undefined;
      exited = new Promise<void>((resolve) => {
        proc.once('exit', () => resolve());
        proc.once('error', (e) => {
          spawnError = e;
          resolve();
        });
      });
      proc.unref();

      // Ready: the socket accepts root (no password yet).
      const started = await waitFor(
        'mariadb',
        async () => {
          if (spawnError) return 'died' as const;
          if (proc.exitCode !== null || proc.signalCode !== null) return 'died' as const;
          const conn = await mysql.createConnection({ socketPath, user: 'root', connectTimeout: 5_000 });
          await conn.end();
          return 'up' as const;
        },
        timeoutMs,
      );
      if (started === 'up') break;
      if (spawnError) throw spawnError;
      const log = await fileTail(logFile, 40);
      if (attempt < 3 && /Bind on TCP\/IP port|Address already in use/i.test(log)) continue;
      throw new Error(`mariadbd exited during startup (code ${proc.exitCode ?? proc.signalCode})\n--- ${logFile} ---\n${log}`);
    }

    lap('mariadbd start');
    pid = await readPid(pidFile);
    disarm = armWatchdog(baseDir, pid, 'KILL');

    // root with the generated password on every host it can come from; the
    // gateway logs in over TCP (127.0.0.1, or % through a proxy).
    const admin = await mysql.createConnection({ socketPath, user: 'root', multipleStatements: true });
    try {
      const pw = sqlString(rootPassword);
      const stmts: string[] = [];
      for (const host of ['%', '127.0.0.1', '::1', 'localhost']) {
        const acct = `'root'@${sqlString(host)}`;
        stmts.push(
          `CREATE USER IF NOT EXISTS ${acct} IDENTIFIED BY ${pw}`,
          `ALTER USER ${acct} IDENTIFIED BY ${pw}`,
          `GRANT ALL PRIVILEGES ON *.* TO ${acct} WITH GRANT OPTION`,
          `GRANT PROXY ON ''@'%' TO ${acct} WITH GRANT OPTION`,
        );
      }
      await admin.query(stmts.join(';\n'));
    } finally {
      await admin.end().catch(() => {});
    }
    lap('set root password');

    // And prove a real TCP login works (over TLS when on).
    const caPem = caCertPath ? await readFile(caCertPath, 'utf8') : undefined;
    await waitFor(
      'mariadb tcp login',
      async () => {
        const conn = await mysql.createConnection({
          host: '127.0.0.1',
          port,
          user: 'root',
          password: rootPassword,
          connectTimeout: 5_000,
          ...(caPem ? { ssl: { ca: caPem } } : {}),
        });
        try {
          await conn.query('SELECT 1');
        } finally {
          await conn.end().catch(() => {});
        }
      },
      10_000,
    );
    lap('first tcp login');

    let stopped: Promise<void> | undefined;
    const server: MariaDbServer = {
      host: '127.0.0.1',
      port,
      rootUser: 'root',
      rootPassword,
      tls,
      socketPath,
      dataDir,
      logFile,
      baseDir,
      pid,
      timings,
      stop: () =>
        (stopped ??= (async () => {
          await kill();
          await removeAll();
        })()),
    };
    if (caCertPath !== undefined) server.caCertPath = caCertPath;
    return server;
  } catch (e) {
    const log = await fileTail(logFile, 40);
    await kill().catch(() => {});
    await removeAll().catch(() => {});
    const err = e as Error;
    if (!err.message.includes('--- ')) err.message += `\n--- mariadb log tail ---\n${log}`;
    throw err;
  }
}

/** A binary log a replica can follow by GTID; its own replicated changes logged too, so a promoted replica can be followed in turn. */
function binlogArgs(serverId: number): string[] {
  return [`--server-id=${serverId}`, '--log-bin=mariadb-bin', '--binlog-format=ROW', '--log-slave-updates=ON', '--sync-binlog=0'];
}

/**
 * A replica of a running `primary` (started with `binlogServerId`): a fresh
 * server (id 2 unless given) with the primary's root password and TLS
 * setting, `read_only` on, following the primary by GTID from the start of
 * its binary log (`CHANGE MASTER TO … MASTER_USE_GTID=slave_pos`, `START
 * SLAVE`), so everything made on the primary since it started is there.
 * `semiSync`: the primary waits for this replica to have each transaction
 * before it acknowledges the commit (MariaDB's built-in semi-synchronous
 * replication, AFTER_SYNC), so a failover to it loses no commit a client
 * was told of. `promoteMariaDb` makes it a primary.
 */
export async function startMariaDbReplica(primary: MariaDbServer, opts: { serverId?: number; semiSync?: boolean; startTimeoutMs?: number } = {}): Promise<MariaDbServer> {
  const replica = await startMariaDb({
    rootPassword: primary.rootPassword,
    binlogServerId: opts.serverId ?? 2,
    tls: primary.tls,
    extraArgs: ['--read-only=ON', '--skip-slave-start'],
    ...(opts.startTimeoutMs !== undefined ? { startTimeoutMs: opts.startTimeoutMs } : {}),
  });
  try {
    if (opts.semiSync === true) {
      await adminQuery(primary, [
        'SET GLOBAL rpl_semi_sync_master_enabled = ON',
        // Never fall back to asynchronous commits during a test: an hour.
        'SET GLOBAL rpl_semi_sync_master_timeout = 3600000',
        "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
      ]);
      await adminQuery(replica, ['SET GLOBAL rpl_semi_sync_slave_enabled = ON']);
    }
    const ssl = primary.tls ? ', MASTER_SSL = 1' : '';
    await adminQuery(replica, [
      `CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = ${primary.port}, MASTER_USER = 'root', MASTER_PASSWORD = ${sqlString(primary.rootPassword)}, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1${ssl}`,
      'START SLAVE',
    ]);
    await waitFor(
      'the replica following its primary',
      async () => {
        const [status] = await adminRows(replica, 'SHOW SLAVE STATUS');
        if (status?.['Slave_IO_Running'] !== 'Yes' || status?.['Slave_SQL_Running'] !== 'Yes') {
          throw new Error(`IO ${String(status?.['Slave_IO_Running'])}, SQL ${String(status?.['Slave_SQL_Running'])}: ${String(status?.['Last_IO_Error'] ?? '')} ${String(status?.['Last_SQL_Error'] ?? '')}`);
        }
        if (opts.semiSync === true) {
          const [clients] = await adminRows(primary, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'");
          if (Number(clients?.['Value']) < 1) throw new Error('the primary has no semi-synchronous replica yet');
        }
      },
      opts.startTimeoutMs ?? 60_000,
    );
    await waitForReplica(primary, replica);
    return replica;
  } catch (e) {
    const log = await fileTail(replica.logFile, 40);
    await replica.stop().catch(() => {});
    (e as Error).message += `\n--- replica log tail ---\n${log}`;
    throw e;
  }
}

/** Waits until `replica` has applied everything `primary` has logged so far (MASTER_GTID_WAIT). */
export async function waitForReplica(primary: MariaDbServer, replica: MariaDbServer, timeoutMs = 30_000): Promise<void> {
  const [pos] = await adminRows(primary, 'SELECT @@global.gtid_binlog_pos AS pos');
  const [r] = await adminRows(replica, `SELECT MASTER_GTID_WAIT(${sqlString(String(pos?.['pos'] ?? ''))}, ${timeoutMs / 1000}) AS r`);
  if (Number(r?.['r']) !== 0) throw new Error(`the replica did not catch up with ${String(pos?.['pos'])} within ${timeoutMs} ms`);
}

/**
 * Promotes a replica as an operator (or RDS) would after its primary is
 * gone: replication stopped and forgotten (`STOP SLAVE`, `RESET SLAVE
 * ALL`), then writes allowed (`read_only` off).
 */
export async function promoteMariaDb(server: MariaDbServer): Promise<void> {
  await adminQuery(server, ['STOP SLAVE', 'RESET SLAVE ALL', 'SET GLOBAL read_only = OFF']);
}

/** Kills a server as a crash would (SIGKILL: no shutdown, every connection cut). Its files stay until `stop()`. */
export async function crashMariaDb(server: MariaDbServer): Promise<void> {
  if (isAlive(server.pid)) process.kill(server.pid, 'SIGKILL');
  await waitFor(
    'mariadbd gone',
    async () => {
      if (isAlive(server.pid)) throw new Error(`pid ${server.pid} still alive`);
    },
    30_000,
  );
}

/** Statements as root over the server's Unix socket, one at a time. */
async function adminQuery(server: MariaDbServer, statements: string[]): Promise<void> {
  const c = await mysql.createConnection({ socketPath: server.socketPath, user: 'root', password: server.rootPassword });
  try {
    for (const s of statements) await c.query(s);
  } finally {
    await c.end().catch(() => {});
  }
}

async function adminRows(server: MariaDbServer, sql: string): Promise<Array<Record<string, unknown>>> {
  const c = await mysql.createConnection({ socketPath: server.socketPath, user: 'root', password: server.rootPassword });
  try {
    const [rows] = await c.query(sql);
    return rows as Array<Record<string, unknown>>;
  } finally {
    await c.end().catch(() => {});
  }
}

async function readPid(pidFile: string): Promise<number> {
  try {
    const n = Number((await readFile(pidFile, 'utf8')).trim());
    return Number.isInteger(n) && n > 0 ? n : 0;
  } catch {
    return 0;
  }
}
