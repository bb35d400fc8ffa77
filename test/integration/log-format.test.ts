import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { freePort } from '../../support/ports';
import { spawnManaged, type ManagedProcess } from '../../support/tools';
import { WEBHOOK_PATH } from '../../src/interfaces/webhook';
import { leaseTerminatedEvent } from '../../support/events';
import { httpRequest } from '../helpers/http';
import { uniqueTaskQueue } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

// Every long-running process logs through the same pino setup: one JSON object per line with
// `level` as a word, an ISO `time` and `msg`; secrets given to the process never reach its output.

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'lease-costs.mjs');
const WEBHOOK_KEY = `webhook-key-${randomBytes(8).toString('hex')}`;
const JWT_SECRET = `jwt-secret-${randomBytes(8).toString('hex')}`;
const ENCRYPTION_KEY = randomBytes(32).toString('base64');
const SECRETS = [WEBHOOK_KEY, JWT_SECRET, ENCRYPTION_KEY];
const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

const running: ManagedProcess[] = [];
afterAll(async () => {
  await Promise.all(running.map((p) => p.stop()));
});

/** Starts `lease-costs <command>` with stdout not a TTY (so JSON) and collects what it prints. */
function start(command: string, env: Record<string, string>) {
  const proc = spawnManaged(process.execPath, [BIN, command], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', LOG_LEVEL: 'debug', ...env },
  });
  running.push(proc);
  const out = { stdout: '', stderr: '' };
  proc.process.stdout!.on('data', (c: Buffer) => void (out.stdout += c.toString()));
  proc.process.stderr!.on('data', (c: Buffer) => void (out.stderr += c.toString()));
  // A process that exits first (a refused configuration, say) fails the test at once, with its output.
  const started = (msg: string) => Promise.race([
    waitFor(async () => (out.stdout.includes(`"msg":"${msg}"`) ? true : undefined), 60_000, `${command}: ${msg}\n${proc.outputTail()}`),
    proc.exited.then((code) => { throw new Error(`${command} exited (${code}) before "${msg}":\n${proc.outputTail()}`); }),
  ]);
  const stop = async () => {
    await proc.stop();
    return out;
  };
  return { started, stop };
}

function expectOneFormat(name: string, { stdout, stderr }: { stdout: string; stderr: string }) {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines.length, `${name} printed nothing`).toBeGreaterThan(1);
  for (const line of lines) {
    const entry = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(entry).slice(0, 2), `${name}: ${line}`).toEqual(['level', 'time']);
    expect(LEVELS, `${name}: ${line}`).toContain(entry.level);
    expect(new Date(String(entry.time)).toISOString(), `${name}: ${line}`).toBe(entry.time);
    expect(typeof entry.msg, `${name}: ${line}`).toBe('string');
  }
  for (const secret of SECRETS) expect(stdout + stderr, `${name} printed a secret`).not.toContain(secret);
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('one log format for every process', () => {
  it('webhook, codec endpoint and worker all print pino JSON lines, and no secret', async () => {
    const temporalAddress = inject('temporalAddress');
    const [webhookPort, codecPort] = [await freePort(), await freePort()];
    const webhook = start('webhook', {
      TEMPORAL_ADDRESS: temporalAddress, WEBHOOK_PORT: String(webhookPort), WEBHOOK_HOST: '127.0.0.1', WEBHOOK_API_KEY: WEBHOOK_KEY,
    });
    const codec = start('codec-server', { PAYLOAD_ENCRYPTION_KEYS: `k1:${ENCRYPTION_KEY}`, CODEC_PORT: String(codecPort) });
    const worker = start('worker', {
      TEMPORAL_ADDRESS: temporalAddress, TEMPORAL_TASK_QUEUE: uniqueTaskQueue('logs'), AWS_REGION: 'us-east-1',
      COST_EXPLORER_ROLE_ARN: 'arn:aws:iam::123456789012:role/cost-reader', S3_BUCKET_NAME: 'log-format-bucket',
      EVENT_BUS_NAME: 'log-format-bus', ISB_API_BASE_URL: 'http://127.0.0.1:9', ISB_JWT_SECRET: JWT_SECRET,
      WEBHOOK_API_KEY: WEBHOOK_KEY, LEDGER_ENABLED: 'false',
    });
    await Promise.all([webhook.started('webhook listening'), codec.started('codec endpoint listening'), worker.started('Worker started')]);

    // Requests carrying the key, a wrong key and the key inside the body.
    const url = `http://127.0.0.1:${webhookPort}${WEBHOOK_PATH}`;
    const event = leaseTerminatedEvent();
    const bad = await httpRequest(url, { headers: { 'content-type': 'application/json', 'x-api-key': WEBHOOK_KEY }, body: JSON.stringify({ ...event, detail: { secret: WEBHOOK_KEY } }) });
    expect(bad.status).toBe(400);
    const denied = await httpRequest(url, { headers: { 'content-type': 'application/json', 'x-api-key': `${WEBHOOK_KEY}x`, authorization: `Bearer ${JWT_SECRET}` }, body: JSON.stringify(event) });
    expect(denied.status).toBe(401);
    const garbage = await httpRequest(`http://127.0.0.1:${codecPort}/decode`, {
      headers: { 'content-type': 'application/json', authorization: `Bearer ${JWT_SECRET}` }, body: JSON.stringify({ payloads: [{ metadata: { encoding: 'YmluYXJ5L2VuY3J5cHRlZA==' }, data: 'AAAA' }] }),
    });
    expect(garbage.status).toBe(400);

    const webhookLines = expectOneFormat('webhook', await webhook.stop());
    expect(webhookLines.filter((e) => e.msg === 'request').map((e) => e.status)).toEqual(expect.arrayContaining([400, 401]));
    expect(webhookLines.some((e) => e.msg === 'shutting down')).toBe(true);
    expectOneFormat('codec-server', await codec.stop());
    const workerLines = expectOneFormat('worker', await worker.stop());
    // The SDK's own lines (worker state changes) come through the same logger.
    expect(workerLines.some((e) => e.sdkComponent === 'worker')).toBe(true);
  });
});
