import type { Client } from '@temporalio/client';
import { arrayFromPayloads } from '@temporalio/common';
import { leaseStartOptions, workflowIdFor, WORKFLOW_TYPE } from '../../infrastructure/client';
import type { Config } from '../../infrastructure/config';
import { RecordedLeaseCostsResult, type LeaseCostsInput } from '../../domain/schemas';
import { CliError } from '../cli-error';
import { connect, describeLease, leaseStatus, print, statusJson, statusText } from '../lease-status';

const WAIT_POLL_MS = 1_000;

/** The latest run's start input, decoded with the client's data converter (and codec, when set). */
async function latestInput(client: Client, uuid: string): Promise<LeaseCostsInput> {
  const history = await client.workflow.getHandle(workflowIdFor(uuid)).fetchHistory();
  let payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
  // Codecs decode in the reverse of the order they encode in, as the SDK's own client does.
  const { payloadCodecs, payloadConverter } = client.options.loadedDataConverter;
  for (const codec of [...payloadCodecs].reverse()) payloads = await codec.decode(payloads);
  const [input] = arrayFromPayloads(payloadConverter, payloads);
  return input as LeaseCostsInput;
}

/**
 * Signal-with-start: an open run gets the `rerun` signal; a closed one is followed by a new run
 * that continues the version numbering and collects at once. With `wait`, follows that version to
 * published (or failed) and prints it.
 */
export async function rerunCommand(
  config: Config,
  uuid: string,
  opts: { paddingHours?: number; terminatedAt?: string; json?: boolean; wait?: boolean },
) {
  const client = await connect(config);
  try {
    const description = await describeLease(client, uuid);
    const previous = await latestInput(client, uuid);
    const open = description.status.name === 'RUNNING';
    let nextVersion = previous.nextReportVersion ?? 1;
    let previousReports = previous.previousReports;
    // The lease as the last run looked it up: the ISB deletes ended leases after its leases.ttl.
    let knownLease = previous.knownLease;
    if (description.status.name === 'COMPLETED') {
      const result = RecordedLeaseCostsResult.parse(await client.workflow.getHandle(workflowIdFor(uuid)).result());
      nextVersion = result.version + 1;
      previousReports = result.reports;
      // The result stays small (no lease in it): the status query, a replay, has the lease it looked up.
      const { status } = await leaseStatus(client, uuid);
      knownLease = status?.lease ?? knownLease;
    } else if (open && opts.wait) {
      // A run still waiting takes the re-run as "collect now"; past that, it makes the next version.
      const { status } = await leaseStatus(client, uuid);
      if (!status)
        throw new CliError(
          `no worker answered the status query of ${workflowIdFor(uuid)}; cannot follow the new version`,
        );
      nextVersion = status.phase === 'waiting' ? status.currentVersion : status.currentVersion + 1;
    } else if (!open) {
      // Failed, terminated or timed out: its status (a replay) says whether its version was published
      // already, in which case reusing the number would overwrite that report.
      const { status } = await leaseStatus(client, uuid);
      if (status) {
        previousReports = status.reports;
        knownLease = status.lease ?? knownLease;
        if (status.reports.some((r) => r.version === status.currentVersion)) nextVersion = status.currentVersion + 1;
      }
    }
    const input: LeaseCostsInput = {
      ...previous,
      previousReports,
      ...(knownLease ? { knownLease } : {}),
      paddingHours: opts.paddingHours ?? previous.paddingHours,
      terminatedAt: opts.terminatedAt ?? previous.terminatedAt,
      terminatedAtFromOperator: opts.terminatedAt !== undefined || previous.terminatedAtFromOperator,
      nextReportVersion: nextVersion,
      collectImmediately: true,
    };
    const handle = await client.workflow.signalWithStart(WORKFLOW_TYPE, {
      ...leaseStartOptions(input),
      taskQueue: config.TEMPORAL_TASK_QUEUE,
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      signal: 'rerun',
      signalArgs: [{ paddingHours: opts.paddingHours, terminatedAt: opts.terminatedAt }],
    });
    const started = {
      leaseUuid: uuid,
      workflowId: handle.workflowId,
      runId: handle.signaledRunId,
      mode: open ? 'signalled' : 'started',
    };
    const startedText = open
      ? `rerun signalled to the open run of ${handle.workflowId}`
      : `new run ${handle.signaledRunId} started for ${handle.workflowId} (report v${nextVersion})`;
    if (!opts.wait) {
      print(opts.json, started, startedText);
      return;
    }
    if (!opts.json) console.error(`${startedText}; waiting for report v${nextVersion}…`);
    const { execution, status } = await untilVersionDone(client, uuid, nextVersion, opts.json);
    if (status.phase === 'failed') {
      throw new CliError(
        `report v${nextVersion} failed: ${status.lastError ? `${status.lastError.type}: ${status.lastError.message}` : 'see Temporal UI'}`,
      );
    }
    print(
      opts.json,
      { ...started, version: nextVersion, ...statusJson(config, uuid, execution, status) },
      statusText(config, uuid, execution, status),
    );
  } finally {
    await client.connection.close();
  }
}

/** Polls the status query until `version` is published or the run failed, reporting phase changes on stderr. */
async function untilVersionDone(client: Client, uuid: string, version: number, quiet: boolean | undefined) {
  let lastPhase: string | undefined;
  for (;;) {
    const { execution, status } = await leaseStatus(client, uuid);
    if (status) {
      if (status.reports.some((r) => r.version === version) && status.currentVersion >= version)
        return { execution, status };
      if (status.phase === 'failed' && status.currentVersion >= version) return { execution, status };
      const current = status.currentVersion >= version ? status.phase : 'queued';
      if (!quiet && current !== lastPhase) console.error(`v${version}: ${current}`);
      lastPhase = current;
    }
    await new Promise((r) => setTimeout(r, WAIT_POLL_MS));
  }
}
