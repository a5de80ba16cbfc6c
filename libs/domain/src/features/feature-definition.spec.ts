import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { parseFieldDeclarations } from '../events/declared-fields';
import { InvalidInputError } from '../shared/errors';
import { MAX_ENTITY_KEYS, parseFeatureDefinitions } from './feature-definition';
import { featureId } from './entity-features';

const DECLARED = parseFieldDeclarations({
  fields: [
    { name: 'card_id', type: 'string' },
    { name: 'channel', type: 'string' },
    { name: 'risk_score', type: 'number' },
    { name: 'is_vip', type: 'boolean' },
  ],
});

function errorsOf(features: unknown[]): string[] {
  try {
    parseFeatureDefinitions({ features }, DECLARED);
  } catch (error) {
    assert.ok(error instanceof InvalidInputError);
    return error.errors.map((f) => `${f.path}: ${f.message}`);
  }
  return [];
}

describe('parseFeatureDefinitions: declared fields, where, new aggregates, composite keys', () => {
  it('accepts declared fields as entity, field and filter, and every aggregate', () => {
    const definitions = parseFeatureDefinitions(
      {
        features: [
          { name: 'a', entity: 'card_id', aggregate: 'min', field: 'risk_score', window: '1h' },
          { name: 'b', entity: ['user_id', 'card_id'], aggregate: 'since_last', window: '1h' },
          { name: 'c', entity: 'user_id', aggregate: 'first_seen_age', window: '30d', where: [{ field: 'is_vip', equals: true }] },
          { name: 'd', entity: 'user_id', aggregate: 'avg', field: 'amount', window: '1h', where: [{ field: 'channel', in: ['web'] }] },
          { name: 'e', entity: 'card_id', aggregate: 'changed', field: 'channel' },
        ],
      },
      DECLARED,
    );
    assert.deepEqual(
      definitions.map((d) => [d.entity, d.aggregate, d.field]),
      [
        ['card_id', 'min', 'risk_score'],
        ['user_id+card_id', 'since_last', undefined],
        ['user_id', 'first_seen_age', undefined],
        ['user_id', 'avg', 'amount'],
        ['card_id', 'changed', 'channel'],
      ],
    );
    assert.deepEqual(definitions[2].where, [{ field: 'is_vip', values: [true] }]);
  });

  it('names each bad property with its path', () => {
    assert.deepEqual(
      errorsOf([
        { name: 'a', entity: 'risk_score', aggregate: 'count', window: '1h' },
        { name: 'b', entity: 'card_id', aggregate: 'max', field: 'channel', window: '1h' },
        { name: 'c', entity: ['user_id', 'user_id'], aggregate: 'count', window: '1h' },
        { name: 'd', entity: ['user_id', 'is_vip'], aggregate: 'count', window: '1h' },
        { name: 'e', entity: 'user_id', aggregate: 'distinct', field: 'is_vip', window: '1h' },
        { name: 'f', entity: 'user_id', aggregate: 'count', window: '1h', where: [{ field: 'channel', in: ['web', 3] }] },
        { name: 'g', entity: 'user_id', aggregate: 'count', window: '1h', where: [{ field: 'nope', equals: 1 }] },
        { name: 'h', entity: 'user_id', aggregate: 'count', window: '1h', where: [{ field: 'channel', in: ['web'], equals: 'app' }] },
        { name: 'i', entity: 'user_id', aggregate: 'count', window: '1h', where: [] },
        { name: 'j', entity: 'user_id', aggregate: 'since_last' },
        { name: 'k', entity: 'user_id', aggregate: 'first_seen_age', field: 'amount', window: '1h' },
      ]).map((e) => e.split(':')[0]),
      [
        'features[0].entity',
        'features[1].field',
        'features[2].entity',
        'features[3].entity[1]',
        'features[4].field',
        'features[5].where[0].in[1]',
        'features[6].where[0].field',
        'features[7].where[0]',
        'features[8].where',
        'features[9].window',
        'features[10].field',
      ],
    );
  });

  it('keeps the fingerprint of features without where (their stored state stays readable)', () => {
    const [plain] = parseFeatureDefinitions([
      { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
    ]);
    assert.equal(plain.where, undefined);
    assert.equal('where' in plain && plain.where !== undefined, false);
    const [filtered] = parseFeatureDefinitions(
      [
        {
          name: 'login_count_1h',
          entity: 'user_id',
          aggregate: 'count',
          event_types: ['login'],
          window: '1h',
          where: [{ field: 'channel', equals: 'web' }],
        },
      ],
      DECLARED,
    );
    assert.notEqual(featureId(filtered), featureId(plain));
  });
});

describe('parseFeatureDefinitions: entity keys per feature set', () => {
  // 12 string fields give 12 single keys and 66 composites of two: more than MAX_ENTITY_KEYS different entities.
  const fields = Array.from({ length: 12 }, (_, i) => `f${i}`);
  const declared = parseFieldDeclarations({ fields: fields.map((name) => ({ name, type: 'string' })) });
  const entities: (string | string[])[] = [...fields];
  for (let i = 0; i < fields.length; i++) for (let j = i + 1; j < fields.length; j++) entities.push([fields[i], fields[j]]);
  const features = (count: number): unknown[] =>
    entities.slice(0, count).map((entity, i) => ({ name: `n${i}`, entity, aggregate: 'count', window: '1h' }));

  it(`accepts ${MAX_ENTITY_KEYS} different entity keys, and more features on them`, () => {
    const many = [...features(MAX_ENTITY_KEYS), { name: 'again', entity: ['f0', 'f1'], aggregate: 'count', window: '24h' }];
    assert.equal(parseFeatureDefinitions({ features: many }, declared).length, MAX_ENTITY_KEYS + 1);
  });

  it('refuses the first feature that names one entity key too many, at its path', () => {
    try {
      parseFeatureDefinitions({ features: features(MAX_ENTITY_KEYS + 2) }, declared);
      assert.fail('accepted');
    } catch (error) {
      assert.ok(error instanceof InvalidInputError);
      assert.deepEqual(
        error.errors.map((e) => e.path),
        [`features[${MAX_ENTITY_KEYS}].entity`, `features[${MAX_ENTITY_KEYS + 1}].entity`],
      );
      assert.match(error.errors[0].message, /at most 63 different entities/);
    }
  });
});
