import { formatEventTime } from '../events/event-time';
import type { RiskEvent } from '../events/risk-event';
import type { CompiledRuleSet } from '../rules/rule-compiler';
import { RISK_RANK, type Suppression, type SuppressionKind, type Verdict } from '../verdicts/verdict';
import type { CooldownAnswer, CooldownClaim, CooldownStore } from './cooldown-store';
import { MemoryCooldownStore } from './memory-cooldown.store';
import { cooldownOf } from './rule-cooldown';
import { SnoozeBook, entityValue, type Snooze } from './snooze';

/** A verdict that would alert, with its event (the entity values come from the event). */
export interface AlertCandidate {
  readonly event: RiskEvent;
  readonly verdict: Verdict;
}

interface Cooldown {
  readonly key: string;
  readonly durationMs: number;
  readonly duration: string;
}

/** Why one alerting rule is held back. */
type Hold =
  | { readonly kind: 'snooze'; readonly ruleId: string; readonly snooze: Snooze }
  | {
      readonly kind: 'cooldown';
      readonly ruleId: string;
      readonly claim: CooldownClaim;
      readonly cooldown: Cooldown;
      answer?: CooldownAnswer;
    };

/**
 * Decides which alerts are suppressed (docs/suppression.md). An alert is
 * suppressed when every active fired rule at or above the alert threshold is
 * held back: snoozed for the event's entity, or on cooldown for it. Rules
 * below the threshold cannot raise the alert and do not count. A published
 * alert starts the cooldown of each of its alerting rules that has one and
 * is not snoozed, unless it is already running; a suppressed one starts none.
 * Cooldowns run on event time (replays are deterministic); snoozes on the
 * wall clock (`now`).
 */
export class AlertSuppressor {
  private readonly cooldownsByRuleSet = new WeakMap<CompiledRuleSet, ReadonlyMap<string, Cooldown>>();

  constructor(
    readonly cooldowns: CooldownStore = new MemoryCooldownStore(),
    readonly snoozes: SnoozeBook = new SnoozeBook(),
  ) {}

  /**
   * One answer per candidate: the suppression, or undefined when the alert
   * goes out. `alertRank`: RISK_RANK of ALERT_THRESHOLD; `now`: wall clock.
   */
  async review(
    ruleSet: CompiledRuleSet,
    candidates: readonly AlertCandidate[],
    alertRank: number,
    now: number,
  ): Promise<(Suppression | undefined)[]> {
    const cooldowns = this.cooldownsOf(ruleSet);
    const none = new Array<Suppression | undefined>(candidates.length).fill(undefined);
    if (cooldowns.size === 0 && this.snoozes.size === 0) return none;

    // Per candidate: the holds of its alerting rules, or undefined when one of them alerts regardless.
    const holds: (Hold[] | undefined)[] = [];
    const claims: CooldownClaim[] = [];
    const claimHolds: Extract<Hold, { kind: 'cooldown' }>[] = [];
    for (const { event, verdict } of candidates) {
      let held: Hold[] | undefined = [];
      for (const rule of verdict.rules) {
        if (RISK_RANK[rule.risk_level] < alertRank) continue;
        const snooze = this.snoozes.find(rule.id, event, now);
        if (snooze !== undefined) {
          held?.push({ kind: 'snooze', ruleId: rule.id, snooze });
          continue;
        }
        const cooldown = cooldowns.get(rule.id);
        const value = cooldown === undefined ? undefined : entityValue(event, cooldown.key);
        if (cooldown === undefined || value === undefined) {
          // This rule alerts whatever the others do; the cooldowns below are still started.
          held = undefined;
          continue;
        }
        const claim: CooldownClaim = {
          ruleId: rule.id,
          field: cooldown.key,
          value,
          eventId: event.event_id,
          eventTime: event.event_time,
          durationMs: cooldown.durationMs,
        };
        const hold: Extract<Hold, { kind: 'cooldown' }> = { kind: 'cooldown', ruleId: rule.id, claim, cooldown };
        claims.push(claim);
        claimHolds.push(hold);
        held?.push(hold);
      }
      holds.push(held);
    }
    if (claims.length > 0) {
      const answers = await this.cooldowns.claim(claims);
      answers.forEach((answer, i) => (claimHolds[i].answer = answer));
    }
    return holds.map((held) => {
      if (held === undefined || held.length === 0) return undefined;
      for (const hold of held) if (hold.kind === 'cooldown' && hold.answer?.running !== true) return undefined;
      return describe(held);
    });
  }

  /** Whether any alert could be suppressed under this rule set right now: when not, `review` is skipped. */
  isIdle(ruleSet: CompiledRuleSet): boolean {
    return this.snoozes.size === 0 && this.cooldownsOf(ruleSet).size === 0;
  }

  private cooldownsOf(ruleSet: CompiledRuleSet): ReadonlyMap<string, Cooldown> {
    let found = this.cooldownsByRuleSet.get(ruleSet);
    if (found === undefined) {
      const map = new Map<string, Cooldown>();
      for (const rule of ruleSet.ruleSet.rules) {
        const cooldown = rule.enabled && rule.mode === 'active' ? cooldownOf(rule) : undefined;
        if (cooldown !== undefined) map.set(rule.id, { ...cooldown, duration: rule.cooldown!.duration });
      }
      this.cooldownsByRuleSet.set(ruleSet, (found = map));
    }
    return found;
  }
}

/** The suppression of the first held rule (fired rules are sorted by id); the reason names every held rule. */
function describe(held: readonly Hold[]): Suppression {
  const first = held[0];
  const reason = held.map(reasonOf).join('; ');
  return first.kind === 'snooze'
    ? suppression('snooze', reason, first.snooze.rule_id, `${first.snooze.key}:${first.snooze.value}`, first.snooze.expires_at)
    : suppression(
        'cooldown',
        reason,
        first.ruleId,
        `${first.claim.field}:${first.claim.value}`,
        formatEventTime(startOf(first) + first.cooldown.durationMs),
      );
}

function suppression(kind: SuppressionKind, reason: string, rule_id: string | null, entity: string, until: string | null): Suppression {
  return { kind, reason, rule_id, entity, until };
}

function startOf(hold: Extract<Hold, { kind: 'cooldown' }>): number {
  return hold.answer?.running === true ? hold.answer.startedAt : hold.claim.eventTime;
}

function reasonOf(hold: Hold): string {
  if (hold.kind === 'snooze') {
    const { snooze } = hold;
    const scope = snooze.rule_id === null ? 'every rule' : `rule ${snooze.rule_id}`;
    return `${scope} snoozed for ${snooze.key}:${snooze.value} by ${snooze.created_by} until ${snooze.expires_at} (snooze ${snooze.id}): ${snooze.reason}`;
  }
  const answer = hold.answer as Extract<CooldownAnswer, { running: true }>;
  return (
    `rule ${hold.ruleId} already alerted for ${hold.claim.field}:${hold.claim.value} at ${formatEventTime(answer.startedAt)} ` +
    `(event ${answer.startedBy}); cooldown ${hold.cooldown.duration} until ${formatEventTime(answer.startedAt + hold.cooldown.durationMs)}`
  );
}
