import type { Subscription } from './adapter.js';

/** The subscriptions an adapter has open, so that `close()` stops every one, each exactly once. */
export class OpenSubscriptions {
  private readonly open = new Set<Subscription>();

  /** Registers a subscription by how to stop it; returns the handle for the caller. */
  track(stop: () => Promise<void>): Subscription {
    let stopping: Promise<void> | undefined;
    const handle: Subscription = {
      stop: () => (stopping ??= stop().finally(() => this.open.delete(handle))),
    };
    this.open.add(handle);
    return handle;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.open].map((subscription) => subscription.stop()));
  }
}
