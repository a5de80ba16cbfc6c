import type { RuleDefinition, RuleCondition } from '@risk/domain';
import { SeededRandom } from '@risk/generator';

const FEATURE_THRESHOLDS: ReadonlyArray<[string, number[]]> = [
  ['distinct_devices_1h', [1, 2, 3]],
  ['distinct_cities_1h', [1, 2, 3]],
  ['login_count_1h', [3, 5, 8, 12]],
  ['failed_login_count_1h', [2, 3, 5, 10]],
  ['payment_amount_24h', [500, 1000, 5000, 20000]],
  ['ip_registrations_10m', [5, 10, 20]],
  ['device_distinct_users_24h', [2, 3, 5, 10]],
];

/**
 * The shipped rules plus realistic variants (thresholds on every feature,
 * event-type and amount conditions, nested any/not, some shadow rules) up
 * to `count` rules: the "50 rules" of the benchmark targets.
 */
export function benchRules(shipped: readonly RuleDefinition[], count: number, seed = 50): RuleDefinition[] {
  const random = new SeededRandom(seed);
  const rules: RuleDefinition[] = [...shipped];
  while (rules.length < count) {
    const i = rules.length;
    const [fact, thresholds] = random.pick(FEATURE_THRESHOLDS);
    const leaf: RuleCondition = { fact, operator: random.pick(['greaterThan', 'greaterThanInclusive']), value: random.pick(thresholds) };
    const extra: RuleCondition[] = [];
    if (random.chance(0.5))
      extra.push({ fact: 'event_type', operator: 'in', value: random.chance(0.5) ? ['login', 'payment'] : ['register'] });
    if (random.chance(0.3))
      extra.push({
        any: [
          { fact: 'device_changed', operator: 'equal', value: true },
          { fact: 'city_changed', operator: 'equal', value: true },
        ],
      });
    if (random.chance(0.3)) extra.push({ not: { fact: 'amount', operator: 'lessThan', value: random.pick([50, 200, 1000]) } });
    if (random.chance(0.2)) extra.push({ fact: 'location_city', operator: 'notIn', value: ['Paris', 'Lyon'] });
    rules.push({
      id: `bench-${String(i).padStart(2, '0')}-${fact}`,
      name: `benchmark rule ${i} on ${fact}`,
      enabled: random.chance(0.95),
      mode: random.chance(0.2) ? 'shadow' : 'active',
      priority: random.int(1, 20),
      conditions: { all: [leaf, ...extra] },
      event: {
        type: 'risk',
        params: {
          risk_level: random.pick(['LOW', 'MEDIUM', 'HIGH'] as const),
          score: random.int(5, 60),
          reason: `${fact} above threshold`,
        },
      },
    });
  }
  return rules;
}
