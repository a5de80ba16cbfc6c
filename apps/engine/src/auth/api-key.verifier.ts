import { createHash, timingSafeEqual } from 'node:crypto';
import type { ApiKeyConfig } from '@risk/infra/config/engine-config';

/**
 * Checks a presented API key against the configured ones. Only SHA-256
 * digests are held; every configured key is compared (no early exit) with
 * `timingSafeEqual`, so the time taken says nothing about which key, or how
 * much of one, matched.
 */
export class ApiKeyVerifier {
  private readonly keys: ReadonlyArray<{ readonly config: ApiKeyConfig; readonly digest: Buffer }>;

  constructor(keys: readonly ApiKeyConfig[]) {
    this.keys = keys.map((config) => ({ config, digest: Buffer.from(config.sha256, 'hex') }));
  }

  get configured(): boolean {
    return this.keys.length > 0;
  }

  verify(presented: string): ApiKeyConfig | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    let match: ApiKeyConfig | undefined;
    for (const key of this.keys) {
      if (key.digest.length === digest.length && timingSafeEqual(key.digest, digest) && match === undefined) match = key.config;
    }
    return match;
  }
}
