/** A response of POST /events: its status and parsed JSON body. */
export interface EventsAnswer {
  readonly status: number;
  readonly body: any;
}

/** POSTs `events` to `${url}/events` as one NDJSON body. */
export async function postNdjson(
  url: string,
  events: readonly Record<string, unknown>[],
  headers: Record<string, string> = {},
): Promise<EventsAnswer> {
  const response = await fetch(`${url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...headers },
    body: events.map((e) => JSON.stringify(e)).join('\n') + '\n',
  });
  return { status: response.status, body: await response.json() };
}

/** Payments of `userId` a minute before `now` (within any lateness): `event(id, extra)` adds or overrides fields. */
export function paymentsOf(userId: string, now: number): (id: string, extra: Record<string, unknown>) => Record<string, unknown> {
  return (id, extra) => ({
    event_id: id,
    user_id: userId,
    event_type: 'payment',
    event_time: new Date(now - 60_000).toISOString(),
    amount: 10,
    ...extra,
  });
}
