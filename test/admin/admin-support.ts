import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import type request from 'supertest';
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

/** What supertest's `request` takes: an engine's HTTP server. */
export type HttpServer = Parameters<typeof request>[0];

export interface SuiteEngine {
  readonly engine: RunningEngine;
  readonly http: HttpServer;
  readonly dataDir: string;
  /** Closes the engine and starts it again on the same DATA_DIR. */
  restart(): Promise<void>;
}

/**
 * An embedded engine (the test API keys, a DATA_DIR of its own) for the
 * suite it is called in: started before its tests, closed and its data
 * removed after them.
 */
export function embeddedEngineForSuite(dataPrefix: string): SuiteEngine {
  const data = tempDir(dataPrefix);
  let running: RunningEngine | undefined;
  before(async () => {
    running = await startTestEngine({ DATA_DIR: data.path, API_KEYS });
  });
  after(async () => {
    await running?.close();
    data.remove();
  });
  return {
    get engine() {
      if (running === undefined) throw new Error('the engine starts in the suite’s before hook');
      return running;
    },
    get http() {
      return this.engine.app.getHttpServer() as HttpServer;
    },
    dataDir: data.path,
    async restart() {
      await running?.close();
      running = undefined;
      running = await startTestEngine({ DATA_DIR: data.path, API_KEYS });
    },
  };
}

/** One admin or data call to an engine process over HTTP, as `key` (the editor by default). */
export async function call(
  url: string,
  method: string,
  path: string,
  body?: unknown,
  key = EDITOR_KEY,
): Promise<{ status: number; body: any }> {
  const response = await fetch(url + path, {
    method,
    headers: { 'x-api-key': key, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
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
