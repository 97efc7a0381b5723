import { apigatewayErrors, ApiGatewayStoreBase, freshId, randomId, type ApiGatewayStoreDeps } from '../apigateway-common.ts';
import type { RestApiLookup, RestAuthorizationType, RestAuthorizer, RestDeploymentSnapshot, RestIntegration, RestMethod, RestResource, ServedRestStage } from './types.ts';

/*
 * API Gateway REST APIs (apigateway, 2015-07-09) state: APIs with their resource tree (methods
 * and integrations inside), authorizers, deployments and stages. Records carry the service's own
 * camelCase member names where the seam's shapes (types.ts) allow, and the provider renders the
 * wire shapes. A deployment freezes a deep copy of the resources and authorizers; a stage serves
 * the deployment it points at, so changes reach the endpoint (edge/rest-api, via `served()`) only
 * with the next CreateDeployment, as API Gateway does.
 */

export interface RestApi {
  id: string;
  name: string;
  description?: string;
  version?: string;
  createdDate: Date;
  apiKeySource: 'HEADER' | 'AUTHORIZER';
  endpointConfiguration: { types: ('REGIONAL' | 'EDGE' | 'PRIVATE')[] };
  tags?: Record<string, string>;
  disableExecuteApiEndpoint: boolean;
  rootResourceId: string;
}

/** A method as stored: the seam's shape plus the members API Gateway echoes back. */
export interface StoredMethod extends RestMethod {
  operationName?: string;
  requestParameters?: Record<string, boolean>;
  integration?: StoredIntegration;
}

export interface StoredIntegration extends RestIntegration {
  connectionType: 'INTERNET' | 'VPC_LINK';
  passthroughBehavior: string;
  cacheNamespace: string;
  cacheKeyParameters: string[];
  credentials?: string;
  requestParameters?: Record<string, string>;
  requestTemplates?: Record<string, string>;
}

export interface StoredAuthorizer extends RestAuthorizer {
  authType?: string;
  authorizerUri?: string;
  authorizerCredentials?: string;
  identityValidationExpression?: string;
  authorizerResultTtlInSeconds: number;
}

export interface RestDeployment {
  id: string;
  description?: string;
  createdDate: Date;
}

export interface RestStage {
  stageName: string;
  deploymentId: string;
  description?: string;
  variables: Record<string, string>;
  tags?: Record<string, string>;
  cacheClusterEnabled: boolean;
  cacheClusterStatus: 'NOT_AVAILABLE';
  tracingEnabled: boolean;
  methodSettings: Record<string, unknown>;
  createdDate: Date;
  lastUpdatedDate: Date;
}

export interface PatchOperation {
  op: string;
  path: string;
  value?: string;
  from?: string;
}

interface ApiState {
  api: RestApi;
  resources: Map<string, RestResource & { methods: Record<string, StoredMethod> }>;
  authorizers: Map<string, StoredAuthorizer>;
  deployments: Map<string, { deployment: RestDeployment; snapshot: RestDeploymentSnapshot }>;
  stages: Map<string, RestStage>;
}

export type ApiGatewayRestStoreDeps = ApiGatewayStoreDeps;

export const restErrors = apigatewayErrors;

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'ANY'];
const AUTH_TYPES: RestAuthorizationType[] = ['NONE', 'AWS_IAM', 'CUSTOM', 'COGNITO_USER_POOLS'];
const INTEGRATION_TYPES: RestIntegration['type'][] = ['AWS', 'AWS_PROXY', 'HTTP', 'HTTP_PROXY', 'MOCK'];
const ENDPOINT_TYPES = ['REGIONAL', 'EDGE', 'PRIVATE'] as const;
const LITERAL_PART = /^[A-Za-z0-9._-]+$/;
const VARIABLE_PART = /^\{[A-Za-z0-9._-]+\+?\}$/;
const STAGE_NAME = /^[A-Za-z0-9_-]{1,128}$/;
const AWS_URI = /^arn:aws[\w-]*:apigateway:[a-z0-9-]+:[a-z0-9.-]+:(path|action)\/.+$/;
const USER_POOL_ARN = /^arn:aws[\w-]*:cognito-idp:[a-z0-9-]+:\d{12}:userpool\/[\w-]+_[0-9a-zA-Z]+$/;

