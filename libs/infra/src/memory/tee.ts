import { AlertPublisher, RejectSink, type Alert, type RejectedMessage } from '@risk/domain';

/** Publishes to the durable publisher first, then records locally (for `GET /alerts`). */
export class TeeAlertPublisher extends AlertPublisher {
  constructor(private readonly targets: readonly AlertPublisher[]) {
    super();
  }
  async publish(alerts: readonly Alert[]): Promise<void> {
    for (const target of this.targets) await target.publish(alerts);
  }
  override async flush(): Promise<void> {
    for (const target of this.targets) await target.flush();
  }
}

export class TeeRejectSink extends RejectSink {
  constructor(private readonly targets: readonly RejectSink[]) {
    super();
  }
  async reject(messages: readonly RejectedMessage[]): Promise<void> {
    for (const target of this.targets) await target.reject(messages);
  }
  override async flush(): Promise<void> {
    for (const target of this.targets) await target.flush();
  }
}
