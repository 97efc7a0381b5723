import { describe, it, expect } from 'vitest';
import { clfTime, eventV1, eventV2, MalformedResponse, responseV1, responseV2, type GatewayContext, type GatewayRequest } from './mapping.ts';

const req: GatewayRequest = {
  method: 'POST',
  rawPath: '/prod/items/a%2Fb',
  rawQueryString: 'tag=x&tag=y&q=hello%20world',
  headers: [
    ['Content-Type', 'application/json'],
    ['X-Multi', 'one'],
    ['x-multi', 'two'],
    ['Cookie', 'a=1; b=2'],
    ['User-Agent', 'curl/8'],
    ['content-length', '13'],
    ['host', 'abcde12345.execute-api.us-west-1.amazonaws.com'],
  ],
  body: Buffer.from('{"rating": 5}'),
  sourceIp: '203.0.113.9',
  protocol: 'HTTP/1.1',
};
const ctx: GatewayContext = {
  accountId: '123456789012',
  apiId: 'abcde12345',
  domainName: 'abcde12345.execute-api.us-west-1.amazonaws.com',
  domainPrefix: 'abcde12345',
  stage: 'prod',
  routeKey: 'POST /items/{id}',
  requestId: 'Mc7UVioPPHcEKPA=',
  timeEpoch: Date.UTC(2020, 2, 12, 19, 3, 58, 390),
  pathParameters: { id: 'a/b' },
  stageVariables: { table: 'items' },
  jwt: { claims: { sub: 'u-1', exp: '1700000000' }, scopes: null },
};

describe('payload format 2.0', () => {
  it('builds the event as API Gateway documents it', () => {
    expect(eventV2(req, ctx)).toEqual({
      version: '2.0',
      routeKey: 'POST /items/{id}',
      rawPath: '/prod/items/a%2Fb',
      rawQueryString: 'tag=x&tag=y&q=hello%20world',
      cookies: ['a=1', 'b=2'],
      headers: { 'content-type': 'application/json', 'x-multi': 'one,two', 'user-agent': 'curl/8', 'content-length': '13', host: 'abcde12345.execute-api.us-west-1.amazonaws.com' },
      queryStringParameters: { tag: 'x,y', q: 'hello world' },
      requestContext: {
        accountId: '123456789012',
        apiId: 'abcde12345',
        authorizer: { jwt: { claims: { sub: 'u-1', exp: '1700000000' }, scopes: null } },
        domainName: 'abcde12345.execute-api.us-west-1.amazonaws.com',
        domainPrefix: 'abcde12345',
        http: { method: 'POST', path: '/prod/items/a/b', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'curl/8' },
        requestId: 'Mc7UVioPPHcEKPA=',
        routeKey: 'POST /items/{id}',
        stage: 'prod',
        time: '12/Mar/2020:19:03:58 +0000',
        timeEpoch: ctx.timeEpoch,
      },
      body: '{"rating": 5}',
      pathParameters: { id: 'a/b' },
      isBase64Encoded: false,
      stageVariables: { table: 'items' },
    });
  });

  it('leaves out what a request lacks and base64-encodes bodies that are not text', () => {
    const e = eventV2({ ...req, rawQueryString: '', headers: [['content-type', 'application/x-www-form-urlencoded']], body: Buffer.from('a=1') }, { ...ctx, pathParameters: {}, stageVariables: {}, jwt: undefined });
    expect(e).not.toHaveProperty('cookies');
    expect(e).not.toHaveProperty('queryStringParameters');
    expect(e).not.toHaveProperty('pathParameters');
    expect(e).not.toHaveProperty('stageVariables');
    expect((e.requestContext as Record<string, unknown>).authorizer).toBeUndefined();
    expect(e).toMatchObject({ body: Buffer.from('a=1').toString('base64'), isBase64Encoded: true });
    const empty = eventV2({ ...req, body: Buffer.alloc(0) }, ctx);
    expect(empty).not.toHaveProperty('body');
    expect(empty.isBase64Encoded).toBe(false);
  });

  it('maps the answer: a statusCode object is the response, anything else a 200 JSON body', () => {
    const r = responseV2(Buffer.from(JSON.stringify({ statusCode: 201, headers: { 'x-a': 'b', 'x-n': 5 }, multiValueHeaders: { 'x-m': ['1', '2'] }, cookies: ['s=1; Secure', 't=2'], body: 'aGk=', isBase64Encoded: true })));
    expect(r).toEqual({ statusCode: 201, headers: [['x-a', 'b'], ['x-n', '5'], ['x-m', '1'], ['x-m', '2'], ['set-cookie', 's=1; Secure'], ['set-cookie', 't=2']], body: Buffer.from('hi') });
    expect(responseV2(Buffer.from('{"items":[1,2]}'))).toEqual({ statusCode: 200, headers: [['content-type', 'application/json']], body: Buffer.from('{"items":[1,2]}') });
    expect(responseV2(Buffer.from('"plain"')).body.toString()).toBe('"plain"');
    expect(responseV2(Buffer.from('null')).statusCode).toBe(200);
    expect(() => responseV2(Buffer.from('not json'))).toThrow(MalformedResponse);
    expect(() => responseV2(Buffer.from('{"statusCode":"ok"}'))).toThrow(MalformedResponse);
    expect(() => responseV2(Buffer.from('{"statusCode":200,"body":{"a":1}}'))).toThrow(MalformedResponse);
  });
});

