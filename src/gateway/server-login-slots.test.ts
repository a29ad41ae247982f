import { describe, expect, it } from 'vitest';
import { isIamdbError } from '../errors/index.js';
import { ServerLoginSlots } from './server-login-slots.js';

describe('ServerLoginSlots', () => {
  it('never has more than its size in use; waiters get places in arrival order', async () => {
    const slots = new ServerLoginSlots(8);
    const held = await Promise.all(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((s) => slots.acquire(1_000, undefined, s)));
    const order: number[] = [];
    const w9 = slots.acquire(10_000, undefined, 'i').then((r) => (order.push(9), r));
    const w10 = slots.acquire(10_000, undefined, 'j').then((r) => (order.push(10), r));
    expect(slots.inUse).toBe(8);
    expect(slots.waiting).toBe(2);
    held[0]!();
    held[0]!(); // idempotent
    const r9 = await w9;
    expect(slots.inUse).toBe(8);
    held[1]!();
    const r10 = await w10;
    expect(order).toEqual([9, 10]);
    for (const r of [...held, r9, r10]) r();
    expect(slots.inUse).toBe(0);
  });

  it('lets one source hold a quarter of the places; its other logins wait while other sources get in', async () => {
    const slots = new ServerLoginSlots(8);
    expect(slots.perSource).toBe(2);
    const mine = [await slots.acquire(1_000, undefined, 'noisy'), await slots.acquire(1_000, undefined, 'noisy')];
    let third = false;
    const waiting = slots.acquire(10_000, undefined, 'noisy').then((r) => ((third = true), r));
    const other = await slots.acquire(1_000, undefined, 'quiet');
    expect(third).toBe(false);
    expect(slots.inUse).toBe(3);
    mine[0]!();
    const r = await waiting;
    expect(third).toBe(true);
    for (const f of [mine[1]!, other, r]) f();
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
    const held = await slots.acquire(1_000, undefined, 'a');
    const gone = new AbortController();
    const leaving = slots.acquire(10_000, gone.signal, 'b').catch((e: unknown) => e);
    const staying = slots.acquire(10_000, undefined, 'c');
    gone.abort();
    expect(isIamdbError(await leaving, 'GATEWAY_PEER_CLOSED')).toBe(true);
    held();
    (await staying)();
    expect(slots.inUse).toBe(0);
  });
});
