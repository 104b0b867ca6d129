/** Promises waiting for a state (Client.ready(), Subscription.ready()), each with its own timeout. */
export class Waiters {
  private readonly list: { resolve: () => void; reject: (e: Error) => void }[] = [];

  wait(timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.list.indexOf(entry);
        if (i >= 0) this.list.splice(i, 1);
        reject(new Error(`${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const entry = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.list.push(entry);
    });
  }

  resolveAll(): void {
    for (const w of this.list.splice(0)) w.resolve();
  }

  rejectAll(error: Error): void {
    for (const w of this.list.splice(0)) w.reject(error);
  }
}
