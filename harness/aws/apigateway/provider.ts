import type { RestJsonProvider, RestOperation, RestRequest, RestResponse, RestRoute } from '../protocol/rest.ts';
import { Params } from '../protocol/validate.ts';
import { offsetOfToken, offsetPage, payloadParams as params, strMap } from '../apigateway-common.ts';
import { restErrors, type ApiGatewayRestStore, type PatchOperation, type StoredMethod } from './store.ts';
import type { RestResource } from './types.ts';

/*
 * API Gateway REST APIs (apigateway 2015-07-09) on the AWS edge, restJson1: routes are the
 * botocore model's `http.method` / `http.requestUri`, members travel under their camelCase names
 * (lists under `item`, the model's locationName; PutIntegration's integrationHttpMethod under
 * `httpMethod`), timestamps as epoch seconds (the protocol's default: the model sets no
 * timestampFormat), creates answer 201 and deletes 202 or 204 as each operation's responseCode
 * says. Errors are the model's: BadRequestException (400), NotFoundException (404),
 * ConflictException (409).
 */

const V = 'BadRequestException';
const R = '/restapis/{restapi_id}';
const M = `${R}/resources/{resource_id}/methods/{http_method}`;

const ROUTES: RestRoute[] = [
  { method: 'POST', uri: '/restapis', operation: 'CreateRestApi' },
  { method: 'GET', uri: '/restapis', operation: 'GetRestApis' },
  { method: 'GET', uri: R, operation: 'GetRestApi' },
  { method: 'PATCH', uri: R, operation: 'UpdateRestApi' },
  { method: 'DELETE', uri: R, operation: 'DeleteRestApi' },
  { method: 'GET', uri: `${R}/resources`, operation: 'GetResources' },
  { method: 'GET', uri: `${R}/resources/{resource_id}`, operation: 'GetResource' },
  { method: 'POST', uri: `${R}/resources/{parent_id}`, operation: 'CreateResource' },
  { method: 'DELETE', uri: `${R}/resources/{resource_id}`, operation: 'DeleteResource' },
  { method: 'PUT', uri: M, operation: 'PutMethod' },
  { method: 'GET', uri: M, operation: 'GetMethod' },
  { method: 'PATCH', uri: M, operation: 'UpdateMethod' },
  { method: 'DELETE', uri: M, operation: 'DeleteMethod' },
  { method: 'PUT', uri: `${M}/integration`, operation: 'PutIntegration' },
  { method: 'GET', uri: `${M}/integration`, operation: 'GetIntegration' },
  { method: 'DELETE', uri: `${M}/integration`, operation: 'DeleteIntegration' },
  { method: 'POST', uri: `${R}/authorizers`, operation: 'CreateAuthorizer' },
  { method: 'GET', uri: `${R}/authorizers`, operation: 'GetAuthorizers' },
  { method: 'GET', uri: `${R}/authorizers/{authorizer_id}`, operation: 'GetAuthorizer' },
  { method: 'PATCH', uri: `${R}/authorizers/{authorizer_id}`, operation: 'UpdateAuthorizer' },
  { method: 'DELETE', uri: `${R}/authorizers/{authorizer_id}`, operation: 'DeleteAuthorizer' },
  { method: 'POST', uri: `${R}/deployments`, operation: 'CreateDeployment' },
  { method: 'GET', uri: `${R}/deployments`, operation: 'GetDeployments' },
  { method: 'GET', uri: `${R}/deployments/{deployment_id}`, operation: 'GetDeployment' },
  { method: 'DELETE', uri: `${R}/deployments/{deployment_id}`, operation: 'DeleteDeployment' },
  { method: 'POST', uri: `${R}/stages`, operation: 'CreateStage' },
  { method: 'GET', uri: `${R}/stages`, operation: 'GetStages' },
  { method: 'GET', uri: `${R}/stages/{stage_name}`, operation: 'GetStage' },
  { method: 'PATCH', uri: `${R}/stages/{stage_name}`, operation: 'UpdateStage' },
  { method: 'DELETE', uri: `${R}/stages/{stage_name}`, operation: 'DeleteStage' },
];

const ok = (body: unknown, status = 200): RestResponse => ({ status, body });
const created = (body: unknown): RestResponse => ok(body, 201);
const empty = (status: 202 | 204): RestResponse => ({ status, body: '' });

