import { workflowIdFor } from '../../infrastructure/client';
import type { Config } from '../../infrastructure/config';
import { connect, leaseStatus, print } from '../lease-status';

/** `lease-costs collect-now <lease-uuid>`: skip the rest of the settle delay. */
export async function collectNowCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  try {
    const { execution, status } = await leaseStatus(client, uuid);
    // Only a run still in its settle delay has anything to skip. With no worker to answer the
    // query, the phase is unknown: the signal is harmless, so send it.
    if (execution !== 'RUNNING' || (status && status.phase !== 'waiting')) {
      const state = status
        ? `${status.phase}${status.reports.length ? `, report v${status.reports.at(-1)!.version}` : ''}`
        : execution;
      const hint =
        status?.phase === 'collecting' || status?.phase === 'reporting'
          ? 'it is already collecting'
          : 'use `lease-costs rerun` for a new report version';
      print(
        opts.json,
        { leaseUuid: uuid, signalled: null, execution, phase: status?.phase },
        `nothing to do: lease ${uuid} is ${state} (${execution}); ${hint}`,
      );
      return;
    }
    await client.workflow.getHandle(workflowIdFor(uuid)).signal('collectNow');
    print(opts.json, { leaseUuid: uuid, signalled: 'collectNow' }, `collectNow sent to ${workflowIdFor(uuid)}`);
  } finally {
    await client.connection.close();
  }
}
