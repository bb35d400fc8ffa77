import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { CSV_HEADER, CostReportBuilder, buildCostCsv, neutraliseCell } from '../../src/domain/csv';
import { formatAmount, parseAmount, sumAmounts } from '../../src/domain/money';
import type { CostRow } from '../../src/domain/schemas';

// Strict RFC 4180 reader (csv-parse is not a dependency): CRLF records, "" escapes, final CRLF.
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw new Error('unterminated quoted field');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
    } else {
      while (i < text.length && text[i] !== ',' && text[i] !== '\r') {
        if (text[i] === '"' || text[i] === '\n') throw new Error(`bare ${JSON.stringify(text[i])} at ${i}`);
        field += text[i++];
      }
    }
    record.push(field);
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text.startsWith('\r\n', i)) {
      records.push(record);
      record = [];
      i += 2;
      if (i === text.length) return records;
      continue;
    }
    throw new Error(`expected , or CRLF at ${i}, got ${JSON.stringify(text.slice(i, i + 5))}`);
  }
}

const TRIGGERS = ['=', '+', '-', '@', '|', '%', '\t', '\r', '\uFF1D', '\uFF0B', '\uFF0D', '\uFF20', '\uFF5C', '\uFF05'];
// A cell the guard prefixed: "'" and then something the guard would prefix again.
const looksGuarded = (cell: string) => cell.startsWith("'") && neutraliseCell(cell.slice(1)) !== cell.slice(1);
const unguard = (cell: string) => (looksGuarded(cell) ? cell.slice(1) : cell);
const row = (resourceName: string, service: string, region: string, cost: string): CostRow => ({
  resourceName,
  service,
  region,
  cost,
});

describe('neutraliseCell', () => {
  it.each(['=SUM(A1)', '+1', '-1+2', '@cmd', '|calc', '%0A', '\tx', '\rx', '\uFF1Dx', '\uFF0Bx', '\uFF0Dx', '\uFF20x'])(
    'prefixes %j with a single quote',
    (s) => {
      expect(neutraliseCell(s)).toBe(`'${s}`);
    },
  );

  // Issue 12 point 13: spreadsheets skip leading whitespace and invisible characters before a formula.
  it.each([
    ' =x',
    '  +1',
    '\u00A0-1',
    '\u200B=cmd',
    '\uFEFF@x',
    '\u200E|x',
    '\u2060%x',
    '\u3000=x',
    '\n=x',
    '\u0000=x',
    ' \t=x',
    '\uFF5Ccalc',
    '\uFF05x',
    ' \uFF1Dx',
    '\u200B\uFF5Cx',
  ])('prefixes %j (a trigger after leading invisible characters, or a full-width | or %)', (s) => {
    expect(neutraliseCell(s)).toBe(`'${s}`);
  });

  it.each(['', 'i-0abc', 'Amazon EC2', 'a=b', ' x=', "'=x", 'é', '😀', '\nx', ' ', '\u200B', '\u200Bx=1', 'x\uFF5C'])(
    'leaves %j alone',
    (s) => {
      expect(neutraliseCell(s)).toBe(s);
    },
  );
});

// The rows of the report's CSV, parsed back: aggregation and order are checked through the bytes
// the report writes.
const csvRows = (rows: CostRow[]) =>
  parseCsv(buildCostCsv(rows).csv)
    .slice(1)
    .map(([resourceName, service, region, cost]) => row(resourceName!, service!, region!, cost!));

describe('aggregation', () => {
  it('sums duplicate (resource, service, region) keys exactly', () => {
    const out = csvRows([
      row('i-1', 'EC2', 'us-east-1', '0.1'),
      row('i-1', 'EC2', 'us-east-1', '0.2'),
      row('i-1', 'EC2', 'eu-west-1', '1'),
      row('i-1', 'S3', 'us-east-1', '2'),
      row('i-1', 'EC2', 'us-east-1', '-0.0000000007'),
    ]);
    expect(out).toEqual([
      row('i-1', 'S3', 'us-east-1', '2'),
      row('i-1', 'EC2', 'eu-west-1', '1'),
      row('i-1', 'EC2', 'us-east-1', '0.2999999993'),
    ]);
  });

  it('does not confuse keys whose concatenations coincide', () => {
    const out = csvRows([row('a,b', 'c', 'r', '1'), row('a', 'b,c', 'r', '2')]);
    expect(out).toHaveLength(2);
  });

  it('normalises cost strings and rejects bad ones', () => {
    expect(csvRows([row('x', 's', 'r', '1.50')])[0]!.cost).toBe('1.5');
    expect(() => csvRows([row('x', 's', 'r', '1e3')])).toThrow('"1e3"');
  });
});

