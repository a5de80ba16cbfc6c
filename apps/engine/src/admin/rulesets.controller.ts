import { Body, Controller, Get, Headers, HttpCode, Post, Query } from '@nestjs/common';
import { ApiHeader, ApiOperation, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import {
  RuleAdministration,
  type AuditEntry,
  type AuditPage,
  type RuleSetVersion,
  type RuleSetVersionSummary,
} from '@risk/domain/rules/lifecycle';
import { RuleSetHolder } from '@risk/domain';
import { AdminRoute, CurrentPrincipal, type Principal } from '../auth/roles';
import { AuditQueryDto, BaseVersionDto } from './admin.dto';
import { baseVersion } from './base-version';
import { VersionParam } from './version-param';

const VERSION_PARAM = { name: 'version', type: 'integer', description: 'a rule set version, plain decimal (e.g. 7)' } as const;

@ApiTags('rules')
@ApiSecurity('api-key')
@Controller()
export class RuleSetsController {
  constructor(
    private readonly admin: RuleAdministration,
    private readonly holder: RuleSetHolder,
  ) {}

  @Get('rulesets')
  @AdminRoute('viewer')
  @ApiOperation({
    summary:
      'Every rule set version, newest first; `active` is the one the fleet converges on, `running` the one this instance decides with',
  })
  async list(): Promise<{ active: number | undefined; running: number; items: RuleSetVersionSummary[] }> {
    const items = await this.admin.listVersions();
    return { active: items.find((v) => v.active)?.version, running: this.holder.current.version, items };
  }

  @Get('rulesets/:version')
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'One rule set version with its rules' })
  @ApiParam(VERSION_PARAM)
  get(@VersionParam() version: number): Promise<RuleSetVersion> {
    return this.admin.getVersion(version);
  }

  @Post('rulesets/:version/activate')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiHeader({ name: 'If-Match', required: false, description: 'only if this version is still the active one' })
  @ApiOperation({ summary: 'Activate a stored version on every instance; activating an older one is a rollback. Audited.' })
  @ApiParam(VERSION_PARAM)
  async activate(
    @VersionParam() version: number,
    @Body() body: BaseVersionDto,
    @Headers('if-match') ifMatch: string | undefined,
    @CurrentPrincipal() who: Principal,
  ): Promise<{ version: number; previous_version: number; audit: AuditEntry }> {
    const result = await this.admin.activate(version, who.name, baseVersion(ifMatch, body.base_version));
    return { version: result.version.version, previous_version: result.audit.previous_version, audit: result.audit };
  }

  @Get('audit')
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'The audit trail of rule changes and activations, newest first' })
  audit(@Query() query: AuditQueryDto): Promise<AuditPage> {
    return this.admin.audit(query.limit ?? 100, query.offset ?? 0);
  }
}
