/**
 * Lets the event loop run (I/O, other requests, event decisions) between two
 * batches of a long list operation: a million-entry upload or load is done
 * in slices, never in one synchronous stretch.
 */
export function yieldToEvents(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