describe('payload format 1.0', () => {
  it('builds the REST proxy shaped event', () => {
    const e = eventV1(req, ctx);
    expect(e).toMatchObject({
      version: '1.0',
      resource: '/items/{id}',
      path: '/prod/items/a/b',
      httpMethod: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Multi': 'two', Cookie: 'a=1; b=2' },
      multiValueHeaders: { 'Content-Type': ['application/json'], 'X-Multi': ['one', 'two'] },
      queryStringParameters: { tag: 'y', q: 'hello world' },
      multiValueQueryStringParameters: { tag: ['x', 'y'], q: ['hello world'] },
      pathParameters: { id: 'a/b' },
      stageVariables: { table: 'items' },
      body: '{"rating": 5}',
      isBase64Encoded: false,
    });
    expect(e.requestContext).toMatchObject({
      accountId: '123456789012',
      apiId: 'abcde12345',
      authorizer: { claims: { sub: 'u-1', exp: '1700000000' }, scopes: null },
      httpMethod: 'POST',
      identity: { sourceIp: '203.0.113.9', userAgent: 'curl/8', accessKey: null },
      path: '/prod/items/a/b',
      requestTime: '12/Mar/2020:19:03:58 +0000',
      requestTimeEpoch: ctx.timeEpoch,
      resourcePath: '/items/{id}',
      stage: 'prod',
    });
    const bare = eventV1({ ...req, rawQueryString: '', body: Buffer.alloc(0) }, { ...ctx, pathParameters: {}, stageVariables: {}, jwt: undefined });
    expect(bare).toMatchObject({ queryStringParameters: null, multiValueQueryStringParameters: null, pathParameters: null, stageVariables: null, body: null });
    expect((bare.requestContext as Record<string, unknown>).authorizer).toEqual({ claims: null, scopes: null });
  });

  it('needs an object with statusCode', () => {
    expect(responseV1(Buffer.from(JSON.stringify({ statusCode: 404, headers: { a: 'b' }, multiValueHeaders: { c: ['d', 'e'] }, body: 'nope' })))).toEqual({ statusCode: 404, headers: [['a', 'b'], ['c', 'd'], ['c', 'e']], body: Buffer.from('nope') });
    expect(() => responseV1(Buffer.from('{"items":[]}'))).toThrow(/no statusCode/);
    expect(() => responseV1(Buffer.from('"ok"'))).toThrow(MalformedResponse);
  });

  it('writes times as API Gateway does', () => {
    expect(clfTime(Date.UTC(2024, 0, 5, 3, 4, 5))).toBe('05/Jan/2024:03:04:05 +0000');
  });
});
