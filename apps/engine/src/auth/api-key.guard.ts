import { ForbiddenException, Injectable, UnauthorizedException, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiKeyVerifier } from './api-key.verifier';
import { ADMIN_ROLE, PUBLIC_ROUTE, type AuthenticatedRequest, type Role } from './roles';

export const API_KEY_HEADER = 'x-api-key';

/** Operational endpoints that orchestrators and scrapers call without credentials. */
const OPEN_PATHS: ReadonlySet<string> = new Set(['/health', '/ready', '/metrics']);

/**
 * The global guard (APP_GUARD). Policy:
 * - /health, /ready, /metrics (and /docs, served outside Nest's router) are always open.
 * - Admin routes declare their role with `@AdminRoute`. With no key configured,
 *   admin reads are open and admin writes are refused (403).
 * - Every other route is open until keys are configured; then reads (GET)
 *   need a viewer key and writes (POST /events: ingest) an editor key.
 * - 401 without a key or with an unknown one; 403 when a viewer writes.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly keys: ApiKeyVerifier,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_ROUTE, targets) === true || OPEN_PATHS.has(normalize(request.path))) return true;

    const adminRole = this.reflector.getAllAndOverride<Role | undefined>(ADMIN_ROLE, targets);
    const required: Role = adminRole ?? (request.method === 'GET' || request.method === 'HEAD' ? 'viewer' : 'editor');

    if (!this.keys.configured) {
      if (adminRole === 'editor') {
        throw new ForbiddenException(
          'rule changes are disabled because no API key is configured: set API_KEYS=name:editor:<key> (key of at least 16 characters) and send it in the x-api-key header',
        );
      }
      request.principal = { name: 'anonymous', role: 'viewer' };
      return true;
    }

    const header = request.headers[API_KEY_HEADER];
    const presented = Array.isArray(header) ? header[0] : header;
    if (presented === undefined || presented === '')
      throw new UnauthorizedException(`missing API key: send it in the ${API_KEY_HEADER} header`);
    const key = this.keys.verify(presented);
    if (key === undefined) throw new UnauthorizedException('invalid API key');
    if (required === 'editor' && key.role !== 'editor') {
      throw new ForbiddenException(`the API key "${key.name}" has role ${key.role}; this request needs role editor`);
    }
    request.principal = { name: key.name, role: key.role };
    return true;
  }
}

function normalize(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}
