import { once } from 'node:events';
import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOperation, ApiProduces, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { InvalidInputError } from '@risk/domain';
import type { ListSummary } from '@risk/domain/lists/list';
import { ListAdministration } from '@risk/domain/lists/list-administration';
import { ListRegistry } from '@risk/domain/lists/list-registry';
import type { ListAuditPage } from '@risk/domain/lists/list-store';
import { csvLine, type UploadFormat, type UploadLine } from '@risk/domain/lists/list-upload';
import { AdminRoute, CurrentPrincipal, type Principal } from '../auth/roles';
import { decodeUtf8, stripBom } from '../http/request-body';
import { AuditQueryDto } from './admin.dto';

const ENTRY_EXAMPLE = [
  '203.0.113.7',
  { value: '198.51.100.0/24', expires_at: '2026-12-31T00:00:00Z', note: 'botnet range' },
  { value: '2001:db8::/32', note: 'test range' },
];

/**
 * Lists for `inList` / `notInList` rule conditions (docs/lists.md). Entries
 * come as a JSON array, or in bulk as NDJSON or CSV (up to 1,000,000 entries,
 * 256 MiB): every line is validated before anything is written, so a 400
 * names each bad line and field and nothing is applied.
 */
@ApiTags('lists')
@ApiSecurity('api-key')
@Controller('lists')
export class ListsController {
  constructor(
    private readonly admin: ListAdministration,
    private readonly registry: ListRegistry,
  ) {}

  @Get()
  @AdminRoute('viewer')
  @ApiOperation({ summary: 'Every list with its kind, version and entry count' })
  async list(): Promise<{ items: ListSummary[] }> {
    return { items: await this.admin.list() };
  }

  @Post()
  @AdminRoute('editor')
  @ApiBody({ schema: { type: 'object', example: { name: 'blocked_ips', kind: 'ip', description: 'addresses seen in chargebacks' } } })
  @ApiOperation({ summary: 'Create an empty list: kind "ip" (addresses and CIDR ranges) or "string" (409 if the name exists)' })
  create(@Body() body: unknown, @CurrentPrincipal() who: Principal): Promise<ListSummary> {
    return this.admin.create(body, who.name);
  }

  @Get(':name')
  @AdminRoute('viewer')
  @ApiOperation({
    summary:
      'One list: kind, version, entry count, when it was created and last changed; `running_version`: the version this instance decides with',
  })
  async get(@Param('name') name: string): Promise<ListSummary & { running_version: number | null }> {
    const summary = await this.admin.get(name);
    return { ...summary, running_version: this.registry.matcher(name)?.version ?? null };
  }

  @Delete(':name')
  @AdminRoute('editor')
  @ApiOperation({ summary: 'Delete a list and its entries (409 LIST_IN_USE naming the rules of the active rule set that use it)' })
  async remove(@Param('name') name: string, @CurrentPrincipal() who: Principal): Promise<{ deleted: string }> {
    await this.admin.delete(name, who.name);
    return { deleted: name };
  }

  @Post(':name/entries')
  @HttpCode(200)
  @AdminRoute('editor')
  @ApiConsumes('application/json', 'application/x-ndjson', 'text/csv')
  @ApiBody({ schema: { type: 'array', items: {}, example: ENTRY_EXAMPLE } })
  @ApiOperation({
    summary: 'Add (or re-date) entries: a JSON array, or NDJSON / CSV (value,expires_at,note) of up to 1,000,000 lines',
    description: 'All or nothing: a 400 names each bad line (`line 12.value`) or item (`[3].expires_at`) and nothing is applied.',
  })
  add(@Param('name') name: string, @Req() request: Request, @CurrentPrincipal() who: Principal): Promise<ListSummary> {
    const body: unknown = request.body;
    if (!Buffer.isBuffer(body)) return this.admin.addEntries(name, body, who.name);
    const format: UploadFormat = request.is('text/csv') ? 'csv' : 'ndjson';
    return this.admin.upload(name, format, () => linesOf(body), who.name);
  }

  @Delete(':name/entries')
  @AdminRoute('editor')
  @ApiBody({ schema: { type: 'array', items: { type: 'string' }, example: ['203.0.113.7', '198.51.100.0/24'] } })
  @ApiOperation({ summary: 'Remove entries by value (any spelling of an address); values not in the list are ignored' })
  removeEntries(@Param('name') name: string, @Body() body: unknown, @CurrentPrincipal() who: Principal): Promise<ListSummary> {
    return this.admin.removeEntries(name, body, who.name);
  }

  @Get(':name/export')
  @AdminRoute('viewer')
  @ApiProduces('application/x-ndjson', 'text/csv')
  @ApiOperation({ summary: 'Every entry, streamed: NDJSON by default, CSV with ?format=csv (header value,expires_at,note)' })
  async export(@Param('name') name: string, @Query('format') format: string | undefined, @Res() response: Response): Promise<void> {
    if (format !== undefined && format !== 'csv' && format !== 'ndjson') {
      throw new InvalidInputError('INVALID_REQUEST', 'format: must be "ndjson" or "csv"', [
        { path: 'format', message: 'must be "ndjson" or "csv"' },
      ]);
    }
    const { summary, batches } = await this.admin.export(name);
    const csv = format === 'csv';
    response.status(200);
    response.setHeader('Content-Type', csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
    response.setHeader('X-List-Version', String(summary.version));
    if (csv) response.write('value,expires_at,note\n');
    try {
      for await (const batch of batches) {
        const text = batch.map((entry) => (csv ? csvLine(entry) : JSON.stringify(entry))).join('\n') + '\n';
        // Backpressure: a slow reader holds at most one batch in memory.
        if (!response.write(text)) await once(response, 'drain');
      }
      response.end();
    } catch (error) {
      // The status is sent already: cut the stream so the client sees an incomplete export, not a short one.
      response.destroy(error as Error);
    }
  }

  @Get(':name/audit')
  @AdminRoute('viewer')
  @ApiOperation({ summary: "The list's audit trail, newest first: who changed what, how many entries, a sample of the values" })
  async audit(@Param('name') name: string, @Query() query: AuditQueryDto): Promise<ListAuditPage> {
    await this.admin.get(name).catch(async (error: unknown) => {
      // A deleted list keeps its trail: only a name never audited is a 404.
      if ((await this.admin.audit(name, 1, 0)).total === 0) throw error;
    });
    return this.admin.audit(name, query.limit ?? 100, query.offset ?? 0);
  }
}

/** The body's lines, numbered from 1, each decoded as strict UTF-8 on its own; the body is never one big string. */
function* linesOf(body: Buffer): Iterable<UploadLine> {
  const bytes = stripBom(body);
  let start = 0;
  let line = 1;
  while (start < bytes.length) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    yield { line, text: decodeUtf8(bytes.subarray(start, end)) };
    start = end + 1;
    line++;
  }
}
