import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from './engine-config';

describe('loadConfig: MAX_EVENT_TIME_SKEW', () => {
  it('defaults to 5 minutes and reads a duration', () => {
    assert.equal(loadConfig({}).maxEventTimeSkewMs, 5 * 60_000);
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '90s' }).maxEventTimeSkewMs, 90_000);
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '0' }).maxEventTimeSkewMs, 0);
  });

  it('refuses a skew above the allowed lateness: one event could then make on-time events late', () => {
    assert.throws(
      () => loadConfig({ MAX_EVENT_TIME_SKEW: '2d' }),
      (error: unknown) => error instanceof ConfigError && /MAX_EVENT_TIME_SKEW: must not exceed ALLOWED_LATENESS/.test(error.message),
    );
    assert.equal(loadConfig({ MAX_EVENT_TIME_SKEW: '30m', ALLOWED_LATENESS: '1h' }).maxEventTimeSkewMs, 30 * 60_000);
    assert.throws(() => loadConfig({ MAX_EVENT_TIME_SKEW: 'soon' }), /MAX_EVENT_TIME_SKEW: invalid duration/);
  });
});
