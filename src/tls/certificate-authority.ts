/**
 * iamdb's own certificate authority. Gateway endpoints present certificates
 * it signs; clients trust it once (`iamdb ca export`), as with the RDS CA
 * bundle. The CA private key is sealed before it reaches the store, so the
 * state file alone signs nothing; certificates are stored in clear.
 */
import { createHash, randomBytes } from 'node:crypto';
import { IamdbError, isIamdbError } from '../errors/index.js';
import type { StateStore, StoredRecord } from '../store/index.js';
import { Secret, type Clock } from '../util/index.js';
import { signServerCertificate, BACKDATE_MS } from './server-certificate.js';
import { normaliseSubjectNames, type SubjectNames } from './subject-names.js';
import {
  exportPrivateKeyPem,
  generateKeyPair,
  importPrivateKeyPem,
  keyMatchesCertificate,
  provider,
  randomSerialNumber,
  SIGNING_ALGORITHM,
  x509,
  type CryptoKey,
} from './x509.js';

/** Store kind of every TLS record. */
export const TLS_KIND = 'tls';
/** Store id of the CA record. */
export const CA_ID = 'ca';

const DAY_MS = 86_400_000;
const CA_VALIDITY_YEARS = 10;
const DEFAULT_SERVER_VALIDITY_DAYS = 365;
/** Browsers cap server certificates near this; no reason for iamdb to go further. */
const MAX_SERVER_VALIDITY_DAYS = 825;
const RENEW_BEFORE_MS = 30 * DAY_MS;

/**
 * What the CA needs from crypto/: structural, so tls/ depends on no module
 * outside its allowed imports (crypto's `Sealer` fits it).
 */
export interface ValueSealer {
  seal(plaintext: Buffer | string, aad: string): string;
  open(sealed: string, aad: string): Buffer;
}

/** Options of {@link loadOrCreateCa}. */
export interface LoadCaOptions {
  readonly store: StateStore;
  readonly sealer: ValueSealer;
  readonly clock: Clock;
  /** CN of a newly created CA; default `iamdb CA <8 hex chars>`. Ignored once a CA exists. */
  readonly commonName?: string;
}

/** What to put in a server certificate. */
export interface ServerCertificateRequest {
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  /** Default 365, at most 825. */
  readonly validityDays?: number;
}

/** A server certificate ready for `tls.createServer({ cert: chainPem, key: keyPem.reveal() })`. */
export interface IssuedCertificate {
  readonly certPem: string;
  readonly keyPem: Secret<string>;
  /**
   * The server certificate followed by the CA certificate. Sending the root
   * too costs a few hundred bytes and helps clients that log the chain.
   */
  readonly chainPem: string;
  readonly notAfter: Date;
}

/** A loaded CA, able to issue server certificates. */
export interface CertificateAuthority {
  readonly certPem: string;
  /** Distinguished name, e.g. `CN=iamdb CA 1a2b3c4d`. */
  readonly subject: string;
  readonly notAfter: Date;
  /** SHA-256 of the DER certificate, lower-case hex, for people comparing bundles. */
  readonly fingerprintSha256: string;
  /** PEM clients should trust (`iamdb ca export`). */
  caBundlePem(): string;
  /**
   * Returns the stored certificate for these names, issuing (and storing) a
   * new one when there is none or it expires within 30 days.
   */
  issueServerCertificate(request: ServerCertificateRequest): Promise<IssuedCertificate>;
}

interface CaRecord {
  readonly certPem: string;
  /** PKCS#8 PEM, sealed with AAD `tls/ca`. */
  readonly sealedKey: string;
}

interface ServerRecord {
  readonly certPem: string;
  /** PKCS#8 PEM, sealed with AAD `tls/<record id>`. */
  readonly sealedKey: string;
  readonly notAfter: number;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
}

