import { describe, expect, it } from 'vitest';
import { sharedSlots, slotIsStale } from '../../src/infrastructure/call-pacer';
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

describe("a process's waiting calls share their slots", () => {
  /** A slot source whose requests the test completes, in order or failing. */
  function slotSource() {
    const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
    const getSlot = () => new Promise<void>((resolve, reject) => void pending.push({ resolve, reject }));
    return { pending, getSlot };
  }
  const flush = () => new Promise((r) => setImmediate(r));

  it('gives each slot that comes due to the most urgent waiting call, then the first come', async () => {
    const source = slotSource();
    const acquire = sharedSlots(source.getSlot);
    const served: string[] = [];
    const call = (name: string, key?: number) => acquire(key).then(() => void served.push(name));
    const calls = [call('first page a', 3), call('first page b', 3), call('listed later page', 4)];
    calls.push(call('later page', 2), call('no key (live)'));
    expect(source.pending).toHaveLength(5);
    source.pending[0]!.resolve();
    await flush();
    expect(served).toEqual(['later page']);
    for (const p of source.pending.slice(1)) p.resolve();
    await Promise.all(calls);
    expect(served).toEqual(['later page', 'first page a', 'first page b', 'no key (live)', 'listed later page']);
  });

  it('a failed request fails the least urgent waiting call, and every other call still gets a slot', async () => {
    const source = slotSource();
    const acquire = sharedSlots(source.getSlot);
    const urgent = acquire(2);
    const least = acquire(4).catch((err: Error) => err.message);
    const other = acquire(3);
    source.pending[0]!.reject(new Error('pacer did not answer'));
    expect(await least).toBe('pacer did not answer');
    source.pending[1]!.resolve();
    source.pending[2]!.resolve();
    await expect(Promise.all([urgent, other])).resolves.toEqual([undefined, undefined]);
  });
});
