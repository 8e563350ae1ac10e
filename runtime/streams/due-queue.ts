/**
 * Items ordered by the stream time at which they fall due (a join record's window closing, an
 * aggregation window's end + grace). Records mostly arrive in event-time order, so an insert is
 * nearly always an append; taking the due ones off the front moves a head index instead of shifting.
 */
export class DueQueue<T> {
  private entries: { at: number; item: T }[] = [];
  private head = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  add(at: number, item: T): void {
    let low = this.head;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.entries[middle]!.at <= at) low = middle + 1;
      else high = middle;
    }
    if (low === this.entries.length) this.entries.push({ at, item });
    else this.entries.splice(low, 0, { at, item });
  }

  /** The items due at stream time `now` (`at` < now, or ≤ now when `inclusive`), first due first; nothing is removed. */
  *due(now: number, inclusive: boolean): Generator<T> {
    for (let index = this.head; index < this.entries.length; index++) {
      const { at, item } = this.entries[index]!;
      if (inclusive ? at > now : at >= now) return;
      yield item;
    }
  }

  /** Removes the items due at `now` (what `due` yielded). */
  removeDue(now: number, inclusive: boolean): void {
    while (this.head < this.entries.length) {
      const at = this.entries[this.head]!.at;
      if (inclusive ? at > now : at >= now) break;
      this.head++;
    }
    // Compact once the dead prefix outweighs the live part, so memory follows what is buffered.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
