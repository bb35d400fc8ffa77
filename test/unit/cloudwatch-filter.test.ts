import { describe, expect, it } from 'vitest';
import { jsonFilterPattern } from '../helpers/cloudwatch-filter';

// The example event and patterns of AWS's "Using filter patterns to match terms in JSON log events"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntax.html), with the
// answers the page gives, so the matcher the alarm test relies on reads patterns as CloudWatch does.
const EVENT = JSON.stringify({
  eventType: 'UpdateTrail',
  sourceIPAddress: '111.111.111.111',
  arrayKey: ['value', 'another value'],
  objectList: [
    { name: 'a', id: 1 },
    { name: 'b', id: 2 },
  ],
  SomeObject: null,
  cidr: '11.0.0.1/32',
  abc: true,
  fieldWithSpace: 'value with space',
});

describe('CloudWatch JSON filter patterns', () => {
  it.each([
    ['{ $.eventType = "UpdateTrail" }', true],
    ['{ $.eventType = UpdateTrail }', true],
    ['{ $.eventType = "updatetrail" }', false],
    ['{ $.eventType = Update* }', true],
    ['{ $.sourceIPAddress != 123.123.* }', true],
    ['{ $.sourceIPAddress != 111.111.* }', false],
    ['{ $.arrayKey[0] = "value" }', true],
    ['{ $.objectList[1].id = 2 }', true],
    ['{ $.objectList[1].id > 1 }', true],
    ['{ $.objectList[0].id >= 2 }', false],
    ['{ $.SomeObject IS NULL }', true],
    ['{ $.abc IS TRUE }', true],
    ['{ $.abc IS FALSE }', false],
    ['{ $.SomeOtherObject NOT EXISTS }', true],
    ['{ $.SomeObject NOT EXISTS }', false],
    ['{ $.fieldWithSpace = "value with space" }', true],
    ['{ ($.eventType = "UpdateTrail") && ($.sourceIPAddress = "111.111.111.111") }', true],
    ['{ ($.eventType = "UpdateTrail") && ($.sourceIPAddress = "1.1.1.1") }', false],
    ['{ ($.eventType = "Nope") || ($.objectList[0].name = "a") }', true],
    ['{ ($.eventType = "Nope") || (($.abc IS TRUE) && ($.cidr = "11.0.0.1/32")) }', true],
    ['{ $.missing = "x" }', false],
  ])('%s → %s', (pattern, expected) => {
    expect(jsonFilterPattern(pattern)(EVENT)).toBe(expected);
  });

  it('matches only JSON events, and refuses what it cannot read instead of guessing', () => {
    expect(jsonFilterPattern('{ $.a = "b" }')('a b')).toBe(false);
    expect(() => jsonFilterPattern('[ip, user]')).toThrow(/not a JSON filter pattern/);
    expect(() => jsonFilterPattern('{ $.a = 1 && $.b = 2 || $.c = 3 }')).toThrow(/parentheses/);
    expect(() => jsonFilterPattern('{ $.a < "x" }')).toThrow(/numbers only/);
  });
});
