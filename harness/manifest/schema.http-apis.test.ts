import { describe, expect, it } from 'vitest';
import { parseManifest } from './load.ts';
import { manifestError } from './testing.ts';
import { routePathMatches } from './schema.ts';

const BASE = `region: us-west-2
vpc: { id: vpc-0b, cidr: 10.1.0.0/16, subnets: [{ id: subnet-0b, cidr: 10.1.1.0/24, az: us-west-2a }] }
cognito:
  - userPool: shop-users
    clients: [{ name: web }, { name: api }]
    users: [{ username: ada }]
  - userPool: staff
`;

const SHOP = `${BASE}httpApis:
  shop-api:
    userPool: shop-users
    client: api
    stage: prod
    requests:
      - { route: GET /orders, expect: 200, logsOf: /ecs/web }
      - { route: POST /orders, body: { sku: x-1, qty: 2 }, expect: 201, readBack: "GET /orders/{id}" }
      - { route: POST /orders, body: "not json", expect: 500, throws: true }
      - { route: "GET /orders/{id}", path: /orders/42?verbose=1, headers: { x-trace: "1" }, expect: 404 }
      - { route: "ANY /{proxy+}", method: DELETE, path: /a/b, expect: 403 }
`;

const error = manifestError;

describe('harness.yaml httpApis', () => {
  it('is optional; an API names its pool, client, stage and the requests to send, as written', () => {
    expect(parseManifest(BASE, 'harness.yaml').httpApis).toBeUndefined();
    const m = parseManifest(SHOP, 'harness.yaml');
    expect(m.httpApis?.['shop-api']).toEqual({
      userPool: 'shop-users',
      client: 'api',
      stage: 'prod',
      requests: [
        { route: 'GET /orders', expect: 200, logsOf: '/ecs/web' },
        { route: 'POST /orders', body: { sku: 'x-1', qty: 2 }, expect: 201, readBack: 'GET /orders/{id}' },
        { route: 'POST /orders', body: 'not json', expect: 500, throws: true },
        { route: 'GET /orders/{id}', path: '/orders/42?verbose=1', headers: { 'x-trace': '1' }, expect: 404 },
        { route: 'ANY /{proxy+}', method: 'DELETE', path: '/a/b', expect: 403 },
      ],
    });
  });

  it('cross-checks the pool, client and user against cognito, naming the key path', () => {
    expect(error(SHOP.replace('userPool: shop-users\n    client: api', 'userPool: shop\n    client: api'))).toBe('repo/harness.yaml: httpApis.shop-api.userPool: expected a user pool cognito lists (shop-users, staff), got "shop"');
    expect(error(SHOP.replace('client: api', 'client: mobile'))).toBe('repo/harness.yaml: httpApis.shop-api.client: expected an app client of shop-users (cognito[0].clients: web, api), got "mobile"');
    expect(error(SHOP.replace('client: api', 'user: bob'))).toBe('repo/harness.yaml: httpApis.shop-api.user: expected a user of shop-users (cognito[0].users: ada), got "bob"');
    // a pool without clients or users cannot give the requests a token
    expect(error(SHOP.replace('userPool: shop-users\n    client: api', 'userPool: staff'))).toBe(
      "repo/harness.yaml: httpApis.shop-api.userPool: expected a pool with an app client, for the requests' tokens (cognito[1].clients is empty), got \"staff\"",
    );
    expect(error(`${BASE.replace('userPool: staff', 'userPool: staff\n    clients: [{ name: desk }]')}httpApis:\n  desk-api:\n    userPool: staff\n    requests: [{ route: GET /x, expect: 200 }]\n`)).toBe(
      "repo/harness.yaml: httpApis.desk-api.userPool: expected a pool with a user, for the requests' tokens (cognito[1].users is empty), got \"staff\"",
    );
  });

  it('says what is wrong with a request, by its index', () => {
    expect(error(SHOP.replace('route: GET /orders, expect: 200', 'route: GET orders, expect: 200'))).toBe(
      'repo/harness.yaml: httpApis.shop-api.requests[0].route: expected a route key such as GET /items/{id} (METHOD /path, the method one of GET POST PUT PATCH DELETE HEAD OPTIONS ANY) or $default, got "GET orders"',
    );
    expect(error(SHOP.replace('path: /orders/42?verbose=1, ', ''))).toBe('repo/harness.yaml: httpApis.shop-api.requests[3].route: expected a route without {parameters}, or the path to send (path: /…), got "GET /orders/{id}"');
    expect(error(SHOP.replace('/orders/42?verbose=1', '/order/42'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[3].path: expected a path route GET /orders/{id} matches, got "/order/42"');
    expect(error(SHOP.replace('method: DELETE, ', ''))).toBe('repo/harness.yaml: httpApis.shop-api.requests[4].route: expected a route with one method, or the method to send (method: GET …), got "ANY /{proxy+}"');
    expect(error(SHOP.replace('route: GET /orders, expect: 200', 'route: GET /orders, method: POST, expect: 200'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[0].method: expected GET (the method of route GET /orders), got "POST"');
    expect(error(SHOP.replace('expect: 500, throws', 'expect: 400, throws'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[2].expect: expected 500 with throws: true (API Gateway answers 500 when the function throws), got 400');
    expect(error(SHOP.replace('expect: 201, readBack', 'expect: 400, readBack'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[1].expect: expected a 2xx status with readBack (what is read back must have been written), got 400');
    expect(error(SHOP.replace('expect: 500, throws: true', 'expect: 500, throws: true, readBack: "GET /x"'))).toBe(
      'repo/harness.yaml: httpApis.shop-api.requests[2].readBack: expected no readBack with throws: true (nothing is written when the function throws), got "GET /x"',
    );
    expect(error(SHOP.replace('logsOf: /ecs/web', 'logsOf: "/ecs/web app"'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[0].logsOf: expected a log group name such as /ecs/web, got "/ecs/web app"');
    expect(error(SHOP.replace('expect: 200, logsOf', 'expect: 204, logs'))).toBe('repo/harness.yaml: httpApis.shop-api.requests[0]: unknown key logs (see harness.schema.json)');
    expect(error(SHOP.replace('expect: 404 }', 'expect: 4040 }'))).toMatch(/^repo\/harness\.yaml: httpApis\.shop-api\.requests\[3\]\.expect: /);
    expect(error(SHOP.replace(/requests:\n(.*\n)*/, 'requests: []\n'))).toBe('repo/harness.yaml: httpApis.shop-api.requests: expected at least one request, got []');
    expect(error(SHOP.replace('stage: prod', 'stage: "my stage"'))).toBe('repo/harness.yaml: httpApis.shop-api.stage: expected a stage name such as $default or prod, got "my stage"');
  });

  it('matches request paths against route templates as API Gateway does', () => {
    expect(routePathMatches('/orders/{id}', '/orders/42')).toBe(true);
    expect(routePathMatches('/orders/{id}', '/orders/')).toBe(false);
    expect(routePathMatches('/orders/{id}', '/orders/42/lines')).toBe(false);
    expect(routePathMatches('/{proxy+}', '/a/b/c')).toBe(true);
    expect(routePathMatches('/files/{key+}', '/files')).toBe(false);
    expect(routePathMatches('/logs', '/logs')).toBe(true);
  });
});
