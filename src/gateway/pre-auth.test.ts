import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { PreAuthLimiter, sourceKey } from './pre-auth.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) });
  return { logger, lines };
}

describe('sourceKey', () => {
  it('counts an IPv4 source by its address, IPv4-mapped IPv6 included', () => {
    expect(sourceKey('10.0.0.7')).toBe('10.0.0.7');
    expect(sourceKey('::ffff:10.0.0.7')).toBe('10.0.0.7');
  });
  it('counts an IPv6 source by its /64, however it is written', () => {
    expect(sourceKey('2001:db8:0:1::5')).toBe(sourceKey('2001:0db8:0000:0001:ffff:1:2:3'));
    expect(sourceKey('2001:db8:0:1::5')).not.toBe(sourceKey('2001:db8:0:2::5'));
    expect(sourceKey('::1')).toBe('0:0:0:0::/64');
  });
});

describe('PreAuthLimiter', () => {
  it('refuses past the per-source cap while other sources still get in', () => {
    const { logger } = capture();
    const limiter = new PreAuthLimiter({ maxConnections: 10, maxConnectionsPerSource: 2 }, logger);
    const a = limiter.admit('10.0.0.1', 'ep');
    const b = limiter.admit('10.0.0.1', 'ep');
    expect(typeof a).toBe('object');
    expect(typeof b).toBe('object');
    expect(limiter.admit('10.0.0.1', 'ep')).toBe('source');
    expect(typeof limiter.admit('10.0.0.2', 'ep')).toBe('object');
  });

  it('refuses everyone past the total, and admits again once clients authenticate or leave', () => {
    const { logger } = capture();
    const limiter = new PreAuthLimiter({ maxConnections: 3, maxConnectionsPerSource: 3 }, logger);
    const tickets = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => limiter.admit(ip, 'ep'));
    expect(limiter.admit('10.0.0.4', 'ep')).toBe('total');
    const first = tickets[0];
    if (typeof first !== 'object') throw new Error('expected a ticket');
    first.release();
    first.release(); // idempotent: one release frees one place
    expect(limiter.count).toBe(2);
    expect(typeof limiter.admit('10.0.0.4', 'ep')).toBe('object');
    expect(limiter.admit('10.0.0.5', 'ep')).toBe('total');
  });

  it('logs a refusal cause at most once per interval, with how many were refused meanwhile', () => {
    const { logger, lines } = capture();
    let now = 1_000_000;
    const limiter = new PreAuthLimiter({ maxConnections: 1, maxConnectionsPerSource: 1 }, logger, () => now);
    limiter.admit('10.0.0.1', 'ep');
    for (let i = 0; i < 50; i++) limiter.admit('10.0.0.2', 'ep');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ setting: 'gateway.preAuth.maxConnections', refusedSinceLastLog: 1, source: '10.0.0.2' });
    now += 10_000;
    limiter.admit('10.0.0.2', 'ep');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ refusedSinceLastLog: 50 });
  });
});
