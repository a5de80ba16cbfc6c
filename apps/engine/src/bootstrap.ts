import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { EngineConfig } from '@risk/infra/config/engine-config';
import { JsonLogger } from '@risk/infra/logging/json-logger';
import { AppModule } from './app.module';
import { ErrorFilter, toInvalidInput } from './http/error.filter';
import { installBodyReaders } from './http/request-body';

export interface RunningEngine {
  readonly app: NestExpressApplication;
  readonly url: string;
  /** The phased shutdown (EngineLifecycle); main.ts calls it on SIGTERM/SIGINT, bounded by SHUTDOWN_TIMEOUT. */
  close(): Promise<void>;
}

/** Creates, configures and starts the HTTP server; used by main.ts and by the tests. */
export async function startEngine(config: EngineConfig, logger = new JsonLogger(config.logLevel)): Promise<RunningEngine> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config, logger), {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  // POST /events is read as bytes whatever its content type: the ingest
  // decodes it line by line and the engine's own decoder validates it
  // (SPEC §1). Everything else is JSON, parsed and bounded in request-body.ts.
  installBodyReaders(app, config.http.maxBodyBytes);
  app.useGlobalPipes(
    new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true, exceptionFactory: toInvalidInput }),
  );
  app.useGlobalFilters(new ErrorFilter(logger.child('http')));
  // No enableShutdownHooks(): main.ts owns the signals, so that SHUTDOWN_TIMEOUT bounds the
  // shutdown and the exit code says whether it completed (Nest would wait forever, then re-raise).
  app.disable('x-powered-by');

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('risk-engine')
      .setDescription('Real-time fraud and risk rule engine: ingest events, query verdicts and alerts, manage rules.')
      .setVersion('0.1.0')
      .addApiKey({ type: 'apiKey', in: 'header', name: 'x-api-key' }, 'api-key')
      .build(),
  );
  SwaggerModule.setup('docs', app, document);

  await app.listen(config.http.port, config.http.host);
  const address = app.getHttpServer().address() as { port: number } | string;
  const port = typeof address === 'string' ? config.http.port : address.port;
  const host = config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const url = `http://${host}:${port}`;
  return { app, url, close: () => app.close() };
}
