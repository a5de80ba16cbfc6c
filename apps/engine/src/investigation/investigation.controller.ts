import { Controller, Get, NotImplementedException, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { FeatureStore, InvalidInputError, NotFoundError, VerdictQuery, type EntityFeatures, type RuleStats } from '@risk/domain';
import { ruleStatsRange } from '@risk/domain/verdicts/rule-stats-range';
import { EngineSettings } from '../engine/engine.tokens';
import { RuleStatsQueryDto } from './investigation.dto';

/**
 * Investigation reads (docs/investigation.md): rule statistics from the
 * verdict store, and an entity's live feature values from the feature store.
 * Both change nothing. Registered in AppModule, before RulesModule's
 * `GET /rules/:id`, so that `/rules/stats` reaches this controller.
 */
@ApiTags('investigation')
@Controller()
export class InvestigationController {
  constructor(
    private readonly verdicts: VerdictQuery,
    private readonly features: FeatureStore,
    private readonly settings: EngineSettings,
  ) {}

  @Get('rules/stats')
  @ApiOperation({
    summary: 'Per rule and mode: hits, alerts raised, suppressed and last hit, over verdicts with event_time in [from, to)',
    description:
      'From the verdict store (an Elasticsearch aggregation, or SQLite in the embedded mode). Default range: the last 24 h; at most 31 days.',
  })
  ruleStats(@Query() query: RuleStatsQueryDto): Promise<RuleStats> {
    const range = ruleStatsRange(
      query.from === undefined ? undefined : Date.parse(query.from),
      query.to === undefined ? undefined : Date.parse(query.to),
      Date.now(),
    );
    return this.verdicts.ruleStats({ ...range, alertThreshold: this.settings.config.alerts.threshold });
  }

  @Get('entities/:key/:value/features')
  @ApiParam({
    name: 'key',
    description: 'an entity key features are keyed on: user_id, ip_address, device_id, a declared field, or user_id+device_id',
  })
  @ApiParam({
    name: 'value',
    description: 'the entity value; a composite key takes <length of the first>:<first>|<second>, e.g. 5:alice|dev-1',
  })
  @ApiOperation({
    summary: "An entity's feature values as of its latest accepted event (windows end at that event's time)",
    description: '404 when the feature store holds no state for the entity (never seen, or expired). Changes no state.',
  })
  async entityFeatures(@Param('key') key: string, @Param('value') value: string): Promise<EntityFeatures> {
    const outcome = await this.features.readEntity(key, value);
    switch (outcome.kind) {
      case 'found':
        return outcome.entity;
      case 'unknown-key':
        throw new InvalidInputError('INVALID_ENTITY', `no feature is keyed on ${key}`, [
          { path: 'key', message: `must be one of ${outcome.keys.join(', ')}` },
        ]);
      case 'invalid-value':
        throw new InvalidInputError('INVALID_ENTITY', 'invalid entity value', outcome.errors);
      case 'not-found':
        throw new NotFoundError(`entity ${key}`, value);
      case 'unsupported':
        throw new NotImplementedException('this feature store cannot read entities');
    }
  }
}
