import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { repoRoot, spawnManaged, type ManagedProcess } from '../../src/dev/tools';
import type { LeaseStatus } from '../../src/domain/schemas';
import { awsEnvFor } from '../helpers/aws';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { waitFor } from '../helpers/wait';

// The production build as the image runs it: compiled JavaScript and a prebuilt workflow bundle,
// no tsx and no webpack at start. Laid out like the image (bin/ and dist/, no src/) under
// test-output/, so a checkout's own dist/ is left alone and bin/ must pick the compiled CLI.
const image = join(repoRoot, 'test-output', `build-${process.pid}`);
const out = join(image, 'dist');
const bin = join(image, 'bin', 'lease-costs.mjs');
const DAY = 24 * 3600_000;

let stack: Stack;
let worker: ManagedProcess | undefined;
let stdout = '';

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build.mjs', '--outdir', out.slice(repoRoot.length + 1)], { cwd: repoRoot, timeout: 120_000 });
  await mkdir(join(image, 'bin'));
  await copyFile(join(repoRoot, 'bin', 'lease-costs.mjs'), bin);
  stack = await startStack();
});

afterAll(async () => {
  await worker?.stop();
  await stack?.stop();
  await rm(image, { recursive: true, force: true });
});

describe('npm run build', () => {
  it('writes the compiled CLI and the workflow bundle, and no TypeScript', () => {
    const files = readdirSync(out);
    expect(files).toContain('cli.mjs');
    expect(files).toContain('workflow-bundle.js');
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('the compiled worker runs a lease to published from the prebuilt bundle, without bundling at start', async () => {
    const c = stack.config;
    worker = spawnManaged(process.execPath, [bin, 'worker'], {
      env: {
        PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        ...awsEnvFor(stack.motoEndpoint, { AWS_ENDPOINT_URL_COST_EXPLORER: stack.ce.endpoint }),
        TEMPORAL_ADDRESS: c.TEMPORAL_ADDRESS, TEMPORAL_TASK_QUEUE: c.TEMPORAL_TASK_QUEUE,
        COST_EXPLORER_ROLE_ARN: c.COST_EXPLORER_ROLE_ARN!, S3_BUCKET_NAME: c.S3_BUCKET_NAME!, S3_KEY_PREFIX: c.S3_KEY_PREFIX,
        EVENT_BUS_NAME: c.EVENT_BUS_NAME!, ISB_API_BASE_URL: c.ISB_API_BASE_URL!, ISB_JWT_SECRET_PATH: c.ISB_JWT_SECRET_PATH!, DATABASE_URL: c.DATABASE_URL!,
      },
    });
    worker.process.stdout!.on('data', (chunk: Buffer) => void (stdout += chunk.toString()));
    await waitFor(async () => {
      if (worker!.hasExited()) throw new Error(`the compiled worker exited: ${worker!.outputTail()}`);
      return stdout.includes('"msg":"Worker started"') ? true : undefined;
    }, 30_000, 'the compiled worker to start');

    const lease = { uuid: randomUUID(), userEmail: 'build@example.gov.uk', accountId: '271828182845' };
    const startDate = new Date(Date.now() - 3 * DAY).toISOString();
    stack.isb.addLease({ ...lease, startDate, status: 'Expired' });
    stack.ce.addCosts(dailyCosts({
      accountId: lease.accountId, start: startDate.slice(0, 10), end: new Date(Date.now() + DAY).toISOString().slice(0, 10),
      service: 'AWS Lambda', resourceId: `arn:aws:lambda:eu-west-2:${lease.accountId}:function:f`, region: 'eu-west-2', amount: '0.25',
    }));
    await startLeaseCosts(stack.client, c.TEMPORAL_TASK_QUEUE, {
      ...lease, leaseUuid: lease.uuid, terminatedAt: new Date(Date.now() - 3600_000).toISOString(), paddingHours: 0, rerunWindowHours: 0,
    });
    const status = await waitFor(async () => {
      const s = await stack.client.workflow.getHandle(workflowIdFor(lease.uuid)).query<LeaseStatus>('status');
      return s.phase === 'published' ? s : undefined;
    }, 30_000, 'the report to be published');
    expect(status.reports.at(-1)!.rowCount).toBeGreaterThan(0);
    // A checkout's worker logs this when webpack bundles workflows/ at start.
    expect(stdout).not.toContain('Workflow bundle created');
    expect(existsSync(join(out, 'workflow-bundle.js'))).toBe(true);
  });
});
