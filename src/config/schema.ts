/**
 * The configuration schema: one zod schema gives the TypeScript type, the
 * defaults and (through docs/config.md, checked by a test) the documentation.
 * Secrets in the file (access-key secrets, master passwords) are wrapped in
 * Secret<T> by load.ts after validation.
 */
import { z } from 'zod';

const hostPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+):(\d{1,5})$/, { message: 'expected host:port, e.g. 127.0.0.1:7432', abort: true })
  .refine((v) => {
    const port = Number(v.slice(v.lastIndexOf(':') + 1));
    return port >= 1 && port <= 65535;
  }, 'port must be 1-65535');

/** An alias may omit the port (it then inherits the listener's port). */
const hostOptionalPort = z
  .string()
  .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-_]+)(:\d{1,5})?$/, 'expected host or host:port');

const policyDocument = z.union([z.string().min(1), z.record(z.string(), z.unknown())]);

const inlinePolicy = z.strictObject({
  name: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'policy names are 1-128 characters of [A-Za-z0-9_+=,.@-]'),
  document: policyDocument,
});

const tags = z
  .union([
    z.record(z.string(), z.string()),
    z.array(z.strictObject({ Key: z.string(), Value: z.string() })),
  ])
  .optional();

const entityName = z.string().regex(/^[\w+=,.@-]{1,64}$/, 'names are 1-64 characters of [A-Za-z0-9_+=,.@-]');
const iamPath = z.string().regex(/^\/([\x21-\x7e]*\/)?$/, "paths start and end with '/'").default('/');

const accessKey = z.strictObject({
  id: z.string().regex(/^AKIA[A-Z0-9]{12,124}$/, 'access key ids look like AKIA followed by 16 uppercase letters or digits'),
  secret: z.string().min(16, 'secret access keys are 40 characters').max(128),
  status: z.enum(['Active', 'Inactive']).default('Active'),
});

const user = z.strictObject({
  name: entityName,
  path: iamPath,
  accessKeys: z.array(accessKey).max(2, 'at most 2 access keys per user').default([]),
  policies: z.array(inlinePolicy).default([]),
  managedPolicies: z.array(z.string()).default([]),
  groups: z.array(entityName).default([]),
  permissionsBoundary: z.string().optional(),
  tags,
});

const group = z.strictObject({
  name: entityName,
  path: iamPath,
  policies: z.array(inlinePolicy).default([]),
  managedPolicies: z.array(z.string()).default([]),
});

const role = z.strictObject({
  name: entityName,
  path: iamPath,
  assumeRolePolicy: policyDocument,
  description: z.string().max(1000).optional(),
  maxSessionDuration: z.number().int().min(3600).max(43200).default(3600),
  policies: z.array(inlinePolicy).default([]),
  managedPolicies: z.array(z.string()).default([]),
  permissionsBoundary: z.string().optional(),
  tags,
});

const managedPolicy = z.strictObject({
  name: z.string().regex(/^[\w+=,.@-]{1,128}$/, 'policy names are 1-128 characters of [A-Za-z0-9_+=,.@-]'),
  path: iamPath,
  description: z.string().max(1000).optional(),
  document: policyDocument,
});

const targetTls = z.strictObject({
  /** disable: plain TCP; prefer: TLS when the server offers it (unverified), else plain; require: TLS without verification; verify-full: TLS verified against `ca` and the server name. */
  mode: z.enum(['disable', 'prefer', 'require', 'verify-ca', 'verify-full']).default('prefer'),
  ca: z.string().optional().describe('path to a PEM CA bundle that signed the server certificate'),
  serverName: z.string().optional().describe('name to verify in the server certificate (default: the target host)'),
  rsaPublicKey: z
    .string()
    .optional()
    .describe("MySQL 8: path to the server's RSA public key (PEM), for caching_sha2_password logins over a link without TLS; without it the gateway asks the server for its key"),
});

