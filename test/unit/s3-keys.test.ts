import { describe, expect, it } from 'vitest';
import { reportKey, stagingPrefix } from '../../src/domain/collection';

const uuid = '550e8400-e29b-41d4-a716-446655440000';

describe('S3 keys', () => {
  it('are deterministic per (lease, version)', () => {
    expect(reportKey('reports/', uuid, 3)).toBe(`reports/${uuid}/lease-costs-${uuid}-v3.csv`);
    expect(reportKey('reports/', uuid.toUpperCase(), 3)).toBe(reportKey('reports/', uuid, 3));
    expect(stagingPrefix('', uuid, 1)).toBe(`${uuid}/staging/v1/`);
  });

  it.each([
    ['../../etc/passwd', 1],
    [`${uuid}/../other`, 1],
    [`${uuid}\n`, 1],
    ['', 1],
    [uuid, 0],
    [uuid, 1.5],
    [uuid, Number.NaN],
  ])('refuse lease %j version %s', (lease, version) => {
    expect(() => reportKey('reports/', lease, version)).toThrow(/Refusing an S3 key/);
    expect(() => stagingPrefix('reports/', lease, version)).toThrow(/Refusing an S3 key/);
  });
});