export interface CreateRestApiInput {
  name: string;
  description?: string;
  version?: string;
  apiKeySource?: string;
  endpointConfiguration?: { types?: string[] };
  tags?: Record<string, string>;
  disableExecuteApiEndpoint?: boolean;
}

export interface PutMethodInput {
  authorizationType: string;
  authorizerId?: string;
  authorizationScopes?: string[];
  apiKeyRequired?: boolean;
  operationName?: string;
  requestParameters?: Record<string, boolean>;
}

export interface PutIntegrationInput {
  type: string;
  httpMethod?: string;
  uri?: string;
  timeoutInMillis?: number;
  connectionType?: string;
  credentials?: string;
  passthroughBehavior?: string;
  cacheNamespace?: string;
  cacheKeyParameters?: string[];
  requestParameters?: Record<string, string>;
  requestTemplates?: Record<string, string>;
}

export interface CreateAuthorizerInput {
  name: string;
  type: string;
  providerARNs?: string[];
  authType?: string;
  authorizerUri?: string;
  authorizerCredentials?: string;
  identitySource?: string;
  identityValidationExpression?: string;
  authorizerResultTtlInSeconds?: number;
}

export interface CreateDeploymentInput {
  stageName?: string;
  stageDescription?: string;
  description?: string;
  variables?: Record<string, string>;
}

export interface CreateStageInput {
  stageName: string;
  deploymentId: string;
  description?: string;
  variables?: Record<string, string>;
  tags?: Record<string, string>;
  tracingEnabled?: boolean;
}

/** JSON-patch paths address `/` and `~` as `~1` and `~0`. */
function unescapePatch(s: string): string {
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}

function patchBool(op: PatchOperation): boolean {
  if (op.value === 'true') return true;
  if (op.value === 'false') return false;
  throw restErrors.badRequest(`Invalid value for ${op.path}: ${op.value}. Expected true or false.`);
}

function unsupportedPatch(op: PatchOperation): never {
  throw restErrors.badRequest(`Invalid patch path '${op.path}' specified for op '${op.op}'. Must be one of the supported paths.`);
}

export class ApiGatewayRestStore extends ApiGatewayStoreBase<ApiState> implements RestApiLookup {
  // ------------------------------------------------------------------ RestApiLookup

  isRestApi(apiId: string): boolean {
    return this.apis.has(apiId);
  }

  endpointDisabled(apiId: string): boolean {
    return this.apis.get(apiId)?.api.disableExecuteApiEndpoint ?? false;
  }

  served(apiId: string, stageName: string): ServedRestStage | undefined {
    const s = this.apis.get(apiId);
    const stage = s?.stages.get(stageName);
    const d = stage && s!.deployments.get(stage.deploymentId);
    if (!stage || !d) return undefined;
    return { apiId, stageName, stageVariables: { ...stage.variables }, deployment: structuredClone(d.snapshot) };
  }

  // ------------------------------------------------------------------ REST APIs

