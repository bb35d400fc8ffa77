// The bench's command line: which sections run, and at what sizes.
import { parseArgs } from 'node:util';
import { LARGE, LARGE_QUICK, type Dataset } from './datasets';

export const SECTIONS = ['burst', 'calls', 'report', 'history', 'webhook'] as const;
export type Section = (typeof SECTIONS)[number];

const USAGE =
  'usage: node --import tsx bench/run.ts [--only burst,calls,report,history,webhook] [--leases N] [--quick] [--requests N] [--rows N]';

export interface Options {
  only: Set<Section>;
  quick: boolean;
  leases: number;
  requests: number;
  rows: number;
  large: Dataset;
}

export function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: 'string' },
      leases: { type: 'string' },
      requests: { type: 'string' },
      rows: { type: 'string' },
      quick: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const positive = (name: string, raw: string | undefined, dflt: number) => {
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${raw}`);
    return n;
  };
  const only = new Set<Section>();
  for (const name of (values.only ?? SECTIONS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    if (!(SECTIONS as readonly string[]).includes(name))
      throw new Error(`--only: unknown section ${name} (sections: ${SECTIONS.join(', ')})`);
    only.add(name as Section);
  }
  const quick = values.quick ?? false;
  return {
    only,
    quick,
    leases: positive('leases', values.leases, quick ? 20 : 500),
    requests: positive('requests', values.requests, quick ? 200 : 2_000),
    rows: positive('rows', values.rows, quick ? 10_000 : 100_000),
    large: quick ? LARGE_QUICK : LARGE,
  };
}
