export type { StateStore, StateStoreOps, StoredRecord, PutOptions } from './state-store.js';
export { openSqliteStore, type SqliteStoreOptions } from './sqlite/index.js';
export { AsyncMutex } from './async-mutex.js';