describe('order', () => {
  it('orders by service total desc, then resource cost desc', () => {
    const rows = [
      row('s3-a', 'S3', 'us-east-1', '5'),
      row('ec2-a', 'EC2', 'us-east-1', '4'),
      row('ec2-b', 'EC2', 'us-east-1', '3'),
      row('s3-b', 'S3', 'us-east-1', '1'),
      row('lam', 'Lambda', 'us-east-1', '6.5'),
    ];
    // Totals: EC2 7, Lambda 6.5, S3 6.
    expect(csvRows(rows).map((r) => r.resourceName)).toEqual(['ec2-a', 'ec2-b', 'lam', 's3-a', 's3-b']);
  });

  it('breaks ties by service name, resource name, then region, keeping services together', () => {
    const rows = [
      row('z', 'B', 'us-east-1', '2'),
      row('y', 'A', 'us-east-1', '1'),
      row('x', 'B', 'us-east-1', '1'),
      row('m', 'A', 'us-west-2', '1'),
      row('m', 'A', 'eu-west-1', '1'),
    ];
    // Both services total 3; A before B; within A all cost 1: resource asc, then region asc.
    expect(csvRows(rows)).toEqual([
      row('m', 'A', 'eu-west-1', '1'),
      row('m', 'A', 'us-west-2', '1'),
      row('y', 'A', 'us-east-1', '1'),
      row('z', 'B', 'us-east-1', '2'),
      row('x', 'B', 'us-east-1', '1'),
    ]);
  });

  it('compares costs as decimals, not strings, and handles negatives (credits)', () => {
    const rows = [
      row('a', 'S', 'r', '9'),
      row('b', 'S', 'r', '10'),
      row('c', 'S', 'r', '-1.25'),
      row('d', 'S', 'r', '0.00000001'),
    ];
    expect(csvRows(rows).map((r) => r.resourceName)).toEqual(['b', 'a', 'd', 'c']);
  });

  it('orders equal leading digits and long amounts exactly', () => {
    // Equal in their first six significant digits: the exact comparison decides.
    const rows = [
      row('a', 'S', 'r', '1.0000001'),
      row('b', 'S', 'r', '1.00000011'),
      row('c', 'S', 'r', '1.0000001'),
      row('d', 'S', 'r', '-1.0000002'),
      row('e', 'S', 'r', '-1.00000019'),
    ];
    expect(csvRows(rows).map((r) => r.resourceName)).toEqual(['b', 'a', 'c', 'e', 'd']);
  });

  it('does not mutate its input', () => {
    const rows = [row('a', 'S', 'r', '1'), row('b', 'S', 'r', '2'), row('a', 'S', 'r', '3')];
    const copy = structuredClone(rows);
    buildCostCsv(rows);
    expect(rows).toEqual(copy);
  });
});