/**
 * Loads the CA from the store, creating it on first start. Two nodes
 * starting together both try `expectVersion: 0`; the loser adopts the
 * winner's CA, so there is only ever one.
 *
 * @example
 *   const ca = await loadOrCreateCa({ store, sealer, clock: systemClock });
 *   const { chainPem, keyPem } = await ca.issueServerCertificate({ dnsNames: ['db.internal'], ipAddresses: ['10.0.0.5'] });
 */
export async function loadOrCreateCa(options: LoadCaOptions): Promise<CertificateAuthority> {
  const { store } = options;
  const existing = await store.get<CaRecord>(TLS_KIND, CA_ID);
  if (existing !== undefined) return openCa(existing.data, options);

  const record = await createCaRecord(options);
  try {
    await store.put<CaRecord>(TLS_KIND, CA_ID, record, { expectVersion: 0 });
  } catch (err) {
    if (!isIamdbError(err, 'STORE_VERSION_CONFLICT')) throw err;
    const winner = await store.get<CaRecord>(TLS_KIND, CA_ID);
    if (winner === undefined) throw err;
    return openCa(winner.data, options);
  }
  return openCa(record, options);
}

/** Free-function form of {@link CertificateAuthority.issueServerCertificate}. */
export function issueServerCertificate(
  ca: CertificateAuthority,
  request: ServerCertificateRequest,
): Promise<IssuedCertificate> {
  return ca.issueServerCertificate(request);
}

/**
 * The CA certificate PEM as stored, or undefined before the first start.
 * Needs no master key (the certificate is stored in clear), so
 * `iamdb ca export` works without one.
 *
 * @example const pem = await readCaCertificatePem(store);
 */
export async function readCaCertificatePem(store: Pick<StateStore, 'get'>): Promise<string | undefined> {
  const record = await store.get<CaRecord>(TLS_KIND, CA_ID);
  return record === undefined ? undefined : withNewline(record.data.certPem);
}

async function createCaRecord(options: LoadCaOptions): Promise<CaRecord> {
  const now = options.clock.now();
  const keys = await generateKeyPair();
  const cn = options.commonName ?? `iamdb CA ${randomBytes(4).toString('hex')}`;
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerialNumber(),
      name: [{ CN: [cn] }],
      notBefore: new Date(now - BACKDATE_MS),
      notAfter,
      keys,
      signingAlgorithm: SIGNING_ALGORITHM,
      extensions: [
        // No path length: iamdb never makes intermediates, so forbid them.
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, provider),
      ],
    },
    provider,
  );
  return {
    certPem: cert.toString('pem'),
    sealedKey: options.sealer.seal(await exportPrivateKeyPem(keys.privateKey), `${TLS_KIND}/${CA_ID}`),
  };
}

async function openCa(record: CaRecord, options: LoadCaOptions): Promise<CertificateAuthority> {
  let cert: x509.X509Certificate;
  let keyPem: string;
  let privateKey: CryptoKey;
  try {
    cert = new x509.X509Certificate(record.certPem);
  } catch (err) {
    throw new IamdbError('TLS_CA_INVALID', { reason: 'its certificate cannot be parsed' }, { cause: err });
  }
  try {
    keyPem = options.sealer.open(record.sealedKey, `${TLS_KIND}/${CA_ID}`).toString('utf8');
  } catch (err) {
    throw new IamdbError(
      'TLS_CA_INVALID',
      { reason: 'its private key cannot be opened with this master key' },
      { cause: err },
    );
  }
  try {
    privateKey = await importPrivateKeyPem(keyPem);
    if (!keyMatchesCertificate(keyPem, cert)) throw new Error('mismatch');
  } catch {
    throw new IamdbError('TLS_CA_INVALID', { reason: 'its private key does not match its certificate' });
  }
  return new LoadedCa(cert, privateKey, options);
}

class LoadedCa implements CertificateAuthority {
  readonly certPem: string;
  readonly subject: string;
  readonly notAfter: Date;
  readonly fingerprintSha256: string;
  readonly #cert: x509.X509Certificate;
  readonly #privateKey: CryptoKey;
  readonly #options: LoadCaOptions;

