import { randomBytes } from 'node:crypto';
import { AwsError } from './protocol/errors.ts';
import type { EventSink } from './protocol/types.ts';
import type { RestRequest } from './protocol/rest.ts';
import { Params } from './protocol/validate.ts';

/*
 * What the control planes of REST APIs (apigateway/) and HTTP APIs (apigatewayv2/) share: the
 * model's errors, lowercase ids in the one execute-api namespace, the per-API state map, reading
 * a payload, string maps and the opaque offset token both page with.
 */

/** The errors both models declare: NotFoundException (404), ConflictException (409), BadRequestException (400). */
export const apigatewayErrors = {
  notFound: (message: string) => new AwsError('NotFoundException', message, 404),
  conflict: (message: string) => new AwsError('ConflictException', message, 409),
  badRequest: (message: string) => new AwsError('BadRequestException', message, 400),
};

const LOWER_ALNUM = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** `n` random lowercase alphanumerics, API Gateway's id alphabet. */
export function randomId(n: number): string {
  return Array.from(randomBytes(n), (b) => LOWER_ALNUM[b % LOWER_ALNUM.length]).join('');
}

/** A random id of `n` characters that `taken` says is not in use. */
export function freshId(n: number, taken: (id: string) => boolean): string {
  let id: string;
  do id = randomId(n);
  while (taken(id));
  return id;
}

export interface ApiGatewayStoreDeps {
  account: string;
  region: string;
  events?: EventSink;
  now?: () => Date;
}

/** A store's APIs by id, its clock and its account and region; `state` finds an API or throws the model's NotFoundException. */
export abstract class ApiGatewayStoreBase<S> {
  protected readonly apis = new Map<string, S>();
  protected readonly now: () => Date;

  constructor(protected readonly deps: ApiGatewayStoreDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  get region(): string {
    return this.deps.region;
  }

  get account(): string {
    return this.deps.account;
  }

  /** `<apiId>.execute-api.<region>.amazonaws.com` */
  domainOf(apiId: string): string {
    return `${apiId}.execute-api.${this.deps.region}.amazonaws.com`;
  }

  protected state(apiId: string): S {
    const s = this.apis.get(apiId);
    if (!s) throw apigatewayErrors.notFound(`Invalid API identifier specified ${this.deps.account}:${apiId}`);
    return s;
  }
}

/** The payload as Params; malformed JSON is a BadRequestException here, as API Gateway answers. */
export function payloadParams(req: RestRequest): Params {
  let body: Record<string, unknown>;
  try {
    body = req.json();
  } catch (e) {
    if (e instanceof AwsError) throw apigatewayErrors.badRequest(`Invalid request body: ${e.message}`);
    throw e;
  }
  return new Params(body, 'BadRequestException');
}

/** The member `name` as a map whose values are all of `type` (a BadRequestException names the first that is not). */
export function strMap<T = string>(p: Params, name: string, type: 'string' | 'boolean' = 'string'): Record<string, T> | undefined {
  const o = p.optObj<Record<string, unknown>>(name);
  if (o === undefined) return undefined;
  for (const [k, v] of Object.entries(o)) if (typeof v !== type) throw apigatewayErrors.badRequest(`${name}.${k} must be a ${type}`);
  return o as Record<string, T>;
}

/** Where a page starts: 0 without a token, else the offset the token carries (`invalid` is the BadRequestException's message for one this did not hand out). */
export function offsetOfToken(token: string | null, invalid: string): number {
  if (token === null) return 0;
  const m = /^o(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!m) throw apigatewayErrors.badRequest(invalid);
  return Number(m[1]);
}

/** The page of `items` from `start`, `max` long at the most, and the token of the next page when there is one. */
export function offsetPage<T>(items: T[], start: number, max: number): { slice: T[]; next?: string } {
  const next = start + max < items.length ? Buffer.from(`o${start + max}`).toString('base64url') : undefined;
  return { slice: items.slice(start, start + max), ...(next ? { next } : {}) };
}
