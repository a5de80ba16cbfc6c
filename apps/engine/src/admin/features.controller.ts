import { Body, Controller, Get, Headers, HttpCode, Param, Post, Put, Res } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiParam, ApiProperty, ApiPropertyOptional, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { Allow, IsOptional } from 'class-validator';
import type { Response } from 'express';
import { RuleSetHolder, type FeatureDocument, type FieldError } from '@risk/domain';
import { RuleAdministration, type VersionDiff } from '@risk/domain/rules/lifecycle';
import { AdminRoute, CurrentPrincipal, type Principal } from '../auth/roles';
import { baseVersion, etag } from './base-version';
import { IsRuleSetVersion, parseVersion } from './version-param';

const EXAMPLE_FEATURES = [
  { name: 'login_count_1h', entity: 'user_id', aggregate: 'count', event_types: ['login'], window: '1h' },
  { name: 'device_changed', entity: 'user_id', aggregate: 'changed', field: 'device_id' },
];

/** A whole feature set, as in `rules/features.json`; judged by the domain parser so every error names its path. */
export class FeaturesBodyDto {
  @ApiPropertyOptional({ description: 'the rule set version this write is based on (or an If-Match header)', example: 3 })
  @IsOptional()
  @IsRuleSetVersion()
  base_version?: number;
  @ApiProperty({ type: 'array', items: { type: 'object', additionalProperties: true }, example: EXAMPLE_FEATURES })
  @Allow()
  features?: unknown;
}

/** The active version's features. */
interface FeaturesAnswer {
  readonly version: number;
  /** The version this instance decides with right now (it converges on `version`). */
  readonly running: number;
  readonly features: readonly FeatureDocument[];
}

/**
 * Feature definitions versioned with the rules (docs/features.md, "Features
 * changed live"): every change writes and activates a rule set version that
 * pins the new set, so diff, rollback (`POST /rulesets/:version/activate`),
 * audit (`GET /audit`) and hot reload are those of the rules.
 */
@ApiTags('features')
@ApiSecurity('api-key')
@Controller()
export class FeaturesController {
  constructor(
    private readonly admin: RuleAdministration,
    private readonly holder: RuleSetHolder,
  ) {}

  @Get('features')
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'The feature definitions of the active rule set version (ETag = the version)' })
  async get(@Res({ passthrough: true }) response: Response): Promise<FeaturesAnswer> {
    const set = await this.admin.active();
    response.setHeader('ETag', etag(set.version));
    return { version: set.version, running: this.holder.current.version, features: this.admin.featureDocumentsOf(set) };
  }

  @Put('features')
  @AdminRoute('editor')
  @ApiHeader({ name: 'If-Match', required: false, description: 'the rule set version the write is based on, e.g. "7"' })
  @ApiOperation({
    summary: 'Replace the feature set: writes and activates a rule set version with the same rules and these features. Audited.',
    description:
      'Features whose definition stays keep their state; a removed or redefined one loses it; an added one starts empty. ' +
      '400 names each bad path (features[2].window); 409 FEATURE_IN_USE names rules[i]... when a rule uses a feature the set leaves out.',
  })
  async replace(
    @Body() body: FeaturesBodyDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<{ version: number; changed: boolean; features: readonly FeatureDocument[] }> {
    const { base_version, ...document } = body;
    const result = await this.admin.replaceFeatures(document, baseVersion(ifMatch, base_version), who.name);
    response.setHeader('ETag', etag(result.version.version));
    return { version: result.version.version, changed: result.changed, features: this.admin.featureDocumentsOf(result.version) };
  }

  @Post('features/validate')
  @HttpCode(200)
  @AdminRoute('viewer')
  @ApiBody({ type: FeaturesBodyDto })
  @ApiOperation({
    summary:
      'Check a feature set without saving it: bad paths (features[i]...), and the active rules that name a feature it leaves out (rules[i]...)',
  })
  async validate(@Body() body: unknown): Promise<{ valid: boolean; errors: FieldError[] }> {
    // Deliberately not a DTO: any JSON is accepted here and judged by the feature parser alone.
    const document = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : body;
    if (document !== null && typeof document === 'object' && !Array.isArray(document))
      delete (document as Record<string, unknown>).base_version;
    const errors = await this.admin.validateFeatures(document);
    return { valid: errors.length === 0, errors };
  }

  @Get('rulesets/:from/diff/:to')
  @AdminRoute('viewer')
  @ApiParam({ name: 'from', type: 'integer', description: 'a rule set version, plain decimal' })
  @ApiParam({ name: 'to', type: 'integer', description: 'a rule set version, plain decimal' })
  @ApiOperation({ summary: 'What changed between two versions: features added, removed and changed; rules added, removed and changed' })
  diff(@Param('from') from: string, @Param('to') to: string): Promise<VersionDiff> {
    return this.admin.diff(parseVersion(from, 'from'), parseVersion(to, 'to'));
  }
}
