import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../errors/index.js';
import { ServerLoginSlots } from './server-login-slots.js';

describe('ServerLoginSlots', () => {
  it('never has more than its size in use; waiters get places in arrival order', async () => {
    const slots = new ServerLoginSlots(2);
    const r1 = await slots.acquire(1_000);
    const r2 = await slots.acquire(1_000);
    const order: number[] = [];
    const w3 = slots.acquire(10_000).then((r) => (order.push(3), r));
    const w4 = slots.acquire(10_000).then((r) => (order.push(4), r));
    expect(slots.inUse).toBe(2);
    expect(slots.waiting).toBe(2);
    r1();
    r1(); // idempotent
    const r3 = await w3;
    expect(slots.inUse).toBe(2);
    r2();
    const r4 = await w4;
    expect(order).toEqual([3, 4]);
    r3();
    r4();
    expect(slots.inUse).toBe(0);
  });

  it('gives up after the timeout with GATEWAY_SERVER_LOGINS_BUSY', async () => {
    const slots = new ServerLoginSlots(1);
    const held = await slots.acquire(1_000);
    const err = await slots.acquire(1).catch((e: unknown) => e);
    expect(isIamdbError(err, 'GATEWAY_SERVER_LOGINS_BUSY')).toBe(true);
    expect(slots.waiting).toBe(0);
    held();
    expect(slots.inUse).toBe(0);
  });

  it('stops waiting when the client leaves, and its place goes to the next', async () => {
    const slots = new ServerLoginSlots(1);
    const held = await slots.acquire(1_000);
    const gone = new AbortController();
    const leaving = slots.acquire(10_000, gone.signal).catch((e: unknown) => e);
    const staying = slots.acquire(10_000);
    gone.abort();
    expect(isIamdbError(await leaving, 'GATEWAY_PEER_CLOSED')).toBe(true);
    held();
    (await staying)();
    expect(slots.inUse).toBe(0);
  });
});
