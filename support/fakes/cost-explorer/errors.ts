// Errors the fake answers with, shaped as the real service's.
export class CeError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
export const validation = (message: string) => new CeError(400, 'ValidationException', message);

// Modelled Cost Explorer errors carry `Message`; common AWS errors carry `message`.
const MODELLED_ERRORS = new Set([
  'LimitExceededException',
  'DataUnavailableException',
  'InvalidNextTokenException',
  'RequestChangedException',
  'BillExpirationException',
]);

export function errorBody(e: CeError): Record<string, string> {
  return MODELLED_ERRORS.has(e.code) ? { __type: e.code, Message: e.message } : { __type: e.code, message: e.message };
}
