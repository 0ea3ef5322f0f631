import { describe, expect, it } from 'vitest';
import { fromFloat16Bits, toFloat16Bits } from '../src/model/float16.js';

describe('float16', () => {
  it('round-trips every half value exactly', () => {
    for (let h = 0; h < 0x10000; h++) {
      const v = fromFloat16Bits(h);
      if (Number.isNaN(v)) {
        expect(Number.isNaN(fromFloat16Bits(toFloat16Bits(v)))).toBe(true);
        continue;
      }
      expect(toFloat16Bits(v)).toBe(h);
    }
  });

  it('rounds to the nearest half, ties to even, with overflow to infinity', () => {
    expect(toFloat16Bits(1)).toBe(0x3c00);
    expect(toFloat16Bits(-2)).toBe(0xc000);
    expect(toFloat16Bits(65504)).toBe(0x7bff);
    expect(toFloat16Bits(65520)).toBe(0x7c00);
    expect(toFloat16Bits(1e-8)).toBe(0);
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1).
    expect(toFloat16Bits(1 + 2 ** -11)).toBe(0x3c00);
    expect(toFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    // Relative error of any normal value is at most 2^-11.
    for (const v of [0.1, 0.3333, 123.456, -7.77e-3, 3.1e-5]) {
      const back = fromFloat16Bits(toFloat16Bits(v));
      expect(Math.abs(back - v) / Math.abs(v)).toBeLessThan(v < 6.1e-5 ? 0.02 : 2 ** -11 + 1e-9);
    }
  });
});
