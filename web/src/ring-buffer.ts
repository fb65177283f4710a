/**
 * The newest `capacity` items, read oldest first: what a live view keeps, however long it runs
 * (a page left open for a day holds no more than this).
 */
export class RingBuffer<T> {
  readonly capacity: number
  private readonly items: Array<T | undefined>
  private start = 0
  private count = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('A ring buffer holds at least one item.')
    this.capacity = capacity
    this.items = new Array<T | undefined>(capacity)
  }

  get size (): number {
    return this.count
  }

  /** Adds an item; when full, the oldest is dropped for it. */
  push (item: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count) % this.capacity] = item
      this.count++
      return
    }
    this.items[this.start] = item
    this.start = (this.start + 1) % this.capacity
  }

  /** The items held, oldest first. */
  toArray (): T[] {
    const out: T[] = []
    for (let i = 0; i < this.count; i++) out.push(this.items[(this.start + i) % this.capacity] as T)
    return out
  }
}
