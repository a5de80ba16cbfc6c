import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';

export const EDITOR_KEY = 'editor-key-0123456789abcdef';
export const VIEWER_KEY = 'viewer-key-0123456789abcdef';
export const API_KEYS = `alice:editor:${EDITOR_KEY},victor:viewer:${VIEWER_KEY}`;

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** An engine in this process, on a free port, with the shipped rules directory and quiet logs. */
export function startTestEngine(env: Record<string, string>): Promise<RunningEngine> {
  const config = loadConfig({ PORT: '0', RULES_DIR: join(process.cwd(), 'rules'), LOG_LEVEL: 'error', ...env });
  return startEngine(config, new JsonLogger('error', 'test', () => undefined));
}

/** A valid rule that fires on payments above 1000. */
export function bigPaymentRule(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: 'big-payment',
    name: 'Payment above 1000',
    enabled: true,
    mode: 'active',
    priority: 3,
    conditions: {
      all: [
        { fact: 'event_type', operator: 'equal', value: 'payment' },
        { fact: 'amount', operator: 'greaterThan', value: 1000 },
      ],
    },
    event: { type: 'risk', params: { risk_level: 'HIGH', score: 90, reason: 'large payment' } },
    ...overrides,
  };
}

let counter = 0;
export function paymentEvent(amount: number): Record<string, unknown> {
  counter++;
  return { event_id: `pay-${process.pid}-${counter}`, user_id: 'u-1', event_type: 'payment', event_time: new Date().toISOString(), amount };
}
