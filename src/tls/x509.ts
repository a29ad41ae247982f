/**
 * The one place that sets up @peculiar/x509: reflect-metadata must load
 * before it, and it signs through Node's WebCrypto. Also small key helpers
 * shared by the CA and server certificates.
 */
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// The library keeps a process-wide provider; setting it to Node's own
// WebCrypto is idempotent, and calls below also pass it explicitly.
export const provider: webcrypto.Crypto = webcrypto;
x509.cryptoProvider.set(provider as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type CryptoKey = webcrypto.CryptoKey;
export type CryptoKeyPair = webcrypto.CryptoKeyPair;

export { x509 };

/** ECDSA P-256 with SHA-256: small, fast, accepted by every TLS client we target. */
export const KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;
export const SIGNING_ALGORITHM = { name: 'ECDSA', hash: 'SHA-256' } as const;

/** A new extractable P-256 key pair (extractable so the private key can be sealed and stored). */
export async function generateKeyPair(): Promise<CryptoKeyPair> {
  return provider.subtle.generateKey(KEY_ALGORITHM, true, ['sign', 'verify']);
}

/** PKCS#8 PEM of a private key, the form Node's tls accepts. */
export async function exportPrivateKeyPem(key: CryptoKey): Promise<string> {
  const der = await provider.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

/** Imports a PKCS#8 PEM private key for signing. */
export async function importPrivateKeyPem(pem: string): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (der === undefined) throw new TypeError('no PEM block found');
  return provider.subtle.importKey('pkcs8', der, KEY_ALGORITHM, false, ['sign']);
}

/** True when `privateKeyPem` is the private half of the certificate's public key. */
export function keyMatchesCertificate(privateKeyPem: string, cert: x509.X509Certificate): boolean {
  const fromKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: 'spki', format: 'der' });
  return Buffer.from(cert.publicKey.rawData).equals(fromKey);
}

/** A positive, non-zero 128-bit serial number in hex (RFC 5280 allows up to 20 octets). */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x01;
  return bytes.toString('hex');
}
