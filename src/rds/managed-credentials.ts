/**
 * Credentials iamdb manages for IAM database users: the password the gateway
 * uses to log in to the real server on an IAM user's behalf. The user never
 * sees it; it is random, sealed at rest with the master key, and rotated when
 * the server stops accepting it.
 */
import { randomBytes } from 'node:crypto';
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

const KIND = 'db-credential';

export class ManagedCredentials {
  /** One in-flight rotation per (instance, user): concurrent first logins share it. */
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #cache = new Map<string, Secret<string>>();

  constructor(
    private readonly store: StateStore,
    private readonly sealer: SealerLike,
  ) {}

  static key(instanceId: string, dbUser: string): string {
    return `${instanceId.toLowerCase()}/${dbUser}`;
  }

  /** The current credential, if one was ever set. */
  async get(instanceId: string, dbUser: string): Promise<Secret<string> | undefined> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    const cached = this.#cache.get(id);
    if (cached !== undefined) return cached;
    const rec = await this.store.get<StoredCredential>(KIND, id);
    if (rec === undefined) return undefined;
    const secret = new Secret(this.sealer.open(rec.data.sealed, `${KIND}/${id}`).toString('utf8'));
    this.#cache.set(id, secret);
    return secret;
  }

  /**
   * Creates a new credential, lets `apply` install it on the server, and
   * stores it only once the server has it: a failed apply keeps the old one.
   */
  async rotate(instanceId: string, dbUser: string, apply: (password: Secret<string>) => Promise<void>): Promise<Secret<string>> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    return this.#serialise(id, async () => {
      // Alphanumeric only: safe in SQL literals and every auth plugin.
      const password = new Secret(randomBytes(24).toString('base64url').replace(/[-_]/g, 'x'));
      await apply(password);
      await this.store.put<StoredCredential>(KIND, id, { sealed: this.sealer.seal(password.reveal(), `${KIND}/${id}`), createdAt: Date.now() });
      this.#cache.set(id, password);
      return password;
    });
  }

  /** Returns the credential, creating it with `apply` when there is none. */
  async getOrCreate(instanceId: string, dbUser: string, apply: (password: Secret<string>) => Promise<void>): Promise<Secret<string>> {
    const existing = await this.get(instanceId, dbUser);
    if (existing !== undefined) return existing;
    const id = ManagedCredentials.key(instanceId, dbUser);
    const pending = this.#locks.get(id);
    if (pending !== undefined) {
      await pending.catch(() => undefined);
      const now = await this.get(instanceId, dbUser);
      if (now !== undefined) return now;
    }
    return this.rotate(instanceId, dbUser, apply);
  }

  /** Forgets the credential (the user stopped being an IAM user). */
  async forget(instanceId: string, dbUser: string): Promise<void> {
    const id = ManagedCredentials.key(instanceId, dbUser);
    this.#cache.delete(id);
    await this.store.delete(KIND, id);
  }

  async #serialise<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(id) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(fn);
    this.#locks.set(id, next);
    try {
      return await next;
    } finally {
      if (this.#locks.get(id) === next) this.#locks.delete(id);
    }
  }
}
