/**
 * Wrap-safe arithmetic on BEP 29's 16-bit `seq_nr` / `ack_nr` and on its 32-bit microsecond
 * timestamps. Every sequence comparison in the engine goes through these helpers: a raw `<` on
 * sequence numbers breaks after 65,535 packets (see eth/utp#60 and ultralight#691).
 */

export const SEQ_MASK = 0xffff
const SEQ_HALF = 0x8000

/** `a + n` in 16-bit sequence space */
export function seqAdd (a: number, n: number): number {
  return (a + n) & SEQ_MASK
}

/**
 * Signed distance from `b` to `a` in 16-bit sequence space, in [-32768, 32767]: positive when
 * `a` comes after `b`
 */
export function seqDiff (a: number, b: number): number {
  const d = (a - b) & SEQ_MASK
  return d >= SEQ_HALF ? d - 0x10000 : d
}

/** `a` comes strictly before `b` */
export function seqLt (a: number, b: number): boolean {
  return seqDiff(a, b) < 0
}

/** `a` comes before or is `b` */
export function seqLte (a: number, b: number): boolean {
  return seqDiff(a, b) <= 0
}

/** `(a - b) mod 2^32`, for BEP 29's 32-bit microsecond timestamps */
export function u32Sub (a: number, b: number): number {
  return (a - b) >>> 0
}

/** `a` is before `b` in 32-bit wrapping order */
export function u32Lt (a: number, b: number): boolean {
  return ((a - b) | 0) < 0
}
