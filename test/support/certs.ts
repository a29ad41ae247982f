// Throwaway TLS material for tests, made with the openssl CLI: a private CA and
// server certificates it signs (SAN localhost, 127.0.0.1 by default).
//
// The directory is world-readable (0755) and certificates are 0644, but private
// keys are 0600 for the current user. The server helpers copy the key they need
// into their own directory and hand it to the service user, because PostgreSQL
// insists on owning its key with mode 0600.
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { harnessTmpRoot, runChecked } from './exec.js';

const OPENSSL = 'openssl';

export type KeyType = 'ec' | 'rsa';

export interface CaFiles {
  caCert: string;
  caKey: string;
}

export interface TlsFiles {
  /** PEM CA certificate; give it to clients as their trust root (sslrootcert, ssl.ca, --ssl-ca). */
  caCert: string;
  /** PEM server certificate signed by the CA. */
  serverCert: string;
  /** PEM private key of the server certificate (unencrypted). */
  serverKey: string;
}

export interface TestCertificates extends TlsFiles, CaFiles {
  /** Directory holding every file; remove() deletes it. */
  dir: string;
  remove(): Promise<void>;
}

export interface CertOptions {
  /** Directory to write into (created by the caller). Default: a fresh temp directory. */
  dir?: string;
  /** DNS names and IP addresses for the server certificate's subjectAltName. */
  hosts?: string[];
  /** Subject CN of the server certificate. Default: the first host. */
  commonName?: string;
  /** Validity in days. Default 30. */
  days?: number;
  /** Key algorithm. Default 'ec' (P-256, fast to generate). */
  keyType?: KeyType;
}

export const DEFAULT_TLS_HOSTS: readonly string[] = ['localhost', '127.0.0.1'];

function newKeyArgs(keyType: KeyType): string[] {
  return keyType === 'rsa'
    ? ['-newkey', 'rsa:2048']
    : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

function serial(): string {
  // Positive 64-bit serial in hex (top bit cleared).
  const b = randomBytes(8);
  b[0] = (b[0] ?? 0) & 0x7f;
  return '0x' + b.toString('hex');
}

function sanList(hosts: readonly string[]): string {
  return hosts.map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`)).join(',');
}

/** Creates a self-signed CA (ca.crt / ca.key) in `dir`. */
export async function createCa(dir: string, opts: { days?: number; keyType?: KeyType; name?: string } = {}): Promise<CaFiles> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await runChecked(OPENSSL, [
    'req', '-x509', ...newKeyArgs(opts.keyType ?? 'ec'), '-nodes',
    '-keyout', caKey, '-out', caCert,
    '-days', String(opts.days ?? 30), '-sha256', '-set_serial', serial(),
    '-subj', `/O=iamdb tests/CN=${opts.name ?? 'iamdb test CA'} ${randomBytes(3).toString('hex')}`,
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash',
  ]);
  await chmod(caCert, 0o644);
  await chmod(caKey, 0o600);
  return { caCert, caKey };
}

/**
 * Issues a server certificate `<name>.crt` / `<name>.key` in `dir`, signed by `ca`,
 * for `hosts` (default localhost and 127.0.0.1).
 */
export async function issueServerCertificate(
  ca: CaFiles,
  dir: string,
  opts: { name?: string; hosts?: readonly string[]; commonName?: string; days?: number; keyType?: KeyType } = {},
): Promise<{ cert: string; key: string }> {
  const name = opts.name ?? 'server';
  const hosts = opts.hosts ?? DEFAULT_TLS_HOSTS;
  if (hosts.length === 0) throw new Error('issueServerCertificate: hosts must not be empty');
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const ext = join(dir, `${name}.ext`);
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth',
      `subjectAltName=${sanList(hosts)}`,
      'subjectKeyIdentifier=hash',
      'authorityKeyIdentifier=keyid',
      '',
    ].join('\n'),
  );
  await runChecked(OPENSSL, [
    'req', ...newKeyArgs(opts.keyType ?? 'ec'), '-nodes',
    '-keyout', key, '-out', csr,
    '-subj', `/O=iamdb tests/CN=${opts.commonName ?? hosts[0]}`,
  ]);
  await runChecked(OPENSSL, [
    'x509', '-req', '-in', csr, '-CA', ca.caCert, '-CAkey', ca.caKey,
    '-set_serial', serial(), '-days', String(opts.days ?? 30), '-sha256',
    '-extfile', ext, '-out', cert,
  ]);
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  await chmod(cert, 0o644);
  await chmod(key, 0o600);
  return { cert, key };
}

/** A fresh CA plus one server certificate, in a new temp directory unless `dir` is given. */
export async function createTestCertificates(opts: CertOptions = {}): Promise<TestCertificates> {
  const dir = opts.dir ?? (await mkdtemp(join(harnessTmpRoot(), 'iamdb-certs-')));
  await chmod(dir, 0o755);
  const ca = await createCa(dir, { days: opts.days ?? 30, keyType: opts.keyType ?? 'ec' });
  const issueOpts: Parameters<typeof issueServerCertificate>[2] = {
    name: 'server',
    hosts: opts.hosts ?? DEFAULT_TLS_HOSTS,
    days: opts.days ?? 30,
    keyType: opts.keyType ?? 'ec',
  };
  if (opts.commonName !== undefined) issueOpts.commonName = opts.commonName;
  const { cert, key } = await issueServerCertificate(ca, dir, issueOpts);
  return {
    dir,
    caCert: ca.caCert,
    caKey: ca.caKey,
    serverCert: cert,
    serverKey: key,
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
