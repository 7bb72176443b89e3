/** Median, minimum and maximum of repeated measurements */

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
