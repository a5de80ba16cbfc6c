import { Injectable, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import { RiskPipeline } from '@risk/domain';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import type { ShutdownParticipant } from './engine.tokens';
import { ClientRegistry } from './client-registry';

/**
 * Graceful shutdown in phases (SIGTERM/SIGINT handled in main.ts, bounded by SHUTDOWN_TIMEOUT):
 * stop intake → drain in-flight batches and commit → flush sinks → close clients.
 * Participants (Kafka consumer, HTTP ingest, rule watcher, clients) register here.
 */
@Injectable()
export class EngineLifecycle implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly participants: ShutdownParticipant[] = [];
  private readonly log: JsonLogger;
  private draining = false;

  constructor(
    private readonly pipeline: RiskPipeline,
    private readonly clients: ClientRegistry,
    logger: JsonLogger,
  ) {
    this.log = logger.child('lifecycle');
  }

  register(participant: ShutdownParticipant): void {
    this.participants.push(participant);
  }

  get isShuttingDown(): boolean {
    return this.draining;
  }

  async beforeApplicationShutdown(signal?: string): Promise<void> {
    this.draining = true;
    this.log.info('shutting down: stopping intake', { signal });
    await Promise.all(this.participants.map((p) => p.stopIntake?.() ?? Promise.resolve()));
    this.log.info('draining in-flight batches');
    await Promise.all(this.participants.map((p) => p.drain?.() ?? Promise.resolve()));
    this.log.info('flushing sinks');
    await this.pipeline.flush();
  }

  async onApplicationShutdown(): Promise<void> {
    for (const participant of [...this.participants].reverse()) {
      try {
        await participant.close?.();
      } catch (error) {
        this.log.warn('error while closing a client', { error: (error as Error).message });
      }
    }
    // Everything EngineAdapters opened (feature state, verdict store, SQLite, Kafka), newest first.
    await this.clients.closeAll((name, error) =>
      this.log.warn('error while closing a client', { client: name, error: (error as Error).message }),
    );
    this.log.info('stopped');
  }
}
