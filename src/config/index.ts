export { loadConfig, type Config, type InstanceSettings, type LoadOptions, type ConfigProblem } from './load.js';
export { configSchema, type ParsedConfig, type ConfigInput } from './schema.js';
