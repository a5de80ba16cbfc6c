import { Controller, HttpCode, Post, Req } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { HttpIngestService, MAX_EVENTS_PER_REQUEST, type IngestResult } from './http-ingest.service';

@ApiTags('events')
@Controller('events')
export class EventsController {
  constructor(private readonly ingest: HttpIngestService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Decide one event (JSON) or a batch (NDJSON)',
    description:
      `Send one JSON event, or an NDJSON body (application/x-ndjson) of up to ${MAX_EVENTS_PER_REQUEST} events. ` +
      'Answers with one outcome per event (accepted, late, duplicate) and its verdict. If any event is invalid, ' +
      'the answer is 400 naming each bad line and field, nothing is applied, and the bad lines are kept in GET /rejects. ' +
      'The body must be UTF-8 (gzip, deflate or br content-encoding accepted).',
  })
  @ApiConsumes('application/json', 'application/x-ndjson')
  @ApiBody({
    schema: {
      type: 'object',
      example: {
        event_id: 'e-1',
        user_id: 'u-1',
        event_type: 'login',
        event_time: '2026-11-20T10:00:00Z',
        ip_address: '203.0.113.7',
        device_id: 'd-1',
        location_city: 'Paris',
      },
    },
  })
  @ApiOkResponse({ description: 'outcomes and verdicts, in request order' })
  post(@Req() request: Request): Promise<IngestResult> {
    // The raw bytes are decoded (strict UTF-8) and validated by the engine's own decoder (SPEC §1), not by a DTO.
    return this.ingest.ingest(rawBytes(request), Date.now());
  }
}

function rawBytes(request: Request): Buffer {
  return Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
}
