/**
 * Which MySQL/MariaDB accounts are IAM users, per instance. MySQL has no
 * `rds_iam` role to ask the server about: an account becomes an IAM user when
 * `CREATE USER … IDENTIFIED WITH AWSAuthenticationPlugin AS 'RDS'` (or the
 * ALTER USER form) goes through the gateway, and stops being one on DROP
 * USER, or when it is given a password again. Kept in the state store so
 * it survives a restart. Read from the store once, at start: a second
 * gateway process sharing the same store would not see this one's changes
 * until it restarts (only one process serves a state directory today).
 */
import { accountMatchKey } from '../../protocol/mysql/index.js';
import type { StateStore } from '../../store/state-store.js';
import type { RecordChange } from './account-policy.js';

export interface Account {
  readonly user: string;
  readonly host: string;
}

const KIND = 'mysql-iam-user';

export class MysqlIamUsers {
  /** instance id (lowercase) -> user name -> hosts */
  readonly #byInstance = new Map<string, Map<string, Set<string>>>();

  private constructor(private readonly store: StateStore) {}

  static async open(store: StateStore): Promise<MysqlIamUsers> {
    const reg = new MysqlIamUsers(store);
    for (const rec of await store.list<{ instance: string; user: string; host: string }>(KIND)) {
      reg.#remember(rec.data.instance, rec.data.user, rec.data.host);
    }
    return reg;
  }

  static #id(instance: string, a: Account): string {
    return `${instance.toLowerCase()}/${a.user}@${a.host}`;
  }

  #remember(instance: string, user: string, host: string): void {
    const key = instance.toLowerCase();
    let users = this.#byInstance.get(key);
    if (!users) this.#byInstance.set(key, (users = new Map()));
    let hosts = users.get(user);
    if (!hosts) users.set(user, (hosts = new Set()));
    hosts.add(host);
  }

  /** True when some account with this user name is an IAM user on the instance. */
  isIamUser(instance: string, user: string): boolean {
    return (this.#byInstance.get(instance.toLowerCase())?.get(user)?.size ?? 0) > 0;
  }

  /** The accounts (user@host) recorded as IAM users under this user name. */
  accountsOf(instance: string, user: string): Account[] {
    return [...(this.#byInstance.get(instance.toLowerCase())?.get(user) ?? [])].map((host) => ({ user, host }));
  }

  /** Every account recorded as an IAM user on the instance. */
  accountsOfInstance(instance: string): Account[] {
    return [...(this.#byInstance.get(instance.toLowerCase()) ?? [])].flatMap(([user, hosts]) => [...hosts].map((host) => ({ user, host })));
  }

  /**
   * The recorded IAM account the server would take `account` for, spelled as
   * recorded: host case and trailing spaces do not count (accountMatchKey),
   * as in MariaDB's grant tables.
   */
  find(instance: string, account: Account): Account | undefined {
    return this.#stored(instance, account);
  }

  async add(instance: string, accounts: readonly Account[]): Promise<void> {
    for (const a of accounts) {
      await this.store.put(KIND, MysqlIamUsers.#id(instance, a), { instance: instance.toLowerCase(), user: a.user, host: a.host });
      this.#remember(instance, a.user, a.host);
    }
  }

  async remove(instance: string, accounts: readonly Account[]): Promise<void> {
    for (const a of accounts) {
      await this.store.delete(KIND, MysqlIamUsers.#id(instance, a));
      const users = this.#byInstance.get(instance.toLowerCase());
      const hosts = users?.get(a.user);
      hosts?.delete(a.host);
      if (hosts && hosts.size === 0) users!.delete(a.user);
    }
  }

  /** Applies record changes decided for a statement the server accepted, in order. */
  async apply(instance: string, changes: readonly RecordChange[]): Promise<void> {
    for (const c of changes) {
      if (c.kind === 'add') await this.add(instance, [c.account]);
      else if (c.kind === 'remove') await this.remove(instance, [this.#stored(instance, c.account) ?? c.account]);
      else await this.rename(instance, [{ from: this.#stored(instance, c.from) ?? c.from, to: c.to }]);
    }
  }

  /** The recorded spelling of an account the server would take for `account`. */
  #stored(instance: string, account: Account): Account | undefined {
    const want = accountMatchKey(account);
    for (const [user, hosts] of this.#byInstance.get(instance.toLowerCase()) ?? []) {
      if (user.replace(/ +$/, '') !== account.user.replace(/ +$/, '')) continue;
      for (const host of hosts) if (accountMatchKey({ user, host }) === want) return { user, host };
    }
    return undefined;
  }

  async rename(instance: string, renames: ReadonlyArray<{ from: Account; to: Account }>): Promise<void> {
    for (const r of renames) {
      const hosts = this.#byInstance.get(instance.toLowerCase())?.get(r.from.user);
      if (hosts?.has(r.from.host)) {
        await this.remove(instance, [r.from]);
        await this.add(instance, [r.to]);
      }
    }
  }
}
