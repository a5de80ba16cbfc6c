import type { RedisClient, RedisSubscription } from './redis.client';

/**
 * A store's followers of its change channel. Each follower gets its own
 * subscription; it ends on the follower's unsubscribe, or with the rest when
 * the store closes. Messages published while a connection was down are
 * lost, so a reconnection calls the follower with no message: it then
 * re-reads the state it tracks, which is the source of truth anyway.
 */
export class RedisChannelFollowers {
  private readonly subscriptions = new Set<RedisSubscription>();

  constructor(
    private readonly client: RedisClient,
    readonly channel: string,
  ) {}

  async follow(listener: (message: string | undefined) => void): Promise<() => Promise<void>> {
    const subscription = await this.client.subscribe(
      this.channel,
      (message) => listener(message),
      () => listener(undefined),
    );
    this.subscriptions.add(subscription);
    return async () => {
      this.subscriptions.delete(subscription);
      await subscription.close();
    };
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions) await subscription.close();
    this.subscriptions.clear();
  }
}
