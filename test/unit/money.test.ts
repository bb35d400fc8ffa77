import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import Decimal from 'decimal.js';
import {
  AmountSum,
  Money,
  addAmounts,
  canonicalAmount,
  checkAmount,
  formatAmount,
  fromUnits,
  normaliseAmount,
  parseAmount,
  sumAmounts,
  toReportNumber,
} from '../../src/domain/money';

describe('parseAmount', () => {
  it.each(['0.0000000007', '-1.2', '12', '0', '-0', '007.50', '123456789012345678901234567890.123456789'])(
    'accepts plain decimal %j',
    (s) => {
      expect(parseAmount(s).eq(new Decimal(s))).toBe(true);
    },
  );

  it.each([
    '1E-10',
    '1e-10',
    '1e5',
    '',
    ' 1',
    '1 ',
    '+1',
    '.5',
    '5.',
    '1,5',
    '1.2.3',
    'NaN',
    'Infinity',
    '-',
    '0x10',
    '١',
  ])('rejects %j with an error naming the value', (s) => {
    expect(() => parseAmount(s)).toThrow(JSON.stringify(s));
  });

  it('rejects absurdly long inputs that could exceed exact precision', () => {
    expect(() => parseAmount('1'.repeat(300))).toThrow(/invalid amount/);
  });
});