const instance = z.strictObject({
  id: z
    .string()
    .regex(/^[A-Za-z](?!.*--)[A-Za-z0-9-]{0,62}$/, 'instance ids are 1-63 letters, digits or hyphens, start with a letter, no two consecutive hyphens')
    .refine((v) => !v.endsWith('-'), 'instance ids cannot end with a hyphen'),
  engine: z.enum(['postgres', 'mysql', 'mariadb']),
  listen: hostPort,
  aliases: z.array(hostOptionalPort).default([]),
  target: hostPort,
  targetTls: targetTls.default({ mode: 'prefer' }),
  master: z.strictObject({
    username: z.string().min(1).max(63),
    password: z.string().min(1).max(4096),
  }),
  iamDatabaseAuthentication: z.boolean().default(false),
  accountAdmins: z.array(z.string().min(1).max(80)).default([]),
  tags,
});

const rdsIdentifier = (what: string) =>
  z
    .string()
    .regex(/^[A-Za-z](?:-?[A-Za-z0-9]+)*$/, `${what} are 1-63 letters, digits or hyphens, start with a letter, no two consecutive hyphens, no hyphen at the end`)
    .max(63, `${what} are at most 63 characters`);

const proxyAuth = z.strictObject({
  description: z.string().max(1000).optional(),
  userName: z.string().min(1).max(128).optional(),
  authScheme: z.enum(['SECRETS']).default('SECRETS'),
  secretArn: z.string().optional(),
  iamAuth: z.enum(['DISABLED', 'REQUIRED']).default('DISABLED'),
  clientPasswordAuthType: z.enum(['POSTGRES_SCRAM_SHA_256', 'POSTGRES_MD5', 'MYSQL_CACHING_SHA2_PASSWORD', 'MYSQL_NATIVE_PASSWORD']).optional(),
});

const proxyEndpoint = z.strictObject({
  name: rdsIdentifier('endpoint names'),
  targetRole: z.enum(['READ_WRITE', 'READ_ONLY']).default('READ_WRITE'),
  listen: hostPort.optional(),
  vpcSubnetIds: z.array(z.string().min(1)).default([]),
  vpcSecurityGroupIds: z.array(z.string().min(1)).default([]),
});

const dbProxy = z.strictObject({
  name: rdsIdentifier('proxy names'),
  engineFamily: z.enum(['POSTGRESQL', 'MYSQL']),
  roleArn: z.string().min(20).max(2048),
  defaultAuthScheme: z.enum(['NONE', 'IAM_AUTH']).default('NONE'),
  auth: z.array(proxyAuth).max(200, 'at most 200 auth entries per proxy').default([]),
  requireTls: z.boolean().default(false),
  idleClientTimeout: z.number().int().min(1).max(28_800).default(1_800),
  debugLogging: z.boolean().default(false),
  listen: hostPort.optional(),
  targets: z.array(z.string().min(1)).max(1, 'a proxy takes one target instance, as on AWS').default([]),
  connectionPool: z
    .strictObject({
      maxConnectionsPercent: z.number().int().min(1).max(100).optional(),
      maxIdleConnectionsPercent: z.number().int().min(0).max(100).optional(),
      connectionBorrowTimeout: z.number().int().min(0).max(300).optional(),
      sessionPinningFilters: z.array(z.enum(['EXCLUDE_VARIABLE_SETS'])).optional(),
      initQuery: z.string().max(65_536).optional(),
    })
    .default({}),
  endpoints: z.array(proxyEndpoint).max(20, 'at most 20 endpoints besides the default one').default([]),
  vpcSubnetIds: z.array(z.string().min(1)).default([]),
  vpcSecurityGroupIds: z.array(z.string().min(1)).default([]),
  tags,
});

