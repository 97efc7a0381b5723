import { describe, it, expect } from 'vitest';
import type { Route } from '../../aws/apigatewayv2/store.ts';
import { apiOfRequest, selectRoute, stageOfPath } from './routing.ts';

const routes = (...keys: string[]): Route[] => keys.map((routeKey, i) => ({ routeId: `r${i}`, routeKey, authorizationType: 'NONE', apiKeyRequired: false }));
const pick = (rs: Route[], method: string, path: string) => {
  const r = selectRoute(rs, method, path);
  return r && { key: r.route.routeKey, params: r.pathParameters };
};

describe('HTTP API routing', () => {
  it('the most specific route wins, as in the API Gateway guide (GET /pets/dog/1)', () => {
    const all = ['$default', 'ANY /{proxy+}', 'GET /pets/{proxy+}', 'GET /pets/dog/{id}', 'GET /pets/dog/1'];
    const order: string[] = [];
    for (let n = all.length; n > 0; n--) order.push(pick(routes(...all.slice(0, n)), 'GET', '/pets/dog/1')!.key);
    expect(order).toEqual(['GET /pets/dog/1', 'GET /pets/dog/{id}', 'GET /pets/{proxy+}', 'ANY /{proxy+}', '$default']);
  });

  it('path parameters, greedy variables, ANY against a method, $default last', () => {
    const rs = routes('GET /logs', 'POST /feedback', 'GET /items/{id}', 'ANY /items/{id}', 'ANY /{proxy+}', '$default');
    expect(pick(rs, 'GET', '/logs')).toEqual({ key: 'GET /logs', params: {} });
    expect(pick(rs, 'POST', '/logs')).toEqual({ key: 'ANY /{proxy+}', params: { proxy: 'logs' } });
    expect(pick(rs, 'GET', '/items/a%20b')).toEqual({ key: 'GET /items/{id}', params: { id: 'a b' } });
    expect(pick(rs, 'DELETE', '/items/7')).toEqual({ key: 'ANY /items/{id}', params: { id: '7' } });
    expect(pick(rs, 'GET', '/items/7/parts')).toEqual({ key: 'ANY /{proxy+}', params: { proxy: 'items/7/parts' } });
    // {proxy+} needs at least one character: / goes to $default
    expect(pick(rs, 'GET', '/')).toEqual({ key: '$default', params: {} });
    expect(pick(rs, 'GET', '/items/')).toEqual({ key: 'ANY /{proxy+}', params: { proxy: 'items/' } });
    // no $default: no route
    expect(pick(routes('GET /logs'), 'GET', '/other')).toBeUndefined();
    expect(pick(routes('GET /logs'), 'HEAD', '/logs')).toBeUndefined();
    // literals compare case-sensitively
    expect(pick(routes('GET /logs'), 'GET', '/Logs')).toBeUndefined();
  });

  it('a named stage is the first path segment; $default serves the rest', () => {
    expect(stageOfPath(['$default', 'prod'], '/prod/items/1')).toEqual({ stage: 'prod', routePath: '/items/1' });
    expect(stageOfPath(['$default', 'prod'], '/prod')).toEqual({ stage: 'prod', routePath: '/' });
    expect(stageOfPath(['$default', 'prod'], '/production/x')).toEqual({ stage: '$default', routePath: '/production/x' });
    expect(stageOfPath(['prod'], '/items')).toBeUndefined();
    expect(stageOfPath([], '/')).toBeUndefined();
  });

  it('the API comes from the execute-api Host header or the /_api/<apiId> prefix', () => {
    expect(apiOfRequest('abcde12345.execute-api.us-west-1.amazonaws.com:8443', '/logs', 'us-west-1')).toEqual({ apiId: 'abcde12345', rawPath: '/logs', viaPrefix: false });
    expect(apiOfRequest('ABCDE12345.execute-api.us-west-1.amazonaws.com', '/logs', 'us-west-1')?.apiId).toBe('abcde12345');
    expect(apiOfRequest('abcde12345.execute-api.eu-west-1.amazonaws.com', '/logs', 'us-west-1')).toBeUndefined();
    expect(apiOfRequest('127.0.0.1:4000', '/_api/abcde12345/prod/logs', 'us-west-1')).toEqual({ apiId: 'abcde12345', rawPath: '/prod/logs', viaPrefix: true });
    expect(apiOfRequest('127.0.0.1:4000', '/_api/abcde12345', 'us-west-1')).toEqual({ apiId: 'abcde12345', rawPath: '/', viaPrefix: true });
    expect(apiOfRequest('127.0.0.1:4000', '/logs', 'us-west-1')).toBeUndefined();
  });
});
