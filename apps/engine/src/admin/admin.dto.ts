import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { Allow, IsIn, IsInt, IsObject, IsOptional, Max, Min } from 'class-validator';
import { decimalQueryValue, IsRuleSetVersion } from './version-param';

const BASE_VERSION = 'the rule set version this write is based on (or an If-Match header); 409 when another version is active by now';

const EXAMPLE_CONDITIONS = {
  all: [
    { fact: 'distinct_devices_1h', operator: 'greaterThan', value: 1 },
    { fact: 'distinct_cities_1h', operator: 'greaterThan', value: 1 },
  ],
};
const EXAMPLE_EVENT = { type: 'risk', params: { risk_level: 'HIGH', score: 80, reason: 'device and city changed within 1 h' } };

/**
 * A rule document (SPEC §4). The properties are only whitelisted here: the
 * domain validator checks them, so every error names its path
 * (e.g. `conditions.all[1].fact`) the same way for the API, the rule files and /rules/validate.
 */
export class RuleBodyDto {
  @ApiPropertyOptional({ description: BASE_VERSION, example: 3 }) @IsOptional() @IsRuleSetVersion() base_version?: number;
  @ApiProperty({
    example: 'device-and-city-change',
    description: 'letters, digits, _ . : - (1–128); in PUT, optional and must equal the path',
  })
  @Allow()
  id?: unknown;
  @ApiProperty({ example: 'New device and new city within an hour' }) @Allow() name?: unknown;
  @ApiPropertyOptional() @Allow() description?: unknown;
  @ApiProperty({ example: true }) @Allow() enabled?: unknown;
  @ApiProperty({ enum: ['active', 'shadow'], example: 'active' }) @Allow() mode?: unknown;
  @ApiProperty({ example: 10, minimum: 1 }) @Allow() priority?: unknown;
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    example: EXAMPLE_CONDITIONS,
    description: 'json-rules-engine conditions: all / any / not',
  })
  @Allow()
  conditions?: unknown;
  @ApiProperty({ type: 'object', additionalProperties: true, example: EXAMPLE_EVENT }) @Allow() event?: unknown;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    example: { key: 'user_id', duration: '30m' },
    description: 'alert at most once per key value per duration of event time (docs/suppression.md)',
  })
  @Allow()
  cooldown?: unknown;
}

export class BaseVersionDto {
  @ApiPropertyOptional({ description: BASE_VERSION, example: 3 }) @IsOptional() @IsRuleSetVersion() base_version?: number;
}

export class ModeDto extends BaseVersionDto {
  @ApiProperty({ enum: ['active', 'shadow'] }) @IsIn(['active', 'shadow']) mode!: 'active' | 'shadow';
}

export class BaseVersionQueryDto {
  @ApiPropertyOptional({ description: BASE_VERSION })
  @IsOptional()
  @Transform(decimalQueryValue)
  @IsRuleSetVersion()
  base_version?: number;
}

export class EvaluateDto {
  @ApiProperty({
    type: 'object',
    additionalProperties: true,
    description: 'an event as sent to POST /events',
    example: {
      event_id: 'dry-1',
      user_id: 'u-1',
      event_type: 'login',
      event_time: '2026-11-20T10:00:00Z',
      device_id: 'd-2',
      location_city: 'Lyon',
    },
  })
  @IsObject()
  event!: Record<string, unknown>;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: "feature values to assume; the others are 0 (false for *_changed). Leave it out to use the entities' live state instead",
    example: { distinct_devices_1h: 2, distinct_cities_1h: 2 },
  })
  @IsOptional()
  @IsObject()
  features?: Record<string, unknown>;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: true,
    description: 'a draft rule to evaluate alone (instead of a stored rule set)',
  })
  @IsOptional()
  @IsObject()
  rule?: Record<string, unknown>;
  @ApiPropertyOptional({ description: 'a stored rule set version to evaluate (default: the active one)' })
  @IsOptional()
  @IsRuleSetVersion()
  version?: number;
}

export class AuditQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Transform(decimalQueryValue)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;
  @ApiPropertyOptional({ minimum: 0, default: 0 })
  @IsOptional()
  @Transform(decimalQueryValue)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  offset?: number;
}
