/**
 * Credentials iamdb manages for IAM database users: the password the gateway
 * uses to log in to the real server on an IAM user's behalf. The user never
 * sees it; it is random, sealed at rest with the master key, and replaced
 * when the server stops accepting it.
 *
 * Replacing a credential is the delicate part: many logins of the same user
 * can fail at once (someone changed the password behind our back), and a
 * login can be half-way through its server exchange with the credential a
 * replacement is about to change. So:
 * - a login holds a *lease* on the credential for the length of its server
 *   exchange;
 * - a replacement names the generation that failed; when the credential has
 *   already moved on, it is not replaced again (the caller gets the new one);
 * - one replacement per account at a time (concurrent callers share it), and
 *   it waits until the leases on the old credential are given back, while new
 *   leases wait for it: no login is ever cut off by a rotation it did not ask
 *   for.
 * The generation is the store record's version, which a second node
 * (the PostgreSQL store, later) will see too.
 */
import { randomBytes } from 'node:crypto';
import { isIamdbError } from '../errors/index.js';
import type { StateStore } from '../store/state-store.js';
import { Secret } from '../util/index.js';

/** What this module needs from crypto/: sealing bound to a record identity. */
export interface SealerLike {
  seal(plaintext: Buffer | string, aad: string): string;
  open(sealed: string, aad: string): Buffer;
}

interface StoredCredential {
  readonly sealed: string;
  readonly createdAt: number;
}

/** A credential and the generation it belongs to. */
export interface ManagedCredential {
  readonly password: Secret<string>;
  /** The store version of the credential: changes whenever it is replaced. */
  readonly generation: number;
}

/** A credential held by a login for its server exchange; give it back with `release()` (idempotent). */
export interface CredentialLease extends ManagedCredential {
  release(): void;
}

/** Installs a new password on the server (ALTER ROLE / ALTER USER as the master). */
export type InstallCredential = (password: Secret<string>) => Promise<void>;

/** A credential created in memory for a statement that installs it itself; stored only by `commit()`. */
export interface CredentialDraft {
  readonly password: Secret<string>;
  /** True when the account already had a credential (nothing new to store). */
  readonly existing: boolean;
  /** Stores the credential: call once the server has accepted it. */
  commit(): Promise<void>;
}

const KIND = 'db-credential';

/** How long a replacement waits for leases on the old credential before it goes ahead anyway. */
const DRAIN_LIMIT_MS = 30_000;

interface AccountState {
  leases: number;
  replacing: Promise<void> | undefined;
  drained: (() => void) | undefined;
}

/** Alphanumeric only: safe in SQL literals and every auth plugin. */
function newPassword(): Secret<string> {
  return new Secret(randomBytes(24).toString('base64url').replace(/[-_]/g, 'x'));
}

export class ManagedCredentials {
  readonly #cache = new Map<string, ManagedCredential>();
  readonly #accounts = new Map<string, AccountState>();

  constructor(
    private readonly store: StateStore,
    private readonly sealer: SealerLike,
  ) {}

  static key(instanceId: string, dbUser: string): string {
    return `${instanceId.toLowerCase()}/${dbUser}`;
  }

