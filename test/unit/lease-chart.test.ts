import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHART_TOP_SERVICES,
  REPORT_CSP,
  chartSeries,
  checkChartSvg,
  dailyChartSpec,
} from '../../src/domain/lease-chart';
import { addDays } from '../../src/domain/billing-window';
import { formatAmount, sumAmounts } from '../../src/domain/money';
import { renderLeaseReport } from '../../src/domain/lease-report';
import { resourceDays, summaryOf, type ResourceDay } from '../../support/lease-summary';

const UUID = '6f1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';
const meta = (start: string, days: number, version = 1) => ({
  leaseUuid: UUID,
  version,
  accountId: '123456789012',
  billingWindow: { start, end: addDays(start, days) },
});

// Written independently of checkChartSvg: every tag of the page, and every attribute name in it.
const PAGE_TAGS = new Set([
  'html',
  'head',
  'meta',
  'title',
  'style',
  'body',
  'h1',
  'h2',
  'dl',
  'dt',
  'dd',
  'p',
  'figure',
  'table',
  'thead',
  'tbody',
  'tr',
  'th',
  'td',
  'div',
  'section',
  'svg',
  'g',
  'path',
  'rect',
  'line',
  'text',
  'defs',
  'clippath',
]);
function markupOf(html: string): { tags: string[]; attributes: string[] } {
  const tags: string[] = [];
  const attributes: string[] = [];
  for (const m of html.matchAll(/<(?!!doctype html>)\/?([^\s/>]*)([^>]*)>/gi)) {
    tags.push(m[1]!.toLowerCase());
    for (const a of m[2]!.replace(/"[^"]*"/g, '').matchAll(/([^\s=]+)=/g)) attributes.push(a[1]!.toLowerCase());
  }
  return { tags, attributes };
}

const unescape = (s: string) => s.replace(/&#(\d+);/g, (_, n: string) => String.fromCharCode(Number(n)));
/** The text of each `<td>` of the table under heading `h2`. */
function column(html: string, h2: string, index: number): string[] {
  const section = html.slice(html.indexOf(`<h2>${h2}</h2>`));
  const body = section.slice(section.indexOf('<tbody>'), section.indexOf('</tbody>'));
  return [...body.matchAll(/<tr>(.*?)<\/tr>/g)].map((r) =>
    unescape([...r[1]!.matchAll(/<td[^>]*>(.*?)<\/td>/g)][index]![1]!),
  );
}

const HOSTILE = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '</text></svg><script>x</script>',
  '<![CDATA[ ]]>',
  '&lt;b&gt;',
  '<style>*{x:url(//e.x)}</style>',
  'javascript:alert(1)',
  '\u0000\u202e',
];

describe('the lease report page', () => {
  it('escapes hostile service, resource and region names everywhere: only the expected elements, no handler or link attribute', async () => {
    const rows = resourceDays({
      start: '2026-10-01',
      days: 5,
      services: HOSTILE.length,
      serviceName: (i) => HOSTILE[i]!,
      resourceName: (s, r) => `${HOSTILE[(s + r + 1) % HOSTILE.length]!}-${r}`,
    }).map((r, i) => ({ ...r, region: i % 3 ? r.region : HOSTILE[i % HOSTILE.length]! }));
    const summary = summaryOf(UUID, 1, rows);
    const html = await renderLeaseReport(summary, meta('2026-10-01', 5));
    const { tags, attributes } = markupOf(html);
    expect(tags.filter((t) => !PAGE_TAGS.has(t))).toEqual([]);
    expect(attributes.filter((a) => a.startsWith('on') || a.endsWith('href') || a === 'src')).toEqual([]);
    expect(tags.filter((t) => t === 'rect' || t === 'path').length).toBeGreaterThan(0);
    // Escaped, not dropped: each name reads back exactly as the data has it.
    expect(column(html, 'Cost by service', 0)).toEqual(summary.byService.map((s) => s.service));
    expect(column(html, 'Top 10 resources', 0)).toEqual(summary.topResources.map((r) => r.resourceName));
  });

  it('has a Content-Security-Policy that runs no script and loads nothing', async () => {
    const html = await renderLeaseReport(
      summaryOf(UUID, 1, resourceDays({ start: '2026-10-01', days: 2, services: 2 })),
      meta('2026-10-01', 2),
    );
    expect(html).toContain(
      `<meta http-equiv="Content-Security-Policy" content="${REPORT_CSP.replace(/'/g, '&#39;')}">`,
    );
    expect(REPORT_CSP).toMatch(/^default-src 'none';/);
    expect(REPORT_CSP).not.toMatch(/script-src|unsafe-eval/);
  });

  it('keeps arbitrary names inert (property)', async () => {
    // Markup's own characters and words, with any other character now and then.
    const unit = fc.oneof(
      fc.constantFrom(
        '<',
        '>',
        '"',
        "'",
        '&',
        '/',
        '=',
        ' ',
        '!',
        '-',
        'a',
        'on',
        'script',
        'img',
        'svg',
        'style',
        '\u0000',
      ),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit, maxLength: 30 }), { minLength: 1, maxLength: 4 }), async (names) => {
        const rows: ResourceDay[] = names.map((n, i) => ({
          date: '2026-10-01',
          resourceName: n,
          service: `${n}${i}`,
          region: n,
          cost: `${i + 1}.5`,
        }));
        const html = await renderLeaseReport(summaryOf(UUID, 1, rows), meta('2026-10-01', 1));
        const { tags, attributes } = markupOf(html);
        expect(tags.filter((t) => !PAGE_TAGS.has(t))).toEqual([]);
        expect(attributes.filter((a) => a.startsWith('on') || a.endsWith('href') || a === 'src')).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });

  it('prints every amount as its exact decimal string, never a rounded or exponent form', async () => {
    const rows: ResourceDay[] = [
      { date: '2026-10-01', resourceName: 'tiny', service: 'S3', region: 'eu-west-2', cost: '0.0000000007' },
      { date: '2026-10-01', resourceName: 'big', service: 'EC2', region: 'eu-west-2', cost: '123456789012.1234567891' },
      { date: '2026-10-02', resourceName: 'credit', service: 'EC2', region: 'us-east-1', cost: '-1.2' },
      { date: '2026-10-02', resourceName: 'third', service: 'EC2', region: 'us-east-1', cost: '0.1' },
      { date: '2026-10-02', resourceName: 'third', service: 'EC2', region: 'us-east-1', cost: '0.2' },
    ];
    const summary = summaryOf(UUID, 3, rows);
    const html = await renderLeaseReport(summary, meta('2026-10-01', 2, 3));
    expect(summary.total).toBe(formatAmount(sumAmounts(rows.map((r) => r.cost))));
    expect(html).toContain(`<dd class="total" id="total">${summary.total} USD</dd>`);
    expect(column(html, 'Top 4 resources', 3)).toEqual(summary.topResources.map((r) => r.cost));
    expect(column(html, 'Top 4 resources', 3)).toContain('0.3');
    expect(column(html, 'Cost by service', 1)).toEqual(summary.byService.map((s) => s.cost));
    expect(column(html, 'Cost by region', 1)).toEqual(summary.byRegion.map((s) => s.cost));
    expect(html).toContain('0.0000000007');
    // Text and accessible labels only: path coordinates are geometry and may use exponents.
    const texts = [
      html.replace(/<svg[^]*<\/svg>/, ''),
      ...[...html.matchAll(/aria-label="([^"]*)"/g)].map((m) => m[1]!),
    ];
    expect(texts.filter((t) => /(?<![\w.-])\d+(\.\d+)?e[-+]?\d/i.test(t))).toEqual([]);
    // Each bar's accessible label carries its exact amount too.
    expect(html).toContain('aria-label="2026-10-01, S3: 0.0000000007 USD"');
    expect(html).toContain('aria-label="2026-10-02, EC2: -0.9 USD"');
    expect(html).toContain('<dt>Report version</dt><dd>v3</dd>');
    expect(html).toContain('2026-10-01 to 2026-10-03 (exclusive), last day billed 2026-10-02');
  });

  it("says which record types the total counts, and beside the ISB's totalCostAccrued the exact difference and why", async () => {
    const rows: ResourceDay[] = [
      { date: '2026-10-01', resourceName: 'i-1', service: 'EC2', region: 'eu-west-2', cost: '10.0000000001' },
    ];
    const plain = await renderLeaseReport(summaryOf(UUID, 1, rows), meta('2026-10-01', 1));
    // A summary from before COST_SCOPE counted Usage; without the ISB's figure there is nothing to compare.
    expect(plain).toContain('<dd id="cost-scope">usage: record type Usage only</dd>');
    expect(plain).not.toContain('isb-difference');
    const summary = {
      ...summaryOf(UUID, 1, rows),
      costScope: 'all-except-credits-refunds' as const,
      attribution: { totalCostAccrued: '12.25' },
    };
    const html = await renderLeaseReport(summary, meta('2026-10-01', 1));
    expect(html).toContain('<dd id="isb">12.25 USD</dd>');
    expect(html).toContain('<dd id="isb-difference">-2.2499999999 USD</dd>');
    expect(html).toMatch(/<dd id="cost-scope">all-except-credits-refunds: every record type except Credit and Refund/);
    expect(html).toMatch(/<p id="isb-note">Both count every record type except credits and refunds .*settled\.<\/p>/);
  });

  it('caps the legend at the top services plus one "Other" band holding the exact sum of the rest', () => {
    const many = summaryOf(UUID, 1, resourceDays({ start: '2026-10-01', days: 3, services: 40 }));
    const series = chartSeries(many);
    expect(series.labels).toHaveLength(CHART_TOP_SERVICES + 1);
    expect(series.labels.slice(0, CHART_TOP_SERVICES)).toEqual(
      many.byService.slice(0, CHART_TOP_SERVICES).map((s) => s.service),
    );
    expect(series.other).toBe(`Other (${40 - CHART_TOP_SERVICES} services)`);
    const spec = dailyChartSpec(many, meta('2026-10-01', 3).billingWindow) as {
      data: { values: { date: string; series: string; cost: number }[] };
    };
    const rest = new Set(many.byService.slice(CHART_TOP_SERVICES).map((s) => s.service));
    for (const day of ['2026-10-01', '2026-10-02', '2026-10-03']) {
      const exact = sumAmounts(many.daily.filter((d) => d.date === day && rest.has(d.service)).map((d) => d.cost));
      expect(spec.data.values.find((v) => v.date === day && v.series === series.other)!.cost).toBe(exact.toNumber());
    }
    // One service more than the cap takes the colour "Other" would have: no band of one.
    const tenSummary = summaryOf(
      UUID,
      1,
      resourceDays({ start: '2026-10-01', days: 5, services: CHART_TOP_SERVICES + 1 }),
    );
    const ten = chartSeries(tenSummary);
    expect(ten.other).toBeUndefined();
    expect(ten.labels).toHaveLength(CHART_TOP_SERVICES + 1);
    // Every series its own colour, and "Other"'s grey only for "Other".
    type Colours = { encoding: { color: { scale: { range: string[] } } } };
    const colours = (s: typeof many) =>
      (dailyChartSpec(s, meta('2026-10-01', 3).billingWindow) as Colours).encoding.color.scale.range;
    expect(new Set(colours(tenSummary)).size).toBe(CHART_TOP_SERVICES + 1);
    expect(new Set(colours(many)).size).toBe(CHART_TOP_SERVICES + 1);
    expect(colours(tenSummary)).not.toContain(colours(many).at(-1));
  });

  it('draws every day of a long window, days without cost included, under at most 16 labels', async () => {
    const days = 120;
    const rows = resourceDays({ start: '2026-06-01', days: days - 10, services: 12 });
    const summary = summaryOf(UUID, 1, rows);
    const spec = dailyChartSpec(summary, meta('2026-06-01', days).billingWindow) as {
      encoding: { x: { scale: { domain: string[] }; axis: { values: string[] } } };
    };
    expect(spec.encoding.x.scale.domain).toHaveLength(days);
    expect(spec.encoding.x.scale.domain.at(-1)).toBe(addDays('2026-06-01', days - 1));
    expect(spec.encoding.x.axis.values.length).toBeLessThanOrEqual(16);
    const html = await renderLeaseReport(summary, meta('2026-06-01', days));
    // One bar segment per (day, series) with a cost.
    const bars = [...html.matchAll(/aria-roledescription="bar"/g)].length;
    expect(bars).toBe(new Set(summary.daily.map((d) => `${d.date} ${chartSeries(summary).labelOf(d.service)}`)).size);
  });

  it('says so when there is nothing to draw', async () => {
    const html = await renderLeaseReport(summaryOf(UUID, 1, []), meta('2026-10-01', 2));
    expect(html).toContain('No daily costs in this window.');
    expect(html).not.toContain('<svg');
    expect(html).toContain('<dd class="total" id="total">0 USD</dd>');
  });
});

describe('checkChartSvg', () => {
  it.each([
    ['<svg><script>alert(1)</script></svg>', /unexpected element <script>/],
    ['<svg><image href="x"/></svg>', /unexpected element <image>/],
    ['<svg><g onload="alert(1)"></g></svg>', /forbidden attribute onload/],
    ['<svg><a xlink:href="javascript:x"></a></svg>', /unexpected element <a>/],
    ['<svg><path ONCLICK="x" d="M0"/></svg>', /forbidden attribute onclick/],
    ['<svg><path d="M0" xlink:href="x"/></svg>', /forbidden attribute xlink:href/],
    ['<svg><foreignObject></foreignObject></svg>', /unexpected element <foreignObject>/],
  ])('refuses %s', (svg, error) => {
    expect(() => checkChartSvg(svg)).toThrow(error);
  });

  it('accepts escaped markup inside attribute values and text', () => {
    expect(() =>
      checkChartSvg('<svg><g aria-label="&lt;script onload=x&gt;"><text>&lt;img onerror=x&gt;</text></g></svg>'),
    ).not.toThrow();
  });
});
