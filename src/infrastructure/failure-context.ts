import type { Client } from '@temporalio/client';
import type { Config } from './config';

/**
 * The attempt count of the activity whose failure closed the run: its ActivityTaskStarted event
 * records the last attempt (retries are not in history). Undefined when no activity failed.
 */
export async function failedActivityAttempts(
  client: Client,
  workflowId: string,
  runId: string,
): Promise<number | undefined> {
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    const startedId =
      e.activityTaskFailedEventAttributes?.startedEventId ?? e.activityTaskTimedOutEventAttributes?.startedEventId;
    if (startedId == null) continue;
    const started = events.find((s) => Number(s.eventId) === Number(startedId));
    return started?.activityTaskStartedEventAttributes?.attempt ?? undefined;
  }
  return undefined;
}

/** What LeaseCostsFailed needs beyond the bus: the UI link base and the attempt count lookup. */
export const failureContext = (config: Pick<Config, 'TEMPORAL_UI_URL'>, client: Client) => ({
  temporalUiUrl: config.TEMPORAL_UI_URL,
  attemptsOf: (workflowId: string, runId: string) => failedActivityAttempts(client, workflowId, runId),
});
