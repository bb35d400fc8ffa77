// The service's defaults and bounds, shared by configuration, the CLI and workflow code.
export const DEFAULT_PADDING_HOURS = 8;
export const MAX_PADDING_HOURS = 168;
export const DEFAULT_RERUN_WINDOW_DAYS = 30;
/** Oldest LeaseTerminated `time` the webhook accepts. */
export const DEFAULT_MAX_EVENT_AGE_DAYS = 30;
/**
 * Who lease-costs signs ISB API tokens as. The ISB parses the token's `user` with IsbUserSchema
 * (innovation-sandbox-on-aws source/common/types/isb-types.ts): `email` must pass zod's e-mail check.
 */
export const DEFAULT_ISB_JWT_USER_EMAIL = 'lease-costs@innovation-sandbox.local';
