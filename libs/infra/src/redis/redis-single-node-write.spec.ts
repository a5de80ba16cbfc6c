import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StateInput } from '@risk/domain';
import { TEST_STATE_SETTINGS } from '@test/support/engine-defaults';
import { defaultDefinitions } from '@test/support/state-stream';
import { entitiesFrom } from './redis-entity-states';
import { featureSetPlan, type FeatureSetPlan } from './redis-feature-set.plan';
import { WriteChain, type ChainedWrite } from './redis-single-node-write';
import type { RedisScript } from './redis.client';

/** ARGV positions of WRITE_AND_COMMIT_SCRIPT (0-based here): GROUPS and the expected token. */
const GROUPS = 9;
const EXPECT = 10;
const TRUSTED = 64;
/** A trusted written entity that keeps its key's TTL: group byte 193 to 255. */
const KEPT = 192;

let seq = 0;
function login(user: string, ip: string): StateInput {
  seq++;
  return {
    event: {
      event_id: `e-${seq}`,
      user_id: user,
      event_type: 'login',
      event_time: Date.parse('2026-11-20T10:00:00Z') + seq * 1_000,
      ip_address: ip,
      device_id: undefined,
      location_city: undefined,
      amount: undefined,
    },
    messageId: undefined,
  };
}

function newPlan(): FeatureSetPlan {
  return featureSetPlan(defaultDefinitions(), TEST_STATE_SETTINGS, { keyPrefix: 't:', cluster: false }, { owner: 'o', dedupKeyTtlMs: 1 });
}

/**
 * What the store does for one batch up to the script's arguments: every entity not cached is read (absent here),
 * the read anchored at `anchor` when given.
 */
function compute(chain: WriteChain, plan: FeatureSetPlan, inputs: StateInput[], anchor?: string): ChainedWrite {
  const units = plan.entities.unitsOf(inputs);
  const slots = plan.entities.slotsOf(units, 'p/0');
  const reads = plan.entities.entityReads(slots, true);
  const read = entitiesFrom(
    reads.keys,
    reads.keys.map((keys) => keys.map(() => null)),
    0,
    false,
  );
  const ids = inputs.map((input) => input.event.event_id);
  const acceptance = plan.ledger.accept(inputs, ids, { max: undefined, version: 0, records: ids.map(() => null), head: [] }, new Map());
  const work = { features: inputs.map(() => plan.empty.slice()), redelivered: new Set<number>() };
  return chain.compute(plan, inputs, acceptance, slots, anchor === undefined ? read : { ...read, anchor }, work, 0);
}

/** Which of the write's entities are flagged trusted (skipped when the token holds). */
function trusted(write: ChainedWrite): boolean[] {
  const groups = write.args[GROUPS] as Buffer;
  return [...groups].map((g) => (g & TRUSTED) !== 0);
}

/** Which of the write's entities keep their key's TTL (when the token holds). */
function keeps(write: ChainedWrite): boolean[] {
  return [...(write.args[GROUPS] as Buffer)].map((g) => g > KEPT);
}

function answering(answer: unknown): RedisScript {
  return { name: 'write_and_commit', run: () => Promise.resolve(answer) };
}

