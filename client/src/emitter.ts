/** A small typed emitter (no node:events: the SDK runs in browsers too). */
type Listener = (arg: unknown) => void;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export class Emitter<Events extends { [K in keyof Events]: (arg: any) => void }> {
  private readonly listeners = new Map<keyof Events, Listener[]>();

  on<E extends keyof Events>(event: E, listener: Events[E]): this {
    const list = this.listeners.get(event);
    if (list === undefined) this.listeners.set(event, [listener as unknown as Listener]);
    else list.push(listener as unknown as Listener);
    return this;
  }

  off<E extends keyof Events>(event: E, listener: Events[E]): this {
    const list = this.listeners.get(event);
    if (list !== undefined) {
      const i = list.indexOf(listener as unknown as Listener);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  once<E extends keyof Events>(event: E, listener: Events[E]): this {
    const wrapped = ((arg: unknown) => {
      this.off(event, wrapped as Events[E]);
      (listener as unknown as Listener)(arg);
    }) as unknown as Events[E];
    return this.on(event, wrapped);
  }

  protected emit<E extends keyof Events>(event: E, arg: Parameters<Events[E]>[0]): void {
    const list = this.listeners.get(event);
    if (list === undefined) return;
    for (const f of [...list]) {
      try {
        f(arg);
      } catch {
        // a listener's bug must not break the client's state machine
      }
    }
  }
}
