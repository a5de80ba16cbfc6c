import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The shipped feature set (rules/features.json), as the admin API answers it. */
export const SHIPPED = JSON.parse(readFileSync(join(process.cwd(), 'rules', 'features.json'), 'utf8')) as {
  features: { name: string; window?: string }[];
};
/** A feature the shipped set lacks, keyed on another entity. */
export const IP_LOGINS = { name: 'ip_logins_1h', entity: 'ip_address', aggregate: 'count', event_types: ['login'], window: '1h' };
/** The one change the feature tests make: no failed_login_count_1h (no rule names it), payment_amount_24h over 1 h, and an IP feature. */
export const CHANGED = [
  ...SHIPPED.features
    .filter((f) => f.name !== 'failed_login_count_1h')
    .map((f) => (f.name === 'payment_amount_24h' ? { ...f, window: '1h' } : f)),
  IP_LOGINS,
];
