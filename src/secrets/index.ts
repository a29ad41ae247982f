/** secrets: Secrets Manager's secrets, versions and stages, envelope-encrypted under KMS keys. */
export { SecretRegistry, DEFAULT_KMS_ALIAS, MAX_SECRET_BYTES, type DataKeys, type SecretRecord, type SecretVersion } from './secret-registry.js';
export { secretRequestContext, secretResourcePolicies } from './authorization.js';
