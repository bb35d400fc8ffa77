import { ENCRYPTED_ENCODING, PayloadKeyError } from '../infrastructure/codec';
import { LedgerUnavailable } from '../infrastructure/ledger-db';

// The README's exit codes; 1 is any other failure.
export const EXIT_BAD_CONFIG = 2;
export const EXIT_UNKNOWN_LEASE = 3;
export const EXIT_UNREACHABLE = 4;

/** An expected failure: printed without a stack, with a distinct exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const temporalUnreachable = (address: string, err: unknown) =>
  new CliError(
    `cannot reach Temporal at ${address} (is it running? is TEMPORAL_ADDRESS right?): ${(err as Error).message}`,
    EXIT_UNREACHABLE,
  );

/** A port some other process already holds (a second webhook or codec endpoint, say). */
export function addressInUse(err: unknown): CliError | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code !== 'EADDRINUSE') return undefined;
  return new CliError(
    `${e.address ?? ''}${e.port ? `:${e.port}` : ''} is already in use: stop what listens there or choose another port (WEBHOOK_PORT, CODEC_PORT)`,
    EXIT_BAD_CONFIG,
  );
}

/**
 * Payloads this process cannot read because PAYLOAD_ENCRYPTION_KEYS is missing or wrong: a
 * configuration mistake, not a bug. The SDK and the codec wrap the reason, so follow the causes.
 */
export function payloadKeyProblem(err: unknown): CliError | undefined {
  for (
    let e = err as (Error & { cause?: unknown }) | undefined, depth = 0;
    e && depth < 10;
    e = e.cause as typeof e, depth++
  ) {
    if (e instanceof PayloadKeyError) {
      return new CliError(
        `cannot decrypt workflow payloads (${e.message}): PAYLOAD_ENCRYPTION_KEYS must include the key the workers encrypt with`,
        EXIT_BAD_CONFIG,
      );
    }
    if (typeof e.message === 'string' && e.message.includes(`Unknown encoding: ${ENCRYPTED_ENCODING}`)) {
      return new CliError(
        'workflow payloads are encrypted: set PAYLOAD_ENCRYPTION_KEYS to the keys the workers use',
        EXIT_BAD_CONFIG,
      );
    }
  }
  return undefined;
}

/** The ledger's PostgreSQL is unreachable or refuses us: exit 4, like an unreachable Temporal. */
export const ledgerProblem = (err: unknown): CliError | undefined =>
  err instanceof LedgerUnavailable ? new CliError(err.message, EXIT_UNREACHABLE) : undefined;
