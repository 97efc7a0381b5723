import type { RestJsonProvider, RestOperation, RestRequest, RestResponse, RestRoute } from '../protocol/rest.ts';
import { Params } from '../protocol/validate.ts';
import { offsetOfToken, offsetPage, payloadParams as params, strMap } from '../apigateway-common.ts';
import { apigwErrors, type ApiGatewayV2Store, type AuthorizerInput, type CreateApiInput, type IntegrationInput, type RouteInput, type StageInput } from './store.ts';

/*
 * API Gateway v2 (HTTP APIs) on the AWS edge, restJson1: routes are the botocore model's
 * `http.method` / `http.requestUri`, members travel under their camelCase `locationName`
 * (apiId, routeKey, jwtConfiguration.issuer …), timestamps as ISO 8601, creates answer 201 and
 * deletes 204, as the model says. Every error is one of the model's: BadRequestException (400),
 * NotFoundException (404), ConflictException (409).
 */

const V = 'BadRequestException';

const ROUTES: RestRoute[] = [
  { method: 'POST', uri: '/v2/apis', operation: 'CreateApi' },
  { method: 'GET', uri: '/v2/apis', operation: 'GetApis' },
  { method: 'GET', uri: '/v2/apis/{apiId}', operation: 'GetApi' },
  { method: 'PATCH', uri: '/v2/apis/{apiId}', operation: 'UpdateApi' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}', operation: 'DeleteApi' },
  { method: 'POST', uri: '/v2/apis/{apiId}/integrations', operation: 'CreateIntegration' },
  { method: 'GET', uri: '/v2/apis/{apiId}/integrations', operation: 'GetIntegrations' },
  { method: 'GET', uri: '/v2/apis/{apiId}/integrations/{integrationId}', operation: 'GetIntegration' },
  { method: 'PATCH', uri: '/v2/apis/{apiId}/integrations/{integrationId}', operation: 'UpdateIntegration' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}/integrations/{integrationId}', operation: 'DeleteIntegration' },
  { method: 'POST', uri: '/v2/apis/{apiId}/routes', operation: 'CreateRoute' },
  { method: 'GET', uri: '/v2/apis/{apiId}/routes', operation: 'GetRoutes' },
  { method: 'GET', uri: '/v2/apis/{apiId}/routes/{routeId}', operation: 'GetRoute' },
  { method: 'PATCH', uri: '/v2/apis/{apiId}/routes/{routeId}', operation: 'UpdateRoute' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}/routes/{routeId}', operation: 'DeleteRoute' },
  { method: 'POST', uri: '/v2/apis/{apiId}/authorizers', operation: 'CreateAuthorizer' },
  { method: 'GET', uri: '/v2/apis/{apiId}/authorizers', operation: 'GetAuthorizers' },
  { method: 'GET', uri: '/v2/apis/{apiId}/authorizers/{authorizerId}', operation: 'GetAuthorizer' },
  { method: 'PATCH', uri: '/v2/apis/{apiId}/authorizers/{authorizerId}', operation: 'UpdateAuthorizer' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}/authorizers/{authorizerId}', operation: 'DeleteAuthorizer' },
  { method: 'POST', uri: '/v2/apis/{apiId}/stages', operation: 'CreateStage' },
  { method: 'GET', uri: '/v2/apis/{apiId}/stages', operation: 'GetStages' },
  { method: 'GET', uri: '/v2/apis/{apiId}/stages/{stageName}', operation: 'GetStage' },
  { method: 'PATCH', uri: '/v2/apis/{apiId}/stages/{stageName}', operation: 'UpdateStage' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}/stages/{stageName}', operation: 'DeleteStage' },
  { method: 'POST', uri: '/v2/apis/{apiId}/deployments', operation: 'CreateDeployment' },
  { method: 'GET', uri: '/v2/apis/{apiId}/deployments', operation: 'GetDeployments' },
  { method: 'GET', uri: '/v2/apis/{apiId}/deployments/{deploymentId}', operation: 'GetDeployment' },
  { method: 'DELETE', uri: '/v2/apis/{apiId}/deployments/{deploymentId}', operation: 'DeleteDeployment' },
];

/** Dates as ISO 8601 (the model's `__timestampIso8601`), undefined members left out. */
function wire(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (Array.isArray(v)) return v.map(wire);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = wire(x);
    return out;
  }
  return v;
}

const ok = (body: unknown, status = 200): RestResponse => ({ status, body: wire(body) });
const created = (body: unknown): RestResponse => ok(body, 201);
const noContent = (): RestResponse => ({ status: 204, body: '' });

