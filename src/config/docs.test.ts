/**
 * docs/config.md is checked against the zod schema: the key table between the
 * GENERATED markers is rebuilt from `z.toJSONSchema(configSchema)` and must
 * match, and every dotted key of the schema must appear in the doc.
 * Regenerate with `node scripts/gen-docs.mjs` (UPDATE_DOCS=1).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema } from './schema.js';

const docPath = fileURLToPath(new URL('../../docs/config.md', import.meta.url));
const BEGIN = '<!-- BEGIN GENERATED: config keys (src/config/docs.test.ts) -->';
const END = '<!-- END GENERATED: config keys -->';

/** Scalars reachable from the environment (mirrors envOverrides in load.ts). */
const envReachable = new Set([
  'account', 'region', 'partition', 'stateDir', 'masterKeyFile', 'log.level', 'audit.file',
  'gateway.loginTimeoutMs', 'gateway.maxMessageBytes', 'gateway.tokenFutureSkewSeconds', 'gateway.drainTimeoutMs',
    'gateway.dataPath', 'gateway.preAuth.maxConnections', 'gateway.preAuth.maxConnectionsPerSource', 'gateway.maxServerLoginsInProgress',
    'api.listen', 'api.tls', 'api.allowPlainHttp', 'metrics.listen',
]);

