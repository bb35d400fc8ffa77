import type { TopLevelSpec } from 'vega-lite';
import type Decimal from 'decimal.js';
import { addDays } from './billing-window';
import { NO_GROUP } from './chargeback';
import { DEFAULT_COST_SCOPE, describeCostScope, isbDifference, whyIsbDiffers } from './cost-scope';
import type { LeaseSummary } from './lease-summary';
import { formatAmount, Money, parseAmount } from './money';
import type { DateRange } from './schemas';

// The HTML report beside the CSV: the Vega-Lite spec of its chart, and the page around the SVG
// that Vega renders from it. Pure: the rendering itself is src/domain/lease-report.ts (Vega, with a loader that refuses every URL).

/** Services drawn in their own colour; the rest share one "Other" band so the legend stays readable. */
export const CHART_TOP_SERVICES = 9;
/** At most this many day labels under the bars, however long the window. */
const MAX_DAY_LABELS = 16;
// Vega's tableau10, whose grey is kept for "Other"; a tenth service, shown when there is no
// "Other", gets a cyan rather than that grey.
const COLOURS = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#17becf',
];
const OTHER_COLOUR = '#bab0ac';

export interface ChartMeta {
  leaseUuid: string;
  version: number;
  accountId: string;
  billingWindow: DateRange;
}

/** Every day of the window (end exclusive), plus any day the series has outside it. */
function daysOf(window: DateRange, daily: LeaseSummary['daily']): string[] {
  const days = new Set<string>();
  for (let d = window.start; d < window.end; d = addDays(d, 1)) days.add(d);
  for (const row of daily) days.add(row.date);
  return [...days].sort();
}

/** The chart's series: the costliest services by name, the rest as "Other (n services)". */
export function chartSeries(summary: Pick<LeaseSummary, 'byService' | 'daily'>): {
  labels: string[];
  other?: string;
  labelOf: (service: string) => string;
} {
  const ranked = [...new Set([...summary.byService.map((s) => s.service), ...summary.daily.map((d) => d.service)])];
  // One more service fits in the colour the "Other" band would take.
  if (ranked.length <= CHART_TOP_SERVICES + 1) return { labels: ranked, labelOf: (s) => s };
  const top = new Set(ranked.slice(0, CHART_TOP_SERVICES));
  const other = `Other (${ranked.length - CHART_TOP_SERVICES} services)`;
  return { labels: [...top, other], other, labelOf: (s) => (top.has(s) ? s : other) };
}

/** Stacked daily bars by service. Bar heights are numbers (a picture); every amount printed as text stays exact. */
export function dailyChartSpec(summary: Pick<LeaseSummary, 'byService' | 'daily'>, window: DateRange): TopLevelSpec {
  const { labels, other, labelOf } = chartSeries(summary);
  const rank = new Map(labels.map((l, i) => [l, i]));
  // Exact sums per (day, series) first, so "Other" is the sum of its services, not of rounded numbers.
  const sums = new Map<string, { date: string; series: string; cost: Decimal }>();
  for (const row of summary.daily) {
    const series = labelOf(row.service);
    const key = `${row.date}\u0000${series}`;
    const cell = sums.get(key) ?? { date: row.date, series, cost: new Money(0) };
    cell.cost = cell.cost.plus(parseAmount(row.cost));
    sums.set(key, cell);
  }
  const values = [...sums.values()].map((c) => ({
    date: c.date,
    series: c.series,
    rank: rank.get(c.series)!,
    cost: c.cost.toNumber(),
    // Each bar's accessible label: the exact amount, not Vega's formatting of the number.
    label: `${c.date}, ${c.series}: ${formatAmount(c.cost)} USD`,
  }));
  const days = daysOf(window, summary.daily);
  const every = Math.ceil(days.length / MAX_DAY_LABELS);
  const colours = labels.map((l, i) => (l === other ? OTHER_COLOUR : COLOURS[i]!));
  return {
    description: 'Daily cost by service',
    width: 680,
    height: 320,
    background: 'white',
    padding: 8,
    data: { values },
    mark: { type: 'bar' },
    encoding: {
      x: {
        field: 'date',
        type: 'ordinal',
        title: 'Day (UTC)',
        scale: { domain: days, paddingInner: 0.15 },
        axis: {
          values: days.filter((_, i) => i % every === 0),
          labelAngle: days.length > 10 ? -45 : 0,
          labelOverlap: false,
        },
      },
      y: { field: 'cost', type: 'quantitative', stack: 'zero', title: 'USD per day' },
      color: {
        field: 'series',
        type: 'nominal',
        title: 'Service',
        scale: { domain: labels, range: colours },
        // Without a canvas Vega estimates text at 0.8 em a character, about 1.4 times real widths:
        // 400 px keeps AWS's long service names whole (40 characters) and truncates hostile ones.
        legend: { orient: 'right', labelLimit: 400, labelFontSize: 12, titleFontSize: 12, symbolType: 'square' },
      },
      // The costliest service at the bottom of each bar, as in the legend.
      order: { field: 'rank', type: 'quantitative', sort: 'ascending' },
      description: { field: 'label', type: 'nominal' },
    },
    config: { font: 'system-ui, sans-serif', view: { stroke: null }, axis: { labelFontSize: 11, titleFontSize: 12 } },
  };
}

