/**
 * The `iamdb` command line. Each command is a thin adapter: `serve` and
 * `demo` start the app, `generate-db-auth-token` signs locally, `ca export`
 * reads the state store. Errors become one line on stderr and an exit code.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { isIamdbError } from '../errors/index.js';
import { generateDbAuthToken } from './commands/generate-db-auth-token.js';
import { runServe } from './commands/serve.js';
import { runDemo } from './commands/demo.js';
import { runCaExport } from './commands/ca-export.js';
import { runConfigCheck } from './commands/config-check.js';
import { exitCodeFor } from './exit-codes.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number (1-65535)');
  return n;
}

export function buildProgram(io: { out: (s: string) => void; err: (s: string) => void; env: Readonly<Record<string, string | undefined>> }): Command {
  const program = new Command('iamdb')
    .description('AWS-style IAM database authentication for PostgreSQL and MySQL/MariaDB')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  program
    .command('serve')
    .description('run the gateway (and its instance endpoints) from a YAML config file')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
    .action(async (opts: { config: string; logLevel?: string }) => {
      await runServe({ file: opts.config, env: io.env, flags: { 'log.level': opts.logLevel } });
    });

  program
    .command('demo')
    .description('all-in-one demo: an embedded PostgreSQL (PGlite), an IAM-enabled endpoint and a demo IAM user')
    .option('--port <port>', 'endpoint port', port, 7432)
    .option('--state-dir <dir>', 'state directory', './.iamdb')
    .action(async (opts: { port: number; stateDir: string }) => {
      await runDemo({ port: opts.port, stateDir: opts.stateDir, env: io.env, out: io.out });
    });

  program
    .command('generate-db-auth-token')
    .description('print an IAM database auth token, exactly as `aws rds generate-db-auth-token` does')
    .requiredOption('--hostname <host>', 'endpoint host name the client connects to')
    .requiredOption('--port <port>', 'endpoint port', port)
    .requiredOption('--username <user>', 'database user')
    .option('--region <region>', 'AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the profile)')
    .option('--profile <name>', 'named profile from the shared credentials/config files')
    .action(async (opts: { hostname: string; port: number; username: string; region?: string; profile?: string }) => {
      const token = await generateDbAuthToken({ ...opts, env: io.env });
      io.out(`${token.reveal()}\n`);
    });

  const ca = program.command('ca').description("iamdb's certificate authority");
  ca.command('export')
    .description('print the CA bundle (PEM) clients use to verify iamdb endpoints (sslrootcert, --ssl-ca)')
    .option('-c, --config <file>', 'YAML configuration file (for stateDir)')
    .option('--state-dir <dir>', 'state directory (default ./.iamdb)')
    .action(async (opts: { config?: string; stateDir?: string }) => {
      io.out(await runCaExport({ ...opts, env: io.env }));
    });

  const config = program.command('config').description('configuration tools');
  config
    .command('check')
    .description('validate a configuration file and list every problem')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .action((opts: { config: string }) => {
      io.out(runConfigCheck({ file: opts.config, env: io.env }));
    });

  return program;
}

/** Runs the CLI; resolves with the process exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const io = { out: (s: string) => void process.stdout.write(s), err: (s: string) => void process.stderr.write(s), env: process.env };
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (isIamdbError(err)) {
      io.err(`iamdb: ${err.message}\n`);
      return exitCodeFor(err);
    }
    io.err(`iamdb: ${(err as Error)?.message ?? String(err)}\n`);
    return 1;
  }
}
