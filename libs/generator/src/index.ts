export * from './random';
export * from './stream-generator';
