import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import { afterAll, describe, expect, it } from 'vitest';
import { createSealer } from '../crypto/index.js';
import { isIamdbError } from '../errors/index.js';
import { openSqliteStore, type StateStore } from '../store/index.js';
import { fixedClock, Secret, systemClock } from '../util/index.js';
import { loadOrCreateCa, issueServerCertificate, readCaCertificatePem, TLS_KIND, CA_ID, type IssuedCertificate } from './certificate-authority.js';

const dir = mkdtempSync(join(tmpdir(), 'iamdb-tls-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const freshStore = (): Promise<StateStore> => openSqliteStore(join(dir, `s${++n}.db`));
const DAY = 86_400_000;

/** Connects with Node's default identity checks; resolves 'ok' or the error code. */
async function handshake(
  server: { chainPem: string; keyPem: Secret<string> },
  trust: string,
  connect: { listenHost: string; host: string; servername?: string },
): Promise<string> {
  const srv = tls.createServer({ cert: server.chainPem, key: server.keyPem.reveal() }, (socket) => socket.end());
  srv.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => srv.listen(0, connect.listenHost, resolve));
  const { port } = srv.address() as AddressInfo;
  try {
    return await new Promise<string>((resolve) => {
      const socket = tls.connect({
        host: connect.host,
        port,
        ca: trust,
        ...(connect.servername ? { servername: connect.servername } : {}),
      });
      socket.once('secureConnect', () => {
        socket.destroy();
        resolve('ok');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.destroy();
        resolve(err.code ?? err.message);
      });
    });
  } finally {
    await new Promise((resolve) => srv.close(resolve));
  }
}

describe('loadOrCreateCa', () => {
  it('creates a self-signed P-256 CA with CA:true and keyCertSign+cRLSign, valid 10 years', async () => {
    const store = await freshStore();
    const now = Date.UTC(2026, 0, 1);
    const ca = await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock: fixedClock(now) });
    const cert = new x509.X509Certificate(ca.certPem);
    expect(ca.subject).toMatch(/^CN=iamdb CA [0-9a-f]{8}$/);
    expect(cert.subject).toBe(cert.issuer);
    expect(await cert.isSelfSigned()).toBe(true);
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    const bc = cert.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(true);
    expect(bc.critical).toBe(true);
    const ku = cert.getExtension(x509.KeyUsagesExtension)!;
    expect(ku.critical).toBe(true);
    expect(ku.usages).toBe(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
    expect(cert.notAfter.getUTCFullYear()).toBe(2036);
    expect(cert.notBefore.getTime()).toBeLessThanOrEqual(now);
    expect(ca.caBundlePem()).toContain('-----BEGIN CERTIFICATE-----');
    // `iamdb ca export` reads the same PEM without the master key.
    expect(await readCaCertificatePem(store)).toBe(ca.caBundlePem());
    await store.close();
  });

  it('reads no CA certificate from a store that has none yet', async () => {
    const store = await freshStore();
    expect(await readCaCertificatePem(store)).toBeUndefined();
    await store.close();
  });

  it('honours a chosen common name', async () => {
    const store = await freshStore();
    const ca = await loadOrCreateCa({
      store,
      sealer: createSealer(new Secret(randomBytes(32))),
      clock: systemClock,
      commonName: 'Example Corp iamdb CA',
    });
    expect(ca.subject).toBe('CN=Example Corp iamdb CA');
    await store.close();
  });

  it('returns the same CA after the store is reopened with the same master key', async () => {
    const path = join(dir, 'reopen.db');
    const key = randomBytes(32);
    const first = await openSqliteStore(path);
    const ca1 = await loadOrCreateCa({ store: first, sealer: createSealer(new Secret(key)), clock: systemClock });
    await first.close();
    const second = await openSqliteStore(path);
    const ca2 = await loadOrCreateCa({ store: second, sealer: createSealer(new Secret(Buffer.from(key))), clock: systemClock });
    expect(ca2.certPem).toBe(ca1.certPem);
    expect(ca2.fingerprintSha256).toBe(ca1.fingerprintSha256);
    // And the reloaded CA still signs certificates that chain to it.
    const issued = await ca2.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: [] });
    expect(await handshake(issued, ca1.caBundlePem(), { listenHost: '127.0.0.1', host: '127.0.0.1', servername: 'localhost' })).toBe('ok');
    await second.close();
  });

  it('refuses to load the CA under another master key', async () => {
    const store = await freshStore();
    await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock: systemClock });
    const err = await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock: systemClock }).catch(
      (e: unknown) => e,
    );
    expect(isIamdbError(err, 'TLS_CA_INVALID')).toBe(true);
    expect((err as Error).message).toContain('master key');
    await store.close();
  });

  it('creates only one CA when several callers start at once', async () => {
    const store = await freshStore();
    const sealer = createSealer(new Secret(randomBytes(32)));
    const cas = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateCa({ store, sealer, clock: systemClock })));
    for (const ca of cas) expect(ca.certPem).toBe(cas[0]!.certPem);
    expect((await store.get(TLS_KIND, CA_ID))?.version).toBe(1);
    await store.close();
  });

  it('never writes a private key in clear to the database file', async () => {
    const path = join(dir, 'grep.db');
    const store = await openSqliteStore(path);
    const ca = await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock: systemClock });
    const issued = await ca.issueServerCertificate({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const keyBody = issued.keyPem.reveal().split('\n')[1]!;
    const files = readdirSync(dir).filter((f) => f.startsWith('grep.db'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const bytes = readFileSync(join(dir, file));
      expect(bytes.includes('PRIVATE KEY'), file).toBe(false);
      expect(bytes.includes(keyBody), file).toBe(false);
    }
    // The certificates themselves are stored in clear, as intended.
    expect(Buffer.concat(files.map((f) => readFileSync(join(dir, f)))).includes('BEGIN CERTIFICATE')).toBe(true);
    await store.close();
  });
});

