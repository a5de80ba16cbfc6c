/**
 * Which WATCH a single node's connection holds, so that a MULTI … EXEC
 * transaction is sent only under the WATCH its own batch registered
 * (redis-single-node-transaction.ts).
 *
 * WATCH is per connection and cumulative, and EXEC (or UNWATCH, or a
 * reconnection) forgets every watched key: two batches of one process
 * (other partitions, or two stores on one client) that both watched and
 * then sent their EXECs would leave the second transaction unwatched. So at
 * most one session at a time: a batch whose read finds another session open
 * does not watch and writes through the script. A session is intact while
 * nothing else was watched, unwatched or executed on the connection since
 * its WATCH, and the connection did not close.
 *
 * A watched key that was modified stays flagged on the connection until
 * the next EXEC, DISCARD or UNWATCH, whatever is watched again: a session
 * that ended without its EXEC (its batch wrote through the script, or
 * failed) leaves the next session an UNWATCH to send first.
 */
export class WatchSession {
  constructor(readonly generation: number) {}
}

export class ConnectionWatch {
  private generation = 0;
  private open: WatchSession | undefined;
  /** A session ended without EXEC: its keys may still be watched, and flagged as modified. */
  private left = false;

  /** A new session (and whether to send UNWATCH before its WATCH), or undefined while another one is open. */
  begin(): { session: WatchSession; unwatch: boolean } | undefined {
    if (this.open !== undefined) return undefined;
    const unwatch = this.left;
    this.left = false;
    this.open = new WatchSession(++this.generation);
    return { session: this.open, unwatch };
  }

  /** Whether the connection still holds this session's WATCH and nothing else was watched or executed since. */
  intact(session: WatchSession): boolean {
    return this.open === session && this.generation === session.generation;
  }

  /** The session's EXEC is being sent: it unwatches everything. */
  executed(session: WatchSession): void {
    if (this.open !== session) return;
    this.open = undefined;
    this.generation++;
  }

  /** The session's batch will not send EXEC. */
  abandon(session: WatchSession | undefined): void {
    if (session === undefined || this.open !== session) return;
    this.open = undefined;
    this.generation++;
    this.left = true;
  }

  /** The connection closed: the server forgot its WATCH; an open session can no longer rely on it. */
  reset(): void {
    this.open = undefined;
    this.generation++;
    this.left = false;
  }
}
