import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import {
  decodeCursor,
  InvalidInputError,
  NotFoundError,
  RecentAlerts,
  RecentRejects,
  VerdictQuery,
  type Alert,
  type RiskProfile,
  type Verdict,
  type VerdictPage,
} from '@risk/domain';
import { RecentQueryDto, VerdictQueryDto } from './verdict-query.dto';

@ApiTags('verdicts')
@Controller()
export class VerdictsController {
  constructor(
    private readonly verdicts: VerdictQuery,
    private readonly alerts: RecentAlerts,
    private readonly rejects: RecentRejects,
  ) {}

  @Get('verdicts')
  @ApiOperation({ summary: 'Search verdicts, newest event_time first; page with search_after' })
  find(@Query() query: VerdictQueryDto): Promise<VerdictPage> {
    if (query.search_after !== undefined && decodeCursor(query.search_after) === undefined) {
      throw new InvalidInputError('INVALID_QUERY', 'invalid cursor', [
        { path: 'search_after', message: 'is not a cursor returned by this API' },
      ]);
    }
    return this.verdicts.findVerdicts({
      ...query,
      from: query.from === undefined ? undefined : Date.parse(query.from),
      to: query.to === undefined ? undefined : Date.parse(query.to),
    });
  }

  @Get('verdicts/:event_id')
  @ApiOperation({ summary: 'The verdict of one event' })
  async get(@Param('event_id') eventId: string): Promise<Verdict> {
    const verdict = await this.verdicts.getVerdict(eventId);
    if (verdict === undefined) throw new NotFoundError('verdict', eventId);
    return verdict;
  }

  @Get('profiles/:user_id')
  @ApiOperation({ summary: "A user's risk profile: latest verdict, highest risk in 24 h, counts by level" })
  async profile(@Param('user_id') userId: string): Promise<RiskProfile> {
    const profile = await this.verdicts.getProfile(userId);
    if (profile === undefined) throw new NotFoundError('profile', userId);
    return profile;
  }

  @Get('alerts')
  @ApiOperation({ summary: 'Recent alerts raised by this instance (at or above the alert threshold), newest first' })
  recentAlerts(@Query() query: RecentQueryDto): { items: Alert[] } {
    return { items: this.alerts.recent(query.limit ?? 100) };
  }

  @Get('rejects')
  @ApiOperation({ summary: 'Recent rejected messages seen by this instance, with their reasons, newest first' })
  recentRejects(@Query() query: RecentQueryDto): { total: number; items: unknown[] } {
    return {
      total: this.rejects.total,
      items: this.rejects.recent(query.limit ?? 100).map((r) => ({
        source: r.source,
        stage: r.stage,
        errors: r.errors,
        raw: typeof r.raw === 'string' ? r.raw : r.raw.toString('utf8'),
      })),
    };
  }
}
