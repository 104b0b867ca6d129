/** The platform's online/offline events (browsers; Node has none unless the app passes a target). */
import type { ClientOptions } from './types.ts';

type Target = NonNullable<ClientOptions['networkEventTarget']>;

export class NetworkEvents {
  private readonly target: Target | null;
  private listening = false;

  constructor(
    option: ClientOptions['networkEventTarget'],
    private readonly online: () => void,
    private readonly offline: () => void,
  ) {
    const g = globalThis as { addEventListener?: unknown };
    this.target = option !== undefined ? option : g.addEventListener !== undefined ? (globalThis as unknown as Target) : null;
  }

  listen(on: boolean): void {
    if (this.target === null || on === this.listening) return;
    this.listening = on;
    if (on) {
      this.target.addEventListener('online', this.online);
      this.target.addEventListener('offline', this.offline);
    } else {
      this.target.removeEventListener('online', this.online);
      this.target.removeEventListener('offline', this.offline);
    }
  }
}
