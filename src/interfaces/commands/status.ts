import type { Config } from '../../infrastructure/config';
import { connect, leaseStatus, print, statusJson, statusText } from '../lease-status';

/** `lease-costs status <lease-uuid>`: phase, settle-until time, pages fetched, last report. */
export async function statusCommand(config: Config, uuid: string, opts: { json?: boolean }) {
  const client = await connect(config);
  try {
    const { execution, status } = await leaseStatus(client, uuid);
    print(opts.json, statusJson(config, uuid, execution, status), statusText(config, uuid, execution, status));
  } finally {
    await client.connection.close();
  }
}
