export * from './events.js';
export * from './sink.js';