describe('buildCostCsv', () => {
  it('writes the header, CRLF endings and the exact total', () => {
    const r = buildCostCsv([
      row('i-1', 'Amazon EC2', 'us-east-1', '0.1'),
      row('bucket', 'Amazon S3', 'us-east-1', '0.2'),
    ]);
    expect(r.csv).toBe(
      'Resource Name,Service,Region,Cost\r\n' +
        'bucket,Amazon S3,us-east-1,0.2\r\n' +
        'i-1,Amazon EC2,us-east-1,0.1\r\n',
    );
    expect(r.rowCount).toBe(2);
    expect(r.total).toBe('0.3');
  });

  it('writes only the header for no rows', () => {
    expect(buildCostCsv([])).toEqual({ csv: `${CSV_HEADER.join(',')}\r\n`, rowCount: 0, total: '0' });
  });

  it('quotes commas, quotes, CR and LF, doubling quotes', () => {
    const { csv } = buildCostCsv([
      row('a,b', 'say "hi"', 'line\nbreak', '1'),
      row('cr\rhere', 'crlf\r\nhere', 'plain', '0.5'),
    ]);
    expect(csv.split('\r\n').slice(1, 2)).toEqual(['"a,b","say ""hi""","line\nbreak",1']);
    expect(csv).toContain('"cr\rhere","crlf\r\nhere",plain,0.5\r\n');
    expect(parseCsv(csv)).toEqual([
      CSV_HEADER,
      ['a,b', 'say "hi"', 'line\nbreak', '1'],
      ['cr\rhere', 'crlf\r\nhere', 'plain', '0.5'],
    ]);
  });

  it('neutralises formula triggers in text columns', () => {
    const { csv } = buildCostCsv([
      row('=HYPERLINK("x")', '+svc', '-region', '6'),
      row('@a', '|b', '%c', '5'),
      row('\td', 'ok', 'ok', '4'),
    ]);
    const records = parseCsv(csv).slice(1);
    expect(records).toEqual([
      ['\'=HYPERLINK("x")', "'+svc", "'-region", '6'],
      ["'@a", "'|b", "'%c", '5'],
      ["'\td", 'ok', 'ok', '4'],
    ]);
    expect(csv).toContain('"\'=HYPERLINK(""x"")",\'+svc,\'-region,6\r\n');
  });

  it('keeps a negative cost as a plain, unquoted, unprefixed number', () => {
    const { csv, total } = buildCostCsv([
      row('credit', 'Tax', 'global', '-1.25'),
      row('i-1', 'EC2', 'us-east-1', '0.0000000007'),
    ]);
    expect(csv).toContain('\r\ncredit,Tax,global,-1.25\r\n');
    expect(total).toBe('-1.2499999993');
  });

  it('writes tiny and huge costs without exponents', () => {
    const { csv, total } = buildCostCsv([
      row('tiny', 'S', 'r', '0.00000000000000000001'),
      row('huge', 'S', 'r', '100000000000000000000000'),
    ]);
    expect(csv).toContain(',0.00000000000000000001\r\n');
    expect(csv).toContain(',100000000000000000000000\r\n');
    expect(csv).not.toMatch(/\de[+-]?\d/i);
    expect(total).toBe('100000000000000000000000.00000000000000000001');
  });

  it('passes unicode through unchanged', () => {
    const names = ['Ünïcödé 資源', '😀 emoji', 'עברית', '\u0000nul', 'e\u0301'];
    const { csv } = buildCostCsv(names.map((n, i) => row(n, 'S', 'r', String(i + 1))));
    expect(
      parseCsv(csv)
        .slice(1)
        .map((r) => r[0]),
    ).toEqual([...names].reverse());
  });

  it('aggregates duplicate keys before writing', () => {
    const r = buildCostCsv([
      row('i-1', 'EC2', 'r', '0.1'),
      row('i-1', 'EC2', 'r', '0.2'),
      row('i-2', 'EC2', 'r', '0.25'),
    ]);
    expect(r.rowCount).toBe(2);
    expect(parseCsv(r.csv).slice(1)).toEqual([
      ['i-1', 'EC2', 'r', '0.3'],
      ['i-2', 'EC2', 'r', '0.25'],
    ]);
  });

  it('builds 100,000 rows exactly', () => {
    const rows = Array.from({ length: 100_000 }, (_, i) =>
      row(
        `arn:aws:ec2:us-east-1:123456789012:instance/i-${i.toString(16).padStart(17, '0')}`,
        `Service ${i % 37}`,
        i % 2 ? 'us-east-1' : 'eu-west-1',
        `0.${String(i).padStart(10, '0')}`,
      ),
    );
    const r = buildCostCsv(rows);
    expect(r.rowCount).toBe(100_000);
    expect(r.total).toBe(formatAmount(sumAmounts(rows.map((x) => x.cost))));
    expect(r.total).toBe('0.499995'); // sum 0..99999 = 4999950000, times 1e-10
  });
});

describe('CostReportBuilder', () => {
  const rows = [
    row('i-1', 'EC2', 'us-east-1', '0.1'),
    row('a,"b"', 'S3', 'eu-west-1', '2'),
    row('i-1', 'EC2', 'eu-west-1', '0.5'),
    row('i-1', 'EC2', 'us-east-1', '0.25'),
    row('=x', 'S3', 'eu-west-1', '-1.5'),
  ];

  it('gives the same report whether rows arrive at once or page by page', () => {
    const paged = new CostReportBuilder();
    for (let i = 0; i < rows.length; i += 2) paged.add(rows.slice(i, i + 2));
    const report = paged.finish();
    const once = buildCostCsv(rows);
    expect(Buffer.concat([...report.chunks()]).toString('utf8')).toBe(once.csv);
    expect({ rowCount: report.rowCount, total: report.total }).toEqual({ rowCount: 3 + 1, total: '1.35' });
  });

  it('lists its lines, summed and canonical, in the order the CSV writes them', () => {
    const b = new CostReportBuilder();
    b.add(rows);
    const fromCsv = csvRows(rows).map((r) => ({ ...r, resourceName: unguard(r.resourceName) }));
    expect([...b.finish().lines()]).toEqual(fromCsv);
    expect(fromCsv.map((r) => r.cost)).toEqual(['0.5', '0.35', '2', '-1.5']);
  });

  it('yields the same bytes on every pass (one pass hashes, the next uploads), reusing one buffer if asked', () => {
    const b = new CostReportBuilder();
    b.add(Array.from({ length: 3_000 }, (_, i) => row(`r-${i}`, `S${i % 3}`, 'us-east-1', `${i}.5`)));
    const report = b.finish();
    const reused: Buffer[] = [];
    for (const chunk of report.chunks({ reuse: true })) reused.push(Buffer.from(chunk));
    expect(reused.length).toBeGreaterThan(1);
    expect(Buffer.concat(reused)).toEqual(Buffer.concat([...report.chunks()]));
  });

  it('splits a long report into bounded chunks and a huge cell into one chunk of its own', () => {
    const b = new CostReportBuilder();
    b.add(Array.from({ length: 3_000 }, (_, i) => row(`r-${i}`, 'S', 'us-east-1', '1')));
    b.add([row('x'.repeat(100_000), 'S', 'us-east-1', '0.5')]);
    const report = b.finish();
    const chunks = [...report.chunks()];
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.filter((c) => c.length > 64 * 1024)).toHaveLength(1);
    expect(parseCsv(Buffer.concat(chunks).toString('utf8'))).toHaveLength(3_002);
  });

  it('rejects a bad amount with the amount in the message', () => {
    expect(() => new CostReportBuilder().add([row('x', 's', 'r', '1e3')])).toThrow('"1e3"');
  });
});

