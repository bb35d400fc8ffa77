import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startLeaseCosts, workflowIdFor } from '../../src/infrastructure/client';
import { startTemporalDevServer, type DevServer } from '../../support/dev-server';
import type { LeaseStatus } from '../../src/domain/schemas';
import { repoRoot } from '../../support/tools';
import { dailyCosts, startStack, type Stack } from '../helpers/stack';
import { closeTestConnections } from '../helpers/temporal';
import { waitFor } from '../helpers/wait';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) {
  // A skipped browser test must never look like a passing one.
  console.warn(
    `\n${'*'.repeat(90)}\n*** BROWSER TEST SKIPPED: ${CHROMIUM} not found (run scripts/setup-debian.sh as root) ***\n${'*'.repeat(90)}\n`,
  );
}

const HOUR = 3600_000;
const UI_TIMEOUT = 30_000;
const outDir = join(repoRoot, 'test-output', 'ui');

// Its own dev server: the shared one runs headless, and this test needs the Web UI.
let server: DevServer | undefined;
let stack: Stack | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  if (!hasChromium) return;
  // Ports left to the helper, which picks them and picks again if another process takes one first.
  server = await startTemporalDevServer();
  stack = await startStack({ temporalAddress: server.address });
  await stack.startWorker();
  await mkdir(outDir, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close().catch(() => {});
  await stack?.stop();
  // Before the server goes away, so no connection is left retrying a dead address.
  await closeTestConnections();
  await server?.stop();
});

function newLease(s: Stack, settleInMs: number) {
  const l = {
    uuid: randomUUID(),
    userEmail: `ui-${randomUUID().slice(0, 6)}@example.gov.uk`,
    accountId: `${Math.floor(1e11 + Math.random() * 8e11)}`,
  };
  const now = Date.now();
  const startDate = new Date(now - 2 * 24 * HOUR).toISOString();
  s.isb.addLease({ ...l, startDate, status: 'Expired' });
  s.ce.addCosts(
    dailyCosts({
      accountId: l.accountId,
      start: startDate.slice(0, 10),
      end: new Date(now + 2 * 24 * HOUR).toISOString().slice(0, 10),
      service: 'AWS Lambda',
      resourceId: `arn:aws:lambda:eu-west-2:${l.accountId}:function:f`,
      region: 'eu-west-2',
      amount: '0.125',
    }),
  );
  // Padding 1h ending `settleInMs` from now: a short real wait, so the settle timer (and its summary) exists.
  const input = {
    leaseUuid: l.uuid,
    userEmail: l.userEmail,
    accountId: l.accountId,
    terminatedAt: new Date(now - HOUR + settleInMs).toISOString(),
    paddingHours: 1,
    rerunWindowHours: 1,
  };
  return { ...l, input, workflowId: workflowIdFor(l.uuid) };
}

/** Waits for `text` to be visible; on failure leaves the page's text next to the screenshots. */
async function expectVisible(page: Page, text: string, dumpName: string): Promise<void> {
  try {
    await page.getByText(text).filter({ visible: true }).first().waitFor({ state: 'visible', timeout: UI_TIMEOUT });
  } catch (err) {
    await writeFile(
      join(outDir, `${dumpName}.failure.txt`),
      await page
        .locator('body')
        .innerText()
        .catch(() => ''),
    );
    await page.screenshot({ path: join(outDir, `${dumpName}.failure.png`), fullPage: true }).catch(() => {});
    throw new Error(`"${text}" not visible on ${page.url()}: ${(err as Error).message.split('\n')[0]}`);
  }
}

describe('Temporal UI in a real browser', () => {
  it.skipIf(!hasChromium)(
    'lists the run filtered by LeaseUuid and shows activity and timer summaries',
    async () => {
      const s = stack!;
      const uiUrl = server!.uiUrl!;
      const lease = newLease(s, 3_000);
      const other = newLease(s, HOUR);
      const started = await startLeaseCosts(s.client, s.config.TEMPORAL_TASK_QUEUE, lease.input);
      expect(started.status).toBe('started');
      const runId = (started as { runId: string }).runId;
      expect((await startLeaseCosts(s.client, s.config.TEMPORAL_TASK_QUEUE, other.input)).status).toBe('started');

      const status = await waitFor(
        async () => {
          const st = await s.client.workflow.getHandle(lease.workflowId).query<LeaseStatus>('status');
          return st.phase === 'published' ? st : undefined;
        },
        60_000,
        'phase published',
      );
      const window = status.billingWindow!;
      // The UI lists from visibility, which lags the query a little.
      const visible = (q: string) =>
        waitFor(
          async () => {
            for await (const w of s.client.workflow.list({ query: q })) return w;
            return undefined;
          },
          30_000,
          `visibility of ${q}`,
        );
      await visible(`LeaseUuid = "${lease.uuid}" AND LeasePhase = "published"`);
      // The contrast lease must be there to be filtered out.
      await visible(`LeaseUuid = "${other.uuid}"`);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless=new',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-dev-shm-usage',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--disable-quic',
        ],
      });
      const page = await browser.newPage({ viewport: { width: 1920, height: 1200 } });
      page.setDefaultTimeout(UI_TIMEOUT);

      const query = encodeURIComponent(`LeaseUuid = "${lease.uuid}"`);
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${query}`);
      await expectVisible(page, lease.workflowId, 'workflows-filtered');
      expect(await page.getByText(other.workflowId).count()).toBe(0);
      await page.screenshot({ path: join(outDir, 'workflows-filtered.png'), fullPage: true });

      await page.goto(`${uiUrl}/namespaces/default/workflows/${lease.workflowId}/${runId}/history`);
      const summaries = [
        `Billing settle delay until ${status.settleUntil} (1h padding)`,
        `Look up lease ${lease.uuid} and its account's other leases in the ISB API`,
        `Cost Explorer ${window.start} to ${window.end} (exclusive) for ${lease.accountId}`,
        'Write CSV v1 to S3 with SHA-256 verification',
        'Write the HTML report v1 (chart, top resources) to S3',
        'Presign and emit LeaseCostsGenerated v1',
      ];
      await expectVisible(page, summaries[1]!, 'workflow-run');
      // Compact groups each activity and timer into one row carrying its summary: all fit one screen.
      await page.getByRole('button', { name: 'Compact' }).click();
      await page.getByText('Activity Task Scheduled').first().waitFor({ state: 'hidden' });
      for (const text of summaries) await expectVisible(page, text, 'workflow-run');
      await page.screenshot({ path: join(outDir, 'workflow-run.png'), fullPage: true });
    },
    120_000,
  );
});
