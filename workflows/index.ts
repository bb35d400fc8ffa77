export * from './lease-costs';
export * from './collect-costs';
export * from './cost-explorer-pacer';
export * from './reconcile';
export * from './group-report';
