import type { Alert, RejectedMessage } from '@risk/domain';

/** Read side of this instance's recent alerts (`GET /alerts`), newest first. */
export abstract class RecentAlerts {
  abstract recent(limit: number): Alert[];
}

/** Read side of this instance's recent rejects (`GET /rejects`), newest first, and how many were ever kept. */
export abstract class RecentRejects {
  abstract readonly total: number;
  abstract recent(limit: number): RejectedMessage[];
}