/** Text and attribute values from data (service names, resource ids) can never become markup. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// No script may run and nothing may be fetched (no image, font or frame either); inline styles
// only. `frame-ancestors` cannot be set from a meta tag, and a report has nothing to protect from framing.
export const REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

// Wide enough for the SVG (about 1,150 px: Vega reserves legend room by estimated text widths).
const STYLE = `
body{font:14px/1.45 system-ui,sans-serif;color:#1b1b1b;margin:24px auto;max-width:1200px;padding:0 16px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0}dt{color:#555}dd{margin:0}
.total{font-size:18px;font-weight:600}
figure{margin:0;overflow-x:auto}figure svg{display:block;max-width:none}
table{border-collapse:collapse;margin:0 0 8px}th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top;white-space:nowrap}
th{background:#f3f3f3}td.cost,th.cost{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.name{white-space:normal;overflow-wrap:anywhere;min-width:12em;max-width:44em}.none{color:#777;font-style:italic}
.tables{display:flex;gap:32px;flex-wrap:wrap}`;

type Cell = { text: string; cost?: boolean; name?: boolean };

function table(caption: string, headers: string[], rows: Cell[][], empty: string): string {
  if (rows.length === 0) return `<h2>${escapeHtml(caption)}</h2><p class="none">${escapeHtml(empty)}</p>`;
  const th = headers.map((h, i) => `<th${rows[0]![i]?.cost ? ' class="cost"' : ''}>${escapeHtml(h)}</th>`).join('');
  const body = rows
    .map(
      (r) =>
        `<tr>${r
          .map((c) => {
            const cls = c.cost ? ' class="cost"' : c.name ? ' class="name"' : '';
            return c.text === '' ? `<td class="none">(none)</td>` : `<td${cls}>${escapeHtml(c.text)}</td>`;
          })
          .join('')}</tr>`,
    )
    .join('\n');
  return `<h2>${escapeHtml(caption)}</h2>\n<table>\n<thead><tr>${th}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** Group, template, budget, the ISB's accrued cost and the termination reason, where the ISB gave them. */
function attributionRows(summary: LeaseSummary): string {
  const a = summary.attribution;
  if (!a) return '';
  const rows: [string, string | undefined][] = [
    ['Cost report group', a.costReportGroup ?? NO_GROUP],
    ['Lease template', a.originalLeaseTemplateName],
    ['Budget (ISB maxSpend)', a.maxSpend === undefined ? undefined : `${formatAmount(parseAmount(a.maxSpend))} USD`],
    [
      'ISB totalCostAccrued',
      a.totalCostAccrued === undefined ? undefined : `${formatAmount(parseAmount(a.totalCostAccrued))} USD`,
    ],
    ['Termination reason', a.terminationReason],
  ];
  return rows
    .filter((r): r is [string, string] => r[1] !== undefined)
    .map(
      ([k, v]) =>
        `<dt>${escapeHtml(k)}</dt><dd id="${k === 'Cost report group' ? 'group' : k.split(' ')[0]!.toLowerCase()}">${escapeHtml(v)}</dd>\n`,
    )
    .join('');
}

/** Which record types the total counts, and, where the ISB gave its own total, the difference to it. */
function scopeRows(summary: LeaseSummary): string {
  const scope = summary.costScope ?? DEFAULT_COST_SCOPE;
  const isb = summary.attribution?.totalCostAccrued;
  return `<dt>Costs counted</dt><dd id="cost-scope">${escapeHtml(describeCostScope(scope))}</dd>\n${
    isb === undefined
      ? ''
      : `<dt>Ours − ISB</dt><dd id="isb-difference">${escapeHtml(formatAmount(parseAmount(isbDifference(summary.total, isb))))} USD</dd>\n`
  }`;
}