/** What each key means; the schema carries few descriptions, so they live here, next to the check. */
const meanings: Record<string, string> = {
  account: '12-digit account id used in ARNs (`arn:aws:iam::<account>:user/...`, `arn:aws:rds-db:...`).',
  region: 'Region iamdb plays; tokens must be signed for it.',
  partition: 'ARN partition.',
  stateDir: 'Directory of the state store (`state.db`, CA, sealed secrets) and, by default, the audit log. Relative to the config file.',
  masterKeyFile: 'File holding the 32-byte master key that seals secrets in the state store. Ignored when `IAMDB_MASTER_KEY` is set. Must not be inside `stateDir`.',
  log: 'Process log (pino, JSON on stderr).',
  'log.level': 'Log level.',
  audit: 'Audit log settings (see docs/audit.md).',
  'audit.file': "JSON-lines audit log; `-` writes to stdout. Default `<stateDir>/audit.log`.",
  gateway: 'Timeouts and limits of the instance endpoints.',
  'gateway.loginTimeoutMs': 'A client must finish TLS and login within this time, or it is disconnected (`LoginTimeout`).',
  'gateway.maxMessageBytes': 'Largest PostgreSQL message / MySQL packet accepted from a client.',
  'gateway.tokenFutureSkewSeconds': 'How far in the future an auth token may be dated (clock skew) before it is refused (`FutureToken`).',
  'gateway.drainTimeoutMs': 'On SIGTERM/SIGINT, how long open sessions may continue before they are closed.',
  'gateway.dataPath': 'Where PostgreSQL endpoints terminate client TLS and relay bytes after login: `native` (the native data path built by `npm ci`: TLS and relay on a thread of their own, off the event loop), `node` (Node\'s TLS and the JavaScript relay), or `auto` (native when it loads, else node, with a warning). MySQL instance endpoints always use node; proxy endpoints (both engines) need the native data path. See docs/architecture.md.',
  'gateway.preAuth': 'Caps on connections that have not authenticated yet, shared by every endpoint of the process. A connection over a cap gets the engine\'s "too many connections" error (PostgreSQL 53300, MySQL 1040) and is closed at once; the refusals are logged (at most one line per cap every 10 s). See docs/security.md.',
  'gateway.preAuth.maxConnections': 'Unauthenticated connections at once, in total.',
  'gateway.preAuth.maxConnectionsPerSource': 'Unauthenticated connections at once from one source address (an IPv6 source counts per /64).',
  'gateway.maxServerLoginsInProgress': 'Per endpoint: server connections that may be open at once for logins that have not completed (a password user\'s exchange with the server, an IAM user\'s server login). Further logins wait for a place within their login timeout; no server connection is opened for them meanwhile.',
  api: 'The AWS-compatible control plane (IAM, STS, RDS, KMS, Secrets Manager) that the AWS CLI and SDKs drive with `--endpoint-url`. See docs/control-plane.md.',
  'api.listen': 'Address of the control-plane endpoint, e.g. `127.0.0.1:7400`. Unset: no control plane is served (the admin credentials are still created).',
  'api.tls': '`auto`: plain HTTP on a loopback address, HTTPS with a certificate from iamdb\'s CA anywhere else; `on`: always HTTPS; `off`: always plain HTTP (refused off loopback unless `allowPlainHttp`).',
  'api.allowPlainHttp': 'Lets `tls: off` serve plain HTTP on a non-loopback address (signed requests and returned secrets then cross the network in the clear).',
  'api.adminUser': 'The IAM user created on first start with full access; its access key is written once to `<stateDir>/admin-credentials` (profile `iamdb-admin`).',
  metrics: 'Prometheus metrics (RDS Proxy\'s CloudWatch set for proxy endpoints, IAM login counts for instance endpoints), served on a listener of their own. See docs/metrics.md.',
  'metrics.listen': 'Address of the scrape endpoint, e.g. `127.0.0.1:9464`: plain HTTP, `GET /metrics`, no authentication (it shows proxy, endpoint, instance and database user names, never a secret). Unset (the default): no metrics are served. Bind it to loopback or a monitoring network.',
  iam: 'IAM entities seeded at start.',
  'iam.users': 'IAM users.',
  'iam.users[].name': 'User name (unique, case-insensitively).',
  'iam.users[].path': 'IAM path, e.g. `/engineering/`.',
  'iam.users[].accessKeys': 'Up to 2 long-term access keys.',
  'iam.users[].accessKeys[].id': 'Access key id (`AKIA...`), unique across users.',
  'iam.users[].accessKeys[].secret': 'Secret access key. Wrapped in `Secret` after loading; never logged.',
  'iam.users[].accessKeys[].status': 'Inactive keys are refused (`InactiveAccessKey`).',
  'iam.users[].policies': 'Inline policies.',
  'iam.users[].policies[].name': 'Inline policy name.',
  'iam.users[].policies[].document': 'Policy document: a JSON string or a YAML mapping.',
  'iam.users[].managedPolicies': 'Managed policies to attach: names from `iam.managedPolicies` or ARNs.',
  'iam.users[].groups': 'Group names; each must exist in `iam.groups`.',
  'iam.users[].permissionsBoundary': 'Managed policy (name or ARN) that caps the user\'s permissions.',
  'iam.users[].tags': 'Tags, as a `key: value` map or a list of `{Key, Value}` (usable as `aws:PrincipalTag/...`).',
  'iam.users[].tags[].Key': 'Tag key (list form).',
  'iam.users[].tags[].Value': 'Tag value (list form).',
  'iam.groups': 'IAM groups.',
  'iam.groups[].name': 'Group name (unique, case-insensitively).',
  'iam.groups[].path': 'IAM path.',
  'iam.groups[].policies': 'Inline policies.',
  'iam.groups[].policies[].name': 'Inline policy name.',
  'iam.groups[].policies[].document': 'Policy document: a JSON string or a YAML mapping.',
  'iam.groups[].managedPolicies': 'Managed policies to attach (names or ARNs).',
  'iam.roles': 'IAM roles (assumed through STS; their sessions may connect).',
  'iam.roles[].name': 'Role name (unique, case-insensitively).',
  'iam.roles[].path': 'IAM path.',
  'iam.roles[].assumeRolePolicy': 'Trust policy: who may assume the role.',
  'iam.roles[].description': 'Free text.',
  'iam.roles[].maxSessionDuration': 'Longest session, in seconds (1 to 12 hours).',
  'iam.roles[].policies': 'Inline policies.',
  'iam.roles[].policies[].name': 'Inline policy name.',
  'iam.roles[].policies[].document': 'Policy document: a JSON string or a YAML mapping.',
  'iam.roles[].managedPolicies': 'Managed policies to attach (names or ARNs).',
  'iam.roles[].permissionsBoundary': 'Managed policy (name or ARN) that caps the role\'s permissions.',
  'iam.roles[].tags': 'Tags (map or list of `{Key, Value}`).',
  'iam.roles[].tags[].Key': 'Tag key (list form).',
  'iam.roles[].tags[].Value': 'Tag value (list form).',
  'iam.managedPolicies': 'Customer managed policies.',
  'iam.managedPolicies[].name': 'Policy name (unique, case-insensitively).',
  'iam.managedPolicies[].path': 'IAM path.',
  'iam.managedPolicies[].description': 'Free text.',
  'iam.managedPolicies[].document': 'Policy document: a JSON string or a YAML mapping.',
  instances: 'Database instance endpoints: one listener each, in front of one real server.',
  'instances[].id': 'DB instance identifier (as in RDS: letters, digits, hyphens); unique.',
  'instances[].engine': 'Wire protocol of the target.',
  'instances[].listen': 'Address the endpoint listens on (`host:port`); unique across instances.',
  'instances[].aliases': 'Other host names (optionally `host:port`) clients may sign tokens for, e.g. a DNS name in front of `listen`. Without a port the listener\'s port applies.',
  'instances[].target': 'The real database server (`host:port`).',
  'instances[].targetTls': 'TLS from iamdb to the target (session links and the gateway\'s own control links alike).',
  'instances[].targetTls.mode': '`prefer`: TLS whenever the server offers it, without verification, plain TCP otherwise (libpq\'s `sslmode=prefer`); `disable`: plain TCP; `require`: TLS without verification, refusing a server without TLS; `verify-ca`: verify the chain against `ca`; `verify-full`: also verify the name.',
  'instances[].targetTls.ca': 'PEM CA bundle for `verify-ca` / `verify-full` (required for those); relative to the config file.',
  'instances[].targetTls.serverName': 'Name expected in the server certificate (default: the target host).',
  'instances[].targetTls.rsaPublicKey':
    "MySQL 8: the server's RSA public key (PEM file, the server's `caching_sha2_password_public_key_path`); relative to the config file. Used whenever the link to the server is in clear (`mode` `disable`, or `prefer` against a server without TLS) and a caching_sha2_password login needs full authentication: the managed credential is encrypted with it. Without it the gateway asks the server for its key on the (unauthenticated) link, which trusts that network: under `prefer` an attacker who strips TLS there can also hand over their own key. See docs/architecture.md.",
  'instances[].master': 'The master user iamdb logs in as upstream, and that clients may use with a password, as on RDS.',
  'instances[].master.username': 'Master user name.',
  'instances[].master.password': 'Master password. Wrapped in `Secret` after loading; never logged.',
  'instances[].iamDatabaseAuthentication': 'Accept IAM auth tokens on this instance (RDS `EnableIAMDatabaseAuthentication`).',
  'instances[].accountAdmins': 'MySQL/MariaDB: database users, besides `master`, whose sessions may change the authentication of IAM accounts (turn one into a password account with `SET PASSWORD`, `ALTER USER … IDENTIFIED BY`, drop or rename it). Any other session gets an error for such a statement. See docs/security.md.',
  'instances[].tags': 'Tags (map or list of `{Key, Value}`), usable as `rds:db-tag/...`.',
  'instances[].tags[].Key': 'Tag key (list form).',
  'instances[].tags[].Value': 'Tag value (list form).',
  proxyEndpoints: 'Where RDS Proxy endpoints listen. AWS gives each proxy endpoint its own DNS name on 5432/3306; iamdb gives each a port on one host. See docs/proxies.md.',
  'proxyEndpoints.listenHost': 'Host (address) proxy endpoints listen on, unless a create asks for another with the `iamdb:listen` tag. `Endpoint` in DescribeDBProxies is this host (for `0.0.0.0`/`::`, the first alias, else the machine\'s host name).',
  'proxyEndpoints.ports': 'Port or range (`7600-7699`) new proxy endpoints take a port from: the lowest not used by another proxy endpoint or an instance endpoint and bindable now. A port, once given, is kept across restarts.',
  'proxyEndpoints.idleServerSeconds': 'How long a pooled server connection beyond the target group\'s `MaxIdleConnectionsPercent` may stay idle before the proxy closes it (default 60).',
  'proxyEndpoints.clientStallSeconds': 'How long a client that holds a pooled server connection may leave the answer waiting for it untaken (it has stopped reading) before the proxy lets it go and cleans or closes that connection (default 60). IdleClientTimeout does not count a client with a request in flight.',
  'proxyEndpoints.aliases': 'Other host names clients reach `listenHost` by (and may sign tokens for); the first is `Endpoint` when `listenHost` is a wildcard.',
  proxies: 'RDS Proxies defined by the file (at most 20 with those made through the API). They belong to the file: DeleteDBProxy refuses them; API changes to one stick until its definition in the file changes; one removed from the file is deleted at the next start. See docs/proxies.md.',
  'proxies[].name': 'DBProxyName (RDS identifier rules, kept in lower case); unique among proxies and proxy endpoints.',
  'proxies[].engineFamily': '`POSTGRESQL` or `MYSQL` (MySQL and MariaDB).',
  'proxies[].roleArn': 'RoleArn: the IAM role the proxy uses to read its secrets. Not checked at start; a wrong role shows in the targets\' health.',
  'proxies[].defaultAuthScheme': '`NONE`: clients log in as the users of `auth` secrets; `IAM_AUTH`: end-to-end IAM, `auth` optional.',
  'proxies[].auth': 'Auth entries (AWS\'s UserAuthConfig), at most 200; at least one when `defaultAuthScheme` is `NONE`.',
  'proxies[].auth[].description': 'Free text.',
  'proxies[].auth[].userName': 'The database user the entry is for (the secret\'s `username` otherwise).',
  'proxies[].auth[].authScheme': 'Only `SECRETS`.',
  'proxies[].auth[].secretArn': 'ARN of the Secrets Manager secret with `{"username","password"}`.',
  'proxies[].auth[].iamAuth': '`REQUIRED`: this user logs in to the proxy with an IAM token only; `DISABLED`: with the secret\'s password. (`ENABLED` is SQL Server\'s.)',
  'proxies[].auth[].clientPasswordAuthType': 'How password clients authenticate to the proxy: `POSTGRES_SCRAM_SHA_256` (default) or `POSTGRES_MD5` for POSTGRESQL, `MYSQL_CACHING_SHA2_PASSWORD` (default) or `MYSQL_NATIVE_PASSWORD` for MYSQL.',
  'proxies[].requireTls': 'RequireTLS: clients must use TLS.',
  'proxies[].idleClientTimeout': 'IdleClientTimeout in seconds.',
  'proxies[].debugLogging': 'DebugLogging: SQL text in the proxy\'s log; switches itself off 24 hours after it was switched on, as on AWS.',
  'proxies[].listen': 'Address of the default endpoint (`host:port`); default: a port of `proxyEndpoints.ports`.',
  'proxies[].targets': 'The instance (an `instances[].id` of the same engine family) the proxy fronts; one, as on AWS.',
  'proxies[].connectionPool': 'The target group\'s ConnectionPoolConfig; unset keys take AWS\'s defaults.',
  'proxies[].connectionPool.maxConnectionsPercent': 'Share of the target\'s `max_connections` the proxy may use (default 100).',
  'proxies[].connectionPool.maxIdleConnectionsPercent': 'Share that may stay idle in the pool, at most `maxConnectionsPercent` (default: half of it).',
  'proxies[].connectionPool.connectionBorrowTimeout': 'Seconds a client waits for a server connection (default 120).',
  'proxies[].connectionPool.sessionPinningFilters': '`EXCLUDE_VARIABLE_SETS` (MYSQL only): SET statements do not pin a session.',
  'proxies[].connectionPool.initQuery': 'SQL run on every new server connection (no secrets: it is shown by the API).',
  'proxies[].endpoints': 'Endpoints besides the default read/write one, at most 20.',
  'proxies[].endpoints[].name': 'DBProxyEndpointName; unique among proxies and proxy endpoints.',
  'proxies[].endpoints[].targetRole': '`READ_WRITE` or `READ_ONLY`.',
  'proxies[].endpoints[].listen': 'Address (`host:port`); default: a port of `proxyEndpoints.ports`.',
  'proxies[].endpoints[].vpcSubnetIds': 'Kept and shown as given (iamdb has no VPCs).',
  'proxies[].endpoints[].vpcSecurityGroupIds': 'Kept and shown as given.',
  'proxies[].vpcSubnetIds': 'Kept and shown as given (iamdb has no VPCs).',
  'proxies[].vpcSecurityGroupIds': 'Kept and shown as given.',
  'proxies[].tags': 'Tags (map or list of `{Key, Value}`); keys under `iamdb:` are reserved.',
  'proxies[].tags[].Key': 'Tag key (list form).',
  'proxies[].tags[].Value': 'Tag value (list form).',
};

interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: unknown[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  maxItems?: number;
  additionalProperties?: unknown;
  description?: string;
  required?: string[];
}

interface KeyRow { path: string; type: string; required: boolean; default: string; env: string }

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (s.anyOf) return s.anyOf.map(typeOf).join(' or ');
  if (s.type === 'array') return `list of ${s.items ? typeOf(s.items) : 'any'}${s.maxItems !== undefined ? ` (max ${s.maxItems})` : ''}`;
  if (s.type === 'object') return s.properties ? 'mapping' : (s.additionalProperties as JsonSchema | undefined)?.type === 'string' ? 'mapping of strings' : 'mapping';
  if (s.type === 'integer') return `integer${s.minimum !== undefined ? ` ${s.minimum}..${s.maximum ?? ''}` : ''}`;
  if (s.type === 'string') return 'string';
  if (s.type === 'boolean') return 'boolean';
  return String(s.type ?? 'any');
}

/** Walks the JSON schema: every property, array items as `[]`, object branches of unions. */
function collectKeys(schema: JsonSchema, prefix = '', out: KeyRow[] = []): KeyRow[] {
  const objects = (s: JsonSchema): JsonSchema[] => {
    if (s.properties) return [s];
    if (s.type === 'array' && s.items) return objects(s.items);
    if (s.anyOf) return s.anyOf.flatMap(objects);
    return [];
  };
  for (const obj of objects(schema)) {
    const arraySuffix = schema.type === 'array' || schema.anyOf?.some((b) => b.type === 'array' && b.items?.properties) ? '[]' : '';
    for (const [name, child] of Object.entries(obj.properties ?? {})) {
      const path = prefix === '' ? name : `${prefix}${arraySuffix}.${name}`;
      out.push({
        path,
        type: typeOf(child),
        required: (obj.required ?? []).includes(name) && child.default === undefined,
        default: child.default === undefined ? '' : `\`${JSON.stringify(child.default)}\``,
        env: envReachable.has(path) ? `\`IAMDB_${path.split('.').join('__').toUpperCase()}\`` : '',
      });
      collectKeys(child, path, out);
    }
  }
  return out;
}

