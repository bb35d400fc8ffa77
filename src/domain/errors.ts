/**
 * Failure types that workflows, activities, tests and operators match on. Each name is defined
 * here once; the non-retryable ones end a run (or a lookup) at the first attempt.
 */
export const ErrorType = {
  LeaseNotFound: 'LeaseNotFound',
  InvalidLease: 'InvalidLease',
  /** The ISB API refused a lease list request (400): a retry sends the same request. */
  IsbListRejected: 'IsbListRejected',
  /** The ISB API refused a lease lookup (400: bad token payload or lease id): a retry sends the same request. */
  IsbRequestRejected: 'IsbRequestRejected',
  /** The event and the ISB API disagree on the lease's account or user. */
  LeaseMismatch: 'LeaseMismatch',
  /** The ISB API answered more than a lease could ever be. */
  IsbResponseTooLarge: 'IsbResponseTooLarge',
  InvalidBillingWindow: 'InvalidBillingWindow',
  CostExplorerAccessDenied: 'CostExplorerAccessDenied',
  CostExplorerRequestInvalid: 'CostExplorerRequestInvalid',
  InvalidReportKey: 'InvalidReportKey',
  ChecksumMismatch: 'ChecksumMismatch',
  /** The summary beside a report's CSV is missing or is not the one of that lease and version. */
  InvalidReportSummary: 'InvalidReportSummary',
  /** A report's summary is missing, malformed or does not add up: the ledger refuses it. */
  InvalidLedgerEntry: 'InvalidLedgerEntry',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];
