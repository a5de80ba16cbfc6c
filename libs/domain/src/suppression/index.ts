export * from './rule-cooldown';
export * from './cooldown-store';
export * from './memory-cooldown.store';
export * from './snooze';
export * from './snooze-store';
export * from './snooze-administration';
export * from './alert-suppressor';
export * from './suppress-batch';
