import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO8601, IsOptional } from 'class-validator';

export class RuleStatsQueryDto {
  @ApiPropertyOptional({ description: 'inclusive lower bound on event_time (ISO-8601); default: 24 h before `to`' })
  @IsOptional()
  @IsISO8601({ strict: true })
  from?: string;
  @ApiPropertyOptional({ description: 'exclusive upper bound on event_time (ISO-8601); default: now. At most 31 days after `from`' })
  @IsOptional()
  @IsISO8601({ strict: true })
  to?: string;
}
