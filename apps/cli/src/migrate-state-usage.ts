/** Apart from migrate-state.command.ts: the usage text must not load the Redis client (main.ts imports it eagerly). */
export const MIGRATE_STATE_USAGE =
  'usage: risk-engine migrate-state --redis redis://host:port | --redis-cluster host:port,... [--key-prefix risk:] [--rules <dir>] [--discard]';
