// Run the real command-line clients the way a user would, with a timeout, and
// capture what they print. The environment is scrubbed of variables that
// would make a client read the developer's own settings or credentials.
import { runCommand, type RunResult } from './exec.js';

export type { RunResult } from './exec.js';

export const PSQL = process.env.IAMDB_TEST_PSQL ?? '/usr/bin/psql';
export const MARIADB_CLIENT = process.env.IAMDB_TEST_MARIADB_CLIENT ?? '/usr/bin/mariadb';
export const MARIADB_DUMP = process.env.IAMDB_TEST_MARIADB_DUMP ?? '/usr/bin/mariadb-dump';
/** Debian's AWS CLI v2; never whatever `aws` comes first on PATH. */
export const AWS_CLI = '/usr/bin/aws';

export interface ClientOptions {
  /** Extra environment variables (added to the scrubbed environment). */
  env?: Record<string, string | undefined>;
  /** Kill the client after this many milliseconds. Default 30 s. */
  timeoutMs?: number;
  /** Text for the client's stdin. */
  input?: string;
}

/** process.env without variables whose names match `drop`, plus `extra` (undefined values remove). */
function scrubbedEnv(drop: RegExp, extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!drop.test(k)) env[k] = v;
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

function runOpts(env: NodeJS.ProcessEnv, opts: ClientOptions) {
  return {
    env,
    timeoutMs: opts.timeoutMs ?? 30_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
  };
}

/**
 * psql -X -A -t -w -v ON_ERROR_STOP=1 <target> -c <sql>.
 * `target` is a connection string/URI (one argument) or a list of psql
 * arguments (e.g. ['-h', host, '-p', port, '-U', user, 'dbname']). Pass the
 * password as a `PGPASSWORD` env entry or inside the connection string. psql
 * never prompts (-w); a missing password is an error. Inherited PG* variables
 * are dropped and ~/.psqlrc is ignored.
 */
export function runPsql(target: string | readonly string[], sql: string, env: Record<string, string | undefined> = {}, opts: ClientOptions = {}): Promise<RunResult> {
  const targetArgs = typeof target === 'string' ? ['-d', target] : [...target];
  const args = ['-X', '-A', '-t', '-w', '-v', 'ON_ERROR_STOP=1', ...targetArgs, '-c', sql];
  const e = scrubbedEnv(/^PG/, { PGCONNECT_TIMEOUT: '10', ...opts.env, ...env });
  return runCommand(PSQL, args, runOpts(e, opts));
}

/**
 * mariadb --no-defaults <args> --batch --skip-column-names -e <sql>.
 * `args` are the connection arguments, e.g. ['-h', '127.0.0.1', '-P', port,
 * '-u', 'root', '--password=…', '--ssl-ca=…', '--ssl-verify-server-cert'].
 * --no-defaults keeps /etc/mysql and ~/.my.cnf out; inherited MYSQL_* / MARIADB_*
 * variables are dropped.
 */
export function runMariadb(args: readonly string[], sql: string, env: Record<string, string | undefined> = {}, opts: ClientOptions = {}): Promise<RunResult> {
  const all = ['--no-defaults', ...args, '--batch', '--skip-column-names', '--connect-timeout=10', '-e', sql];
  const e = scrubbedEnv(/^(MYSQL|MARIADB)/, { ...opts.env, ...env });
  return runCommand(MARIADB_CLIENT, all, runOpts(e, opts));
}

/**
 * mariadb --no-defaults <args> --batch, reading `script` on stdin the way
 * `mariadb db < dump.sql` does (DELIMITER lines, one COM_QUERY per
 * statement). Inherited MYSQL_* / MARIADB_* variables are dropped.
 */
export function runMariadbScript(args: readonly string[], script: string, env: Record<string, string | undefined> = {}, opts: ClientOptions = {}): Promise<RunResult> {
  const all = ['--no-defaults', ...args, '--batch', '--connect-timeout=10'];
  const e = scrubbedEnv(/^(MYSQL|MARIADB)/, { ...opts.env, ...env });
  return runCommand(MARIADB_CLIENT, all, runOpts(e, { ...opts, input: script }));
}

/** mariadb-dump --no-defaults <args>: the dump is the result's stdout. Inherited MYSQL_* / MARIADB_* variables are dropped. */
export function runMariadbDump(args: readonly string[], env: Record<string, string | undefined> = {}, opts: ClientOptions = {}): Promise<RunResult> {
  const e = scrubbedEnv(/^(MYSQL|MARIADB)/, { ...opts.env, ...env });
  return runCommand(MARIADB_DUMP, ['--no-defaults', ...args], runOpts(e, opts));
}

/**
 * /usr/bin/aws <args>. No AWS_* variable is inherited; AWS_CONFIG_FILE and
 * AWS_SHARED_CREDENTIALS_FILE are /dev/null unless given in `env`, the pager
 * is off and the instance-metadata lookup is disabled (so a missing
 * credential fails fast). Python variables from a pyenv are dropped too so
 * Debian's CLI runs on Debian's Python.
 */
export function runAwsCli(args: readonly string[], env: Record<string, string | undefined> = {}, opts: ClientOptions = {}): Promise<RunResult> {
  const e = scrubbedEnv(/^(AWS_|PYTHON|PYENV|VIRTUAL_ENV$)/, {
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true',
    ...opts.env,
    ...env,
  });
  // The CLI is a Python program: give it more room than the 30 s default on a loaded machine.
  return runCommand(AWS_CLI, args, runOpts(e, { timeoutMs: 60_000, ...opts }));
}
