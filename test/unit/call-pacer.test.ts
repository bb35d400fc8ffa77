import { describe, expect, it } from 'vitest';
import { slotIsStale } from '../../src/infrastructure/call-pacer';
import { nextSlot } from '../../workflows/cost-explorer-pacer';

describe('Cost Explorer call slots', () => {
  it('are one interval apart, never before now', () => {
    expect(nextSlot(0, 1_000, 250)).toEqual({ at: 1_000, nextFreeAt: 1_250 });
    expect(nextSlot(1_250, 1_100, 250)).toEqual({ at: 1_250, nextFreeAt: 1_500 });
  });

  it("are no sooner than the lead a caller asks for, which a busy pacer's next free slot may exceed", () => {
    expect(nextSlot(0, 1_000, 250, 300)).toEqual({ at: 1_300, nextFreeAt: 1_550 });
    expect(nextSlot(2_000, 1_000, 250, 300)).toEqual({ at: 2_000, nextFreeAt: 2_250 });
  });

  it('are given up once a caller is more than a quarter interval late, so no two calls come closer than three quarters of one', () => {
    expect(slotIsStale(1_000, 1_000, 250)).toBe(false);
    expect(slotIsStale(1_000, 1_062, 250)).toBe(false);
    expect(slotIsStale(1_000, 1_063, 250)).toBe(true);
  });
});