describe('sumAmounts', () => {
  it('is exact where floats are not', () => {
    expect(formatAmount(sumAmounts(['0.1', '0.2']))).toBe('0.3');
    expect(formatAmount(sumAmounts(['0.0000000007', '-1.25']))).toBe('-1.2499999993');
  });

  it('sums an empty list to 0', () => {
    expect(formatAmount(sumAmounts([]))).toBe('0');
  });

  it('accepts Decimal and string inputs together', () => {
    expect(formatAmount(sumAmounts([new Money('1.5'), '2.25', new Decimal('-0.75')]))).toBe('3');
  });

  it('sums 100,000 small amounts exactly', () => {
    const amounts = Array.from({ length: 100_000 }, () => '0.0000000001');
    expect(formatAmount(sumAmounts(amounts))).toBe('0.00001');
    const mixed = Array.from({ length: 100_000 }, (_, i) => (i % 2 === 0 ? '0.1' : '0.0000000007'));
    expect(formatAmount(sumAmounts(mixed))).toBe('5000.000035');
  });

  it('keeps tiny and huge magnitudes together without rounding', () => {
    const tiny = '0.00000000000000000001';
    const huge = '123456789012345678901234567890';
    expect(formatAmount(sumAmounts([huge, tiny]))).toBe(`${huge}.00000000000000000001`);
  });

  it('rejects a bad string in the list', () => {
    expect(() => sumAmounts(['1', '2e3'])).toThrow('"2e3"');
  });

  it('matches BigInt arithmetic on scaled integers (property)', () => {
    const amount = fc
      .tuple(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.integer({ min: 0, max: 12 }))
      .map(([units, scale]) => ({ units, scale }));
    fc.assert(
      fc.property(fc.array(amount, { maxLength: 50 }), (xs) => {
        const toStr = ({ units, scale }: { units: bigint; scale: number }) => {
          const neg = units < 0n;
          const digits = (neg ? -units : units).toString().padStart(scale + 1, '0');
          const s = scale === 0 ? digits : `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
          return neg ? `-${s}` : s;
        };
        // Exact reference: scale everything to 12 dp as BigInt.
        const ref = xs.reduce((acc, x) => acc + x.units * 10n ** BigInt(12 - x.scale), 0n);
        const got = sumAmounts(xs.map(toStr));
        expect(got.times('1e12').toFixed()).toBe(ref.toString());
      }),
    );
  });
});

describe('formatAmount', () => {
  it('never uses exponent notation', () => {
    expect(formatAmount(new Money('0.00000000000000000001'))).toBe('0.00000000000000000001');
    expect(formatAmount(new Money('100000000000000000000000000000'))).toBe('100000000000000000000000000000');
    // Even a Decimal from the default constructor (which would print 1e-20 via toString).
    expect(new Decimal('0.00000000000000000001').toString()).toBe('1e-20');
    expect(formatAmount(new Decimal('0.00000000000000000001'))).toBe('0.00000000000000000001');
  });

  it('normalises -0 to 0', () => {
    expect(formatAmount(new Money('-0'))).toBe('0');
    expect(formatAmount(new Money('-0.000'))).toBe('0');
    expect(formatAmount(sumAmounts(['-1.5', '1.5']))).toBe('0');
  });

  // Decision: canonical form from decimal.js toFixed(): trailing fractional zeros and leading
  // integer zeros are dropped, nothing is padded.
  it('uses the canonical toFixed() form', () => {
    expect(formatAmount(parseAmount('1.50'))).toBe('1.5');
    expect(formatAmount(parseAmount('007.000'))).toBe('7');
    expect(formatAmount(parseAmount('-0.0000000007'))).toBe('-0.0000000007');
  });

  it('round-trips through parseAmount (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?\d{1,30}(\.\d{1,30})?$/), (s) => {
        const out = formatAmount(parseAmount(s));
        expect(out).toMatch(/^-?\d+(\.\d+)?$/);
        expect(parseAmount(out).eq(parseAmount(s))).toBe(true);
      }),
    );
  });

  it('rejects non-finite values', () => {
    expect(() => formatAmount(new Money(NaN))).toThrow(/non-finite/);
  });
});

describe('toReportNumber', () => {
  it('rounds to 2 dp, half to even', () => {
    expect(toReportNumber(parseAmount('0.125'))).toBe(0.12);
    expect(toReportNumber(parseAmount('0.135'))).toBe(0.14);
    expect(toReportNumber(parseAmount('12.3456'))).toBe(12.35);
    expect(toReportNumber(parseAmount('-1.005'))).toBe(-1);
    expect(toReportNumber(parseAmount('0.0000000007'))).toBe(0);
  });

  it('never returns -0', () => {
    expect(Object.is(toReportNumber(parseAmount('-0.001')), 0)).toBe(true);
  });
});

describe('normaliseAmount and mixed sums', () => {
  it.each([
    ['1.50', '1.5'],
    ['007', '7'],
    ['-0', '0'],
    ['-0.000', '0'],
    ['0.0000000007', '0.0000000007'],
    ['-00.10', '-0.1'],
    ['12', '12'],
  ])('normalises %j to %j', (input, out) => {
    expect(normaliseAmount(input)).toBe(out);
  });

  it('rejects what parseAmount rejects', () => {
    expect(() => normaliseAmount('1e3')).toThrow('"1e3"');
  });

  it('agrees with formatAmount(parseAmount()) (property)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^-?\d{1,20}(\.\d{1,20})?$/), (s) => {
        expect(normaliseAmount(s)).toBe(formatAmount(parseAmount(s)));
      }),
    );
  });

  it('accumulates mixed scales and Decimal inputs', () => {
    const sum = sumAmounts(['1', '0.25', new Money('-0.0000000007'), '100.5']);
    expect(formatAmount(sum)).toBe('101.7499999993');
    expect(formatAmount(sumAmounts([]))).toBe('0');
    expect(formatAmount(sumAmounts(['-3', '3.000']))).toBe('0');
  });
});

describe('exact fast paths agree with decimal.js', () => {
  const amount = fc.oneof(
    fc.stringMatching(/^-?\d{1,20}(\.\d{1,25})?$/),
    fc.constantFrom('0', '-0', '0.000', '-0.0', '007', '1.50', '-00.10', '9999999999.9999999999'),
  );

  it('canonicalAmount is formatAmount(parseAmount(s))', () => {
    fc.assert(
      fc.property(amount, (s) => {
        expect(canonicalAmount(s)).toBe(normaliseAmount(s));
      }),
      { numRuns: 2_000 },
    );
  });

  it('AmountSum and addAmounts are the exact sum', () => {
    fc.assert(
      fc.property(fc.array(amount, { maxLength: 50 }), (xs) => {
        const sum = new AmountSum();
        for (const x of xs) expect(sum.add(x)).toBe(canonicalAmount(x) === x);
        const expected = formatAmount(sumAmounts(xs));
        expect(sum.toString()).toBe(expected);
        expect(xs.reduce(addAmounts, '0')).toBe(expected);
      }),
      { numRuns: 1_000 },
    );
  });

  it("checkAmount and AmountSum.add accept exactly what the schema's pattern does, and a refused amount leaves the sum as it was", () => {
    const schemaPattern = /^-?\d+(\.\d+)?$/;
    const nearAmount = fc.oneof(
      fc
        .array(fc.constantFrom('-', '.', '0', '1', '9', 'e', '+', ' ', '\n', '/', ':', '\u0663', '\uFF11'), {
          maxLength: 12,
        })
        .map((cs) => cs.join('')),
      fc.string({ maxLength: 12 }),
      fc.integer({ min: 250, max: 260 }).map((n) => '1'.repeat(n)),
      fc.integer({ min: 250, max: 260 }).map((n) => `-0.${'5'.repeat(n - 3)}`),
    );
    fc.assert(
      fc.property(nearAmount, (s) => {
        const valid = s.length <= 256 && schemaPattern.test(s);
        let refused: unknown;
        try {
          checkAmount(s);
        } catch (err) {
          refused = err;
        }
        expect(refused === undefined).toBe(valid);
        const sum = new AmountSum();
        sum.add('1.5');
        if (valid) {
          sum.add(s);
          expect(sum.toString()).toBe(addAmounts('1.5', s));
        } else {
          expect(() => sum.add(s)).toThrow((refused as Error).message);
          expect(sum.toString()).toBe('1.5');
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('fromUnits writes units / 10^scale canonically', () => {
    expect(fromUnits(5n, 3)).toBe('0.005');
    expect(fromUnits(-1250n, 3)).toBe('-1.25');
    expect(fromUnits(0n, 4)).toBe('0');
    expect(fromUnits(120n, 0)).toBe('120');
  });
});
