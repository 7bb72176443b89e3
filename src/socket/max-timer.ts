/**
 * The longest delay `setTimeout` waits for, ms: Node fires a longer one after 1 ms (and warns), so
 * a far deadline (an idle timeout of weeks) is clamped to this, or waited for in steps of it
 */
export const MAX_TIMER_MS = 2 ** 31 - 1
