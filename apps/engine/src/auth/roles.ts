import { createParamDecorator, SetMetadata, type ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';

export type Role = 'viewer' | 'editor';

/** Who made a request: the API key's name and role (`anonymous` viewer when no key is configured). */
export interface Principal {
  readonly name: string;
  readonly role: Role;
}

export const ADMIN_ROLE = 'risk:admin-role';
export const PUBLIC_ROUTE = 'risk:public';

/**
 * An admin route and the role it needs. Admin writes (`editor`) are refused
 * outright while no API key is configured; admin reads stay open then.
 */
export const AdminRoute = (role: Role): MethodDecorator & ClassDecorator => SetMetadata(ADMIN_ROLE, role);

/** A route that never needs a key (health, readiness, metrics). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_ROUTE, true);

export type AuthenticatedRequest = Request & { principal?: Principal };

/** The principal the guard attached; its name is what the audit trail records as `actor`. */
export const CurrentPrincipal = createParamDecorator((_: unknown, context: ExecutionContext): Principal => {
  const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
  return request.principal ?? { name: 'anonymous', role: 'viewer' };
});