describe('WriteChain', () => {
  it('expects no token at first; after a write that checked all, expects its token with "!" and trusts what it wrote', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    const first = compute(chain, plan, [login('u-1', '10.0.0.1')]);
    assert.equal(first.args[EXPECT], '');
    assert.deepEqual(trusted(first), [false, false]);
    assert.equal(await chain.run(answering('CHECKED'), [], first), 'OK');

    const second = compute(chain, plan, [login('u-1', '10.0.0.1')]);
    assert.equal(second.args[EXPECT], `${first.token}!`);
    assert.deepEqual(trusted(second), [true, true]);
    assert.equal(await chain.run(answering('OK'), [], second), 'OK');
    assert.equal(compute(chain, plan, [login('u-1', '10.0.0.1')]).args[EXPECT], second.token);
  });

  it('any answer but OK ends the epoch: nothing is trusted, and the token is unknown after a conflict or an error', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    await chain.run(answering('CHECKED'), [], compute(chain, plan, [login('u-2', '10.0.0.2')]));
    const refused = compute(chain, plan, [login('u-2', '10.0.0.2')]);
    assert.deepEqual(trusted(refused), [true, true]);
    assert.deepEqual(await chain.run(answering([1]), [], refused), [1]);
    const after = compute(chain, plan, [login('u-2', '10.0.0.2')]);
    assert.equal(after.args[EXPECT], '');
    assert.deepEqual(trusted(after), [false, false]);
    const failing: RedisScript = { name: 'write_and_commit', run: () => Promise.reject(new Error('down')) };
    await assert.rejects(chain.run(failing, [], after), /down/);
    assert.equal(compute(chain, plan, [login('u-2', '10.0.0.2')]).args[EXPECT], '');
  });

  it('a write that checked all while a later one is on its way leaves the expected token to that later one', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    const earlier = compute(chain, plan, [login('u-3', '10.0.0.3')]);
    const later = compute(chain, plan, [login('u-4', '10.0.0.4')]);
    assert.equal(later.args[EXPECT], earlier.token);
    await chain.run(answering('CHECKED'), [], earlier);
    // The later write expects `earlier.token`, which the key does not hold: it will check all and answer CHECKED.
    const meanwhile = compute(chain, plan, [login('u-3', '10.0.0.3')]);
    assert.equal(meanwhile.args[EXPECT], later.token);
    await chain.run(answering('CHECKED'), [], later);
    await chain.run(answering('CHECKED'), [], meanwhile);
    const next = compute(chain, plan, [login('u-3', '10.0.0.3')]);
    assert.equal(next.args[EXPECT], `${meanwhile.token}!`);
    assert.deepEqual(trusted(next), [true, true]);
  });

  it('trusts what a read found only when the read found the expected token and no write was computed since', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    await chain.run(answering('CHECKED'), [], compute(chain, plan, [login('u-5', '10.0.0.5')]));
    const anchored = compute(chain, plan, [login('u-6', '10.0.0.6')], chain.anchor());
    assert.deepEqual(trusted(anchored), [true, true]);
    await chain.run(answering('OK'), [], anchored);

    const anchor = chain.anchor();
    compute(chain, plan, [login('u-7', '10.0.0.7')]);
    assert.deepEqual(trusted(compute(chain, plan, [login('u-8', '10.0.0.8')], anchor)), [false, false]);
  });

  it('stops trusting a written entity once its TTL may be near; an absent key only read stays trusted', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    const logout = login('u-9', '10.0.0.9');
    const read = compute(chain, plan, [{ ...logout, event: { ...logout.event, event_type: 'logout' } }]);
    await chain.run(answering('CHECKED'), [], read);
    const written = compute(chain, plan, [login('u-9', '10.0.0.9')]);
    // Absent keys only read cannot expire: trusted.
    assert.deepEqual(trusted(written), [true, true]);
    await chain.run(answering('OK'), [], written);
    written.entities[0].trustUntil = Date.now() - 1;
    assert.deepEqual(trusted(compute(chain, plan, [login('u-9', '10.0.0.9')])), [false, true]);
  });

  it('keeps the TTL only of keys it refreshed itself in this epoch, within the keep window', async () => {
    const chain = new WriteChain('t:write-token');
    const plan = newPlan();
    // A login writes the user and only checks the IP (no feature of the IP counts logins).
    const first = compute(chain, plan, [login('u-10', '10.0.0.10')]);
    assert.deepEqual(keeps(first), [false, false]);
    await chain.run(answering('CHECKED'), [], first);
    const user = first.entities[0];
    const ip = first.entities[1];
    assert.ok(user.keepTtlUntil > Date.now(), 'the written user was refreshed');
    assert.equal(ip.keepTtlUntil, 0, 'the IP was only checked');

    const second = compute(chain, plan, [login('u-10', '10.0.0.10')]);
    assert.deepEqual(keeps(second), [true, false]);
    const refreshed = user.keepTtlUntil;
    await chain.run(answering('OK'), [], second);
    assert.equal(user.keepTtlUntil, refreshed, 'a write that keeps the TTL does not extend the window');

    user.keepTtlUntil = Date.now() - 1;
    const late = compute(chain, plan, [login('u-10', '10.0.0.10')]);
    assert.deepEqual(keeps(late), [false, false], 'past the window: refreshed');
    assert.ok(user.keepTtlUntil > Date.now());
    // Another writer wrote meanwhile: this call checked all (and refreshed the user's TTL, as every checking call does).
    await chain.run(answering('CHECKED'), [], late);
    assert.deepEqual(keeps(compute(chain, plan, [login('u-10', '10.0.0.10')])), [true, false]);

    const refused = compute(chain, plan, [login('u-11', '10.0.0.10')]);
    await chain.run(answering([1]), [], refused);
    assert.deepEqual(keeps(compute(chain, plan, [login('u-10', '10.0.0.10')])), [false, false], 'a new epoch keeps nothing');
  });
});