describe('issueServerCertificate', () => {
  const setup = async () => {
    const store = await freshStore();
    const ca = await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock: systemClock });
    const issued = await issueServerCertificate(ca, { dnsNames: ['localhost', 'db.internal'], ipAddresses: ['127.0.0.1', '::1'] });
    return { store, ca, issued };
  };

  it('issues a P-256 serverAuth certificate with DNS and IP SANs, AKI/SKI and a one-year validity', async () => {
    const { store, ca, issued } = await setup();
    const cert = new x509.X509Certificate(issued.certPem);
    const caCert = new x509.X509Certificate(ca.certPem);
    expect(cert.subject).toBe('CN=db.internal');
    expect(cert.issuer).toBe(caCert.subject);
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    expect(cert.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual([x509.ExtendedKeyUsage.serverAuth]);
    expect(cert.getExtension(x509.BasicConstraintsExtension)!.ca).toBe(false);
    const sans = cert.getExtension(x509.SubjectAlternativeNameExtension)!.names.toJSON();
    expect(sans).toEqual(
      expect.arrayContaining([
        { type: 'dns', value: 'localhost' },
        { type: 'dns', value: 'db.internal' },
        { type: 'ip', value: '127.0.0.1' },
      ]),
    );
    expect(sans.filter((s) => s.type === 'ip')).toHaveLength(2);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)!.keyId;
    expect(aki).toBe(caCert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)).not.toBeNull();
    const days = (cert.notAfter.getTime() - Date.now()) / DAY;
    expect(days).toBeGreaterThan(364);
    expect(days).toBeLessThanOrEqual(365);
    expect(await cert.verify({ publicKey: caCert.publicKey })).toBe(true);
    expect(issued.chainPem).toBe(`${issued.certPem}${ca.certPem}`);
    expect(String(issued.keyPem)).toBe('[REDACTED]');
    await store.close();
  });

  it.each([
    ['DNS name localhost', { listenHost: '127.0.0.1', host: '127.0.0.1', servername: 'localhost' }],
    ['DNS name db.internal', { listenHost: '127.0.0.1', host: '127.0.0.1', servername: 'db.internal' }],
    ['IPv4 address 127.0.0.1', { listenHost: '127.0.0.1', host: '127.0.0.1' }],
    ['IPv6 address ::1', { listenHost: '::1', host: '::1' }],
  ])('lets a Node TLS client trusting the CA connect by %s', async (_name, connect) => {
    const { store, ca, issued } = await setup();
    expect(await handshake(issued, ca.caBundlePem(), connect)).toBe('ok');
    await store.close();
  });

  it('fails the handshake for a name not in the SANs', async () => {
    const { store, ca, issued } = await setup();
    expect(await handshake(issued, ca.caBundlePem(), { listenHost: '127.0.0.1', host: '127.0.0.1', servername: 'other.example' })).toBe(
      'ERR_TLS_CERT_ALTNAME_INVALID',
    );
    expect(await handshake(issued, ca.caBundlePem(), { listenHost: '127.0.0.2', host: '127.0.0.2' }).catch(() => 'skipped')).toMatch(
      /ERR_TLS_CERT_ALTNAME_INVALID|skipped|EADDRNOTAVAIL/,
    );
    await store.close();
  });

  it('fails the handshake for a client trusting another CA', async () => {
    const { store, issued } = await setup();
    const other = await freshStore();
    const otherCa = await loadOrCreateCa({ store: other, sealer: createSealer(new Secret(randomBytes(32))), clock: systemClock });
    // The chain carries iamdb's root, which the client does not trust.
    expect(await handshake(issued, otherCa.caBundlePem(), { listenHost: '127.0.0.1', host: '127.0.0.1', servername: 'localhost' })).toBe(
      'SELF_SIGNED_CERT_IN_CHAIN',
    );
    await Promise.all([store.close(), other.close()]);
  });

  it('passes `openssl verify` against the CA bundle, for the sslserver purpose', async () => {
    const { store, ca, issued } = await setup();
    const caFile = join(dir, `ca-${n}.pem`);
    const certFile = join(dir, `cert-${n}.pem`);
    writeFileSync(caFile, ca.caBundlePem());
    writeFileSync(certFile, issued.certPem);
    const out = execFileSync('openssl', ['verify', '-purpose', 'sslserver', '-CAfile', caFile, certFile], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${certFile}: OK`);
    await store.close();
  });

  it('returns the stored certificate for the same names in any order or case', async () => {
    const { store, ca, issued } = await setup();
    const again = await ca.issueServerCertificate({ dnsNames: ['DB.internal', 'localhost'], ipAddresses: ['0::1', '127.0.0.1'] });
    expect(again.certPem).toBe(issued.certPem);
    expect(again.keyPem.reveal()).toBe(issued.keyPem.reveal());
    await store.close();
  });

  it('issues a new certificate once the stored one expires within 30 days', async () => {
    const store = await freshStore();
    const clock = fixedClock(Date.now());
    const ca = await loadOrCreateCa({ store, sealer: createSealer(new Secret(randomBytes(32))), clock });
    const request = { dnsNames: ['localhost'], ipAddresses: [] };
    const first: IssuedCertificate = await ca.issueServerCertificate(request);
    clock.advance(330 * DAY);
    expect((await ca.issueServerCertificate(request)).certPem).toBe(first.certPem);
    clock.advance(6 * DAY);
    const renewed = await ca.issueServerCertificate(request);
    expect(renewed.certPem).not.toBe(first.certPem);
    expect(renewed.notAfter.getTime()).toBe(clock.now() + 365 * DAY);
    expect((await ca.issueServerCertificate(request)).certPem).toBe(renewed.certPem);
    await store.close();
  });

  it('rejects bad names and validity periods', async () => {
    const { store, ca } = await setup();
    for (const request of [
      { dnsNames: [], ipAddresses: [] },
      { dnsNames: ['not a name'], ipAddresses: [] },
      { dnsNames: ['localhost'], ipAddresses: ['300.0.0.1'] },
      { dnsNames: ['localhost'], ipAddresses: [], validityDays: 0 },
      { dnsNames: ['localhost'], ipAddresses: [], validityDays: 10_000 },
    ]) {
      const err = await ca.issueServerCertificate(request).catch((e: unknown) => e);
      expect(isIamdbError(err, 'TLS_CERT_REQUEST_INVALID'), JSON.stringify(request)).toBe(true);
    }
    await store.close();
  });
});
