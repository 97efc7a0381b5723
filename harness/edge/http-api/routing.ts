import { compareSpecificity, matchRoutePath, parseRouteKey, type ParsedRouteKey } from '../../aws/apigatewayv2/route-key.ts';
import type { Route } from '../../aws/apigatewayv2/store.ts';

/**
 * Which API, stage and route a request reaches, as HTTP APIs decide it.
 *
 * API: the Host header `<apiId>.execute-api.<region>.amazonaws.com` (any port), or — for clients
 * that cannot set Host — a path prefix `/_api/<apiId>`, stripped before anything else.
 * Stage: a stage other than `$default` is the path's first segment; otherwise `$default` serves
 * the whole path. Route: the most specific route whose method (or ANY) and path match; then
 * `$default`.
 */

export interface ApiTarget {
  apiId: string;
  /** the raw path after a `/_api/<apiId>` prefix, if there was one */
  rawPath: string;
  /** true when the API came from the path prefix, not the Host header */
  viaPrefix: boolean;
}

export function apiOfRequest(host: string | undefined, rawPath: string, region: string): ApiTarget | undefined {
  const h = (host ?? '').toLowerCase().replace(/:\d+$/, '');
  const m = /^([a-z0-9]{10})\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$/.exec(h);
  if (m) return m[2] === region ? { apiId: m[1]!, rawPath, viaPrefix: false } : undefined;
  const p = /^\/_api\/([a-z0-9]{10})(\/.*)?$/.exec(rawPath);
  if (p) return { apiId: p[1]!, rawPath: p[2] ?? '/', viaPrefix: true };
  return undefined;
}

/** The stage a path reaches and the path the routes see (without a named stage's prefix). */
export function stageOfPath(stageNames: string[], rawPath: string): { stage: string; routePath: string } | undefined {
  const first = rawPath.split('/')[1] ?? '';
  let decoded = first;
  try {
    decoded = decodeURIComponent(first);
  } catch {
    // keep as sent
  }
  if (decoded && decoded !== '$default' && stageNames.includes(decoded)) {
    const rest = rawPath.slice(1 + first.length);
    return { stage: decoded, routePath: rest === '' ? '/' : rest };
  }
  if (stageNames.includes('$default')) return { stage: '$default', routePath: rawPath };
  return undefined;
}

const parsed = new Map<string, ParsedRouteKey | undefined>();
function parse(key: string): ParsedRouteKey | undefined {
  if (!parsed.has(key)) {
    const p = parseRouteKey(key);
    parsed.set(key, 'error' in p ? undefined : p);
  }
  return parsed.get(key);
}

export function selectRoute(routes: Route[], method: string, routePath: string): { route: Route; pathParameters: Record<string, string> } | undefined {
  let best: { route: Route; key: ParsedRouteKey; pathParameters: Record<string, string> } | undefined;
  for (const route of routes) {
    const key = parse(route.routeKey);
    if (!key) continue;
    if (!key.isDefault && key.method !== 'ANY' && key.method !== method) continue;
    const params = matchRoutePath(key, routePath);
    if (!params) continue;
    if (!best || compareSpecificity(key, best.key) < 0) best = { route, key, pathParameters: params };
  }
  return best && { route: best.route, pathParameters: best.pathParameters };
}
