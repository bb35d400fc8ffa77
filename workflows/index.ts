export * from './lease-costs';
export * from './collect-costs';
