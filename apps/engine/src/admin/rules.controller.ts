import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Post, Put, Query, Res } from '@nestjs/common';
import { ApiBody, ApiHeader, ApiOperation, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { FeatureStore, type FieldError, type RuleDefinition } from '@risk/domain';
import { RuleAdministration, type DryRunResult, type RuleWriteResult } from '@risk/domain/rules/lifecycle';
import { AdminRoute, CurrentPrincipal, type Principal } from '../auth/roles';
import { BaseVersionDto, BaseVersionQueryDto, EvaluateDto, ModeDto, RuleBodyDto } from './admin.dto';
import { baseVersion, etag } from './base-version';

const IF_MATCH = {
  name: 'If-Match',
  required: false,
  description: 'the rule set version the write is based on, e.g. "7" (or base_version)',
};

/** The answer to a rule write: the version now active, and the rule as stored (null after a delete). */
interface WriteAnswer {
  readonly version: number;
  readonly changed: boolean;
  readonly rule: RuleDefinition | null;
}

@ApiTags('rules')
@ApiSecurity('api-key')
@Controller('rules')
export class RulesController {
  constructor(
    private readonly admin: RuleAdministration,
    private readonly featureStore: FeatureStore,
  ) {}

  @Get()
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'The rules of the active rule set version (ETag = the version)' })
  async list(@Res({ passthrough: true }) response: Response): Promise<{ version: number; rules: readonly RuleDefinition[] }> {
    const set = await this.admin.active();
    response.setHeader('ETag', etag(set.version));
    return { version: set.version, rules: set.rules };
  }

  @Post()
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({
    summary: 'Create a rule: writes and activates a new rule set version (409 if the id exists or the base version is stale)',
  })
  async create(
    @Body() body: RuleBodyDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    const { base_version, ...rule } = body;
    return answer(response, await this.admin.createRule(rule, baseVersion(ifMatch, base_version), who.name));
  }

  @Post('validate')
  @HttpCode(200)
  @AdminRoute('viewer')
  @ApiBody({ type: RuleBodyDto })
  @ApiOperation({ summary: 'Check a rule document without saving it: every error names its path, e.g. conditions.all[1].fact' })
  async validate(@Body() body: unknown): Promise<{ valid: boolean; errors: FieldError[] }> {
    // Deliberately not a DTO: any JSON is accepted here and judged by the rule validator alone.
    const document = body !== null && typeof body === 'object' && !Array.isArray(body) ? { ...(body as Record<string, unknown>) } : body;
    if (document !== null && typeof document === 'object' && !Array.isArray(document))
      delete (document as Record<string, unknown>).base_version;
    const errors = await this.admin.check(document);
    return { valid: errors.length === 0, errors };
  }

  @Post('evaluate')
  @HttpCode(200)
  @AdminRoute('viewer')
  @ApiOperation({
    summary: 'Dry run: decide an event with a draft rule, a stored version or the active rule set, and explain every condition',
    description:
      'With `features`: those values, the others at 0 (false for *_changed). Without `features`: the values the event would get from ' +
      "the entities' live state (`features_from: live_state`). Changes no state and writes no verdict.",
  })
  evaluate(@Body() body: EvaluateDto): Promise<DryRunResult> {
    return this.admin.evaluate({ ...body, live: (event) => this.featureStore.preview(event) });
  }

  @Get(':id')
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'One rule of the active rule set version' })
  async get(@Param('id') id: string, @Res({ passthrough: true }) response: Response): Promise<{ version: number; rule: RuleDefinition }> {
    const found = await this.admin.getRule(id);
    response.setHeader('ETag', etag(found.version));
    return found;
  }

  @Put(':id')
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({ summary: 'Replace a rule: writes and activates a new rule set version' })
  async replace(
    @Param('id') id: string,
    @Body() body: RuleBodyDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    const { base_version, ...rule } = body;
    return answer(response, await this.admin.replaceRule(id, rule, baseVersion(ifMatch, base_version), who.name));
  }

  @Delete(':id')
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({ summary: 'Delete a rule: writes and activates a new rule set version (base version via If-Match or ?base_version=)' })
  async remove(
    @Param('id') id: string,
    @Query() query: BaseVersionQueryDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    return answer(response, await this.admin.deleteRule(id, baseVersion(ifMatch, query.base_version), who.name));
  }

  @Post(':id/enable')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({ summary: 'Enable a rule (a new version; nothing is written when it is already enabled)' })
  async enable(
    @Param('id') id: string,
    @Body() body: BaseVersionDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    return answer(response, await this.admin.setEnabled(id, true, baseVersion(ifMatch, body.base_version), who.name));
  }

  @Post(':id/disable')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({ summary: 'Disable a rule: it is no longer evaluated' })
  async disable(
    @Param('id') id: string,
    @Body() body: BaseVersionDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    return answer(response, await this.admin.setEnabled(id, false, baseVersion(ifMatch, body.base_version), who.name));
  }

  @Post(':id/mode')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiHeader(IF_MATCH)
  @ApiOperation({ summary: 'Switch a rule between active and shadow mode' })
  async mode(
    @Param('id') id: string,
    @Body() body: ModeDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
    @Res({ passthrough: true }) response: Response,
  ): Promise<WriteAnswer> {
    return answer(response, await this.admin.setMode(id, body.mode, baseVersion(ifMatch, body.base_version), who.name));
  }
}

function answer(response: Response, result: RuleWriteResult): WriteAnswer {
  response.setHeader('ETag', etag(result.version.version));
  return { version: result.version.version, changed: result.changed, rule: result.rule };
}
