// Deterministic cost rows for the CSV golden test and the report benchmark: the same seed gives
// the same rows on every machine, so a SHA-256 of the CSV pins its bytes.
import { mulberry32 } from './fakes/cost-explorer';
import type { CostRow } from '../src/domain/schemas';

// What a hostile tag or resource name may hold: CSV metacharacters, formula triggers (ASCII and
// full-width), quotes, NUL, BOM, astral and combining characters.
const HOSTILE = [
  ',',
  '"',
  '\r\n',
  '\n',
  '\r',
  "'",
  '=',
  '+',
  '-',
  '@',
  '|',
  '%',
  '\t',
  '\uFF1D',
  '\uFF0B',
  '\uFF0D',
  '\uFF20',
  '\uFF5C',
  '\uFF05',
  'é',
  'e\u0301',
  '😀',
  '資源',
  '\u0000',
  '\uFEFF',
  '\u200B',
  ' ',
  ';',
  '\\',
];
// A name's first character. It never starts with whitespace or an invisible character, nor with
// `｜` or `％`: today's formula guard treats some of those differently from the frozen build, so
// the golden bytes stay valid for every row this generates.
const FIRST = [
  '=',
  '+',
  '-',
  '@',
  '|',
  '%',
  '\t',
  '\r',
  '\uFF1D',
  '\uFF0B',
  '\uFF0D',
  '\uFF20',
  "'",
  '"',
  ',',
  'a',
  'Z',
  '0',
  'é',
  '😀',
];
const REGIONS = [
  'us-east-1',
  'us-west-2',
  'eu-west-1',
  'eu-west-2',
  'eu-central-1',
  'ap-southeast-2',
  'global',
  'NoRegion',
];

export interface CostRowOptions {
  services?: number;
  /** Share of rows whose names are hostile (the rest are plain ARNs). */
  hostile?: number;
  /** Every `duplicateEvery`-th row repeats the previous row's key with another amount (0: never). */
  duplicateEvery?: number;
}

// Flat strings, as JSON.parse makes them (a template or + makes a rope that V8 flattens on first
// hashing, a cost production never pays).
const flat = (parts: string[]) => JSON.parse(JSON.stringify(parts.join(''))) as string;

/**
 * `count` rows over `services` services (some with hostile names), amounts with 1 to 10 decimal
 * places, some negative (credits), some zero. Keys are distinct unless `duplicateEvery` is set.
 */
export function generateCostRows(count: number, seed: number, opts: CostRowOptions = {}): CostRow[] {
  return [...costRows(count, seed, opts)];
}

/** generateCostRows one row at a time, for sizes that should not sit in memory at once. */
export function* costRows(count: number, seed: number, opts: CostRowOptions = {}): Generator<CostRow> {
  const { services = 40, hostile = 0.3, duplicateEvery = 0 } = opts;
  const rnd = mulberry32(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const hostileText = (n: number) => {
    let s = pick(FIRST);
    for (let k = 0; k < n; k++) s += rnd() < 0.5 ? pick(HOSTILE) : String.fromCharCode(97 + Math.floor(rnd() * 26));
    return s;
  };
  const serviceNames = Array.from({ length: services }, (_, k) =>
    k % 4 === 3 ? `${hostileText(6)} Service ${k}` : `Amazon Service ${k}`,
  );
  // A few common amounts, so equal costs (and the name tie-breaks) occur.
  const amount = () => {
    if (rnd() < 0.05) return pick(['0.1', '1.5', '0.0000000001', '2.25']);
    const places = 1 + Math.floor(rnd() * 10);
    const whole = rnd() < 0.1 ? '0' : String(Math.floor(rnd() * (rnd() < 0.05 ? 1e9 : 1000)));
    let frac = '';
    for (let k = 0; k < places; k++) frac += String(Math.floor(rnd() * 10));
    const sign = rnd() < 0.03 ? '-' : '';
    return `${sign}${whole}.${frac}`;
  };
  let prev: CostRow | undefined;
  for (let i = 0; i < count; i++) {
    if (duplicateEvery > 0 && prev && i % duplicateEvery === 0) {
      yield { ...prev, cost: amount() };
      continue;
    }
    const region = pick(REGIONS);
    const id = i.toString(16).padStart(8, '0');
    yield (prev = {
      service: serviceNames[Math.floor(rnd() * services)]!,
      resourceName: flat(
        rnd() < hostile
          ? [hostileText(3 + Math.floor(rnd() * 12)), '-', id]
          : ['arn:aws:ec2:', region, ':777788889999:volume/vol-', id],
      ),
      region: rnd() < 0.01 ? flat([hostileText(4)]) : region,
      cost: flat([amount()]),
    });
  }
}
