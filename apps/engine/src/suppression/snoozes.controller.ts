import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { SnoozeAdministration, type Snooze, type SnoozeAuditPage } from '@risk/domain';
import { AdminRoute, CurrentPrincipal, type Principal } from '../auth/roles';
import { AuditQueryDto } from '../admin/admin.dto';

const EXAMPLE = {
  key: 'ip_address',
  value: '203.0.113.7',
  rule_id: 'device-and-city-change',
  duration: '2h',
  reason: 'office NAT, ticket 4711',
};

@ApiTags('suppression')
@ApiSecurity('api-key')
@Controller('snoozes')
export class SnoozesController {
  constructor(private readonly admin: SnoozeAdministration) {}

  @Post()
  @AdminRoute('editor')
  @ApiBody({
    schema: { type: 'object', example: EXAMPLE },
    description: 'key: a string event field; rule_id: one rule, or absent/null for every rule; duration: 1m to 90d (wall clock)',
  })
  @ApiOperation({ summary: "Snooze an entity's alerts (one rule or all) for a duration, with a reason; audited. Every instance follows." })
  create(@Body() body: unknown, @CurrentPrincipal() who: Principal): Promise<Snooze> {
    // Deliberately not a DTO: the domain validates, so each error names its property the same way everywhere.
    return this.admin.create(body, who.name);
  }

  @Get()
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'The active snoozes, soonest to expire first' })
  async list(): Promise<{ items: Snooze[] }> {
    return { items: await this.admin.list() };
  }

  @Get('audit')
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'Who snoozed or unsnoozed what, when and why; newest first' })
  audit(@Query() query: AuditQueryDto): Promise<SnoozeAuditPage> {
    return this.admin.audit(query.limit ?? 100, query.offset ?? 0);
  }

  @Delete(':id')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiOperation({ summary: 'End a snooze now; audited, with ?reason= when given' })
  @ApiQuery({ name: 'reason', required: false, description: 'why it ends early (at most 1024 characters), kept in the audit entry' })
  async remove(
    @Param('id') id: string,
    @Query('reason') reason: unknown,
    @CurrentPrincipal() who: Principal,
  ): Promise<{ deleted: Snooze }> {
    return { deleted: await this.admin.remove(id, who.name, reason as string | undefined) };
  }
}
