/**
 * HTTP API route keys (`GET /items/{id}`, `ANY /{proxy+}`, `$default`): how they are written
 * and how a request path is matched against one. The store validates keys with it; the data
 * plane (edge/http-api) routes with it.
 */

export const ROUTE_METHODS = ['ANY', 'DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

export type RouteSegment = { kind: 'literal'; value: string } | { kind: 'param'; name: string } | { kind: 'greedy'; name: string };

export interface ParsedRouteKey {
  /** `$default`, or a method and a path */
  isDefault: boolean;
  method: string;
  path: string;
  segments: RouteSegment[];
}

/** Parses a route key; returns why it is not one. */
export function parseRouteKey(key: string): ParsedRouteKey | { error: string } {
  if (key === '$default') return { isDefault: true, method: 'ANY', path: '', segments: [] };
  const m = /^([A-Z]+) (\/\S*)$/.exec(key);
  if (!m) return { error: `Route key '${key}' is not '$default' or '<method> <path>' with a path starting with /.` };
  const method = m[1]!;
  const path = m[2]!;
  if (!(ROUTE_METHODS as readonly string[]).includes(method)) return { error: `Route key '${key}': ${method} is not one of ${ROUTE_METHODS.join(', ')}.` };
  const parts = path === '/' ? [] : path.slice(1).split('/');
  const segments: RouteSegment[] = [];
  const names = new Set<string>();
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const v = /^\{([A-Za-z0-9._-]+)(\+?)\}$/.exec(p);
    if (v) {
      if (names.has(v[1]!)) return { error: `Route key '${key}': path parameter {${v[1]}} appears twice.` };
      names.add(v[1]!);
      if (v[2]) {
        if (i !== parts.length - 1) return { error: `Route key '${key}': a greedy path variable {${v[1]}+} must be the last segment of the path.` };
        segments.push({ kind: 'greedy', name: v[1]! });
      } else segments.push({ kind: 'param', name: v[1]! });
      continue;
    }
    if (/[{}]/.test(p)) return { error: `Route key '${key}': '${p}' is not a path segment or a {parameter}.` };
    if (p === '' && i !== parts.length - 1) return { error: `Route key '${key}': the path has an empty segment.` };
    segments.push({ kind: 'literal', value: p });
  }
  return { isDefault: false, method, path, segments };
}

/**
 * Matches a request path (raw, percent-encoded, starting with /) against a parsed route key's
 * path; returns the decoded path parameters, or undefined. A greedy variable needs at least one
 * character; literal segments compare percent-decoded, case-sensitively.
 */
export function matchRoutePath(route: ParsedRouteKey, rawPath: string): Record<string, string> | undefined {
  if (route.isDefault) return {};
  const parts = rawPath === '/' ? [] : rawPath.slice(1).split('/');
  const params: Record<string, string> = {};
  const segs = route.segments;
  for (let i = 0; i < segs.length; i++) {
    const s = segs[i]!;
    if (s.kind === 'greedy') {
      const rest = parts.slice(i).join('/');
      if (i >= parts.length || rest === '') return undefined;
      params[s.name] = decode(rest);
      return params;
    }
    if (i >= parts.length) return undefined;
    const p = parts[i]!;
    if (s.kind === 'literal') {
      if (decode(p) !== s.value) return undefined;
    } else {
      if (p === '') return undefined;
      params[s.name] = decode(p);
    }
  }
  return parts.length === segs.length ? params : undefined;
}

/**
 * How specific a route is, as API Gateway ranks them for a request both match: a route without
 * a greedy variable before one with; then, segment by segment from the left, a literal before a
 * {parameter}; a longer greedy prefix before a shorter; a method before ANY; `$default` last.
 * Larger sorts first (the comparator below).
 */
export function compareSpecificity(a: ParsedRouteKey, b: ParsedRouteKey): number {
  if (a.isDefault !== b.isDefault) return a.isDefault ? 1 : -1;
  const ga = a.segments.some((s) => s.kind === 'greedy');
  const gb = b.segments.some((s) => s.kind === 'greedy');
  if (ga !== gb) return ga ? 1 : -1;
  if (ga && gb && a.segments.length !== b.segments.length) return b.segments.length - a.segments.length;
  const n = Math.min(a.segments.length, b.segments.length);
  for (let i = 0; i < n; i++) {
    const ra = rank(a.segments[i]!);
    const rb = rank(b.segments[i]!);
    if (ra !== rb) return rb - ra;
  }
  const ma = a.method === 'ANY' ? 0 : 1;
  const mb = b.method === 'ANY' ? 0 : 1;
  return mb - ma;
}

function rank(s: RouteSegment): number {
  return s.kind === 'literal' ? 2 : s.kind === 'param' ? 1 : 0;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
