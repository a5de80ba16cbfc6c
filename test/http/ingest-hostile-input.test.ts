import { strict as assert } from 'node:assert';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { startEngine, type RunningEngine } from '@risk/engine/bootstrap';
import { quietLogger, testConfig } from '@test/support/engine-process';
import { rawRequest, type RawResponse } from '@test/support/raw-http';

const TIME = '2026-11-20T10:00:00Z';

function eventJson(id: string, user = 'hostile-user'): string {
  return JSON.stringify({ event_id: id, user_id: user, event_type: 'login', event_time: TIME });
}

describe('POST /events with hostile bodies', () => {
  let engine: RunningEngine;
  const post = (
    body: Buffer | string,
    headers: Record<string, string> = { 'content-type': 'application/x-ndjson' },
  ): Promise<RawResponse> => rawRequest(engine.url, 'POST', '/events', body, headers);
  const verdictStatus = async (id: string): Promise<number> => (await rawRequest(engine.url, 'GET', `/verdicts/${id}`, undefined)).status;

  before(async () => {
    engine = await startEngine(testConfig(), quietLogger());
  });
  after(async () => engine.close());

  it('answers 415 naming an unknown charset, never a retriable 500', async () => {
    const response = await post(eventJson('cs-1'), { 'content-type': 'text/plain; charset=foobar' });
    assert.equal(response.status, 415, response.text);
    assert.equal(response.body.error, 'UNSUPPORTED_CHARSET');
    assert.equal(response.body.retriable, false);
    assert.match(response.body.message as string, /foobar/);
    assert.equal(await verdictStatus('cs-1'), 404);
    // UTF-8 spelled either way is fine.
    assert.equal((await post(eventJson('cs-2'), { 'content-type': 'application/json; charset=UTF-8' })).status, 200);
  });

  it('answers 415 naming an unknown content-encoding', async () => {
    const response = await post(eventJson('ce-1'), { 'content-type': 'application/json', 'content-encoding': 'snappy' });
    assert.equal(response.status, 415, response.text);
    assert.equal(response.body.error, 'UNSUPPORTED_CONTENT_ENCODING');
    assert.match(response.body.message as string, /snappy/);
  });

  it('answers 400 for a corrupt or truncated gzip body, and takes a good one', async () => {
    const corrupt = await post(Buffer.from('this is not gzip at all'), { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(corrupt.status, 400, corrupt.text);
    assert.equal(corrupt.body.error, 'INVALID_CONTENT_ENCODING');
    assert.equal(corrupt.body.retriable, false);
    const zipped = gzipSync(eventJson('gz-1'));
    const truncated = await post(zipped.subarray(0, zipped.length - 12), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    assert.equal(truncated.status, 400, truncated.text);
    assert.equal(await verdictStatus('gz-1'), 404);
    const good = await post(zipped, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    assert.equal(good.status, 200, good.text);
  });

  it('refuses invalid UTF-8 instead of reading it as U+FFFD, naming the line', async () => {
    const bad = Buffer.concat([
      Buffer.from('{"event_id":"utf-1","user_id":"u-'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from(`","event_type":"login","event_time":"${TIME}"}`),
    ]);
    const single = await post(bad, { 'content-type': 'application/json' });
    assert.equal(single.status, 400, single.text);
    assert.deepEqual(single.body.errors, [{ path: '$', message: 'not valid UTF-8' }]);
    const batch = await post(Buffer.concat([Buffer.from(eventJson('utf-2') + '\n' + eventJson('utf-3') + '\n'), bad, Buffer.from('\n')]));
    assert.equal(batch.status, 400, batch.text);
    assert.deepEqual(batch.body.errors, [{ path: 'line 3: $', message: 'not valid UTF-8' }]);
    assert.equal(await verdictStatus('utf-1'), 404);
    assert.equal(await verdictStatus('utf-2'), 404, 'all or nothing');
  });

  it('names line 1,501 of a 2,000-line body whose line 1,501 is garbage', async () => {
    const lines = Array.from({ length: 2000 }, (_, i) => (i === 1500 ? 'garbage' : eventJson(`bulk-garbage-${i}`)));
    const response = await post(lines.join('\n') + '\n');
    assert.equal(response.status, 400, response.text.slice(0, 300));
    assert.equal(response.body.errors.length, 1);
    assert.equal(response.body.errors[0].path, 'line 1501: $');
    assert.match(response.body.errors[0].message as string, /not valid JSON/);
    assert.equal(await verdictStatus('bulk-garbage-0'), 404);
  });

  it('still takes a pretty-printed single event and a body starting with a BOM', async () => {
    const pretty = JSON.stringify(JSON.parse(eventJson('pretty-1')), null, 2);
    assert.equal((await post(pretty, { 'content-type': 'application/json' })).status, 200);
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(eventJson('bom-1') + '\n' + eventJson('bom-2') + '\n')]);
    const response = await post(withBom);
    assert.equal(response.status, 200, response.text);
    assert.deepEqual(
      response.body.results.map((r: { event_id: string }) => r.event_id),
      ['bom-1', 'bom-2'],
    );
  });

  it('keeps the bad lines of a refused body in GET /rejects and the rejects metric', async () => {
    const rejectedBefore = rejectedCount(await metricsText(engine.url));
    const totalBefore = (await rawRequest(engine.url, 'GET', '/rejects', undefined)).body.total as number;
    const response = await post([eventJson('rj-ok'), '{"event_id":"rj-bad","user_id":"u"}', 'nope'].join('\n'));
    assert.equal(response.status, 400);
    assert.deepEqual(
      response.body.errors.map((e: { path: string }) => e.path),
      ['line 2: event_type', 'line 2: event_time', 'line 3: $'],
    );
    const rejects = (await rawRequest(engine.url, 'GET', '/rejects?limit=2', undefined)).body;
    assert.equal(rejects.total, totalBefore + 2);
    assert.deepEqual(
      rejects.items.map((r: { source: unknown; raw: string; stage: string }) => [r.source, r.raw, r.stage]),
      [
        [{ line: 3 }, 'nope', 'validation'],
        [{ line: 2 }, '{"event_id":"rj-bad","user_id":"u"}', 'validation'],
      ],
    );
    assert.equal(rejectedCount(await metricsText(engine.url)), rejectedBefore + 2);
    assert.equal(await verdictStatus('rj-ok'), 404, 'the good line of a refused body is not applied');
  });
});

async function metricsText(url: string): Promise<string> {
  return (await rawRequest(url, 'GET', '/metrics', undefined)).text;
}

function rejectedCount(metrics: string): number {
  const match = /risk_engine_events_total\{outcome="rejected",source="http"\} (\d+)/.exec(metrics);
  return match === null ? 0 : Number(match[1]);
}
