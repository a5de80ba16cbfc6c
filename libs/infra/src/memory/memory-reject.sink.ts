import { RejectSink, type RejectedMessage } from '@risk/domain';

/**
 * Embedded default's dead letters: kept in memory (bounded) and logged, for
 * `GET /rejects`. HTTP callers also get the reasons in their 400 response.
 */
export class MemoryRejectSink extends RejectSink {
  private rejects: RejectedMessage[] = [];
  total = 0;

  constructor(
    private readonly limit = 10_000,
    private readonly onReject?: (message: RejectedMessage) => void,
  ) {
    super();
  }

  reject(messages: readonly RejectedMessage[]): Promise<void> {
    this.total += messages.length;
    this.rejects.push(...messages);
    if (this.rejects.length > this.limit * 2) this.rejects = this.rejects.slice(-this.limit);
    if (this.onReject !== undefined) for (const message of messages) this.onReject(message);
    return Promise.resolve();
  }

  recent(limit: number): RejectedMessage[] {
    return this.rejects.slice(-Math.min(limit, this.limit)).reverse();
  }
}