/** Why the two totals may differ, under the title block, when the ISB gave one. */
function isbNote(summary: LeaseSummary): string {
  if (summary.attribution?.totalCostAccrued === undefined) return '';
  return `<p id="isb-note">${escapeHtml(whyIsbDiffers(summary.costScope ?? DEFAULT_COST_SCOPE))}</p>\n`;
}

/** Days this report shares with another lease of the account, and which lease the ledger counts them for. */
function sharedDaysNote(summary: LeaseSummary): string {
  const shared = summary.attribution?.sharedDays ?? [];
  if (shared.length === 0) return '';
  const items = shared
    .map(
      (s) =>
        `<li>${escapeHtml(s.days.join(', '))} with lease ${escapeHtml(s.leaseUuid)}; the ledger counts ${
          s.countedHere.length ? escapeHtml(s.countedHere.join(', ')) : 'none of them'
        } for this lease, the rest for the other</li>`,
    )
    .join('\n');
  return `<h2>Shared days</h2>\n<p>Another lease of this account has a billing window that shares days with this one: this report includes the account's costs on those days, and the ledger counts each shared day once.</p>\n<ul id="shared-days">\n${items}\n</ul>`;
}

const usd = (cost: string): Cell => ({ text: formatAmount(parseAmount(cost)), cost: true });

/**
 * The whole page: a title block with the exact total, the chart's SVG (from Vega, which escapes
 * what it draws; checkChartSvg proves it), and the tables, every amount its exact decimal string.
 */
export function leaseReportHtml(summary: LeaseSummary, meta: ChartMeta, chartSvg: string): string {
  const { leaseUuid, version, accountId, billingWindow: w } = meta;
  const total = formatAmount(parseAmount(summary.total));
  const title = `Lease costs ${leaseUuid} v${version}`;
  const chart =
    summary.daily.length === 0
      ? '<p class="none">No daily costs in this window.</p>'
      : `<figure role="img" aria-label="Daily cost by service, stacked bars">${chartSvg}</figure>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(REPORT_CSP)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>Lease costs</h1>
<dl>
<dt>Lease</dt><dd>${escapeHtml(leaseUuid)}</dd>
<dt>Account</dt><dd>${escapeHtml(accountId)}</dd>
<dt>Billing window</dt><dd>${escapeHtml(w.start)} to ${escapeHtml(w.end)} (exclusive), last day billed ${escapeHtml(addDays(w.end, -1))}</dd>
<dt>Report version</dt><dd>v${version}</dd>
${attributionRows(summary)}<dt>Total</dt><dd class="total" id="total">${escapeHtml(total)} USD</dd>
${scopeRows(summary)}</dl>
${isbNote(summary)}${sharedDaysNote(summary)}
<h2>Daily cost by service</h2>
${chart}
${table(
  `Top ${summary.topResources.length} resources`,
  ['Resource', 'Service', 'Region', 'Cost (USD)'],
  summary.topResources.map((r) => [
    { text: r.resourceName, name: true },
    { text: r.service, name: true },
    { text: r.region },
    usd(r.cost),
  ]),
  'No resources.',
)}
<div class="tables">
<section>${table(
    'Cost by service',
    ['Service', 'Cost (USD)'],
    summary.byService.map((s) => [{ text: s.service, name: true }, usd(s.cost)]),
    'No services.',
  )}</section>
<section>${table(
    'Cost by region',
    ['Region', 'Cost (USD)'],
    summary.byRegion.map((r) => [{ text: r.region }, usd(r.cost)]),
    'No regions.',
  )}</section>
</div>
</body>
</html>
`;
}

// What Vega's SVG renderer emits for a bar chart; anything else means the output is not what we
// tested, and a report that might carry markup from data is not published.
const SVG_TAGS = new Set(['svg', 'g', 'path', 'rect', 'line', 'text', 'tspan', 'defs', 'clipPath', 'title', 'desc']);

/** Throws unless `svg` holds only the elements above, with no event handler or link. */
export function checkChartSvg(svg: string): void {
  for (const m of svg.matchAll(/<(\/?)([^\s/>]*)([^>]*)>/g)) {
    const [, , name = '', attrs = ''] = m;
    if (!SVG_TAGS.has(name)) throw new Error(`chart SVG has an unexpected element <${name.slice(0, 40)}>`);
    // Attribute values are quoted and escaped, so outside the quotes only names remain.
    for (const attr of attrs.replace(/"[^"]*"/g, '""').matchAll(/([^\s=]+)=/g)) {
      const a = attr[1]!.toLowerCase();
      if (a.startsWith('on') || a === 'href' || a.endsWith(':href')) {
        throw new Error(`chart SVG has a forbidden attribute ${a.slice(0, 40)}`);
      }
    }
  }
}
