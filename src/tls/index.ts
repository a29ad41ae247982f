export {
  loadOrCreateCa,
  issueServerCertificate,
  readCaCertificatePem,
  serverRecordId,
  TLS_KIND,
  CA_ID,
  type CertificateAuthority,
  type IssuedCertificate,
  type LoadCaOptions,
  type ServerCertificateRequest,
  type ValueSealer,
} from './certificate-authority.js';
export { normaliseSubjectNames, canonicalIp, type SubjectNames } from './subject-names.js';
