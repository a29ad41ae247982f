import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { loadConfig } from '../../config/index.js';
import { IamdbError } from '../../errors/index.js';
import { openSqliteStore } from '../../store/index.js';
import { readCaCertificatePem } from '../../tls/index.js';

/** `iamdb ca export`: the CA certificate in PEM, read from the state store (no key needed). */
export async function runCaExport(opts: { config?: string; stateDir?: string; env: Readonly<Record<string, string | undefined>> }): Promise<string> {
  const stateDir = opts.stateDir ?? (opts.config ? loadConfig({ file: opts.config, env: opts.env }).stateDirPath : './.iamdb');
  const dbPath = join(stateDir, 'state.db');
  if (!existsSync(dbPath)) {
    throw new IamdbError('CLI_USAGE', { reason: `no iamdb state in ${stateDir}: start iamdb once (iamdb serve or iamdb demo) to create its CA` });
  }
  const store = await openSqliteStore(dbPath);
  try {
    const pem = await readCaCertificatePem(store);
    if (pem === undefined) throw new IamdbError('CLI_USAGE', { reason: `no CA in ${stateDir} yet: start iamdb once to create it` });
    return pem.endsWith('\n') ? pem : `${pem}\n`;
  } finally {
    await store.close();
  }
}
