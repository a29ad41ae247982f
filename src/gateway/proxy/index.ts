/**
 * RDS Proxy's authentication and target health, for the proxy data path to
 * wire in: client login decisions, RDS Proxy's wire errors, health checks.
 */
export * from './wire-errors.js';
export * from './client-login.js';
export * from './target-health.js';
export { probeTarget, type ProbeOutcome, type TargetProbe } from './target-probe.js';