  createRestApi(input: CreateRestApiInput): RestApi {
    if (!input.name) throw restErrors.badRequest('Invalid REST API name specified: the name is required.');
    if (input.name.length > 1024) throw restErrors.badRequest('Invalid REST API name specified: at most 1024 characters.');
    const types = input.endpointConfiguration?.types ?? ['EDGE'];
    if (types.length !== 1 || !ENDPOINT_TYPES.includes(types[0] as never)) {
      throw restErrors.badRequest(`Invalid endpoint configuration types ${JSON.stringify(types)}: exactly one of ${ENDPOINT_TYPES.join(', ')} is expected.`);
    }
    if (input.apiKeySource !== undefined && input.apiKeySource !== 'HEADER' && input.apiKeySource !== 'AUTHORIZER') {
      throw restErrors.badRequest(`Invalid API key source specified: ${input.apiKeySource}. Valid values are HEADER and AUTHORIZER.`);
    }
    // ids share the execute-api namespace with HTTP APIs; 10 lowercase alphanumerics as AWS
    const id = freshId(10, (x) => this.apis.has(x));
    const rootResourceId = randomId(10);
    const api: RestApi = {
      id,
      name: input.name,
      createdDate: this.now(),
      apiKeySource: (input.apiKeySource as RestApi['apiKeySource']) ?? 'HEADER',
      endpointConfiguration: { types: [types[0] as RestApi['endpointConfiguration']['types'][number]] },
      disableExecuteApiEndpoint: input.disableExecuteApiEndpoint ?? false,
      rootResourceId,
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.version !== undefined ? { version: input.version } : {}),
      ...(input.tags && Object.keys(input.tags).length ? { tags: { ...input.tags } } : {}),
    };
    const s: ApiState = { api, resources: new Map(), authorizers: new Map(), deployments: new Map(), stages: new Map() };
    s.resources.set(rootResourceId, { id: rootResourceId, path: '/', methods: {} });
    this.apis.set(id, s);
    this.deps.events?.append('apigateway.rest.created', { apiId: id, name: api.name });
    return { ...api };
  }

  listRestApis(): RestApi[] {
    return [...this.apis.values()].map((s) => ({ ...s.api }));
  }

  getRestApi(apiId: string): RestApi {
    return { ...this.state(apiId).api };
  }

  updateRestApi(apiId: string, ops: PatchOperation[]): RestApi {
    const s = this.state(apiId);
    const next = structuredClone(s.api);
    for (const op of ops) {
      if (op.op !== 'replace') unsupportedPatch(op);
      if (op.path === '/name') {
        if (!op.value) throw restErrors.badRequest('Invalid REST API name specified: the name is required.');
        next.name = op.value;
      } else if (op.path === '/description') next.description = op.value;
      else if (op.path === '/disableExecuteApiEndpoint') next.disableExecuteApiEndpoint = patchBool(op);
      else unsupportedPatch(op);
    }
    s.api = next;
    return { ...next };
  }

  deleteRestApi(apiId: string): void {
    const s = this.state(apiId);
    this.apis.delete(apiId);
    this.deps.events?.append('apigateway.rest.deleted', { apiId, name: s.api.name });
  }

  // ------------------------------------------------------------------ resources

  private resource(s: ApiState, resourceId: string) {
    const r = s.resources.get(resourceId);
    if (!r) throw restErrors.notFound('Invalid Resource identifier specified');
    return r;
  }

  listResources(apiId: string): RestResource[] {
    return [...this.state(apiId).resources.values()].map((r) => structuredClone(r));
  }

  getResource(apiId: string, resourceId: string): RestResource {
    return structuredClone(this.resource(this.state(apiId), resourceId));
  }

  createResource(apiId: string, parentId: string, pathPart: string): RestResource {
    const s = this.state(apiId);
    const parent = this.resource(s, parentId);
    if (!pathPart || !(LITERAL_PART.test(pathPart) || VARIABLE_PART.test(pathPart))) {
      throw restErrors.badRequest(
        "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace.",
      );
    }
    if (parent.pathPart?.endsWith('+}')) throw restErrors.badRequest(`Cannot create a child of a resource with a greedy path variable: ${parent.path}`);
    for (const sib of s.resources.values()) {
      if (sib.parentId !== parentId) continue;
      if (sib.pathPart === pathPart) throw restErrors.conflict(`Another resource with the same parent already has this name: ${pathPart}`);
      if (pathPart.startsWith('{') && sib.pathPart!.startsWith('{')) {
        throw restErrors.badRequest(`A sibling (${sib.pathPart}) of this resource already has a variable path part -- only one is allowed`);
      }
    }
    const id = freshId(6, (x) => s.resources.has(x));
    const r = { id, parentId, pathPart, path: parent.path === '/' ? `/${pathPart}` : `${parent.path}/${pathPart}`, methods: {} };
    s.resources.set(id, r);
    return structuredClone(r);
  }

  deleteResource(apiId: string, resourceId: string): void {
    const s = this.state(apiId);
    const r = this.resource(s, resourceId);
    if (r.parentId === undefined) throw restErrors.badRequest('Cannot delete the root resource of a REST API.');
    const doomed = new Set([resourceId]);
    let grew = true;
    while (grew) {
      grew = false;
      for (const x of s.resources.values()) if (x.parentId && doomed.has(x.parentId) && !doomed.has(x.id)) (doomed.add(x.id), (grew = true));
    }
    for (const id of doomed) s.resources.delete(id);
  }

  // ------------------------------------------------------------------ methods

  private method(s: ApiState, resourceId: string, httpMethod: string): StoredMethod {
    const m = this.resource(s, resourceId).methods[httpMethod.toUpperCase()];
    if (!m) throw restErrors.notFound('Invalid Method identifier specified');
    return m;
  }

  private checkAuth(s: ApiState, m: Pick<RestMethod, 'authorizationType' | 'authorizerId' | 'authorizationScopes'>): void {
    if (!AUTH_TYPES.includes(m.authorizationType)) throw restErrors.badRequest(`Invalid authorization type specified: ${m.authorizationType}. Valid values are ${AUTH_TYPES.join(', ')}.`);
    if (m.authorizationType === 'CUSTOM' || m.authorizationType === 'COGNITO_USER_POOLS') {
      const a = m.authorizerId ? s.authorizers.get(m.authorizerId) : undefined;
      const fits = a && (m.authorizationType === 'COGNITO_USER_POOLS' ? a.type === 'COGNITO_USER_POOLS' : a.type !== 'COGNITO_USER_POOLS');
      if (!fits) throw restErrors.badRequest(`Invalid authorizer ID specified. Setting the authorization type to ${m.authorizationType} requires a valid authorizer.`);
    } else if (m.authorizerId) {
      throw restErrors.badRequest(`Invalid authorizer ID specified: an authorizer can be attached only with authorization type CUSTOM or COGNITO_USER_POOLS, not ${m.authorizationType}.`);
    }
    if (m.authorizationScopes?.length && m.authorizationType !== 'COGNITO_USER_POOLS') {
      throw restErrors.badRequest('Authorization scopes are supported only with authorization type COGNITO_USER_POOLS.');
    }
  }

  putMethod(apiId: string, resourceId: string, httpMethodRaw: string, input: PutMethodInput): StoredMethod {
    const s = this.state(apiId);
    const r = this.resource(s, resourceId);
    const httpMethod = httpMethodRaw.toUpperCase();
    if (!HTTP_METHODS.includes(httpMethod)) throw restErrors.badRequest(`Invalid HttpMethod specified. Valid options are ${HTTP_METHODS.join(',')}`);
    if (r.methods[httpMethod]) throw restErrors.conflict('Method already exists for this resource');
    const m: StoredMethod = {
      httpMethod,
      authorizationType: input.authorizationType as RestAuthorizationType,
      apiKeyRequired: input.apiKeyRequired ?? false,
      ...(input.authorizerId !== undefined ? { authorizerId: input.authorizerId } : {}),
      ...(input.authorizationScopes?.length ? { authorizationScopes: [...input.authorizationScopes] } : {}),
      ...(input.operationName !== undefined ? { operationName: input.operationName } : {}),
      ...(input.requestParameters ? { requestParameters: { ...input.requestParameters } } : {}),
    };
    this.checkAuth(s, m);
    r.methods[httpMethod] = m;
    return structuredClone(m);
  }

  getMethod(apiId: string, resourceId: string, httpMethod: string): StoredMethod {
    return structuredClone(this.method(this.state(apiId), resourceId, httpMethod));
  }

  updateMethod(apiId: string, resourceId: string, httpMethod: string, ops: PatchOperation[]): StoredMethod {
    const s = this.state(apiId);
    const cur = this.method(s, resourceId, httpMethod);
    const next = structuredClone(cur);
    for (const op of ops) {
      if (op.path === '/authorizationScopes' && (op.op === 'add' || op.op === 'remove') && op.value) {
        const scopes = new Set(next.authorizationScopes ?? []);
        if (op.op === 'add') scopes.add(op.value);
        else scopes.delete(op.value);
        if (scopes.size) next.authorizationScopes = [...scopes];
        else delete next.authorizationScopes;
        continue;
      }
      if (op.op !== 'replace') unsupportedPatch(op);
      if (op.path === '/authorizationType') next.authorizationType = (op.value ?? '') as RestAuthorizationType;
      else if (op.path === '/authorizerId') {
        if (op.value) next.authorizerId = op.value;
        else delete next.authorizerId;
      } else if (op.path === '/apiKeyRequired') next.apiKeyRequired = patchBool(op);
      else if (op.path === '/operationName') next.operationName = op.value;
      else unsupportedPatch(op);
    }
    if (next.authorizationType !== 'CUSTOM' && next.authorizationType !== 'COGNITO_USER_POOLS') delete next.authorizerId;
    this.checkAuth(s, next);
    this.resource(s, resourceId).methods[next.httpMethod] = next;
    return structuredClone(next);
  }

  deleteMethod(apiId: string, resourceId: string, httpMethod: string): void {
    const s = this.state(apiId);
    const m = this.method(s, resourceId, httpMethod);
    delete this.resource(s, resourceId).methods[m.httpMethod];
  }

  // ------------------------------------------------------------------ integrations

  putIntegration(apiId: string, resourceId: string, httpMethod: string, input: PutIntegrationInput): StoredIntegration {
    const s = this.state(apiId);
    const m = this.method(s, resourceId, httpMethod);
    const type = input.type as RestIntegration['type'];
    if (!INTEGRATION_TYPES.includes(type)) throw restErrors.badRequest(`Invalid integration type specified: ${input.type}. Valid values are ${INTEGRATION_TYPES.join(', ')}.`);
    const timeoutInMillis = input.timeoutInMillis ?? 29000;
    if (!Number.isInteger(timeoutInMillis) || timeoutInMillis < 50 || timeoutInMillis > 29000) throw restErrors.badRequest('Timeout should be between 50 ms and 29000 ms');
    const integrationMethod = input.httpMethod?.toUpperCase();
    if (type !== 'MOCK') {
      if (!integrationMethod) throw restErrors.badRequest('Enumeration value for HttpMethod must be non-empty');
      if (!HTTP_METHODS.includes(integrationMethod)) throw restErrors.badRequest(`Invalid integration HTTP method specified: ${input.httpMethod}`);
      if (!input.uri) throw restErrors.badRequest(`Invalid URI specified: a URI is required for integration type ${type}.`);
      if (type === 'AWS' || type === 'AWS_PROXY') {
        if (!AWS_URI.test(input.uri)) throw restErrors.badRequest('AWS ARN for integration must contain path or action');
        if (type === 'AWS_PROXY' && !/:lambda:path\//.test(input.uri) && !/:firehose:/.test(input.uri)) {
          throw restErrors.badRequest("Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.");
        }
      } else {
        let url: URL | undefined;
        try {
          url = new URL(input.uri);
        } catch {
          url = undefined;
        }
        if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw restErrors.badRequest('Invalid HTTP endpoint specified for URI');
      }
    } else if (integrationMethod && !HTTP_METHODS.includes(integrationMethod)) {
      throw restErrors.badRequest(`Invalid integration HTTP method specified: ${input.httpMethod}`);
    }
    const connectionType = input.connectionType ?? 'INTERNET';
    if (connectionType !== 'INTERNET' && connectionType !== 'VPC_LINK') throw restErrors.badRequest(`Invalid connection type specified: ${connectionType}`);
    const integ: StoredIntegration = {
      type,
      timeoutInMillis,
      connectionType,
      passthroughBehavior: input.passthroughBehavior ?? 'WHEN_NO_MATCH',
      cacheNamespace: input.cacheNamespace ?? resourceId,
      cacheKeyParameters: [...(input.cacheKeyParameters ?? [])],
      ...(integrationMethod ? { httpMethod: integrationMethod } : {}),
      ...(input.uri !== undefined ? { uri: input.uri } : {}),
      ...(input.credentials !== undefined ? { credentials: input.credentials } : {}),
      ...(input.requestParameters ? { requestParameters: { ...input.requestParameters } } : {}),
      ...(input.requestTemplates ? { requestTemplates: { ...input.requestTemplates } } : {}),
    };
    m.integration = integ;
    return structuredClone(integ);
  }

  getIntegration(apiId: string, resourceId: string, httpMethod: string): StoredIntegration {
    const m = this.method(this.state(apiId), resourceId, httpMethod);
    if (!m.integration) throw restErrors.notFound('Invalid Integration identifier specified');
    return structuredClone(m.integration);
  }

  deleteIntegration(apiId: string, resourceId: string, httpMethod: string): void {
    const m = this.method(this.state(apiId), resourceId, httpMethod);
    if (!m.integration) throw restErrors.notFound('Invalid Integration identifier specified');
    delete m.integration;
  }

  // ------------------------------------------------------------------ authorizers

  private authorizer(s: ApiState, authorizerId: string): StoredAuthorizer {
    const a = s.authorizers.get(authorizerId);
    if (!a) throw restErrors.notFound(`Invalid Authorizer identifier specified ${this.deps.account}:${s.api.id}/${authorizerId}`);
    return a;
  }

  private checkAuthorizer(a: StoredAuthorizer): void {
    if (!a.name) throw restErrors.badRequest('Authorizer name is required.');
    if (!['TOKEN', 'REQUEST', 'COGNITO_USER_POOLS'].includes(a.type)) throw restErrors.badRequest(`Invalid authorizer type specified: ${a.type}. Valid values are TOKEN, REQUEST, COGNITO_USER_POOLS.`);
    if (a.type === 'COGNITO_USER_POOLS') {
      if (!a.providerARNs.length) throw restErrors.badRequest('ProviderARNs need to be specified for COGNITO_USER_POOLS authorizers.');
      const bad = a.providerARNs.find((arn) => !USER_POOL_ARN.test(arn));
      if (bad) throw restErrors.badRequest(`Invalid provider ARN specified: ${bad}`);
    } else {
      if (!a.authorizerUri) throw restErrors.badRequest(`Authorizer URI is required for ${a.type} authorizers.`);
      if (!AWS_URI.test(a.authorizerUri)) throw restErrors.badRequest(`Invalid authorizer URI specified: ${a.authorizerUri}`);
    }
    if (a.type !== 'REQUEST' && !a.identitySource) throw restErrors.badRequest(`Identity source is required for ${a.type} authorizers.`);
    if (!Number.isInteger(a.authorizerResultTtlInSeconds) || a.authorizerResultTtlInSeconds < 0 || a.authorizerResultTtlInSeconds > 3600) {
      throw restErrors.badRequest('Authorizer result TTL must be between 0 and 3600 seconds.');
    }
  }

  createAuthorizer(apiId: string, input: CreateAuthorizerInput): StoredAuthorizer {
    const s = this.state(apiId);
    const id = freshId(6, (x) => s.authorizers.has(x));
    const type = input.type as RestAuthorizer['type'];
    const a: StoredAuthorizer = {
      id,
      name: input.name,
      type,
      providerARNs: [...(input.providerARNs ?? [])],
      authorizerResultTtlInSeconds: input.authorizerResultTtlInSeconds ?? 300,
      ...(input.identitySource !== undefined || type !== 'REQUEST' ? { identitySource: input.identitySource ?? 'method.request.header.Authorization' } : {}),
      ...(input.authType !== undefined ? { authType: input.authType } : type === 'COGNITO_USER_POOLS' ? { authType: 'cognito_user_pools' } : {}),
      ...(input.authorizerUri !== undefined ? { authorizerUri: input.authorizerUri } : {}),
      ...(input.authorizerCredentials !== undefined ? { authorizerCredentials: input.authorizerCredentials } : {}),
      ...(input.identityValidationExpression !== undefined ? { identityValidationExpression: input.identityValidationExpression } : {}),
    };
    this.checkAuthorizer(a);
    s.authorizers.set(id, a);
    return structuredClone(a);
  }

  listAuthorizers(apiId: string): StoredAuthorizer[] {
    return [...this.state(apiId).authorizers.values()].map((a) => structuredClone(a));
  }

  getAuthorizer(apiId: string, authorizerId: string): StoredAuthorizer {
    return structuredClone(this.authorizer(this.state(apiId), authorizerId));
  }

  updateAuthorizer(apiId: string, authorizerId: string, ops: PatchOperation[]): StoredAuthorizer {
    const s = this.state(apiId);
    const next = structuredClone(this.authorizer(s, authorizerId));
    for (const op of ops) {
      if (op.path === '/providerARNs' && (op.op === 'add' || op.op === 'remove') && op.value) {
        if (op.op === 'add') {
          if (!next.providerARNs.includes(op.value)) next.providerARNs.push(op.value);
        } else next.providerARNs = next.providerARNs.filter((x) => x !== op.value);
        continue;
      }
      if (op.op !== 'replace') unsupportedPatch(op);
      switch (op.path) {
        case '/name':
          next.name = op.value ?? '';
          break;
        case '/identitySource':
          next.identitySource = op.value;
          break;
        case '/identityValidationExpression':
          next.identityValidationExpression = op.value;
          break;
        case '/authorizerUri':
          next.authorizerUri = op.value;
          break;
        case '/authorizerCredentials':
          next.authorizerCredentials = op.value;
          break;
        case '/authorizerResultTtlInSeconds':
          next.authorizerResultTtlInSeconds = Number(op.value);
          break;
        default:
          unsupportedPatch(op);
      }
    }
    this.checkAuthorizer(next);
    s.authorizers.set(authorizerId, next);
    return structuredClone(next);
  }

  deleteAuthorizer(apiId: string, authorizerId: string): void {
    const s = this.state(apiId);
    this.authorizer(s, authorizerId);
    for (const r of s.resources.values()) {
      for (const m of Object.values(r.methods)) {
        if (m.authorizerId === authorizerId) throw restErrors.conflict(`Cannot delete authorizer ${authorizerId}: it is used by method ${m.httpMethod} ${r.path}.`);
      }
    }
    s.authorizers.delete(authorizerId);
  }

  // ------------------------------------------------------------------ deployments

  private deploymentOf(s: ApiState, deploymentId: string) {
    const d = s.deployments.get(deploymentId);
    if (!d) throw restErrors.notFound('Invalid Deployment identifier specified');
    return d;
  }

  createDeployment(apiId: string, input: CreateDeploymentInput): RestDeployment {
    const s = this.state(apiId);
    if (input.stageName !== undefined && !STAGE_NAME.test(input.stageName)) throw restErrors.badRequest('Stage name only allows a-zA-Z0-9_-');
    const methods = [...s.resources.values()].flatMap((r) => Object.values(r.methods).map((m) => ({ r, m })));
    if (!methods.length) throw restErrors.badRequest("The REST API doesn't contain any methods");
    const bare = methods.find(({ m }) => !m.integration);
    if (bare) throw restErrors.badRequest(`No integration defined for method ${bare.m.httpMethod} ${bare.r.path}`);
    const id = freshId(6, (x) => s.deployments.has(x));
    const createdDate = this.now();
    const deployment: RestDeployment = { id, createdDate, ...(input.description !== undefined ? { description: input.description } : {}) };
    const snapshot: RestDeploymentSnapshot = {
      id,
      createdDate,
      resources: [...s.resources.values()].map((r) => structuredClone(r)),
      authorizers: Object.fromEntries([...s.authorizers.values()].map((a) => [a.id, structuredClone(a)])),
    };
    s.deployments.set(id, { deployment, snapshot });
    if (input.stageName !== undefined) {
      const stage = s.stages.get(input.stageName);
      if (stage) {
        stage.deploymentId = id;
        stage.lastUpdatedDate = createdDate;
        if (input.variables) Object.assign(stage.variables, input.variables);
      } else {
        s.stages.set(input.stageName, this.newStage({ stageName: input.stageName, deploymentId: id, description: input.stageDescription, variables: input.variables }));
      }
    }
    this.deps.events?.append('apigateway.rest.deployment', { apiId, deploymentId: id, stageName: input.stageName });
    return { ...deployment };
  }

  listDeployments(apiId: string): RestDeployment[] {
    return [...this.state(apiId).deployments.values()].map((d) => ({ ...d.deployment }));
  }

  getDeployment(apiId: string, deploymentId: string): RestDeployment {
    return { ...this.deploymentOf(this.state(apiId), deploymentId).deployment };
  }

  deleteDeployment(apiId: string, deploymentId: string): void {
    const s = this.state(apiId);
    this.deploymentOf(s, deploymentId);
    const users = [...s.stages.values()].filter((st) => st.deploymentId === deploymentId);
    if (users.length) throw restErrors.badRequest(`Active stages pointing to this deployment must be moved or deleted: ${users.map((u) => u.stageName).join(', ')}`);
    s.deployments.delete(deploymentId);
  }

  // ------------------------------------------------------------------ stages

  private newStage(input: CreateStageInput): RestStage {
    const now = this.now();
    return {
      stageName: input.stageName,
      deploymentId: input.deploymentId,
      variables: { ...(input.variables ?? {}) },
      cacheClusterEnabled: false,
      cacheClusterStatus: 'NOT_AVAILABLE',
      tracingEnabled: input.tracingEnabled ?? false,
      methodSettings: {},
      createdDate: now,
      lastUpdatedDate: now,
      ...(input.tags && Object.keys(input.tags).length ? { tags: { ...input.tags } } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
    };
  }

  private stage(s: ApiState, stageName: string): RestStage {
    const st = s.stages.get(stageName);
    if (!st) throw restErrors.notFound('Invalid Stage identifier specified');
    return st;
  }

  createStage(apiId: string, input: CreateStageInput): RestStage {
    const s = this.state(apiId);
    if (!STAGE_NAME.test(input.stageName)) throw restErrors.badRequest('Stage name only allows a-zA-Z0-9_-');
    this.deploymentOf(s, input.deploymentId);
    if (s.stages.has(input.stageName)) throw restErrors.conflict('Stage already exists');
    const st = this.newStage(input);
    s.stages.set(st.stageName, st);
    return structuredClone(st);
  }

  listStages(apiId: string, deploymentId?: string): RestStage[] {
    return [...this.state(apiId).stages.values()].filter((st) => deploymentId === undefined || st.deploymentId === deploymentId).map((st) => structuredClone(st));
  }

  getStage(apiId: string, stageName: string): RestStage {
    return structuredClone(this.stage(this.state(apiId), stageName));
  }

  updateStage(apiId: string, stageName: string, ops: PatchOperation[]): RestStage {
    const s = this.state(apiId);
    const next = structuredClone(this.stage(s, stageName));
    for (const op of ops) {
      const v = /^\/variables\/(.+)$/.exec(op.path);
      if (v) {
        const name = unescapePatch(v[1]!);
        if (op.op === 'remove') delete next.variables[name];
        else if (op.op === 'replace' || op.op === 'add') {
          if (op.value === undefined) throw restErrors.badRequest(`A value is required for ${op.path}`);
          if (!/^[A-Za-z0-9_]+$/.test(name)) throw restErrors.badRequest('Stage variable names must consist of alphanumeric characters and underscores only.');
          next.variables[name] = op.value;
        } else unsupportedPatch(op);
        continue;
      }
      if (op.op !== 'replace') unsupportedPatch(op);
      if (op.path === '/deploymentId') {
        this.deploymentOf(s, op.value ?? '');
        next.deploymentId = op.value!;
      } else if (op.path === '/description') next.description = op.value;
      else if (op.path === '/tracingEnabled') next.tracingEnabled = patchBool(op);
      else unsupportedPatch(op);
    }
    next.lastUpdatedDate = this.now();
    s.stages.set(stageName, next);
    return structuredClone(next);
  }

  deleteStage(apiId: string, stageName: string): void {
    const s = this.state(apiId);
    this.stage(s, stageName);
    s.stages.delete(stageName);
  }
}
