import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectionWatch } from './redis-watch-session';

describe('ConnectionWatch', () => {
  it('opens one session at a time; its EXEC ends it and the next one needs no UNWATCH', () => {
    const watch = new ConnectionWatch();
    const first = watch.begin();
    assert.ok(first !== undefined && !first.unwatch);
    assert.equal(watch.begin(), undefined);
    assert.ok(watch.intact(first.session));
    watch.executed(first.session);
    assert.ok(!watch.intact(first.session));
    const second = watch.begin();
    assert.ok(second !== undefined && !second.unwatch);
  });

  it('a session ended without EXEC leaves the next one an UNWATCH to send first', () => {
    const watch = new ConnectionWatch();
    const first = watch.begin()!;
    watch.abandon(first.session);
    const second = watch.begin()!;
    assert.ok(second.unwatch && watch.intact(second.session));
    // Abandoning a session that is no longer open changes nothing.
    watch.abandon(first.session);
    assert.ok(watch.intact(second.session));
  });

  it('a closed connection breaks the open session: it is no longer intact, and its EXEC or abandon is ignored', () => {
    const watch = new ConnectionWatch();
    const first = watch.begin()!;
    watch.reset();
    assert.ok(!watch.intact(first.session));
    const second = watch.begin()!;
    assert.ok(!second.unwatch);
    watch.executed(first.session);
    watch.abandon(first.session);
    assert.ok(watch.intact(second.session));
  });
});
