import { runGenerate, GENERATE_USAGE } from './generate.command';
import { runReplay, REPLAY_USAGE } from './replay.command';
import { redisStateFactory } from './redis-state';

const USAGE = `risk-engine <command>

commands:
  replay     run the engine over an NDJSON file of events (backtest)
             ${REPLAY_USAGE}
  generate   print a seeded, realistic event stream as NDJSON
             ${GENERATE_USAGE}
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const io = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
  switch (command) {
    case 'replay':
      return runReplay(rest, io, redisStateFactory);
    case 'generate':
      return runGenerate(rest, io);
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
  },
  (error: unknown) => {
    process.stderr.write(`risk-engine: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
