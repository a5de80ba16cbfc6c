export * from './rule-set-store';
export * from './rule-payload';
export * from './dry-run';
export * from './rule-administration';
export * from './memory-rule-set.store';
export * from './rule-set-sync';
export * from './feature-changes';