/** maxResults / nextToken paging over a list (the token is an opaque offset). */
function page<T>(req: RestRequest, items: T[]): { items: T[]; nextToken?: string } {
  const maxRaw = req.query.get('maxResults');
  const start = offsetOfToken(req.query.get('nextToken'), 'The nextToken is not valid.');
  let max = items.length;
  if (maxRaw !== null) {
    if (!/^\d+$/.test(maxRaw) || Number(maxRaw) < 1) throw apigwErrors.badRequest(`Invalid MaxResults specified: ${maxRaw}`);
    max = Number(maxRaw);
  }
  const { slice, next } = offsetPage(items, start, max);
  return { items: slice, ...(next ? { nextToken: next } : {}) };
}

function apiInput(p: Params): Partial<CreateApiInput> {
  return {
    name: p.optStr('name'),
    protocolType: p.optStr('protocolType'),
    description: p.optStr('description'),
    disableExecuteApiEndpoint: p.optBool('disableExecuteApiEndpoint'),
    disableSchemaValidation: p.optBool('disableSchemaValidation'),
    corsConfiguration: p.optObj('corsConfiguration'),
    routeSelectionExpression: p.optStr('routeSelectionExpression'),
    apiKeySelectionExpression: p.optStr('apiKeySelectionExpression'),
    tags: strMap(p, 'tags'),
    version: p.optStr('version'),
    target: p.optStr('target'),
    routeKey: p.optStr('routeKey'),
    credentialsArn: p.optStr('credentialsArn'),
  };
}

function integrationInput(p: Params): IntegrationInput {
  return {
    integrationType: p.optStr('integrationType'),
    integrationUri: p.optStr('integrationUri'),
    integrationSubtype: p.optStr('integrationSubtype'),
    integrationMethod: p.optStr('integrationMethod'),
    payloadFormatVersion: p.optStr('payloadFormatVersion'),
    timeoutInMillis: p.optInt('timeoutInMillis'),
    connectionType: p.optEnum('connectionType', ['INTERNET', 'VPC_LINK'] as const),
    connectionId: p.optStr('connectionId'),
    credentialsArn: p.optStr('credentialsArn'),
    description: p.optStr('description'),
    requestParameters: strMap(p, 'requestParameters'),
    responseParameters: p.optObj('responseParameters'),
  };
}

function routeInput(p: Params): RouteInput {
  return {
    routeKey: p.optStr('routeKey'),
    target: p.optStr('target'),
    authorizationType: p.optStr('authorizationType'),
    authorizerId: p.optStr('authorizerId'),
    authorizationScopes: p.optStrList('authorizationScopes'),
    apiKeyRequired: p.optBool('apiKeyRequired'),
    operationName: p.optStr('operationName'),
    requestParameters: p.optObj('requestParameters'),
  };
}

function authorizerInput(p: Params): AuthorizerInput {
  const jwt = p.optObj<Record<string, unknown>>('jwtConfiguration');
  let jwtConfiguration: AuthorizerInput['jwtConfiguration'];
  if (jwt) {
    const j = new Params(jwt, V);
    jwtConfiguration = { issuer: j.optStr('issuer'), audience: j.optStrList('audience') };
    if (jwtConfiguration.issuer === undefined) delete jwtConfiguration.issuer;
    if (jwtConfiguration.audience === undefined) delete jwtConfiguration.audience;
  }
  return {
    authorizerType: p.optStr('authorizerType'),
    name: p.optStr('name'),
    identitySource: p.optStrList('identitySource'),
    jwtConfiguration,
    authorizerUri: p.optStr('authorizerUri'),
    authorizerPayloadFormatVersion: p.optStr('authorizerPayloadFormatVersion'),
    authorizerResultTtlInSeconds: p.optInt('authorizerResultTtlInSeconds'),
    authorizerCredentialsArn: p.optStr('authorizerCredentialsArn'),
    enableSimpleResponses: p.optBool('enableSimpleResponses'),
    identityValidationExpression: p.optStr('identityValidationExpression'),
  };
}

function stageInput(p: Params): StageInput {
  return {
    stageName: p.optStr('stageName'),
    autoDeploy: p.optBool('autoDeploy'),
    deploymentId: p.optStr('deploymentId'),
    description: p.optStr('description'),
    stageVariables: strMap(p, 'stageVariables'),
    tags: strMap(p, 'tags'),
    defaultRouteSettings: p.optObj('defaultRouteSettings'),
    routeSettings: p.optObj('routeSettings'),
    accessLogSettings: p.optObj('accessLogSettings'),
  };
}

