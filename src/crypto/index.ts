export {
  loadOrCreateMasterKey,
  parseMasterKey,
  MASTER_KEY_ENV,
  MASTER_KEY_BYTES,
  type LoadMasterKeyOptions,
  type LoadedMasterKey,
} from './master-key.js';
export { createSealer, type Sealer } from './sealer.js';
