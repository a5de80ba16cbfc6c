import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { DependencyUnavailableError, RiskEngineError, isRetriable } from '@risk/domain';
import { freePort } from '@test/support/redis-server';
import { ElasticsearchClient, EsResponseError, isMissingIndex } from './elasticsearch.client';

describe('Elasticsearch client errors', () => {
  it('codes an error status: 429 and 5xx retriable, other statuses refused for good', () => {
    for (const status of [429, 500, 503]) {
      const error = new EsResponseError(status, 'es_rejected_execution_exception', 'busy');
      assert.ok(error instanceof RiskEngineError);
      assert.equal(error.code, 'ELASTICSEARCH_UNAVAILABLE');
      assert.equal(isRetriable(error), true, String(status));
    }
    for (const status of [400, 401, 404, 413]) {
      const error = new EsResponseError(status, 'x', undefined);
      assert.equal(error.code, 'ELASTICSEARCH_REFUSED');
      assert.equal(isRetriable(error), false, String(status));
    }
    assert.deepEqual(new EsResponseError(404, 'index_not_found_exception', 'no such index').details, {
      dependency: 'elasticsearch',
      statusCode: 404,
      type: 'index_not_found_exception',
    });
  });

  it('tells a missing index from other 404s', () => {
    assert.equal(isMissingIndex(new EsResponseError(404, 'index_not_found_exception', undefined)), true);
    assert.equal(isMissingIndex(new EsResponseError(404, 'resource_not_found_exception', undefined)), false);
    assert.equal(isMissingIndex(new EsResponseError(400, 'index_not_found_exception', undefined)), false);
    assert.equal(isMissingIndex(new Error('index_not_found_exception')), false);
  });

  it('maps no answer at all to a retriable DependencyUnavailableError', async () => {
    const client = new ElasticsearchClient({ node: `http://127.0.0.1:${await freePort()}`, requestTimeoutMs: 2_000, maxRetries: 0 });
    try {
      await assert.rejects(
        client.search('risk-verdicts', { query: { match_all: {} } }),
        (error: unknown) => error instanceof DependencyUnavailableError && error.code === 'ELASTICSEARCH_UNAVAILABLE' && error.retriable,
      );
    } finally {
      await client.close();
    }
  });
});
