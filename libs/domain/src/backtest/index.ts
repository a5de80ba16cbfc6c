export * from './backtest';
export * from './backtest-comparison';
export * from './backtest-features';
export * from './backtest-labels';
export * from './backtest-report';
