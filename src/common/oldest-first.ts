/**
 * Deletes a Map's oldest entries (insertion order) with one live iterator kept across calls. A new
 * iterator per eviction would walk every hole V8 leaves at the front of a Map after deletions:
 * about 45 µs per eviction at 50,000 entries instead of 1 µs.
 */
export class OldestFirst<K> {
  private keys?: Iterator<K>;

  constructor(private readonly map: Map<K, unknown>) {}

  /** Deletes the oldest entry and returns its key; undefined when the map is empty. */
  evict(): K | undefined {
    while (this.map.size > 0) {
      this.keys ??= this.map.keys();
      const oldest = this.keys.next();
      // A finished iterator stays finished: start a new pass from the (new) oldest entry.
      if (oldest.done === true) {
        this.keys = undefined;
        continue;
      }
      this.map.delete(oldest.value);
      return oldest.value;
    }
    return undefined;
  }
}
