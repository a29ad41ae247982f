import { describe, expect, it } from 'vitest';
import { openSqliteStore } from '../store/index.js';
import { Secret } from '../util/index.js';
import { ManagedCredentials, type SealerLike } from './managed-credentials.js';

/** Sealing is not what these tests are about: a reversible stand-in that still binds the record identity. */
const sealer: SealerLike = {
  seal: (plaintext, aad) => `${aad}|${Buffer.from(plaintext).toString('base64')}`,
  open: (sealed, aad) => {
    const [bound, body] = sealed.split('|') as [string, string];
    if (bound !== aad) throw new Error('wrong record');
    return Buffer.from(body, 'base64');
  },
};

async function setup(): Promise<{ creds: ManagedCredentials; installed: string[] }> {
  const store = await openSqliteStore(':memory:');
  return { creds: new ManagedCredentials(store, sealer), installed: [] };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ManagedCredentials', () => {
  it('creates one credential however many first logins ask at once', async () => {
    const { creds, installed } = await setup();
    const install = async (pw: Secret<string>): Promise<void> => {
      installed.push(pw.reveal());
    };
    const leases = await Promise.all(Array.from({ length: 8 }, () => creds.lease('db1', 'alice', install)));
    expect(installed).toHaveLength(1);
    expect(new Set(leases.map((l) => l!.password.reveal()))).toEqual(new Set(installed));
    for (const l of leases) l!.release();
  });

  it('replaces a refused credential once when many logins fail with it together', async () => {
    const { creds, installed } = await setup();
    const install = async (pw: Secret<string>): Promise<void> => {
      installed.push(pw.reveal());
    };
    const first = (await creds.lease('db1', 'alice', install))!;
    first.release();
    const failed = first.generation;
    const next = await Promise.all(Array.from({ length: 8 }, () => creds.replace('db1', 'alice', failed, install)));
    expect(installed).toHaveLength(2);
    for (const l of next) {
      expect(l.password.reveal()).toBe(installed[1]);
      expect(l.generation).not.toBe(failed);
      l.release();
    }
    // A late failure report for the old generation changes nothing more.
    const late = await creds.replace('db1', 'alice', failed, install);
    late.release();
    expect(installed).toHaveLength(2);
  });

  it('waits for logins still using the old credential before replacing it, and holds new ones back meanwhile', async () => {
    const { creds } = await setup();
    const order: string[] = [];
    const gate = deferred();
    const install = async (pw: Secret<string>): Promise<void> => {
      order.push(`install ${pw.reveal().slice(0, 4)}`);
    };
    const created = (await creds.lease('db1', 'bob', install))!;
    created.release();
    const inFlight = (await creds.lease('db1', 'bob'))!;
    const replaced = creds.replace('db1', 'bob', created.generation, async (pw) => {
      order.push('install new');
      await install(pw);
    });
    // A login that starts during the replacement gets the new credential, not the old one.
    const newcomer = creds.lease('db1', 'bob');
    void gate.promise.then(() => {
      order.push('old login done');
      inFlight.release();
    });
    // Let everything that can run without the old login ending run: the replacement must still wait.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    expect(order).not.toContain('install new');
    gate.resolve();
    const after = await replaced;
    const late = (await newcomer)!;
    expect(order.indexOf('old login done')).toBeLessThan(order.indexOf('install new'));
    expect(late.generation).toBe(after.generation);
    expect(late.password.reveal()).not.toBe(created.password.reveal());
    after.release();
    late.release();
  });

  it('keeps the old credential when installing the new one fails', async () => {
    const { creds } = await setup();
    const created = (await creds.lease('db1', 'carol', async () => undefined))!;
    created.release();
    await expect(creds.replace('db1', 'carol', created.generation, async () => Promise.reject(new Error('server down')))).rejects.toThrow('server down');
    const still = (await creds.lease('db1', 'carol'))!;
    expect(still.password.reveal()).toBe(created.password.reveal());
    still.release();
  });

  it('stores a draft only when it is committed', async () => {
    const { creds } = await setup();
    const draft = await creds.draft('db1', 'dave');
    expect(draft.existing).toBe(false);
    expect(await creds.get('db1', 'dave')).toBeUndefined();
    await draft.commit();
    expect((await creds.get('db1', 'dave'))!.password.reveal()).toBe(draft.password.reveal());
    const again = await creds.draft('db1', 'dave');
    expect(again.existing).toBe(true);
    expect(again.password.reveal()).toBe(draft.password.reveal());
  });

  it('gives no credential to an account that has none when nothing may install one', async () => {
    const { creds } = await setup();
    expect(await creds.lease('db1', 'erin')).toBeUndefined();
  });
});
