import type { RuleSetStore } from '@risk/domain/rules/lifecycle';
import type { OpenedRuleSetStore } from '@risk/infra/wiring/open-rule-set-store';

/** Injection token for the opened rule set store (openRuleSetStore): the store, and what closes it. */
export abstract class OpenedRuleSets implements OpenedRuleSetStore {
  abstract readonly store: RuleSetStore;
  abstract readonly backend: OpenedRuleSetStore['backend'];
  abstract close(): Promise<void>;
}
