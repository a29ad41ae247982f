/**
 * The `iamdb` command line. Each command is a thin adapter: `serve` and
 * `demo` start the app, `generate-db-auth-token` signs locally, `ca export`
 * reads the state store. Errors become one line on stderr and an exit code.
 */
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { IamdbError, isIamdbError } from '../errors/index.js';
import { generateDbAuthToken } from './commands/generate-db-auth-token.js';
import { runServe } from './commands/serve.js';
import { runDemo } from './commands/demo.js';
import { runCaExport } from './commands/ca-export.js';
import { runConfigCheck } from './commands/config-check.js';
import { runDbDeregister, runDbRegister } from './commands/db-register.js';
import { runProxyEndpoint } from './commands/proxy-endpoint.js';
import { exitCodeFor } from './exit-codes.js';

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number (1-65535)');
  return n;
}

export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  /** All of stdin (for secrets that must not be flags). */
  readStdin?: () => Promise<string>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of stream) {
    size += (c as Buffer).length;
    // A password, not a file: refuse anything large rather than buffer it.
    if (size > 65536) throw new IamdbError('CLI_USAGE', { reason: 'stdin is larger than 64 KiB' });
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function buildProgram(io: CliIo): Command {
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
    .option('--api-port <port>', 'control plane port (AWS CLI --endpoint-url)', port, 7400)
    .option('--state-dir <dir>', 'state directory', './.iamdb')
    .action(async (opts: { port: number; apiPort: number; stateDir: string }) => {
      await runDemo({ port: opts.port, apiPort: opts.apiPort, stateDir: opts.stateDir, env: io.env, out: io.out });
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

  const db = program.command('db').description('database instances iamdb fronts (through the control plane)');
  const apiOptions = (c: Command): Command =>
    c
      .option('--endpoint-url <url>', 'control plane URL (default: IAMDB_ENDPOINT_URL or AWS_ENDPOINT_URL)')
      .option('--region <region>', 'AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the profile)')
      .option('--profile <name>', 'named profile from the shared credentials/config files')
      .option('--ca-bundle <file>', 'CA bundle to verify an HTTPS control plane (default: AWS_CA_BUNDLE)');
  apiOptions(
    db
      .command('register')
      .description('adopt an existing server: start an instance endpoint for it now, kept across restarts (RegisterDBInstance)')
      .requiredOption('--id <id>', 'DB instance identifier')
      .requiredOption('--engine <engine>', 'postgres, mysql or mariadb')
      .requiredOption('--listen <host:port>', 'address of the new endpoint')
      .requiredOption('--target <host:port>', 'the real server')
      .requiredOption('--master-username <user>', "the server's administrative user")
      .option('--master-password-stdin', 'read the master password from stdin (else IAMDB_MASTER_PASSWORD)')
      .option('--enable-iam-database-authentication', 'turn IAM database authentication on')
      .option('--alias <host[:port]>', 'another name clients may sign tokens for (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--target-tls <mode>', 'prefer (default: TLS when the server offers it), disable, require, verify-ca or verify-full')
      .option('--target-tls-ca <file>', 'CA bundle that signed the server certificate (on the iamdb host)')
      .option('--target-tls-server-name <name>', 'name to verify in the server certificate')
      .option('--tag <key=value>', 'a tag (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[]),
  ).action(
    async (opts: {
      id: string; engine: string; listen: string; target: string; masterUsername: string; masterPasswordStdin?: boolean; enableIamDatabaseAuthentication?: boolean;
      alias: string[]; targetTls?: string; targetTlsCa?: string; targetTlsServerName?: string; tag: string[]; endpointUrl?: string; region?: string; profile?: string; caBundle?: string;
    }) => {
      const password = opts.masterPasswordStdin ? (await (io.readStdin ?? (() => readAll(process.stdin)))()).replace(/\r?\n$/, '') : io.env['IAMDB_MASTER_PASSWORD'];
      if (!password) throw new IamdbError('CLI_USAGE', { reason: 'give the master password on stdin with --master-password-stdin, or in IAMDB_MASTER_PASSWORD' });
      io.out(
        await runDbRegister({
          ...opts,
          masterPassword: password,
          aliases: opts.alias,
          tags: opts.tag,
          env: io.env,
        }),
      );
    },
  );
  apiOptions(db.command('deregister').description('stop an endpoint registered with `db register` and forget it (DeregisterDBInstance)').requiredOption('--id <id>', 'DB instance identifier')).action(
    async (opts: { id: string; endpointUrl?: string; region?: string; profile?: string; caBundle?: string }) => {
      io.out(await runDbDeregister({ ...opts, env: io.env }));
    },
  );

  apiOptions(
    program
      .command('proxy-endpoint')
      .description('print where an RDS Proxy endpoint listens: its host (DescribeDBProxyEndpoints) and its port (the iamdb:port tag)')
      .argument('<proxy-name>', 'DB proxy name')
      .option('--endpoint-name <name>', 'another endpoint of the proxy (default: its default endpoint)'),
  ).action(async (proxyName: string, opts: { endpointName?: string; endpointUrl?: string; region?: string; profile?: string; caBundle?: string }) => {
    io.out(await runProxyEndpoint({ ...opts, proxyName, env: io.env }));
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
