/** Median, minimum, maximum and percentiles of measurements */

export interface Summary {
  median: number
  min: number
  max: number
  /** how many values */
  n: number
}

export function median (values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The p-th percentile (0..100), interpolated between the nearest ranks */
export function percentile (values: number[], p: number): number {
  if (values.length === 0) {
    throw new Error('no values for a percentile')
  }
  const sorted = [...values].sort((a, b) => a - b)
  const rank = (p / 100) * (sorted.length - 1)
  const low = Math.floor(rank)
  const high = Math.ceil(rank)
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low)
}

export function summarize (values: number[]): Summary {
  if (values.length === 0) {
    throw new Error('no values to summarize')
  }
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    n: values.length
  }
}
