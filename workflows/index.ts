export * from './lease-costs';
