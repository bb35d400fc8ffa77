import { createServer, type Server } from 'node:http';
import { GetCostAndUsageCommand } from '@aws-sdk/client-cost-explorer';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startFakeCostExplorer, type FakeCostExplorer } from '../../support/fakes/cost-explorer';
import { costExplorerClient } from '../../src/infrastructure/aws';
import { awsEnvFor } from '../../support/aws';

// The cost-reading role trusts the worker's role only with an external id: it must reach STS.

let ce: FakeCostExplorer;
let sts: Server;
const assumeRoleForms: URLSearchParams[] = [];
const saved = { ...process.env };

beforeAll(async () => {
  ce = await startFakeCostExplorer();
  const moto = inject('motoEndpoint');
  // Records each STS form, then lets moto answer it.
  sts = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    assumeRoleForms.push(new URLSearchParams(body));
    // moto routes on the signature's service name, so the authorization header goes along.
    const headers = {
      'content-type': String(req.headers['content-type']),
      authorization: String(req.headers.authorization),
    };
    const upstream = await fetch(`${moto}${req.url}`, { method: 'POST', headers, body });
    res
      .writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'text/xml' })
      .end(await upstream.text());
  });
  await new Promise<void>((resolve) => sts.listen(0, '127.0.0.1', resolve));
  const port = (sts.address() as { port: number }).port;
  Object.assign(
    process.env,
    awsEnvFor(moto, { AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${port}`, AWS_ENDPOINT_URL_COST_EXPLORER: ce.endpoint }),
  );
});
afterAll(async () => {
  process.env = saved;
  await new Promise((resolve) => sts?.close(resolve));
  await ce?.close();
});

it('assumes the cost-reading role with the configured external id', async () => {
  const roleArn = 'arn:aws:iam::999988887777:role/lease-costs-cost-explorer-reader';
  const client = costExplorerClient(roleArn, 'lease-costs-external-id-0123');
  await client.send(
    new GetCostAndUsageCommand({
      TimePeriod: { Start: '2026-01-01', End: '2026-01-02' },
      Granularity: 'DAILY',
      Metrics: ['UnblendedCost'],
    }),
  );
  client.destroy();
  const assumes = assumeRoleForms.filter((f) => f.get('Action') === 'AssumeRole');
  expect(assumes).toHaveLength(1);
  expect(assumes[0]!.get('RoleArn')).toBe(roleArn);
  expect(assumes[0]!.get('ExternalId')).toBe('lease-costs-external-id-0123');
});
