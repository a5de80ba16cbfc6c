import { Controller, Get, Header, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RuleSetHolder } from '@risk/domain';
import { EngineMetrics } from '@risk/infra/metrics/engine.metrics';
import { EngineLifecycle } from '../engine/engine.lifecycle';
import { EngineSettings } from '../engine/engine.tokens';
import { ReadinessRegistry } from './readiness';

@ApiTags('operations')
@Controller()
export class HealthController {
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly rules: RuleSetHolder,
    private readonly metrics: EngineMetrics,
    private readonly lifecycle: EngineLifecycle,
    private readonly readiness: ReadinessRegistry,
    private readonly settings: EngineSettings,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: the process is up; reports the rule set version it decides with' })
  health(): Record<string, unknown> {
    const { config } = this.settings;
    return {
      status: this.lifecycle.isShuttingDown ? 'shutting_down' : 'ok',
      rules_version: this.rules.current.version,
      started_at: this.startedAt,
      mode: {
        state: config.redis === undefined ? 'memory' : 'redis',
        ingest: config.kafka === undefined ? 'http' : 'kafka+http',
        verdicts: config.elasticsearch === undefined ? 'sqlite' : 'elasticsearch',
      },
    };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: every configured dependency answers' })
  async ready(@Res() response: Response): Promise<void> {
    const result = await this.readiness.run();
    const ready = result.ok && !this.lifecycle.isShuttingDown;
    response
      .status(ready ? 200 : 503)
      .json({ status: ready ? 'ready' : 'not_ready', rules_version: this.rules.current.version, ...result });
  }

  @Get('metrics')
  @Header('Cache-Control', 'no-store')
  @ApiOperation({ summary: 'Prometheus metrics' })
  async prometheus(@Res() response: Response): Promise<void> {
    this.metrics.setRulesVersion(this.rules.current.version);
    const { contentType, body } = await this.metrics.render();
    response.type(contentType).send(body);
  }
}
