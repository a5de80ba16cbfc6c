import { Module, type DynamicModule } from '@nestjs/common';
import { RuleSetHolder, knownFacts, loadRuleFiles, type FeatureDefinition } from '@risk/domain';
import type { EngineConfig } from '@risk/infra/config/engine-config';

/**
 * Provides the RuleSetHolder the pipeline decides with. Seeds version 1 from
 * the shipped `rules/` directory.
 */
@Module({})
export class RulesModule {
  static forRoot(config: EngineConfig, features: readonly FeatureDefinition[]): DynamicModule {
    const holder = {
      provide: RuleSetHolder,
      useFactory: (): RuleSetHolder => new RuleSetHolder({ version: 1, rules: loadRuleFiles(config.rulesDir, knownFacts(features)) }),
    };
    return { module: RulesModule, global: true, providers: [holder], exports: [RuleSetHolder] };
  }
}
