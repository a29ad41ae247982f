export * from './session-credentials.js';
