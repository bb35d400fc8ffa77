// The Cost Explorer fake: query rules, cost store, pages, faults, and the HTTP server over them.
export type { CeOperation } from './query';
export type { ExpectedTotalFilter, FakeCostItem, RecordType } from './store';
export { errorCodeForStatus, mostWithinOneSecond, mulberry32 } from './faults';
export type { AccessDeniedConfig, FailAtConfig, ThrottleConfig } from './faults';
export { startFakeCostExplorer } from './server';
export type { FakeCeCall, FakeCeStats, FakeCostExplorer, FakeCostExplorerOptions } from './server';
