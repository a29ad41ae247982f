// Process helpers shared by the test harness: run a command with a timeout and
// capture its output, run it as a service user when we are root, and hand
// files to that user.
import { spawn, type SpawnOptions } from 'node:child_process';
import { existsSync, statfsSync, statSync } from 'node:fs';
import { chown, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';

export interface RunResult {
  /** Exit code, or null when the process was killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the process was killed because it ran past `timeoutMs`. */
  timedOut: boolean;
  durationMs: number;
}

export interface RunOptions {
  /** Full environment of the child (not merged with process.env). */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process (SIGKILL) after this many milliseconds. Default 30 s. */
  timeoutMs?: number;
  /** Text written to the child's stdin; stdin is closed otherwise. */
  input?: string;
}

/** Runs `command args`, never rejects for a non-zero exit; rejects only when it cannot be spawned. */
export function runCommand(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const started = Date.now();
  return new Promise<RunResult>((resolve, reject) => {
    const spawnOpts: SpawnOptions = {
      env: opts.env ?? process.env,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    };
    if (opts.cwd !== undefined) spawnOpts.cwd = opts.cwd;
    const child = spawn(command, [...args], spawnOpts);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => {});
      child.stdin.end(opts.input);
    }
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        durationMs: Date.now() - started,
      });
    });
  });
}

/** Like runCommand but rejects with the captured output unless the exit code is 0. */
export async function runChecked(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await runCommand(command, args, opts);
  if (r.code !== 0) {
    const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 30_000} ms` : `exit ${r.code ?? r.signal}`;
    throw new Error(`${command} ${args.join(' ')}: ${why}\n${tail(r.stdout + r.stderr, 40)}`);
  }
  return r;
}

export const isRoot: boolean = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * Command line that runs `command args` as `user` when we are root (servers
 * refuse to run as root), or unchanged as the current user otherwise.
 */
export function asUser(user: string, command: string, args: readonly string[]): [string, string[]] {
  if (!isRoot) return [command, [...args]];
  return [RUNUSER, ['-u', user, '--', command, ...args]];
}

/** runuser(1) from util-linux; /usr/sbin may not be on a CI job's PATH. */
const RUNUSER = ['/usr/sbin/runuser', '/sbin/runuser'].find((p) => existsSync(p)) ?? 'runuser';

export interface UserIds {
  uid: number;
  gid: number;
}

/** uid/gid of a local account, read from /etc/passwd. */
export async function lookupUser(user: string): Promise<UserIds> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === user && f[2] !== undefined && f[3] !== undefined) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  throw new Error(`user ${user} not found in /etc/passwd`);
}

/** Gives `paths` to `user` when we are root; a no-op otherwise (everything already belongs to us). */
export async function giveTo(user: string, ...paths: string[]): Promise<void> {
  if (!isRoot) return;
  const { uid, gid } = await lookupUser(user);
  for (const p of paths) await chown(p, uid, gid);
}

let tmpRoot: string | undefined;

/**
 * Parent directory for server data directories and certificates.
 * IAMDB_TEST_TMPDIR overrides. Otherwise /dev/shm when it is a tmpfs with room
 * to spare (initdb and mariadb-install-db run about twice as fast in memory,
 * and the servers need no durability), else /tmp as root (it must be
 * traversable by the service users; $TMPDIR may be private), else os.tmpdir().
 */
export function harnessTmpRoot(): string {
  if (tmpRoot !== undefined) return tmpRoot;
  const fromEnv = process.env.IAMDB_TEST_TMPDIR;
  if (fromEnv) return (tmpRoot = fromEnv);
  try {
    const st = statfsSync('/dev/shm');
    const free = Number(st.bavail) * Number(st.bsize);
    const mode = statSync('/dev/shm').mode;
    if (free >= 1024 ** 3 && (mode & 0o1777) === 0o1777) return (tmpRoot = '/dev/shm');
  } catch {
    /* no /dev/shm (macOS) */
  }
  return (tmpRoot = isRoot ? '/tmp' : tmpdir());
}

/** Last `lines` lines of a text. */
export function tail(text: string, lines = 30): string {
  const all = text.trimEnd().split('\n');
  return all.slice(-lines).join('\n');
}

/** Last lines of a log file, or a note that it cannot be read. */
export async function fileTail(path: string, lines = 40): Promise<string> {
  try {
    return tail(await readFile(path, 'utf8'), lines);
  } catch (e) {
    return `(cannot read ${path}: ${(e as Error).message})`;
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it resolves, or throws its last error after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T>, timeoutMs: number, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      return await probe();
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() >= deadline) break;
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms: ${(lastErr as Error)?.message ?? String(lastErr)}`);
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Starts a small detached shell that, should this Node process die without
 * running teardown (SIGKILL, crash), kills `pid` (if given) with `signal` and
 * removes `dir`. Returns a function that disarms it (call it after a clean stop).
 */
export function armWatchdog(dir: string, pid?: number, signal: 'QUIT' | 'KILL' | 'TERM' = 'TERM'): () => void {
  const script =
    'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
    'if [ "$2" -gt 0 ]; then kill -' + signal + ' "$2" 2>/dev/null && sleep 2; kill -KILL "$2" 2>/dev/null; fi; ' +
    'rm -rf -- "$3"';
  const child = spawn('/bin/sh', ['-c', script, 'iamdb-test-watchdog', String(process.pid), String(pid ?? 0), dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.on('error', () => {});
  child.unref();
  return () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, 'SIGKILL'); // its own process group: the shell and its sleep
    } catch {
      /* already gone */
    }
  };
}