describe('buildCostCsv properties', () => {
  const tricky = fc.constantFrom(
    ',',
    '"',
    '\r',
    '\n',
    '\r\n',
    "'",
    ...TRIGGERS,
    'a',
    ' ',
    'é',
    '😀',
    '\u0000',
    '\uFEFF',
    '\u200B',
  );
  const text = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: tricky, maxLength: 8 }),
    // Very long names (tags and ARNs can be), with hostile characters anywhere in them.
    { arbitrary: fc.string({ unit: tricky, minLength: 2_000, maxLength: 20_000 }), weight: 1 },
  );
  const amount = fc.stringMatching(/^-?\d{1,6}(\.\d{1,12})?$/);

  it('round-trips every cell through an RFC 4180 reader', () => {
    // The guard makes "=x" and "'=x" collide, so originals must not already look guarded.
    const safeText = text.filter((s) => !looksGuarded(s));
    const rows = fc.uniqueArray(
      fc.record({ resourceName: safeText, service: safeText, region: safeText, cost: amount }),
      { selector: (r) => JSON.stringify([r.resourceName, r.service, r.region]), maxLength: 30 },
    );
    fc.assert(
      fc.property(rows, (input) => {
        const { csv, rowCount } = buildCostCsv(input);
        const [header, ...records] = parseCsv(csv);
        expect(header).toEqual(CSV_HEADER);
        expect(records).toHaveLength(rowCount);
        expect(rowCount).toBe(input.length);
        for (const rec of records) {
          expect(rec).toHaveLength(4);
          for (const cell of rec.slice(0, 3)) {
            const orig = unguard(cell);
            expect(neutraliseCell(orig)).toBe(cell);
          }
        }
        const key = (r: string[]) => JSON.stringify(r.slice(0, 3));
        const got = records
          .map((r) => [unguard(r[0]!), unguard(r[1]!), unguard(r[2]!), r[3]!])
          .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
        const want = input
          .map((r) => [r.resourceName, r.service, r.region, formatAmount(parseAmount(r.cost))])
          .sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
        expect(got).toEqual(want);
      }),
    );
  });

  it('Cost column sums to the inputs, rows follow the contract order, bytes are input-order independent', () => {
    const small = fc.constantFrom('a', 'b', 'c', '=x', 'a,b');
    const rows = fc.array(fc.record({ resourceName: small, service: small, region: small, cost: amount }), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(rows, fc.infiniteStream(fc.nat()), (input, rnd) => {
        const r = buildCostCsv(input);
        const records = parseCsv(r.csv).slice(1);
        const expected = formatAmount(sumAmounts(input.map((x) => x.cost)));
        expect(formatAmount(sumAmounts(records.map((x) => x[3]!)))).toBe(expected);
        expect(r.total).toBe(expected);

        // Services contiguous, service totals non-increasing, costs non-increasing within a service.
        const seen = new Set<string>();
        let prevService: string | undefined;
        let prevTotal: ReturnType<typeof parseAmount> | undefined;
        let prevCost: ReturnType<typeof parseAmount> | undefined;
        for (const rec of records) {
          const service = rec[1]!;
          const cost = parseAmount(rec[3]!);
          if (service !== prevService) {
            expect(seen.has(service)).toBe(false);
            seen.add(service);
            const total = sumAmounts(records.filter((x) => x[1] === service).map((x) => x[3]!));
            if (prevTotal) expect(total.lte(prevTotal)).toBe(true);
            prevService = service;
            prevTotal = total;
          } else {
            expect(cost.lte(prevCost!)).toBe(true);
          }
          prevCost = cost;
        }

        const shuffled = input
          .map((x) => ({ x, k: rnd.next().value }))
          .sort((a, b) => a.k - b.k)
          .map((p) => p.x);
        expect(buildCostCsv(shuffled).csv).toBe(r.csv);
      }),
    );
  });
});
