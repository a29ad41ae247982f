export { type Migration, assertMigrationOrder } from './migration.js';
export { sqliteMigrations } from './sqlite-steps.js';
export { runSqliteMigrations } from './sqlite-runner.js';
