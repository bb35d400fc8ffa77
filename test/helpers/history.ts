import { temporal } from '@temporalio/proto';
import type { History } from './temporal';

/**
 * The history as the server stores it, bytes and all, for plaintext searches. JSON.stringify would
 * render payload bytes as number arrays, where no secret could ever be found.
 */
export const rawHistoryText = (history: History): string =>
  Buffer.from(temporal.api.history.v1.History.encode(history as temporal.api.history.v1.IHistory).finish()).toString(
    'latin1',
  );
