import { AlertPublisher, type Alert } from '@risk/domain';

/** Embedded default's alerts: the most recent ones, newest last, for `GET /alerts`. */
export class MemoryAlertPublisher extends AlertPublisher {
  private alerts: Alert[] = [];

  constructor(private readonly limit = 10_000) {
    super();
  }

  publish(alerts: readonly Alert[]): Promise<void> {
    this.alerts.push(...alerts);
    if (this.alerts.length > this.limit * 2) this.alerts = this.alerts.slice(-this.limit);
    return Promise.resolve();
  }

  /** Newest first. */
  recent(limit: number): Alert[] {
    const from = Math.max(this.alerts.length - Math.min(limit, this.limit), 0);
    return this.alerts.slice(from).reverse();
  }
}