export function createApiGatewayV2Provider(store: ApiGatewayV2Store): RestJsonProvider {
  const ops: Record<string, RestOperation> = {
    CreateApi(req) {
      const p = params(req);
      const input = apiInput(p);
      if (!input.name) throw apigwErrors.badRequest('Name is required.');
      if (!input.protocolType) throw apigwErrors.badRequest('ProtocolType is required.');
      return created(store.createApi(input as CreateApiInput));
    },
    GetApis(req) {
      return ok(page(req, store.listApis()));
    },
    GetApi(req) {
      return ok(store.getApi(req.params.apiId!));
    },
    UpdateApi(req) {
      return ok(store.updateApi(req.params.apiId!, apiInput(params(req))));
    },
    DeleteApi(req) {
      store.deleteApi(req.params.apiId!);
      return noContent();
    },

    CreateIntegration(req) {
      return created(store.createIntegration(req.params.apiId!, integrationInput(params(req))));
    },
    GetIntegrations(req) {
      return ok(page(req, store.listIntegrations(req.params.apiId!)));
    },
    GetIntegration(req) {
      return ok(store.getIntegration(req.params.apiId!, req.params.integrationId!));
    },
    UpdateIntegration(req) {
      return ok(store.updateIntegration(req.params.apiId!, req.params.integrationId!, integrationInput(params(req))));
    },
    DeleteIntegration(req) {
      store.deleteIntegration(req.params.apiId!, req.params.integrationId!);
      return noContent();
    },

    CreateRoute(req) {
      return created(store.createRoute(req.params.apiId!, routeInput(params(req))));
    },
    GetRoutes(req) {
      return ok(page(req, store.listRoutes(req.params.apiId!)));
    },
    GetRoute(req) {
      return ok(store.getRoute(req.params.apiId!, req.params.routeId!));
    },
    UpdateRoute(req) {
      return ok(store.updateRoute(req.params.apiId!, req.params.routeId!, routeInput(params(req))));
    },
    DeleteRoute(req) {
      store.deleteRoute(req.params.apiId!, req.params.routeId!);
      return noContent();
    },

    CreateAuthorizer(req) {
      return created(store.createAuthorizer(req.params.apiId!, authorizerInput(params(req))));
    },
    GetAuthorizers(req) {
      return ok(page(req, store.listAuthorizers(req.params.apiId!)));
    },
    GetAuthorizer(req) {
      return ok(store.getAuthorizer(req.params.apiId!, req.params.authorizerId!));
    },
    UpdateAuthorizer(req) {
      return ok(store.updateAuthorizer(req.params.apiId!, req.params.authorizerId!, authorizerInput(params(req))));
    },
    DeleteAuthorizer(req) {
      store.deleteAuthorizer(req.params.apiId!, req.params.authorizerId!);
      return noContent();
    },

    CreateStage(req) {
      const input = stageInput(params(req));
      if (!input.stageName) throw apigwErrors.badRequest('StageName is required.');
      return created(store.createStage(req.params.apiId!, input));
    },
    GetStages(req) {
      return ok(page(req, store.listStages(req.params.apiId!)));
    },
    GetStage(req) {
      return ok(store.getStage(req.params.apiId!, req.params.stageName!));
    },
    UpdateStage(req) {
      return ok(store.updateStage(req.params.apiId!, req.params.stageName!, stageInput(params(req))));
    },
    DeleteStage(req) {
      store.deleteStage(req.params.apiId!, req.params.stageName!);
      return noContent();
    },

    CreateDeployment(req) {
      const p = params(req);
      return created(store.createDeployment(req.params.apiId!, { stageName: p.optStr('stageName'), description: p.optStr('description') }));
    },
    GetDeployments(req) {
      return ok(page(req, store.listDeployments(req.params.apiId!)));
    },
    GetDeployment(req) {
      return ok(store.getDeployment(req.params.apiId!, req.params.deploymentId!));
    },
    DeleteDeployment(req) {
      store.deleteDeployment(req.params.apiId!, req.params.deploymentId!);
      return noContent();
    },
  };
  return {
    serviceName: 'apigateway',
    protocol: 'rest-json',
    validationErrorCode: V,
    routes: ROUTES,
    operations: ops,
    errorBody: (err) => ({ message: err.message }),
  };
}
