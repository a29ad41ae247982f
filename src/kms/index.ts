/** kms: symmetric keys sealed by the master key, aliases, key policies, Encrypt/Decrypt. */
export { Keyring, MAX_PLAINTEXT_BYTES, type KeyState, type KmsAlias, type KmsKey } from './keyring.js';
export { keyUseContext, keyPolicyInputs, type KeyUseOptions } from './key-use.js';