export const configSchema = z.strictObject({
  account: z.string().regex(/^\d{12}$/, 'account ids are 12 digits').default('123456789012'),
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected a region name such as us-east-1').default('us-east-1'),
  partition: z.enum(['aws', 'aws-cn', 'aws-us-gov']).default('aws'),
  stateDir: z.string().min(1).default('./.iamdb'),
  masterKeyFile: z
    .string()
    .optional()
    .describe('file holding the 32-byte master key; default $XDG_CONFIG_HOME/iamdb/master.key; IAMDB_MASTER_KEY wins'),
  log: z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info') }).default({ level: 'info' }),
  audit: z
    .strictObject({ file: z.string().optional().describe("JSON-lines audit log; default <stateDir>/audit.log; '-' for stdout") })
    .default({}),
  gateway: z
    .strictObject({
      loginTimeoutMs: z.number().int().min(100).max(600_000).default(15_000),
      maxMessageBytes: z.number().int().min(1024).max(1 << 30).default(64 << 20),
      tokenFutureSkewSeconds: z.number().int().min(0).max(900).default(300),
      drainTimeoutMs: z.number().int().min(0).max(3_600_000).default(30_000),
      dataPath: z.enum(['auto', 'native', 'node']).default('auto'),
      preAuth: z
        .strictObject({
          maxConnections: z.number().int().min(1).max(1_000_000).default(8192),
          maxConnectionsPerSource: z.number().int().min(1).max(1_000_000).default(256),
        })
        .default({ maxConnections: 8192, maxConnectionsPerSource: 256 }),
      maxServerLoginsInProgress: z.number().int().min(1).max(100_000).default(32),
    })
    .default({
      loginTimeoutMs: 15_000,
      maxMessageBytes: 64 << 20,
      tokenFutureSkewSeconds: 300,
      drainTimeoutMs: 30_000,
      dataPath: 'auto',
      preAuth: { maxConnections: 8192, maxConnectionsPerSource: 256 },
      maxServerLoginsInProgress: 32,
    }),
  api: z
    .strictObject({
      listen: hostPort.optional(),
      tls: z.enum(['auto', 'on', 'off']).default('auto'),
      allowPlainHttp: z.boolean().default(false),
      adminUser: entityName.default('iamdb-admin'),
    })
    .default({ tls: 'auto', allowPlainHttp: false, adminUser: 'iamdb-admin' }),
  metrics: z
    .strictObject({
      listen: hostPort.optional().describe('address of the Prometheus scrape endpoint (GET /metrics), e.g. 127.0.0.1:9464; unset: no metrics are served'),
    })
    .default({}),
  iam: z
    .strictObject({
      users: z.array(user).default([]),
      groups: z.array(group).default([]),
      roles: z.array(role).default([]),
      managedPolicies: z.array(managedPolicy).default([]),
    })
    .default({ users: [], groups: [], roles: [], managedPolicies: [] }),
  instances: z.array(instance).default([]),
  proxyEndpoints: z
    .strictObject({
      listenHost: z.string().regex(/^([0-9a-fA-F:.]+|[A-Za-z0-9.\-_]+)$/, 'expected a host name or address').default('127.0.0.1'),
      ports: z
        .string()
        .regex(/^\d{1,5}(-\d{1,5})?$/, 'expected a port or a range, e.g. 7600-7699')
        .refine((v) => {
          const [a, b = a] = v.split('-').map(Number) as [number, number?];
          return a >= 1 && b <= 65535 && a <= b;
        }, 'ports must be 1-65535, the first not above the last')
        .default('7600-7699'),
      aliases: z.array(z.string().regex(/^[A-Za-z0-9.\-_]+$/, 'expected a host name')).default([]),
      idleServerSeconds: z.number().int().min(1).max(86_400).default(60),
      clientStallSeconds: z.number().int().min(1).max(86_400).default(60),
    })
    .default({ listenHost: '127.0.0.1', ports: '7600-7699', aliases: [], idleServerSeconds: 60, clientStallSeconds: 60 }),
  proxies: z.array(dbProxy).max(20, 'at most 20 proxies, as on AWS').default([]),
});

export type ConfigInput = z.input<typeof configSchema>;
export type ParsedConfig = z.output<typeof configSchema>;
export type InstanceConfig = ParsedConfig['instances'][number];
export type ProxyConfig = ParsedConfig['proxies'][number];
