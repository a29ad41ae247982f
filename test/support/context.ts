// What test/support/global-setup.ts hands to tests through vitest's
// provide/inject, and the type augmentation that makes inject() typed.
// Type-only on purpose: it is loaded both in the vitest main process and in
// test workers.
import type {} from 'vitest';

/** The run's PostgreSQL 15 server (TLS on, SCRAM passwords over TCP). */
export interface PgCoordinates {
  host: string;
  port: number;
  /** Superuser ("postgres"). */
  user: string;
  password: string;
  /** Database that always exists ("postgres"). */
  database: string;
  /** PEM CA certificate that signed the server certificate (for sslmode=verify-full / ssl.ca). */
  caCertPath: string;
  /** Unix socket directory; local connections there are trusted (no password). */
  socketDir: string;
}

/** The run's MariaDB 10.11 server (TLS on). */
export interface MariaDbCoordinates {
  host: string;
  port: number;
  /** "root", with the password on root@'%', root@'127.0.0.1', root@'::1' and root@'localhost'. */
  user: string;
  password: string;
  /** PEM CA certificate that signed the server certificate (for --ssl-ca / ssl.ca). */
  caCertPath: string;
  /** Unix socket path (root needs the password there too). */
  socketPath: string;
}

/** The throwaway CA both servers' certificates come from; tests may issue more certificates from it. */
export interface TestCaFiles {
  caCert: string;
  caKey: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** Absent at runtime when IAMDB_TEST_SERVERS=0; use getPostgres() from test/support/servers.ts. */
    iamdbPostgres: PgCoordinates;
    /** Absent at runtime when IAMDB_TEST_SERVERS=0; use getMariaDb() from test/support/servers.ts. */
    iamdbMariaDb: MariaDbCoordinates;
    iamdbTestCa: TestCaFiles;
    /**
     * Whether the global setup built dist/ for this run (test files then never rebuild it);
     * false when that build failed (iamdbDistError says why); absent without the setup.
     */
    iamdbDistBuilt: boolean;
    iamdbDistError: string;
  }
}
