/**
 * The randomized client driver for the native data path: many connections to
 * a real PostgreSQL endpoint of a real iamdb (native TLS and relay), each a
 * random path through the moments a client can misbehave (chaos-client.ts),
 * with normal IAM logins in between, by our client and by node-postgres, that
 * must keep working. It runs in the sanitizer job
 * (scripts/native-sanitizer-check), whose addon is built with ASan and UBSan:
 * there a memory error ends the worker and fails the run.
 *
 * Seeded: the seed is printed; IAMDB_CHAOS_SEED=<seed> replays the same
 * choices (the interleaving of connections is the scheduler's).
 * IAMDB_CHAOS_CONNECTIONS sets how many connections (default 400).
 */
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { presignDbAuthToken } from '../../src/sigv4/index.js';
import { Secret } from '../../src/util/index.js';
import { ACCOUNT, REGION, newAccessKey, startIamdb, type TestIamdb } from '../support/iamdb.js';
import { processSockets } from '../support/tcp-state.js';
import { chaosConnection, type ChaosOutcome, type ChaosTarget } from './chaos-client.js';
import { SeededRandom } from './seeded-random.js';

const server = inject('iamdbPostgres');
const user = `chaos_${randomBytes(3).toString('hex')}`;
const key = newAccessKey();
const seed = process.env['IAMDB_CHAOS_SEED'] ? Number(process.env['IAMDB_CHAOS_SEED']) >>> 0 : randomInt(2 ** 32);
const connections = Number(process.env['IAMDB_CHAOS_CONNECTIONS'] ?? 400);
const concurrency = 12;
const loginTimeoutMs = 5_000;

let iamdb: TestIamdb;
let target: ChaosTarget;

beforeAll(async () => {
  iamdb = await startIamdb({
    gateway: { loginTimeoutMs, dataPath: 'native' },
    iam: {
      users: [
        {
          name: 'chaos',
          accessKeys: [key],
          policies: [{ name: 'connect', document: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'rds-db:connect', Resource: `arn:aws:rds-db:${REGION}:${ACCOUNT}:dbuser:*/${user}` }] } }],
        },
      ],
    },
    instances: [
      {
        id: 'pg-chaos',
        engine: 'postgres',
        listen: 'auto',
        target: `${server.host}:${server.port}`,
        master: { username: server.user, password: server.password },
        iamDatabaseAuthentication: true,
      },
    ],
  });
  const { host, port } = iamdb.endpoint('pg-chaos');
  // Through the gateway, as the master user: it makes sure rds_iam exists first.
  const admin = new pg.Client({ host, port, user: server.user, password: server.password, database: 'postgres', ssl: { ca: readFileSync(iamdb.caPath) } });
  await admin.connect();
  await admin.query(`CREATE USER ${user}; GRANT rds_iam TO ${user};`);
  await admin.end();
  const token = (): string =>
    presignDbAuthToken({ hostname: host, port, username: user, region: REGION, credentials: { accessKeyId: key.id, secretAccessKey: new Secret(key.secret) }, date: new Date() }).reveal();
  target = { host, port, ca: readFileSync(iamdb.caPath), user, token, budgetMs: loginTimeoutMs + 10_000 };
});

afterAll(async () => {
  await iamdb?.stop();
});

/** A normal login with node-postgres (a real driver), which must work whatever came before. */
async function driverLogin(n: number): Promise<string | undefined> {
  const c = new pg.Client({ host: target.host, port: target.port, user, password: target.token(), database: 'postgres', ssl: { ca: target.ca, servername: 'localhost' } });
  try {
    await c.connect();
    const r = await c.query('select $1::int as n', [n]);
    return r.rows[0].n === n ? undefined : `node-postgres read ${JSON.stringify(r.rows[0])}`;
  } catch (err) {
    return `node-postgres: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Resolves once `probe()` holds, checking every few milliseconds until `timeoutMs`. */
async function eventually(probe: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe('native data path under a randomized client driver', () => {
  it('survives every fault at every step, and keeps serving normal logins', async () => {
    expect(iamdb.app.endpoints.map((e) => e.dataPath)).toEqual(['native']);
    process.stdout.write(`[native chaos] seed ${seed} (IAMDB_CHAOS_SEED=${seed} replays it), ${connections} connections, ${concurrency} at a time\n`);
    expect(await driverLogin(0)).toBeUndefined();
    const socketsBefore = processSockets(target.port);

    const root = new SeededRandom(seed);
    const outcomes: Array<ChaosOutcome & { index: number }> = [];
    const driverProblems: string[] = [];
    let next = 0;
    const started = Date.now();
    const worker = async (): Promise<void> => {
      for (let i = next++; i < connections; i = next++) {
        outcomes.push({ index: i, ...(await chaosConnection(target, root.fork(i), i)) });
        // Every so often a real driver logs in between the faults.
        if (i % 25 === 0) {
          const problem = await driverLogin(i);
          if (problem) driverProblems.push(`#${i}: ${problem}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));

    const byFault = new Map<string, number>();
    for (const o of outcomes) byFault.set(o.fault, (byFault.get(o.fault) ?? 0) + 1);
    process.stdout.write(`[native chaos] seed ${seed}: ${outcomes.length} connections in ${Date.now() - started} ms; ${JSON.stringify(Object.fromEntries([...byFault].sort()))}\n`);
    const problems = outcomes.filter((o) => o.problem).map((o) => `#${o.index} ${o.fault} (chopped ${o.chopped}): ${o.problem}`);
    expect({ seed, problems, driverProblems }).toEqual({ seed, problems: [], driverProblems: [] });
    expect(outcomes.filter((o) => o.fault === 'none').length).toBeGreaterThan(0);

    // Still serving, and once every session is over the gateway holds no client connection,
    // socketpair or reset socket more than before (its pooled server connections may grow).
    expect(await driverLogin(connections)).toBeUndefined();
    const released = (): boolean => {
      const now = processSockets(target.port);
      return now.tcpOnPort === 0 && now.unix <= socketsBefore.unix && now.unlisted <= socketsBefore.unlisted;
    };
    const settled = await eventually(released, loginTimeoutMs + 5_000);
    expect({ seed, settled, before: socketsBefore, after: processSockets(target.port) }).toMatchObject({ seed, settled: true });
  });
});
