import { call } from '../admin/admin-support';

/** A rule firing HIGH 95 when the event's IP is in `list`. */
export function listRule(id: string, list: string, operator = 'inList'): Record<string, unknown> {
  return {
    id,
    name: `IP ${operator} ${list}`,
    enabled: true,
    mode: 'active',
    priority: 1,
    conditions: { all: [{ fact: 'ip_address', operator, value: list }] },
    event: { type: 'risk', params: { risk_level: 'HIGH', score: 95, reason: `ip in ${list}` } },
  };
}

let counter = 0;
export function loginFrom(ip: string): Record<string, unknown> {
  counter++;
  return {
    event_id: `l-${process.pid}-${counter}`,
    user_id: `u-${counter}`,
    event_type: 'login',
    event_time: new Date().toISOString(),
    ip_address: ip,
  };
}

/** Polls GET /lists/:name until the instance decides with `version` (pub/sub is quick; the poll every 5 s is the floor). */
export async function waitForListVersion(url: string, name: string, version: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { body } = await call(url, 'GET', `/lists/${name}`);
    if (body.running_version === version) return;
    if (Date.now() > deadline)
      throw new Error(`${url} runs ${name} at version ${String(body.running_version)}, not ${version}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
