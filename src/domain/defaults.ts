// The service's defaults and bounds, shared by configuration, the CLI and workflow code.
export const DEFAULT_PADDING_HOURS = 8;
export const MAX_PADDING_HOURS = 168;
export const DEFAULT_RERUN_WINDOW_DAYS = 30;
/** Oldest LeaseTerminated `time` the webhook accepts. */
export const DEFAULT_MAX_EVENT_AGE_DAYS = 30;
