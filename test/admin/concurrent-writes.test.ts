import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningEngine } from '@risk/engine/bootstrap';
import { rawRequest, type RawResponse } from '@test/support/raw-http';
import { TestRedisServer } from '../support/redis-server';
import { API_KEYS, bigPaymentRule, EDITOR_KEY, startTestEngine, tempDir } from './admin-support';

const WRITERS = 20;

function write(
  engine: RunningEngine,
  method: string,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  return rawRequest(engine.url, method, path, JSON.stringify(body), {
    'x-api-key': EDITOR_KEY,
    'content-type': 'application/json',
    ...headers,
  });
}

async function activeRules(engine: RunningEngine): Promise<{ version: number; ids: string[] }> {
  const body = (await rawRequest(engine.url, 'GET', '/rules', undefined, { 'x-api-key': EDITOR_KEY })).body;
  return { version: body.version as number, ids: (body.rules as { id: string }[]).map((r) => r.id) };
}

/**
 * 20 rule creations at once without a base version, spread over `engines`:
 * each asked for "apply to whatever is active", so each must succeed, with
 * its own version, and no rule may be lost.
 */
async function concurrentUnbasedCreates(engines: readonly RunningEngine[], prefix: string): Promise<void> {
  const before = await activeRules(engines[0]);
  const responses = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) =>
      write(engines[i % engines.length], 'POST', '/rules', bigPaymentRule({ id: `${prefix}-${i}` })),
    ),
  );
  assert.deepEqual(
    responses.map((r) => r.status),
    Array.from({ length: WRITERS }, () => 201),
    JSON.stringify(responses.filter((r) => r.status !== 201).map((r) => r.body)),
  );
  const versions = responses.map((r) => r.body.version as number).sort((a, b) => a - b);
  assert.deepEqual(
    versions,
    Array.from({ length: WRITERS }, (_, i) => before.version + 1 + i),
  );
  const after = await activeRules(engines[0]);
  assert.equal(after.version, before.version + WRITERS);
  for (let i = 0; i < WRITERS; i++) assert.ok(after.ids.includes(`${prefix}-${i}`), `${prefix}-${i} kept`);
}

/** The same 20 writes, all based on one version: exactly one wins, the others are told they are stale. */
async function concurrentBasedWrites(engines: readonly RunningEngine[], prefix: string): Promise<void> {
  const { version } = await activeRules(engines[0]);
  const responses = await Promise.all(
    Array.from({ length: WRITERS }, (_, i) =>
      write(engines[i % engines.length], 'POST', `/rules/${prefix}-${i}/disable`, {}, { 'if-match': `"${version}"` }),
    ),
  );
  assert.equal(responses.filter((r) => r.status === 200).length, 1);
  assert.equal(responses.filter((r) => r.status === 409 && r.body.error === 'STALE_WRITE').length, WRITERS - 1);
  assert.equal((await activeRules(engines[0])).version, version + 1);
}

describe('concurrent admin writes on the embedded file store', () => {
  const data = tempDir('risk-concurrent-file-');
  let engine: RunningEngine;
  before(async () => {
    engine = await startTestEngine({ DATA_DIR: data.path, API_KEYS });
  });
  after(async () => {
    await engine.close();
    data.remove();
  });

  it('applies 20 concurrent writes without a base version serially, none refused', async () => {
    await concurrentUnbasedCreates([engine], 'file');
  });

  it('refuses all but one of 20 concurrent writes based on the same version', async () => {
    await concurrentBasedWrites([engine], 'file');
  });
});

describe('concurrent admin writes on Redis from two instances', () => {
  const data = tempDir('risk-concurrent-redis-');
  let redis: TestRedisServer;
  const engines: RunningEngine[] = [];
  before(async () => {
    redis = await TestRedisServer.start();
    const env = (i: number): Record<string, string> => ({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'concurrent-writes:',
      DATA_DIR: join(data.path, `e${i}`),
      API_KEYS,
    });
    engines.push(await startTestEngine(env(0)));
    engines.push(await startTestEngine(env(1)));
  });
  after(async () => {
    for (const engine of engines) await engine.close();
    await redis.dispose();
    data.remove();
  });

  it('applies 20 concurrent writes without a base version, spread over both instances, none refused', async () => {
    await concurrentUnbasedCreates(engines, 'redis');
  });

  it('refuses all but one of 20 concurrent writes based on the same version', async () => {
    await concurrentBasedWrites(engines, 'redis');
  });
});
