import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';

/** Configuration for an in-process engine on a free port, with its own data directory. */
export function testConfig(env: Record<string, string> = {}): EngineConfig {
  return loadConfig({
    PORT: '0',
    RULES_DIR: join(process.cwd(), 'rules'),
    DATA_DIR: mkdtempSync(join(tmpdir(), 'risk-data-')),
    LOG_LEVEL: 'warn',
    ...env,
  });
}

/** Keeps test output readable: engine logs are collected, not printed. */
export function quietLogger(lines: string[] = []): JsonLogger {
  return new JsonLogger('warn', 'test', (line) => lines.push(line));
}

/** Path of the compiled repo file `relative` (e.g. `bin/risk-engine.js` lives in the repo, not dist). */
export function repoPath(...parts: string[]): string {
  return join(process.cwd(), ...parts);
}
