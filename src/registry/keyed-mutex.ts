/**
 * An in-process mutex per key, with a wait timeout. Waiters are served first come, first served;
 * a waiter that times out leaves the queue without ever holding the lock.
 */
export class KeyedMutex {
  // A key is present while held; its array holds the waiters' hand-over callbacks.
  readonly #waiters = new Map<string, Array<() => void>>();

  /** Resolves to a release function, or to undefined if the lock stayed held for `timeoutMs`. */
  acquire(key: string, timeoutMs: number): Promise<(() => void) | undefined> {
    const queue = this.#waiters.get(key);
    if (queue === undefined) {
      this.#waiters.set(key, []);
      return Promise.resolve(this.#releaser(key));
    }
    return new Promise((resolve) => {
      const handOver = (): void => {
        clearTimeout(timer);
        resolve(this.#releaser(key));
      };
      const timer = setTimeout(
        () => {
          const i = queue.indexOf(handOver);
          if (i >= 0) queue.splice(i, 1);
          resolve(undefined);
        },
        Math.max(0, timeoutMs),
      );
      queue.push(handOver);
    });
  }

  #releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.get(key)?.shift();
      if (next) next();
      else this.#waiters.delete(key);
    };
  }
}
