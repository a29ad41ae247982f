/**
 * Secrets Manager's data keys straight from a keyring, with no caller to
 * authorize: what unit tests of the secret registry and of RDS Proxy's
 * credentials store and read values with.
 */
import { randomBytes } from 'node:crypto';
import type { Keyring } from '../../src/kms/index.js';
import type { DataKeys } from '../../src/secrets/index.js';

export function keyringDataKeys(keyring: Keyring): DataKeys {
  return {
    async generate(id, context) {
      const plaintext = randomBytes(32);
      const out = await keyring.encrypt(id, plaintext, context);
      return { keyArn: out.key.arn, plaintext, encrypted: out.ciphertext };
    },
    async open(encrypted, context) {
      return (await keyring.decrypt(encrypted, context)).plaintext;
    },
  };
}
