/**
 * The behaviour every StateStore driver must show, as one vitest suite.
 * Each driver's test file calls {@link describeStateStoreContract}; SQLite
 * does today, PostgreSQL will, so swapping drivers changes no domain code.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isIamdbError, type ErrorCode } from '../errors/index.js';
import type { StateStore } from './state-store.js';

/**
 * Opens a store at `location`, a short name the suite makes unique per test.
 * The driver maps it to its own storage (a file in a temp dir, a schema) and
 * must return the same data when the same location is opened again.
 */
export type OpenStore = (location: string) => Promise<StateStore>;

async function expectCode(promise: Promise<unknown>, code: ErrorCode): Promise<void> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isIamdbError(err, code), `expected ${code}, got ${String(err)}`).toBe(true);
}

/** Resolves on a later turn of the event loop, so other callers get to run. */
function yieldTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/**
 * Registers the contract suite for one driver.
 *
 * @example
 *   describeStateStoreContract('sqlite', (loc) => openSqliteStore(join(dir, `${loc}.db`)));
 */
export function describeStateStoreContract(name: string, open: OpenStore): void {
  describe(`StateStore contract: ${name}`, () => {
    async function withStore(fn: (store: StateStore, location: string) => Promise<void>): Promise<void> {
      const location = `c${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      const store = await open(location);
      try {
        await fn(store, location);
      } finally {
        await store.close();
      }
    }

    it('returns what was put, at version 1', () =>
      withStore(async (store) => {
        const put = await store.put('iam/user', 'alice', { arn: 'arn:aws:iam::000000000000:user/alice', n: 1 });
        expect(put).toMatchObject({ kind: 'iam/user', id: 'alice', version: 1 });
        expect(typeof put.updatedAt).toBe('number');
        const got = await store.get('iam/user', 'alice');
        expect(got).toEqual(put);
        expect(await store.get('iam/user', 'bob')).toBeUndefined();
      }));

    it('keeps kinds apart even when ids match', () =>
      withStore(async (store) => {
        await store.put('a', 'same', { from: 'a' });
        await store.put('b', 'same', { from: 'b' });
        expect((await store.get('a', 'same'))?.data).toEqual({ from: 'a' });
        expect((await store.get('b', 'same'))?.data).toEqual({ from: 'b' });
      }));

    it('grows the version by one on every put', () =>
      withStore(async (store) => {
        await store.put('k', 'x', 1);
        await store.put('k', 'x', 2);
        const third = await store.put('k', 'x', 3, { expectVersion: 2 });
        expect(third.version).toBe(3);
        expect((await store.get('k', 'x'))?.data).toBe(3);
      }));

    it('rejects a put whose expected version is stale, leaving the record as it was', () =>
      withStore(async (store) => {
        await store.put('k', 'x', 'first');
        await store.put('k', 'x', 'second');
        await expectCode(store.put('k', 'x', 'stale', { expectVersion: 1 }), 'STORE_VERSION_CONFLICT');
        const got = await store.get('k', 'x');
        expect(got).toMatchObject({ data: 'second', version: 2 });
      }));

    it('treats expectVersion 0 as "must not exist"', () =>
      withStore(async (store) => {
        await store.put('k', 'new', { ok: true }, { expectVersion: 0 });
        await expectCode(store.put('k', 'new', { ok: false }, { expectVersion: 0 }), 'STORE_VERSION_CONFLICT');
        await expectCode(store.put('k', 'missing', {}, { expectVersion: 3 }), 'STORE_VERSION_CONFLICT');
        expect(await store.get('k', 'missing')).toBeUndefined();
      }));

    it('reports a conflict with kind Conflict and the versions involved', () =>
      withStore(async (store) => {
        await store.put('k', 'x', 1);
        const err = await store.put('k', 'x', 2, { expectVersion: 0 }).catch((e: unknown) => e);
        expect(isIamdbError(err, 'STORE_VERSION_CONFLICT')).toBe(true);
        if (!isIamdbError(err)) return;
        expect(err.kind).toBe('Conflict');
        expect(err.details).toMatchObject({ kind: 'k', id: 'x', expected: 0, actual: 1 });
      }));

    it('lists one kind ordered by id, narrowed by a literal, case-sensitive prefix', () =>
      withStore(async (store) => {
        const ids = ['b', 'a/2', 'a/10', 'ab', 'a/1', 'A/1', 'a%x', 'a_y', 'a'];
        for (const id of ids) await store.put('k', id, { id });
        await store.put('other', 'a/3', {});
        const all = (await store.list('k')).map((r) => r.id);
        // Bytewise order of the UTF-8 ids (what SQLite BINARY and PostgreSQL "C" give).
        expect(all).toEqual(['A/1', 'a', 'a%x', 'a/1', 'a/10', 'a/2', 'a_y', 'ab', 'b']);
        expect((await store.list('k', { prefix: 'a/' })).map((r) => r.id)).toEqual(['a/1', 'a/10', 'a/2']);
        expect((await store.list('k', { prefix: 'a%' })).map((r) => r.id)).toEqual(['a%x']);
        expect((await store.list('k', { prefix: 'a_' })).map((r) => r.id)).toEqual(['a_y']);
        expect((await store.list('k', { prefix: 'A' })).map((r) => r.id)).toEqual(['A/1']);
        expect((await store.list('k', { prefix: '' })).map((r) => r.id)).toEqual(all);
        expect(await store.list('nothing')).toEqual([]);
        const [first] = await store.list<{ id: string }>('k', { prefix: 'b' });
        expect(first).toMatchObject({ kind: 'k', id: 'b', data: { id: 'b' }, version: 1 });
      }));

    it('deletes a record once, and a later put starts again from version 1', () =>
      withStore(async (store) => {
        await store.put('k', 'x', 1);
        expect(await store.delete('k', 'x')).toBe(true);
        expect(await store.get('k', 'x')).toBeUndefined();
        expect(await store.delete('k', 'x')).toBe(false);
        expect((await store.put('k', 'x', 2, { expectVersion: 0 })).version).toBe(1);
      }));

    it('refuses a delete whose expected version is stale', () =>
      withStore(async (store) => {
        await store.put('k', 'x', 1);
        await store.put('k', 'x', 2);
        await expectCode(store.delete('k', 'x', { expectVersion: 1 }), 'STORE_VERSION_CONFLICT');
        expect((await store.get('k', 'x'))?.version).toBe(2);
        expect(await store.delete('k', 'x', { expectVersion: 2 })).toBe(true);
      }));

    it('commits every write of a transaction and returns its result', () =>
      withStore(async (store) => {
        await store.put('k', 'gone', 0);
        const result = await store.transaction(async (tx) => {
          await tx.put('k', 'a', 1);
          await yieldTurn();
          await tx.put('k', 'b', 2);
          await tx.delete('k', 'gone');
          // A transaction reads its own writes.
          expect((await tx.get('k', 'a'))?.data).toBe(1);
          expect((await tx.list('k')).map((r) => r.id)).toEqual(['a', 'b']);
          return 'done';
        });
        expect(result).toBe('done');
        expect((await store.list('k')).map((r) => [r.id, r.data])).toEqual([
          ['a', 1],
          ['b', 2],
        ]);
      }));

    it('rolls back every write when the callback throws, rethrowing the same error', () =>
      withStore(async (store) => {
        await store.put('k', 'kept', 'before');
        const boom = new Error('boom');
        const err = await store
          .transaction(async (tx) => {
            await tx.put('k', 'kept', 'changed');
            await tx.put('k', 'new', 'half');
            await tx.delete('k', 'kept');
            await yieldTurn();
            throw boom;
          })
          .catch((e: unknown) => e);
        expect(err).toBe(boom);
        expect(await store.list('k')).toEqual([expect.objectContaining({ id: 'kept', data: 'before', version: 1 })]);
      }));

    it('rolls back earlier writes when a later put in the transaction conflicts', () =>
      withStore(async (store) => {
        await store.put('k', 'taken', 1);
        await expectCode(
          store.transaction(async (tx) => {
            await tx.put('k', 'fresh', 1, { expectVersion: 0 });
            await tx.put('k', 'taken', 2, { expectVersion: 0 });
          }),
          'STORE_VERSION_CONFLICT',
        );
        expect(await store.get('k', 'fresh')).toBeUndefined();
        expect((await store.get('k', 'taken'))?.data).toBe(1);
      }));

    it('serialises concurrent transactions, so read-modify-write never loses an update', () =>
      withStore(async (store) => {
        await store.put('k', 'counter', 0);
        const runs = Array.from({ length: 20 }, () =>
          store.transaction(async (tx) => {
            const current = await tx.get<number>('k', 'counter');
            await yieldTurn();
            await tx.put('k', 'counter', (current?.data ?? 0) + 1, { expectVersion: current?.version ?? 0 });
          }),
        );
        await Promise.all(runs);
        expect(await store.get('k', 'counter')).toMatchObject({ data: 20, version: 21 });
      }));

    it('keeps top-level writes made by others out of an open transaction', () =>
      withStore(async (store) => {
        const inside = deferred();
        const release = deferred();
        const tx = store.transaction(async (t) => {
          await t.put('k', 'tx-write', 1);
          inside.resolve();
          await release.promise;
          throw new Error('roll back');
        });
        await inside.promise;
        // Issued while the transaction is open; must not be rolled back with it.
        const outsidePut = store.put('k', 'outside', 'survives');
        const outsideGet = store.get('k', 'tx-write');
        await yieldTurn();
        release.resolve();
        await expect(tx).rejects.toThrow('roll back');
        await outsidePut;
        expect(await outsideGet).toBeUndefined();
        expect((await store.get('k', 'outside'))?.data).toBe('survives');
        expect(await store.get('k', 'tx-write')).toBeUndefined();
      }));

    it('refuses the tx handle once the transaction is over', () =>
      withStore(async (store) => {
        let leaked: Parameters<Parameters<StateStore['transaction']>[0]>[0] | undefined;
        await store.transaction(async (tx) => {
          leaked = tx;
        });
        await expectCode(leaked!.put('k', 'late', 1), 'STORE_TRANSACTION_MISUSE');
        expect(await store.get('k', 'late')).toBeUndefined();
      }));

    it('fails fast, instead of deadlocking, on a store call from inside its own transaction', () =>
      withStore(async (store) => {
        await expectCode(
          store.transaction(async () => {
            await store.get('k', 'x');
          }),
          'STORE_TRANSACTION_MISUSE',
        );
        await expectCode(
          store.transaction(() => store.transaction(async () => 1)),
          'STORE_TRANSACTION_MISUSE',
        );
        // The store is still usable afterwards.
        expect((await store.put('k', 'x', 1)).version).toBe(1);
      }));

    it('persists across close and reopen of the same location', async () => {
      const location = `c${randomUUID().replaceAll('-', '').slice(0, 16)}`;
      const first = await open(location);
      await first.put('k', 'x', { kept: true });
      await first.transaction(async (tx) => {
        await tx.put('k', 'y', 2);
      });
      await first.close();
      const second = await open(location);
      try {
        expect(await second.get('k', 'x')).toMatchObject({ data: { kept: true }, version: 1 });
        expect((await second.get('k', 'y'))?.data).toBe(2);
        expect((await second.put('k', 'x', { kept: 'again' }, { expectVersion: 1 })).version).toBe(2);
      } finally {
        await second.close();
      }
    });

    it('stores JSON with unicode, nesting and every JSON type intact', () =>
      withStore(async (store) => {
        const data = {
          text: 'héllo wörld, 日本語, emoji 🔐🦀, combining e\u0301, rtl עברית',
          nul: 'a\u0000b',
          escapes: 'quote " backslash \\ newline \n tab \t',
          numbers: [0, -1, 1.5, 1e21, Number.MAX_SAFE_INTEGER],
          flags: [true, false, null],
          nested: { deeper: { list: [{ k: 'v' }], empty: {} } },
        };
        const id = 'user/名前/🔑';
        await store.put('unicode', id, data);
        expect((await store.get('unicode', id))?.data).toEqual(data);
        expect((await store.list('unicode', { prefix: 'user/名' })).map((r) => r.id)).toEqual([id]);
      }));

    it('rejects data that has no JSON form', () =>
      withStore(async (store) => {
        await expectCode(store.put('k', 'x', undefined), 'STORE_INVALID_VALUE');
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        await expectCode(store.put('k', 'x', cyclic), 'STORE_INVALID_VALUE');
        expect(await store.get('k', 'x')).toBeUndefined();
      }));

    it('refuses calls after close', async () => {
      const store = await open(`c${randomUUID().replaceAll('-', '').slice(0, 16)}`);
      await store.close();
      await store.close();
      await expectCode(store.get('k', 'x'), 'STORE_CLOSED');
      await expectCode(store.transaction(async () => 1), 'STORE_CLOSED');
    });
  });
}
