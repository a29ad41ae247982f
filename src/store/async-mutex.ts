/**
 * A first-come, first-served async lock. The SQLite driver has one
 * connection, so a transaction that awaits between statements must keep every
 * other caller out until it commits or rolls back; this is that lock.
 */
export class AsyncMutex {
  #tail: Promise<void> = Promise.resolve();
  #held = 0;

  /** True while some caller holds the lock or waits for it. */
  get busy(): boolean {
    return this.#held > 0;
  }

  /**
   * Runs `fn` once every earlier caller has finished, and releases the lock
   * whether `fn` resolves or throws.
   *
   * @example await mutex.run(async () => { ... })
   */
  async run<R>(fn: () => R | Promise<R>): Promise<R> {
    this.#held += 1;
    const previous = this.#tail;
    let release!: () => void;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    try {
      await previous;
      return await fn();
    } finally {
      this.#held -= 1;
      release();
    }
  }
}