function patchOps(req: RestRequest): PatchOperation[] {
  const list = params(req).optList<Record<string, unknown>>('patchOperations') ?? [];
  return list.map((raw) => {
    const p = new Params(raw, V);
    const op = p.optEnum('op', ['add', 'remove', 'replace', 'move', 'copy', 'test'] as const);
    const path = p.optStr('path');
    if (!op || !path) throw restErrors.badRequest('Each patch operation needs an op and a path.');
    return { op, path, value: p.optStr('value'), from: p.optStr('from') };
  });
}

/** limit / position paging (position is an opaque offset); the CLI follows `position`. */
function page<T>(req: RestRequest, items: T[]): { item: T[]; position?: string } {
  const limitRaw = req.query.get('limit');
  const start = offsetOfToken(req.query.get('position'), 'Invalid position parameter');
  let max = items.length;
  if (limitRaw !== null) {
    if (!/^\d+$/.test(limitRaw) || Number(limitRaw) < 1 || Number(limitRaw) > 500) throw restErrors.badRequest('1 validation error detected: Value at \'limit\' failed to satisfy constraint: Member must have value between 1 and 500');
    max = Number(limitRaw);
  }
  const { slice, next } = offsetPage(items, start, max);
  return { item: slice, ...(next ? { position: next } : {}) };
}

/** A method as the model's Method shape: its integration under `methodIntegration`. */
function methodWire(m: StoredMethod): Record<string, unknown> {
  const { integration, ...rest } = m;
  return { ...rest, ...(integration ? { methodIntegration: integration } : {}) };
}

/** A resource as the model's Resource shape; `embed=methods` puts the whole methods in, as API Gateway does. */
function resourceWire(r: RestResource, embedMethods: boolean): Record<string, unknown> {
  const { methods, ...rest } = r;
  const names = Object.keys(methods);
  if (!names.length) return rest;
  return { ...rest, resourceMethods: Object.fromEntries(names.map((n) => [n, embedMethods ? methodWire(methods[n] as StoredMethod) : {}])) };
}

function embedsMethods(req: RestRequest): boolean {
  return req.query
    .getAll('embed')
    .flatMap((e) => e.split(','))
    .some((e) => e.trim() === 'methods');
}

