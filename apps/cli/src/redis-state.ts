import type { StateFactory } from './replay.command';

/** `--state redis://…`: wired once the Redis feature store lands. */
export const redisStateFactory: StateFactory | undefined = undefined;
