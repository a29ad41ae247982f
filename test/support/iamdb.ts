/**
 * Starts a real iamdb in the test process (createApp, the same code `iamdb
 * serve` runs) on free ports, with its own temporary state directory and
 * master key, and an in-memory audit sink for assertions.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { stringify } from 'yaml';
import { createApp, type App, type AppDeps } from '../../src/app.js';
import { createMemoryAuditSink, type ApiAuditEvent, type AuthAuditEvent } from '../../src/audit/index.js';
import { loadConfig } from '../../src/config/index.js';
import type { Clock } from '../../src/util/index.js';
import { getFreePort } from './free-port.js';

export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';

export interface TestIamdb {
  readonly app: App;
  readonly stateDir: string;
  readonly caPath: string;
  readonly audit: ReturnType<typeof createMemoryAuditSink>;
  /** The control plane's URL (when the config has `api.listen`; `auto` picks a free port). */
  readonly apiUrl: string;
  /** The Prometheus scrape URL (when the config has `metrics.listen`; `auto` picks a free port). */
  readonly metricsUrl: string;
  /** The bootstrap administrator's key, read from `<stateDir>/admin-credentials`. */
  readonly admin: { id: string; secret: string };
  /** Control-plane events so far, newest last. */
  apiEvents(): ApiAuditEvent[];
  /** host:port of an instance endpoint. */
  endpoint(id: string): { host: string; port: number };
  /** Auth events so far, newest last. */
  authEvents(): AuthAuditEvent[];
  /** Process-log lines (parsed JSON) at level info and above, newest last. */
  logLines(): Array<Record<string, unknown>>;
  lastAuth(): AuthAuditEvent | undefined;
  /** The master key (hex) this iamdb runs with, for a restart on the same state. */
  readonly masterKeyHex: string;
  /** Stops iamdb; the state directory is removed unless `keepState`. */
  stop(options?: { keepState?: boolean }): Promise<void>;
}

/** A random long-term access key pair in AWS's shapes. */
export function newAccessKey(): { id: string; secret: string } {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let id = 'AKIA';
  const bytes = randomBytes(16);
  for (const b of bytes) id += alphabet[b % 32];
  return { id, secret: randomBytes(30).toString('base64').slice(0, 40) };
}

/**
 * The `iam` section of a test config with one user, `app`, holding `key` and allowed
 * `rds-db:connect` as any database user on any instance (tests that are about something else).
 */
export function iamAllowedEverywhere(key: { id: string; secret: string }): Record<string, unknown> {
  return {
    users: [
      {
        name: 'app',
        accessKeys: [key],
        policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/*` }] } }],
      },
    ],
  };
}

/**
 * `config` is the YAML config as an object, minus stateDir/masterKeyFile;
 * instance `listen` values of `auto` get a free port.
 */
export async function startIamdb(
  config: Record<string, unknown>,
  opts: { clock?: Clock; restartOf?: TestIamdb; appDeps?: Pick<AppDeps, 'handleProxyConnection' | 'targetHealth'> } = {},
): Promise<TestIamdb> {
  // restartOf: start again on a stopped iamdb's state directory and master key. appDeps: ports of the
  // composition root a test supplies (a proxy connection handler, target health).
  const stateDir = opts.restartOf?.stateDir ?? mkdtempSync(join(tmpdir(), 'iamdb-test-'));
  const instances = await Promise.all(
    ((config['instances'] as Array<Record<string, unknown>> | undefined) ?? []).map(async (i) => ({
      ...i,
      listen: i['listen'] === 'auto' || i['listen'] === undefined ? `127.0.0.1:${await getFreePort()}` : i['listen'],
    })),
  );
  const apiConfig = config['api'] as Record<string, unknown> | undefined;
  const api = apiConfig === undefined ? undefined : { ...apiConfig, ...(apiConfig['listen'] === 'auto' ? { listen: `127.0.0.1:${await getFreePort()}` } : {}) };
  const metricsConfig = config['metrics'] as Record<string, unknown> | undefined;
  const metrics = metricsConfig === undefined ? undefined : { ...metricsConfig, ...(metricsConfig['listen'] === 'auto' ? { listen: `127.0.0.1:${await getFreePort()}` } : {}) };
  const full = { account: ACCOUNT, region: REGION, ...config, ...(api ? { api } : {}), ...(metrics ? { metrics } : {}), instances, stateDir: join(stateDir, 'state'), log: { level: 'silent' } };
  const env = { IAMDB_MASTER_KEY: opts.restartOf?.masterKeyHex ?? randomBytes(32).toString('hex') };
  const cfg = loadConfig({ text: stringify(full), env, baseDir: stateDir });
  const audit = createMemoryAuditSink();
  const logLines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = await createApp(cfg, { env, audit, logger, ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.appDeps ?? {}) });
  await app.start();
  const caPath = join(stateDir, 'ca.pem');
  writeFileSync(caPath, app.ca.caBundlePem());
  const creds = readFileSync(join(stateDir, 'state', 'admin-credentials'), 'utf8');
  const admin = { id: /aws_access_key_id = (\S+)/.exec(creds)![1]!, secret: /aws_secret_access_key = (\S+)/.exec(creds)![1]! };
  const authEvents = (): AuthAuditEvent[] => audit.events.filter((e): e is AuthAuditEvent => e.event === 'db.auth');
  return {
    app,
    stateDir,
    caPath,
    audit,
    apiUrl: app.apiUrl ?? '',
    metricsUrl: app.metricsUrl ?? '',
    admin,
    apiEvents: () => audit.events.filter((e): e is ApiAuditEvent => e.event === 'api.call'),
    endpoint(id) {
      const e = app.endpoints.find((x) => x.instance.id === id);
      if (!e) throw new Error(`no endpoint ${id}`);
      return { host: e.host, port: e.port };
    },
    authEvents,
    logLines: () => logLines,
    lastAuth: () => authEvents().at(-1),
    masterKeyHex: env.IAMDB_MASTER_KEY,
    async stop(options = {}) {
      await app.close();
      if (!options.keepState) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
