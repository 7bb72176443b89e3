import type { Instant } from './time.ts'

/** An entry that knows its own place in a {@link DeadlineHeap} */
export interface HeapEntry {
  deadline: Instant
  /** position in the heap, -1 when not in it */
  heapIndex: number
}

/**
 * Binary min-heap on `deadline` with O(log n) update and removal, so one timer can serve any
 * number of connections: the caller arms a single real timer for {@link peek}.
 */
export class DeadlineHeap<T extends HeapEntry> {
  private readonly items: T[] = []

  get size (): number {
    return this.items.length
  }

  peek (): T | undefined {
    return this.items[0]
  }

  /** Inserts, moves or (for `Infinity`) removes an entry */
  update (item: T, deadline: Instant): void {
    if (deadline === Infinity) {
      this.remove(item)
      return
    }
    if (item.heapIndex < 0) {
      item.deadline = deadline
      item.heapIndex = this.items.length
      this.items.push(item)
      this.up(item.heapIndex)
      return
    }
    const old = item.deadline
    item.deadline = deadline
    if (deadline < old) {
      this.up(item.heapIndex)
    } else if (deadline > old) {
      this.down(item.heapIndex)
    }
  }

  remove (item: T): void {
    const i = item.heapIndex
    if (i < 0) {
      return
    }
    const last = this.items.pop() as T
    item.heapIndex = -1
    item.deadline = Infinity
    if (i < this.items.length) {
      this.items[i] = last
      last.heapIndex = i
      this.down(i)
      this.up(last.heapIndex)
    }
  }

  private up (i: number): void {
    const items = this.items
    const item = items[i]
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (items[parent].deadline <= item.deadline) {
        break
      }
      items[i] = items[parent]
      items[i].heapIndex = i
      i = parent
    }
    items[i] = item
    item.heapIndex = i
  }

  private down (i: number): void {
    const items = this.items
    const n = items.length
    const item = items[i]
    while (true) {
      const l = 2 * i + 1
      if (l >= n) {
        break
      }
      const r = l + 1
      const c = r < n && items[r].deadline < items[l].deadline ? r : l
      if (items[c].deadline >= item.deadline) {
        break
      }
      items[i] = items[c]
      items[i].heapIndex = i
      i = c
    }
    items[i] = item
    item.heapIndex = i
  }
}