export function createApiGatewayRestProvider(store: ApiGatewayRestStore): RestJsonProvider {
  const ops: Record<string, RestOperation> = {
    CreateRestApi(req) {
      const p = params(req);
      const ec = p.optObj<Record<string, unknown>>('endpointConfiguration');
      return created(
        store.createRestApi({
          name: p.str('name'),
          description: p.optStr('description'),
          version: p.optStr('version'),
          apiKeySource: p.optStr('apiKeySource'),
          endpointConfiguration: ec ? { types: new Params(ec, V).optStrList('types') } : undefined,
          tags: strMap(p, 'tags'),
          disableExecuteApiEndpoint: p.optBool('disableExecuteApiEndpoint'),
        }),
      );
    },
    GetRestApis(req) {
      return ok(page(req, store.listRestApis()));
    },
    GetRestApi(req) {
      return ok(store.getRestApi(req.params.restapi_id!));
    },
    UpdateRestApi(req) {
      return ok(store.updateRestApi(req.params.restapi_id!, patchOps(req)));
    },
    DeleteRestApi(req) {
      store.deleteRestApi(req.params.restapi_id!);
      return empty(202);
    },

    GetResources(req) {
      const embed = embedsMethods(req);
      return ok(page(req, store.listResources(req.params.restapi_id!).map((r) => resourceWire(r, embed))));
    },
    GetResource(req) {
      return ok(resourceWire(store.getResource(req.params.restapi_id!, req.params.resource_id!), embedsMethods(req)));
    },
    CreateResource(req) {
      return created(resourceWire(store.createResource(req.params.restapi_id!, req.params.parent_id!, params(req).str('pathPart')), false));
    },
    DeleteResource(req) {
      store.deleteResource(req.params.restapi_id!, req.params.resource_id!);
      return empty(202);
    },

    PutMethod(req) {
      const p = params(req);
      const m = store.putMethod(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!, {
        authorizationType: p.str('authorizationType'),
        authorizerId: p.optStr('authorizerId'),
        authorizationScopes: p.optStrList('authorizationScopes'),
        apiKeyRequired: p.optBool('apiKeyRequired'),
        operationName: p.optStr('operationName'),
        requestParameters: strMap<boolean>(p, 'requestParameters', 'boolean'),
      });
      return created(methodWire(m));
    },
    GetMethod(req) {
      return ok(methodWire(store.getMethod(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!)));
    },
    UpdateMethod(req) {
      return ok(methodWire(store.updateMethod(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!, patchOps(req))));
    },
    DeleteMethod(req) {
      store.deleteMethod(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!);
      return empty(204);
    },

    PutIntegration(req) {
      const p = params(req);
      return created(
        store.putIntegration(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!, {
          type: p.str('type'),
          // the model's integrationHttpMethod travels as `httpMethod`
          httpMethod: p.optStr('httpMethod'),
          uri: p.optStr('uri'),
          timeoutInMillis: p.optInt('timeoutInMillis'),
          connectionType: p.optStr('connectionType'),
          credentials: p.optStr('credentials'),
          passthroughBehavior: p.optStr('passthroughBehavior'),
          cacheNamespace: p.optStr('cacheNamespace'),
          cacheKeyParameters: p.optStrList('cacheKeyParameters'),
          requestParameters: strMap(p, 'requestParameters'),
          requestTemplates: strMap(p, 'requestTemplates'),
        }),
      );
    },
    GetIntegration(req) {
      return ok(store.getIntegration(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!));
    },
    DeleteIntegration(req) {
      store.deleteIntegration(req.params.restapi_id!, req.params.resource_id!, req.params.http_method!);
      return empty(204);
    },

    CreateAuthorizer(req) {
      const p = params(req);
      return created(
        store.createAuthorizer(req.params.restapi_id!, {
          name: p.str('name'),
          type: p.str('type'),
          providerARNs: p.optStrList('providerARNs'),
          authType: p.optStr('authType'),
          authorizerUri: p.optStr('authorizerUri'),
          authorizerCredentials: p.optStr('authorizerCredentials'),
          identitySource: p.optStr('identitySource'),
          identityValidationExpression: p.optStr('identityValidationExpression'),
          authorizerResultTtlInSeconds: p.optInt('authorizerResultTtlInSeconds'),
        }),
      );
    },
    GetAuthorizers(req) {
      return ok(page(req, store.listAuthorizers(req.params.restapi_id!)));
    },
    GetAuthorizer(req) {
      return ok(store.getAuthorizer(req.params.restapi_id!, req.params.authorizer_id!));
    },
    UpdateAuthorizer(req) {
      return ok(store.updateAuthorizer(req.params.restapi_id!, req.params.authorizer_id!, patchOps(req)));
    },
    DeleteAuthorizer(req) {
      store.deleteAuthorizer(req.params.restapi_id!, req.params.authorizer_id!);
      return empty(202);
    },

    CreateDeployment(req) {
      const p = params(req);
      return created(
        store.createDeployment(req.params.restapi_id!, {
          stageName: p.optStr('stageName'),
          stageDescription: p.optStr('stageDescription'),
          description: p.optStr('description'),
          variables: strMap(p, 'variables'),
        }),
      );
    },
    GetDeployments(req) {
      return ok(page(req, store.listDeployments(req.params.restapi_id!)));
    },
    GetDeployment(req) {
      return ok(store.getDeployment(req.params.restapi_id!, req.params.deployment_id!));
    },
    DeleteDeployment(req) {
      store.deleteDeployment(req.params.restapi_id!, req.params.deployment_id!);
      return empty(202);
    },

    CreateStage(req) {
      const p = params(req);
      return created(
        store.createStage(req.params.restapi_id!, {
          stageName: p.str('stageName'),
          deploymentId: p.str('deploymentId'),
          description: p.optStr('description'),
          variables: strMap(p, 'variables'),
          tags: strMap(p, 'tags'),
          tracingEnabled: p.optBool('tracingEnabled'),
        }),
      );
    },
    GetStages(req) {
      // the model's Stages has no paging: just `item`
      return ok({ item: store.listStages(req.params.restapi_id!, req.query.get('deploymentId') ?? undefined) });
    },
    GetStage(req) {
      return ok(store.getStage(req.params.restapi_id!, req.params.stage_name!));
    },
    UpdateStage(req) {
      return ok(store.updateStage(req.params.restapi_id!, req.params.stage_name!, patchOps(req)));
    },
    DeleteStage(req) {
      store.deleteStage(req.params.restapi_id!, req.params.stage_name!);
      return empty(202);
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
