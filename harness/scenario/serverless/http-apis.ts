import path from 'node:path';
import type { FunctionInvoker, ServerlessContext, StartedPart } from '../../aws/serverless.ts';
import { ApiGatewayV2Store } from '../../aws/apigatewayv2/store.ts';
import { createApiGatewayV2Provider } from '../../aws/apigatewayv2/provider.ts';
import { cognitoJwks, jwksOverHttp, JwtAuthorizer } from '../../edge/http-api/authorizer.ts';
import { HttpApiServer } from '../../edge/http-api/server.ts';
import { ApiGatewayRestStore } from '../../aws/apigateway/store.ts';
import { createApiGatewayRestProvider } from '../../aws/apigateway/provider.ts';
import { RestApiHandler } from '../../edge/rest-api/handler.ts';

/** API Gateway caches an issuer's public keys for up to two hours. */
const JWKS_CACHE_SECONDS = 2 * 60 * 60;

export interface StartedHttpApis extends StartedPart {
  store: ApiGatewayV2Store;
  /** REST APIs (v1): their control plane; the same endpoint serves them */
  restStore: ApiGatewayRestStore;
  server: HttpApiServer;
}

/**
 * API Gateway v2 HTTP APIs: the control plane on the AWS edge (aws/apigatewayv2) and one HTTPS
 * endpoint serving every API (edge/http-api). JWT authorizers get the keys of the run's Cognito
 * pools from the Cognito store (the document the IdP server serves at
 * `<issuer>/.well-known/jwks.json`); any other issuer is fetched over HTTP. Functions are invoked
 * through `functions` (Lambda) as `apigateway.amazonaws.com`.
 *
 * Environment: HARNESS_HTTP_API_URL (the endpoint's base URL: send `Host:
 * <apiId>.execute-api.<region>.amazonaws.com`, or prefix the path with `/_api/<apiId>`) and
 * HARNESS_HTTP_API_CA (its certificate, when served over TLS).
 */
export async function startHttpApis(ctx: ServerlessContext, functions: FunctionInvoker): Promise<StartedHttpApis> {
  const store = new ApiGatewayV2Store({ account: ctx.account, region: ctx.region, events: ctx.events });
  const fromCognito = cognitoJwks(ctx.cognito);
  const overHttp = jwksOverHttp();
  const authorizer = new JwtAuthorizer({
    jwks: async (issuer) => fromCognito(issuer) ?? overHttp(issuer),
    cacheMs: ctx.clock.scaledMs(JWKS_CACHE_SECONDS),
  });
  // REST APIs (v1) on the same endpoint: COGNITO_USER_POOLS authorizers take the pools' keys as JWT authorizers do
  const restStore = new ApiGatewayRestStore({ account: ctx.account, region: ctx.region, events: ctx.events });
  const restHandler = new RestApiHandler({ lookup: restStore, functions, jwks: async (issuer) => fromCognito(issuer) ?? overHttp(issuer), clock: ctx.clock, events: ctx.events });
  const server = new HttpApiServer({
    store,
    functions,
    authorizer,
    clock: ctx.clock,
    certDir: path.join(ctx.runDir, 'http-api'),
    events: ctx.events,
    log: ctx.log,
    rest: { lookup: restStore, handler: restHandler },
  });
  const url = await server.start();
  const env: Record<string, string> = { HARNESS_HTTP_API_URL: url };
  if (server.certificateFile) env.HARNESS_HTTP_API_CA = server.certificateFile;
  return {
    store,
    restStore,
    server,
    providers: [createApiGatewayV2Provider(store), createApiGatewayRestProvider(restStore)],
    env,
    summary: `HTTP and REST APIs: ${url} (Host: <apiId>.execute-api.${ctx.region}.amazonaws.com or path /_api/<apiId>)${server.tlsUnavailable ? ` — plain HTTP: ${server.tlsUnavailable}` : ''}`,
    stop: () => server.stop(),
  };
}
