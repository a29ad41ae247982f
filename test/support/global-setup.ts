// vitest global setup: one PostgreSQL 15 and one MariaDB 10.11 for the whole
// run, both with TLS from a throwaway CA, started concurrently. Tests reach
// them with getPostgres() / getMariaDb() from ./servers.ts (or inject()).
// They are skipped when the run's files (after CLI filters, e.g. `vitest run
// src`) include nothing under test/, or when IAMDB_TEST_SERVERS=0;
// IAMDB_TEST_SERVERS=1 always starts them. Without them the accessors throw a
// clear error.
import { relative, sep } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createTestCertificates, type TestCertificates } from './certs.js';
import { buildDist } from './build.js';
import { armWatchdog } from './exec.js';
import type {} from './context.js';
import { startMariaDb, type MariaDbServer } from './mariadb-server.js';
import { startPostgres, type PgServer } from './postgres-server.js';

function log(msg: string): void {
  process.stderr.write(`[test harness] ${msg}\n`);
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const flag = (process.env.IAMDB_TEST_SERVERS ?? '').toLowerCase();
  if (flag === '0' || flag === 'off' || flag === 'false' || flag === 'no') {
    log('IAMDB_TEST_SERVERS=0: not starting PostgreSQL and MariaDB');
    if (await runIncludesServerTests(project)) await provideDist(project, buildDist());
    return undefined;
  }
  if (flag !== '1' && !(await runIncludesServerTests(project))) {
    log('no test under test/ in this run: not starting PostgreSQL and MariaDB (IAMDB_TEST_SERVERS=1 forces)');
    return undefined;
  }

  // dist/ for the tests that run the CLI, built once while the servers start.
  const building = buildDist();
  const t0 = Date.now();
  const certs: TestCertificates = await createTestCertificates();
  const disarm = armWatchdog(certs.dir); // removes the CA if this process dies without teardown
  const tStart = Date.now();
  const [pgResult, myResult] = await Promise.allSettled([
    startPostgres({ tls: true, certs }).then((s) => ({ s, ms: Date.now() - tStart })),
    startMariaDb({ tls: true, certs }).then((s) => ({ s, ms: Date.now() - tStart })),
  ]);

  if (pgResult.status === 'rejected' || myResult.status === 'rejected') {
    const failures: string[] = [];
    if (pgResult.status === 'rejected') failures.push(`PostgreSQL failed to start: ${errText(pgResult.reason)}`);
    else await pgResult.value.s.stop().catch(() => {});
    if (myResult.status === 'rejected') failures.push(`MariaDB failed to start: ${errText(myResult.reason)}`);
    else await myResult.value.s.stop().catch(() => {});
    await certs.remove().catch(() => {});
    disarm();
    log('startup failed; the error below has the server log tail');
    throw new Error(failures.join('\n\n'));
  }

  const pg: PgServer = pgResult.value.s;
  const my: MariaDbServer = myResult.value.s;
  log(
    `PostgreSQL ${pg.host}:${pg.port} (${pgResult.value.ms} ms), ` +
      `MariaDB ${my.host}:${my.port} (${myResult.value.ms} ms); ready in ${Date.now() - t0} ms`,
  );
  log(`startup phases (ms): postgres ${JSON.stringify(pg.timings)}, mariadb ${JSON.stringify(my.timings)}`);

  project.provide('iamdbPostgres', {
    host: pg.host,
    port: pg.port,
    user: pg.superuser,
    password: pg.superuserPassword,
    database: 'postgres',
    caCertPath: certs.caCert,
    socketDir: pg.socketDir,
  });
  project.provide('iamdbMariaDb', {
    host: my.host,
    port: my.port,
    user: my.rootUser,
    password: my.rootPassword,
    caCertPath: certs.caCert,
    socketPath: my.socketPath,
  });
  project.provide('iamdbTestCa', { caCert: certs.caCert, caKey: certs.caKey });
  await provideDist(project, building);

  return async () => {
    const t = Date.now();
    const results = await Promise.allSettled([pg.stop(), my.stop()]);
    await certs.remove().catch(() => {});
    disarm();
    for (const r of results) if (r.status === 'rejected') log(`stop failed: ${errText(r.reason)}`);
    log(`servers stopped in ${Date.now() - t} ms`);
  };
}

/**
 * Tells the test files whether dist/ is built. A failed build is reported to
 * the files that need dist/ (ensureBuilt throws with the compiler's output)
 * rather than rebuilt by each of them: two workers writing dist/ while a
 * third runs the CLI from it is the race this build exists to prevent.
 */
async function provideDist(project: TestProject, building: Promise<void>): Promise<void> {
  const t0 = Date.now();
  try {
    await building;
    log(`dist/ built (the run waited ${Date.now() - t0} ms more for it)`);
    project.provide('iamdbDistBuilt', true);
  } catch (err) {
    log(`building dist/ failed; the tests that run the CLI will fail: ${errText(err)}`);
    project.provide('iamdbDistBuilt', false);
    project.provide('iamdbDistError', errText(err));
  }
}

/**
 * Whether the run's files include any under test/ (the ones that use the
 * servers). Only a run narrowed by CLI filters, such as `vitest run src`, can
 * leave them out. The filters come from a vitest internal; if it is not there,
 * assume the servers are needed.
 */
async function runIncludesServerTests(project: TestProject): Promise<boolean> {
  const filters = (project.vitest as unknown as { filenamePattern?: unknown }).filenamePattern;
  if (!Array.isArray(filters) || filters.length === 0 || !filters.every((f) => typeof f === 'string')) return true;
  try {
    const { testFiles } = await project.globTestFiles(filters as string[]);
    const root = project.config.root;
    return testFiles.some((f) => relative(root, f).split(sep)[0] === 'test');
  } catch {
    return true;
  }
}

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
