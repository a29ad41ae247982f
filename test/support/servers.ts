// Accessors for the servers started by global-setup.ts, for use inside tests.
import { inject } from 'vitest';
import type { MariaDbCoordinates, PgCoordinates, TestCaFiles } from './context.js';

export type { MariaDbCoordinates, PgCoordinates, TestCaFiles } from './context.js';

function missing(what: string): Error {
  return new Error(
    `${what} is not available: test/support/global-setup.ts did not start it ` +
      '(IAMDB_TEST_SERVERS=0, or the run does not use vitest.config.ts).',
  );
}

/** The run's PostgreSQL server. */
export function getPostgres(): PgCoordinates {
  const v = inject('iamdbPostgres') as PgCoordinates | undefined;
  if (!v) throw missing('PostgreSQL');
  return v;
}

/** The run's MariaDB server. */
export function getMariaDb(): MariaDbCoordinates {
  const v = inject('iamdbMariaDb') as MariaDbCoordinates | undefined;
  if (!v) throw missing('MariaDB');
  return v;
}

/** The CA behind both servers' certificates. */
export function getTestCa(): TestCaFiles {
  const v = inject('iamdbTestCa') as TestCaFiles | undefined;
  if (!v) throw missing('The test CA');
  return v;
}

/** libpq connection string (URI) for the run's PostgreSQL, verify-full against the CA. */
export function pgConnectionUri(
  pg: PgCoordinates,
  over: { user?: string; password?: string; database?: string; sslmode?: string } = {},
): string {
  const user = encodeURIComponent(over.user ?? pg.user);
  const pw = over.password ?? pg.password;
  const auth = pw === '' ? user : `${user}:${encodeURIComponent(pw)}`;
  const db = encodeURIComponent(over.database ?? pg.database);
  const q = new URLSearchParams({ sslmode: over.sslmode ?? 'verify-full', sslrootcert: pg.caCertPath });
  return `postgresql://${auth}@${pg.host}:${pg.port}/${db}?${q.toString()}`;
}
