import { Module, type DynamicModule } from '@nestjs/common';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import type { JsonLogger } from '@risk/infra/logging/json-logger';
import { EngineModule } from './engine/engine.module';
import { HealthController } from './health/health.controller';
import { EventsController } from './ingest/events.controller';
import { HttpIngestService } from './ingest/http-ingest.service';
import { KafkaIngestService } from './ingest/kafka-ingest.service';
import { InvestigationController } from './investigation/investigation.controller';
import { VerdictsController } from './verdicts/verdicts.controller';

@Module({})
export class AppModule {
  static forRoot(config: EngineConfig, logger: JsonLogger): DynamicModule {
    return {
      module: AppModule,
      imports: [EngineModule.forRoot(config, logger)],
      // InvestigationController first: its GET /rules/stats must be routed before RulesModule's GET /rules/:id.
      controllers: [InvestigationController, EventsController, VerdictsController, HealthController],
      providers: [HttpIngestService, KafkaIngestService],
    };
  }
}
