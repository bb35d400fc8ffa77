import { createCostExplorerActivities, type CostExplorerDeps } from './cost-explorer';
import { createEventBridgeActivities, type EventBridgeDeps } from './eventbridge';
import { createGroupReportActivities } from './group-report-activities';
import { createIsbActivities, type IsbDeps } from './isb';
import { createLedgerActivities, type LedgerDeps } from './ledger-activities';
import { createReportActivities, type ReportDeps } from './reports';
import { createTemporalActivities, type TemporalDeps } from './temporal';

export interface ActivityDeps {
  isb: IsbDeps;
  costExplorer: CostExplorerDeps;
  reports: ReportDeps;
  eventBridge: EventBridgeDeps;
  temporal: TemporalDeps;
  ledger: LedgerDeps;
}

/** Every activity the worker registers, built from injected clients so tests can pass their own. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createIsbActivities(deps.isb),
    ...createCostExplorerActivities(deps.costExplorer),
    ...createReportActivities(deps.reports),
    ...createEventBridgeActivities(deps.eventBridge),
    ...createTemporalActivities(deps.temporal),
    ...createLedgerActivities(deps.ledger),
    ...createGroupReportActivities({
      s3: deps.reports,
      staging: deps.costExplorer.staging,
      db: deps.ledger.db,
      eventBridge: deps.eventBridge,
    }),
  };
}
export type Activities = ReturnType<typeof createActivities>;
