import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { baseVersion } from '@risk/engine/admin/base-version';
import { ApiKeyVerifier } from './api-key.verifier';

const sha = (key: string): string => createHash('sha256').update(key).digest('hex');

describe('ApiKeyVerifier', () => {
  const verifier = new ApiKeyVerifier([
    { name: 'ops', role: 'viewer', sha256: sha('viewer-key-0123456789') },
    { name: 'ci', role: 'editor', sha256: sha('editor-key-0123456789') },
  ]);

  it('finds the key by its SHA-256 and nothing else', () => {
    assert.equal(verifier.verify('editor-key-0123456789')?.name, 'ci');
    assert.equal(verifier.verify('viewer-key-0123456789')?.role, 'viewer');
    assert.equal(verifier.verify('editor-key-012345678'), undefined);
    assert.equal(verifier.verify(sha('editor-key-0123456789')), undefined);
    assert.equal(verifier.configured, true);
    assert.equal(new ApiKeyVerifier([]).configured, false);
  });
});

describe('baseVersion', () => {
  it('reads If-Match in its usual spellings and agrees with base_version', () => {
    assert.equal(baseVersion('"7"', undefined), 7);
    assert.equal(baseVersion('W/"7"', 7), 7);
    assert.equal(baseVersion('7', undefined), 7);
    assert.equal(baseVersion('*', undefined), undefined);
    assert.equal(baseVersion(undefined, 3), 3);
    assert.throws(() => baseVersion('"7"', 8), /disagree/);
    assert.throws(() => baseVersion('yesterday', undefined), /If-Match/);
  });
});
