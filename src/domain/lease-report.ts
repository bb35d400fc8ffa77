import { parse, View, type Loader } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { checkChartSvg, dailyChartSpec, leaseReportHtml, type ChartMeta } from './lease-chart';
import type { LeaseSummary } from './lease-summary';

// Server-side rendering of the lease report: Vega-Lite compiled to Vega, drawn to an SVG string
// in Node. SVG needs no canvas package (text widths are estimated), and nothing is fetched: the
// data is inline and the loader refuses every URL, so a spec can never reach the network or disk.

const refuse = (what: string) => () => Promise.reject(new Error(`the lease chart loads nothing (${what})`));
const NO_LOADS: Loader = {
  load: refuse('load'),
  sanitize: refuse('sanitize'),
  http: refuse('http'),
  file: refuse('file'),
};

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none', loader: NO_LOADS });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** The HTML report of one lease: chart, top resources and totals, viewable with no script. */
export async function renderLeaseReport(summary: LeaseSummary, meta: ChartMeta): Promise<string> {
  const svg = summary.daily.length === 0 ? '' : await renderSvg(dailyChartSpec(summary, meta.billingWindow));
  checkChartSvg(svg);
  return leaseReportHtml(summary, meta, svg);
}
