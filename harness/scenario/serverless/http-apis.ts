import path from 'node:path';
import type { FunctionInvoker, ServerlessContext, StartedPart } from '../../aws/serverless.ts';
import { ApiGatewayV2Store } from '../../aws/apigatewayv2/store.ts';
import { createApiGatewayV2Provider } from '../../aws/apigatewayv2/provider.ts';
import { cognitoJwks, jwksOverHttp, JwtAuthorizer } from '../../edge/http-api/authorizer.ts';
import { HttpApiServer } from '../../edge/http-api/server.ts';

/** API Gateway caches an issuer's public keys for up to two hours. */
const JWKS_CACHE_SECONDS = 2 * 60 * 60;

export interface StartedHttpApis extends StartedPart {
  store: ApiGatewayV2Store;
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
  const server = new HttpApiServer({ store, functions, authorizer, clock: ctx.clock, certDir: path.join(ctx.runDir, 'http-api'), events: ctx.events, log: ctx.log });
  const url = await server.start();
  const env: Record<string, string> = { HARNESS_HTTP_API_URL: url };
  if (server.certificateFile) env.HARNESS_HTTP_API_CA = server.certificateFile;
  return {
    store,
    server,
    providers: [createApiGatewayV2Provider(store)],
    env,
    summary: `HTTP APIs: ${url} (Host: <apiId>.execute-api.${ctx.region}.amazonaws.com or path /_api/<apiId>)${server.tlsUnavailable ? ` — plain HTTP: ${server.tlsUnavailable}` : ''}`,
    stop: () => server.stop(),
  };
}
