export * from './resource-id.js';
export * from './instance-registry.js';
export * from './managed-credentials.js';
export * from './engine-version.js';
export * from './proxy-credentials.js';