function schemaKeys(): KeyRow[] {
  return collectKeys(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema);
}

function renderTable(rows: KeyRow[]): string {
  const lines = [
    '| Key | Type | Default | Env | Meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| \`${r.path}\` | ${r.type}${r.required ? ' (required)' : ''} | ${r.default} | ${r.env} | ${meanings[r.path] ?? ''} |`),
  ];
  return `${BEGIN}\n${lines.join('\n')}\n${END}`;
}

describe('docs/config.md', () => {
  const rows = schemaKeys();
  const doc = readFileSync(docPath, 'utf8');

  it('gives every schema key a meaning', () => {
    expect(rows.filter((r) => meanings[r.path] === undefined).map((r) => r.path)).toEqual([]);
    expect(Object.keys(meanings).filter((k) => !rows.some((r) => r.path === k))).toEqual([]);
  });

  it('mentions every dotted key of the schema', () => {
    const missing = rows.map((r) => r.path).filter((p) => !doc.includes(`\`${p}\``));
    expect(missing).toEqual([]);
  });

  it('has an up-to-date generated key table (run node scripts/gen-docs.mjs)', () => {
    const start = doc.indexOf(BEGIN);
    const end = doc.indexOf(END);
    expect(start, 'generated markers in docs/config.md').toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const fresh = renderTable(rows);
    if (process.env['UPDATE_DOCS'] === '1') {
      writeFileSync(docPath, doc.slice(0, start) + fresh + doc.slice(end + END.length));
      return;
    }
    expect(doc.slice(start, end + END.length)).toBe(fresh);
  });

  it('shows every key in iamdb.example.yaml', () => {
    const example: unknown = parse(readFileSync(fileURLToPath(new URL('../../iamdb.example.yaml', import.meta.url)), 'utf8'));
    const present = new Set<string>();
    const walk = (value: unknown, path: string): void => {
      if (Array.isArray(value)) value.forEach((v) => walk(v, `${path}[]`));
      else if (value !== null && typeof value === 'object') {
        for (const [k, v] of Object.entries(value)) {
          const p = path === '' ? k : `${path}.${k}`;
          present.add(p);
          // Policy documents are free-form: do not descend into them.
          if (k !== 'document' && k !== 'assumeRolePolicy') walk(v, p);
        }
      }
    };
    walk(example, '');
    const tagKeyShown = [...present].some((p) => p.endsWith('.tags[].Key'));
    const missing = rows
      .map((r) => r.path)
      .filter((p) => !present.has(p) && !(tagKeyShown && /\.tags\[\]\.(Key|Value)$/.test(p)));
    expect(missing).toEqual([]);
  });

  it('names an env variable for every scalar load.ts reads from the environment', () => {
    for (const p of envReachable) expect(doc).toContain(`IAMDB_${p.split('.').join('__').toUpperCase()}`);
  });
});
