import { runGenerate, GENERATE_USAGE } from './generate.command';
import { runReplay, REPLAY_USAGE } from './replay.command';
import { runBacktest, BACKTEST_USAGE } from './backtest.command';
import { REPLAY_CLEAN_USAGE, type StateFactory } from './replay-state';
import { MIGRATE_STATE_USAGE } from './migrate-state-usage';

// `replay --state` and `replay-clean` load the Redis client (~40 ms of start-up) only when they need it.
const redisStateFactory: StateFactory = async (url, features, settings) =>
  (await import('./redis-state')).redisStateFactory(url, features, settings);

const USAGE = `risk-engine <command>

commands:
  replay     run the engine over an NDJSON file of events: one verdict per event
             ${REPLAY_USAGE}
  backtest   run two rule set versions (rules folders or stored versions) over one NDJSON file in one pass and
             compare them: hits per rule, risk level changes, alerts added and removed, precision and recall
             with labels (docs/backtest.md)
             ${BACKTEST_USAGE}
  generate   print a seeded, realistic event stream as NDJSON
             ${GENERATE_USAGE}
  replay-clean  delete the Redis keys a failed \`replay --state\` could not delete (it prints this command)
             ${REPLAY_CLEAN_USAGE}
  migrate-state  convert the Redis feature state of the old (generated-Lua) layout, or drop it with --discard;
             the engine refuses to start until this is done (docs/redis.md, "Upgrading from the Lua layout")
             ${MIGRATE_STATE_USAGE}
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, stdinFd: 0 };
  switch (command) {
    case 'replay':
      return runReplay(rest, io, redisStateFactory);
    case 'backtest':
      return runBacktest(rest, io);
    case 'replay-clean':
      return (await import('./redis-state')).runReplayClean(rest, io);
    case 'generate':
      return runGenerate(rest, io);
    case 'migrate-state':
      return (await import('./migrate-state.command')).runMigrateState(rest, io);
    case undefined:
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // The command is over: a connection some library failed to close must not keep the process alive.
    // Unref'd, so a clean exit never waits for it.
    setTimeout(() => process.exit(code), 5_000).unref();
  },
  (error: unknown) => {
    process.stderr.write(`risk-engine: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
