/**
 * Signing one server certificate under the CA: a fresh P-256 key, serverAuth
 * only, SANs for every DNS name and IP the endpoint answers on. Pure apart
 * from key generation; caching and storage live in certificate-authority.ts.
 */
import type { SubjectNames } from './subject-names.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  provider,
  randomSerialNumber,
  SIGNING_ALGORITHM,
  x509,
  type CryptoKey,
} from './x509.js';

const DAY_MS = 86_400_000;
/** Backdating absorbs small clock differences between iamdb and its clients. */
export const BACKDATE_MS = 5 * 60_000;

/** What the CA signs with. */
export interface SigningCa {
  readonly cert: x509.X509Certificate;
  readonly privateKey: CryptoKey;
}

/** A freshly signed certificate and its private key in PEM. */
export interface SignedServerCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
}

/**
 * Signs a server certificate valid from `now` (backdated a little) for
 * `validityDays`. The CN repeats the first name for tools that still show it;
 * clients check the SANs.
 */
export async function signServerCertificate(
  ca: SigningCa,
  names: SubjectNames,
  validityDays: number,
  now: number,
): Promise<SignedServerCertificate> {
  const keys = await generateKeyPair();
  const first = names.dnsNames[0] ?? names.ipAddresses[0]!;
  const notAfter = new Date(now + validityDays * DAY_MS);
  const sans: x509.JsonGeneralName[] = [
    ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialNumber(),
      subject: [{ CN: [first] }],
      issuer: ca.cert.subjectName,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(sans, false),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
        await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, provider),
      ],
    },
    provider,
  );
  return {
    certPem: cert.toString('pem'),
    keyPem: await exportPrivateKeyPem(keys.privateKey),
    notAfter,
  };
}