  constructor(cert: x509.X509Certificate, privateKey: CryptoKey, options: LoadCaOptions) {
    this.#cert = cert;
    this.#privateKey = privateKey;
    this.#options = options;
    this.certPem = withNewline(cert.toString('pem'));
    this.subject = cert.subject;
    this.notAfter = cert.notAfter;
    this.fingerprintSha256 = createHash('sha256').update(Buffer.from(cert.rawData)).digest('hex');
  }

  caBundlePem(): string {
    return this.certPem;
  }

  async issueServerCertificate(request: ServerCertificateRequest): Promise<IssuedCertificate> {
    const validityDays = request.validityDays ?? DEFAULT_SERVER_VALIDITY_DAYS;
    if (!Number.isInteger(validityDays) || validityDays < 1 || validityDays > MAX_SERVER_VALIDITY_DAYS) {
      throw new IamdbError('TLS_CERT_REQUEST_INVALID', {
        reason: `validityDays must be a whole number from 1 to ${MAX_SERVER_VALIDITY_DAYS}`,
      });
    }
    const names = normaliseSubjectNames(request.dnsNames, request.ipAddresses);
    const id = serverRecordId(names);
    const { store, sealer, clock } = this.#options;
    const now = clock.now();
    // Renew early, but never so early that a short-lived certificate is
    // re-issued on every call.
    const renewBefore = Math.min(RENEW_BEFORE_MS, (validityDays * DAY_MS) / 2);

    const cached = await store.get<ServerRecord>(TLS_KIND, id);
    if (cached !== undefined && cached.data.notAfter - now > renewBefore) return this.#fromRecord(id, cached.data);

    let signed;
    try {
      signed = await signServerCertificate({ cert: this.#cert, privateKey: this.#privateKey }, names, validityDays, now);
    } catch (err) {
      throw new IamdbError('TLS_ISSUE_FAILED', { reason: err instanceof Error ? err.message : String(err) }, { cause: err });
    }
    const record: ServerRecord = {
      certPem: signed.certPem,
      sealedKey: sealer.seal(signed.keyPem, `${TLS_KIND}/${id}`),
      notAfter: signed.notAfter.getTime(),
      dnsNames: names.dnsNames,
      ipAddresses: names.ipAddresses,
    };
    try {
      await store.put<ServerRecord>(TLS_KIND, id, record, { expectVersion: cached?.version ?? 0 });
    } catch (err) {
      if (!isIamdbError(err, 'STORE_VERSION_CONFLICT')) throw err;
      // Another caller stored one first; use theirs so every node serves the same certificate.
      const winner: StoredRecord<ServerRecord> | undefined = await store.get<ServerRecord>(TLS_KIND, id);
      if (winner !== undefined) return this.#fromRecord(id, winner.data);
      throw err;
    }
    return this.#issued(signed.certPem, signed.keyPem, signed.notAfter);
  }

  #fromRecord(id: string, record: ServerRecord): IssuedCertificate {
    let keyPem: string;
    try {
      keyPem = this.#options.sealer.open(record.sealedKey, `${TLS_KIND}/${id}`).toString('utf8');
    } catch (err) {
      throw new IamdbError(
        'TLS_CA_INVALID',
        { reason: `the stored key of ${id} cannot be opened with this master key` },
        { cause: err },
      );
    }
    return this.#issued(record.certPem, keyPem, new Date(record.notAfter));
  }

  #issued(certPem: string, keyPem: string, notAfter: Date): IssuedCertificate {
    const leaf = withNewline(certPem);
    return { certPem: leaf, keyPem: new Secret(keyPem), chainPem: `${leaf}${this.certPem}`, notAfter };
  }
}

/** `server/<sorted DNS names>,<sorted IPs>`: one record per distinct endpoint name set. */
export function serverRecordId(names: SubjectNames): string {
  return `server/${[...names.dnsNames.map((n) => `dns:${n}`), ...names.ipAddresses.map((n) => `ip:${n}`)].join(',')}`;
}

/** PEM files conventionally end in a newline; concatenated bundles need it. */
function withNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