  #state(id: string): AccountState {
    let st = this.#accounts.get(id);
    if (st === undefined) this.#accounts.set(id, (st = { leases: 0, replacing: undefined, drained: undefined }));
    return st;
  }

  #tidy(id: string, st: AccountState): void {
    if (st.leases === 0 && st.replacing === undefined) this.#accounts.delete(id);
  }

  /** The current credential, if one was ever set. */
  async get(instanceId: string, dbUser: string): Promise<ManagedCredential | undefined> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    const cached = this.#cache.get(id);
    if (cached !== undefined) return cached;
    const rec = await this.store.get<StoredCredential>(KIND, id);
    if (rec === undefined) return undefined;
    const credential = { password: new Secret(this.sealer.open(rec.data.sealed, `${KIND}/${id}`).toString('utf8')), generation: rec.version };
    this.#cache.set(id, credential);
    return credential;
  }

  /**
   * Leases the current credential for one login. With `install`, an account
   * without a credential gets one first (created once however many logins
   * ask at the same time); without it, `undefined` means there is none.
   */
  async lease(instanceId: string, dbUser: string, install?: InstallCredential): Promise<CredentialLease | undefined> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    for (;;) {
      const st = this.#state(id);
      // New logins wait for a replacement in progress: they would only fail with the old credential.
      if (st.replacing !== undefined) await st.replacing.catch(() => undefined);
      const current = await this.get(instanceId, dbUser);
      if (current === undefined) {
        if (install === undefined) {
          this.#tidy(id, st);
          return undefined;
        }
        await this.#replaceOnce(id, instanceId, dbUser, 0, install);
        continue;
      }
      if (this.#state(id).replacing !== undefined) continue;
      return this.#grant(id, current);
    }
  }

  #grant(id: string, credential: ManagedCredential): CredentialLease {
    const st = this.#state(id);
    st.leases++;
    let released = false;
    return {
      ...credential,
      release: () => {
        if (released) return;
        released = true;
        st.leases--;
        if (st.leases === 0) st.drained?.();
        this.#tidy(id, st);
      },
    };
  }

  /**
   * The server refused generation `failed`: installs a new credential with
   * `install` unless that generation is already gone, and leases the
   * current one. The caller must have released its lease on `failed` first.
   */
  async replace(instanceId: string, dbUser: string, failed: number, install: InstallCredential): Promise<CredentialLease> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    await this.#replaceOnce(id, instanceId, dbUser, failed, install);
    const lease = await this.lease(instanceId, dbUser);
    if (lease === undefined) throw new Error('managed credential vanished during replacement');
    return lease;
  }

  /** One replacement at a time per account; concurrent callers share it. */
  #replaceOnce(id: string, instanceId: string, dbUser: string, failed: number, install: InstallCredential): Promise<void> {
    const st = this.#state(id);
    if (st.replacing === undefined) {
      st.replacing = this.#replace(id, st, instanceId, dbUser, failed, install).finally(() => {
        st.replacing = undefined;
        this.#tidy(id, st);
      });
    }
    return st.replacing;
  }

  async #replace(id: string, st: AccountState, instanceId: string, dbUser: string, failed: number, install: InstallCredential): Promise<void> {
    const current = await this.get(instanceId, dbUser);
    // Already replaced (or created) by someone else: theirs is the one to use.
    if ((current?.generation ?? 0) !== failed) return;
    await this.#drain(st);
    const password = newPassword();
    await install(password);
    await this.#store(id, password, failed);
  }

  /** Waits until no login holds a lease on the current credential (bounded: a lost lease must not stop rotation for good). */
  #drain(st: AccountState): Promise<void> {
    if (st.leases === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, DRAIN_LIMIT_MS);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        st.drained = undefined;
        resolve();
      }
      st.drained = done;
    });
  }

  /** Stores `password` as the next generation after `expected` (0: none yet); the cache follows. */
  async #store(id: string, password: Secret<string>, expected: number): Promise<void> {
    try {
      const rec = await this.store.put<StoredCredential>(
        KIND,
        id,
        { sealed: this.sealer.seal(password.reveal(), `${KIND}/${id}`), createdAt: Date.now() },
        { expectVersion: expected },
      );
      this.#cache.set(id, { password, generation: rec.version });
    } catch (err) {
      // Another writer got there first: drop the cache so the next read sees theirs.
      if (isIamdbError(err, 'STORE_VERSION_CONFLICT')) this.#cache.delete(id);
      throw err;
    }
  }

  /**
   * For a statement that installs the credential itself (MySQL's CREATE USER
   * … AWSAuthenticationPlugin, rewritten with the credential's hash): the
   * account's credential when it has one, else a new one kept in memory
   * until `commit()`, so nothing is stored for a statement the server refuses.
   */
  async draft(instanceId: string, dbUser: string): Promise<CredentialDraft> {
    const current = await this.get(instanceId, dbUser);
    if (current !== undefined) return { password: current.password, existing: true, commit: async () => undefined };
    const id = ManagedCredentials.key(instanceId, dbUser);
    const password = newPassword();
    return { password, existing: false, commit: () => this.#store(id, password, 0) };
  }

  /** Forgets the credential (the user stopped being an IAM user). */
  async forget(instanceId: string, dbUser: string): Promise<void> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    this.#cache.delete(id);
    await this.store.delete(KIND, id);
  }
}
