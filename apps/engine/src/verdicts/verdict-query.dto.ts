import { ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsISO8601, IsOptional, IsString, Length, Max, Min } from 'class-validator';
import { RISK_LEVELS, type RiskLevel } from '@risk/domain';

export class VerdictQueryDto {
  @ApiPropertyOptional() @IsOptional() @IsString() @Length(1, 128) user_id?: string;
  @ApiPropertyOptional({ enum: RISK_LEVELS }) @IsOptional() @IsIn(RISK_LEVELS) risk_level?: RiskLevel;
  @ApiPropertyOptional({ description: 'verdicts where this active rule fired' }) @IsOptional() @IsString() @Length(1, 128) rule_id?: string;
  @ApiPropertyOptional({ description: 'verdicts where this shadow rule fired (shadow_rules)' })
  @IsOptional()
  @IsString()
  @Length(1, 128)
  shadow_rule_id?: string;
  @ApiPropertyOptional({ description: 'inclusive lower bound on event_time (ISO-8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;
  @ApiPropertyOptional({ description: 'exclusive upper bound on event_time (ISO-8601)' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 1000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  size?: number;
  @ApiPropertyOptional({ description: 'cursor from the previous page (next_search_after)' })
  @IsOptional()
  @IsString()
  @Length(1, 512)
  search_after?: string;
}

export class RecentQueryDto {
  @ApiPropertyOptional({ minimum: 1, maximum: 10000, default: 100 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(10000)
  limit?: number;
}
