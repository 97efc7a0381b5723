import { apigatewayErrors, ApiGatewayStoreBase, freshId, type ApiGatewayStoreDeps } from '../apigateway-common.ts';
import { parseRouteKey } from './route-key.ts';

/*
 * API Gateway v2 state: APIs with their integrations, routes, authorizers, stages and
 * deployments. Records carry the service's own (camelCase) member names, so the provider sends
 * them as they are. A deployment is a snapshot of the routes, integrations and authorizers; a
 * stage serves the deployment it points at, and an auto-deploy stage gets a new one after every
 * change, as API Gateway does. The data plane (edge/http-api) reads `served()`.
 */

export interface CorsConfiguration {
  allowCredentials?: boolean;
  allowHeaders?: string[];
  allowMethods?: string[];
  allowOrigins?: string[];
  exposeHeaders?: string[];
  maxAge?: number;
}

export interface HttpApi {
  apiId: string;
  name: string;
  protocolType: 'HTTP' | 'WEBSOCKET';
  apiEndpoint: string;
  apiKeySelectionExpression: string;
  routeSelectionExpression: string;
  createdDate: Date;
  description?: string;
  disableExecuteApiEndpoint: boolean;
  disableSchemaValidation?: boolean;
  corsConfiguration?: CorsConfiguration;
  tags: Record<string, string>;
  version?: string;
  apiGatewayManaged?: boolean;
}

export interface Integration {
  integrationId: string;
  integrationType: string;
  integrationUri?: string;
  integrationSubtype?: string;
  integrationMethod?: string;
  payloadFormatVersion: string;
  timeoutInMillis: number;
  connectionType: string;
  connectionId?: string;
  credentialsArn?: string;
  description?: string;
  requestParameters?: Record<string, string>;
  responseParameters?: Record<string, Record<string, string>>;
  apiGatewayManaged?: boolean;
}

export interface Route {
  routeId: string;
  routeKey: string;
  target?: string;
  authorizationType: string;
  authorizerId?: string;
  authorizationScopes?: string[];
  apiKeyRequired: boolean;
  operationName?: string;
  requestParameters?: Record<string, { required?: boolean }>;
  apiGatewayManaged?: boolean;
}

export interface JwtConfiguration {
  issuer?: string;
  audience?: string[];
}

export interface Authorizer {
  authorizerId: string;
  authorizerType: string;
  name: string;
  identitySource: string[];
  jwtConfiguration?: JwtConfiguration;
  authorizerUri?: string;
  authorizerPayloadFormatVersion?: string;
  authorizerResultTtlInSeconds?: number;
  authorizerCredentialsArn?: string;
  enableSimpleResponses?: boolean;
  identityValidationExpression?: string;
}

export interface Stage {
  stageName: string;
  autoDeploy: boolean;
  createdDate: Date;
  lastUpdatedDate: Date;
  deploymentId?: string;
  description?: string;
  lastDeploymentStatusMessage?: string;
  stageVariables: Record<string, string>;
  tags: Record<string, string>;
  defaultRouteSettings: Record<string, unknown>;
  routeSettings: Record<string, Record<string, unknown>>;
  accessLogSettings?: { destinationArn?: string; format?: string };
  apiGatewayManaged?: boolean;
}

export interface Deployment {
  deploymentId: string;
  createdDate: Date;
  autoDeployed: boolean;
  deploymentStatus: 'DEPLOYED';
  description?: string;
}

/** What a deployment froze: the API's routes, integrations and authorizers at that moment. */
export interface DeployedConfig {
  routes: Route[];
  integrations: Record<string, Integration>;
  authorizers: Record<string, Authorizer>;
}

interface ApiState {
  api: HttpApi;
  integrations: Map<string, Integration>;
  routes: Map<string, Route>;
  authorizers: Map<string, Authorizer>;
  stages: Map<string, Stage>;
  deployments: Map<string, { deployment: Deployment; config: DeployedConfig }>;
}

export type ApiGatewayV2StoreDeps = ApiGatewayStoreDeps;

export const apigwErrors = apigatewayErrors;

const FUNCTION_ARN = /^arn:aws[\w-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9_$-]{1,128})?$/;
const INVOCATION_URI = /^arn:aws[\w-]*:apigateway:[a-z0-9-]+:lambda:path\/2015-03-31\/functions\/(.+)\/invocations$/;
const STAGE_NAME = /^(\$default|[A-Za-z0-9_-]{1,128})$/;
const IDENTITY_SOURCE = /^\$(request\.(header|querystring)\.[^\s]+|context\.[A-Za-z0-9_.]+|stageVariables\.[A-Za-z0-9_]+)$/;

/** The function ARN an AWS_PROXY integration names (its URI is the ARN or the API Gateway invocation URI). */
export function functionArnOfUri(uri: string): string | undefined {
  if (FUNCTION_ARN.test(uri)) return uri;
  const m = INVOCATION_URI.exec(uri);
  return m && FUNCTION_ARN.test(m[1]!) ? m[1]! : undefined;
}

export interface CreateApiInput {
  name: string;
  protocolType: string;
  description?: string;
  disableExecuteApiEndpoint?: boolean;
  disableSchemaValidation?: boolean;
  corsConfiguration?: CorsConfiguration;
  routeSelectionExpression?: string;
  apiKeySelectionExpression?: string;
  tags?: Record<string, string>;
  version?: string;
  /** quick create: a Lambda function ARN or HTTP URL the API's one route goes to */
  target?: string;
  routeKey?: string;
  credentialsArn?: string;
}

export type IntegrationInput = Partial<Omit<Integration, 'integrationId'>>;
export type RouteInput = Partial<Omit<Route, 'routeId'>>;
export type AuthorizerInput = Partial<Omit<Authorizer, 'authorizerId'>>;
export type StageInput = Partial<Omit<Stage, 'createdDate' | 'lastUpdatedDate' | 'lastDeploymentStatusMessage'>>;

export class ApiGatewayV2Store extends ApiGatewayStoreBase<ApiState> {
  // ------------------------------------------------------------------ APIs

  /** The API, or undefined (the data plane's lookup; never throws). */
  find(apiId: string): HttpApi | undefined {
    return this.apis.get(apiId)?.api;
  }

  createApi(input: CreateApiInput): HttpApi {
    if (!input.name || input.name.length > 128) throw apigwErrors.badRequest('Name must be between 1 and 128 characters.');
    if (input.protocolType !== 'HTTP' && input.protocolType !== 'WEBSOCKET') throw apigwErrors.badRequest(`Invalid protocol type specified: ${input.protocolType}. Valid values are HTTP and WEBSOCKET.`);
    if (input.protocolType === 'WEBSOCKET') {
      if (!input.routeSelectionExpression) throw apigwErrors.badRequest('RouteSelectionExpression is required for WEBSOCKET APIs.');
      if (input.target) throw apigwErrors.badRequest('Quick create (Target) is supported only for HTTP APIs.');
    } else if (input.routeSelectionExpression !== undefined && input.routeSelectionExpression !== '$request.method $request.path') {
      throw apigwErrors.badRequest("The route selection expression of an HTTP API must be '$request.method $request.path'.");
    }
    if (input.description !== undefined && input.description.length > 1024) throw apigwErrors.badRequest('Description must be at most 1024 characters.');
    if (input.routeKey !== undefined && !input.target) throw apigwErrors.badRequest('RouteKey can be specified only with Target (quick create).');
    const apiId = freshId(10, (x) => this.apis.has(x));
    const api: HttpApi = {
      apiId,
      name: input.name,
      protocolType: input.protocolType,
      apiEndpoint: input.protocolType === 'HTTP' ? `https://${this.domainOf(apiId)}` : `wss://${this.domainOf(apiId)}`,
      apiKeySelectionExpression: input.apiKeySelectionExpression ?? '$request.header.x-api-key',
      routeSelectionExpression: input.routeSelectionExpression ?? '$request.method $request.path',
      createdDate: this.now(),
      disableExecuteApiEndpoint: input.disableExecuteApiEndpoint ?? false,
      tags: { ...(input.tags ?? {}) },
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.disableSchemaValidation !== undefined ? { disableSchemaValidation: input.disableSchemaValidation } : {}),
      ...(input.corsConfiguration ? { corsConfiguration: input.corsConfiguration } : {}),
      ...(input.version !== undefined ? { version: input.version } : {}),
    };
    const s: ApiState = { api, integrations: new Map(), routes: new Map(), authorizers: new Map(), stages: new Map(), deployments: new Map() };
    if (input.target) {
      // quick create: validate first, then build (nothing half-made on a bad target)
      const routeKey = input.routeKey ?? '$default';
      const parsed = parseRouteKey(routeKey);
      if ('error' in parsed) throw apigwErrors.badRequest(parsed.error);
      const isLambda = !!functionArnOfUri(input.target);
      if (!isLambda && !/^https?:\/\/\S+$/.test(input.target)) throw apigwErrors.badRequest('Invalid target specified. The target must be a Lambda function ARN or an HTTP URL.');
      this.apis.set(apiId, s);
      this.created(api);
      const integration = this.createIntegration(apiId, {
        integrationType: isLambda ? 'AWS_PROXY' : 'HTTP_PROXY',
        integrationUri: input.target,
        payloadFormatVersion: isLambda ? '2.0' : '1.0',
        ...(isLambda ? {} : { integrationMethod: 'ANY' }),
        ...(input.credentialsArn ? { credentialsArn: input.credentialsArn } : {}),
      });
      integration.apiGatewayManaged = true;
      const route = this.createRoute(apiId, { routeKey, target: `integrations/${integration.integrationId}` });
      route.apiGatewayManaged = true;
      const stage = this.createStage(apiId, { stageName: '$default', autoDeploy: true });
      stage.apiGatewayManaged = true;
      api.apiGatewayManaged = true;
    } else {
      this.apis.set(apiId, s);
      this.created(api);
    }
    return api;
  }

  private created(api: HttpApi): void {
    this.deps.events?.append('apigateway.api.created', { apiId: api.apiId, name: api.name, protocolType: api.protocolType, apiEndpoint: api.apiEndpoint });
  }

  getApi(apiId: string): HttpApi {
    return this.state(apiId).api;
  }

  listApis(): HttpApi[] {
    return [...this.apis.values()].map((s) => s.api).sort((a, b) => a.createdDate.getTime() - b.createdDate.getTime() || a.apiId.localeCompare(b.apiId));
  }

  updateApi(apiId: string, patch: Partial<CreateApiInput>): HttpApi {
    const { api } = this.state(apiId);
    if (patch.name !== undefined && (!patch.name || patch.name.length > 128)) throw apigwErrors.badRequest('Name must be between 1 and 128 characters.');
    if (patch.description !== undefined && patch.description.length > 1024) throw apigwErrors.badRequest('Description must be at most 1024 characters.');
    if (api.protocolType === 'HTTP' && patch.routeSelectionExpression !== undefined && patch.routeSelectionExpression !== '$request.method $request.path') {
      throw apigwErrors.badRequest("The route selection expression of an HTTP API must be '$request.method $request.path'.");
    }
    if (patch.target !== undefined || patch.routeKey !== undefined) throw apigwErrors.badRequest('Target and RouteKey can be changed only on an API made by quick create, and not by this emulator.');
    if (patch.name !== undefined) api.name = patch.name;
    if (patch.description !== undefined) api.description = patch.description;
    if (patch.disableExecuteApiEndpoint !== undefined) api.disableExecuteApiEndpoint = patch.disableExecuteApiEndpoint;
    if (patch.disableSchemaValidation !== undefined) api.disableSchemaValidation = patch.disableSchemaValidation;
    if (patch.corsConfiguration !== undefined) api.corsConfiguration = patch.corsConfiguration;
    if (patch.version !== undefined) api.version = patch.version;
    if (patch.apiKeySelectionExpression !== undefined) api.apiKeySelectionExpression = patch.apiKeySelectionExpression;
    if (patch.routeSelectionExpression !== undefined) api.routeSelectionExpression = patch.routeSelectionExpression;
    return api;
  }

  deleteApi(apiId: string): void {
    const { api } = this.state(apiId);
    this.apis.delete(apiId);
    this.deps.events?.append('apigateway.api.deleted', { apiId, name: api.name });
  }

  // ------------------------------------------------------------------ integrations

  private checkIntegration(api: HttpApi, i: IntegrationInput & { integrationType: string; payloadFormatVersion: string; timeoutInMillis: number }): void {
    const http = api.protocolType === 'HTTP';
    const allowed = http ? ['AWS_PROXY', 'HTTP_PROXY'] : ['AWS', 'AWS_PROXY', 'HTTP', 'HTTP_PROXY', 'MOCK'];
    if (!allowed.includes(i.integrationType)) throw apigwErrors.badRequest(`Integration type ${i.integrationType} is not supported for ${api.protocolType} APIs. Supported types: ${allowed.join(', ')}.`);
    if (i.timeoutInMillis < 50 || i.timeoutInMillis > (http ? 30000 : 29000)) throw apigwErrors.badRequest(`Timeout must be between 50 ms and ${http ? 30000 : 29000} ms.`);
    if (!['1.0', '2.0'].includes(i.payloadFormatVersion)) throw apigwErrors.badRequest(`Invalid payload format version specified: ${i.payloadFormatVersion}. Valid values are 1.0 and 2.0.`);
    if (i.integrationType === 'AWS_PROXY' && !i.integrationSubtype) {
      if (!i.integrationUri) throw apigwErrors.badRequest('IntegrationUri is required for an AWS_PROXY integration.');
      if (!functionArnOfUri(i.integrationUri)) throw apigwErrors.badRequest(`Invalid integration URI specified: ${i.integrationUri}. Expected a Lambda function ARN or arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations.`);
    }
    if (i.integrationType === 'HTTP_PROXY') {
      if (!i.integrationUri) throw apigwErrors.badRequest('IntegrationUri is required for an HTTP_PROXY integration.');
      if (i.payloadFormatVersion !== '1.0') throw apigwErrors.badRequest('HTTP_PROXY integrations support only payload format version 1.0.');
    }
  }

  createIntegration(apiId: string, input: IntegrationInput): Integration {
    const s = this.state(apiId);
    if (!input.integrationType) throw apigwErrors.badRequest('IntegrationType is required.');
    const candidate = {
      ...input,
      integrationType: input.integrationType,
      payloadFormatVersion: input.payloadFormatVersion ?? '1.0',
      timeoutInMillis: input.timeoutInMillis ?? (s.api.protocolType === 'HTTP' ? 30000 : 29000),
    };
    this.checkIntegration(s.api, candidate);
    const integrationId = freshId(7, (x) => s.integrations.has(x));
    const integration: Integration = {
      integrationId,
      integrationType: candidate.integrationType,
      payloadFormatVersion: candidate.payloadFormatVersion,
      timeoutInMillis: candidate.timeoutInMillis,
      connectionType: input.connectionType ?? 'INTERNET',
      ...(input.integrationUri !== undefined ? { integrationUri: input.integrationUri } : {}),
      ...(input.integrationSubtype !== undefined ? { integrationSubtype: input.integrationSubtype } : {}),
      integrationMethod: input.integrationMethod ?? (candidate.integrationType === 'AWS_PROXY' ? 'POST' : undefined),
      ...(input.connectionId !== undefined ? { connectionId: input.connectionId } : {}),
      ...(input.credentialsArn !== undefined ? { credentialsArn: input.credentialsArn } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.requestParameters !== undefined ? { requestParameters: input.requestParameters } : {}),
      ...(input.responseParameters !== undefined ? { responseParameters: input.responseParameters } : {}),
    };
    if (integration.integrationMethod === undefined) delete integration.integrationMethod;
    s.integrations.set(integrationId, integration);
    this.changed(s);
    return integration;
  }

  getIntegration(apiId: string, integrationId: string): Integration {
    const i = this.state(apiId).integrations.get(integrationId);
    if (!i) throw apigwErrors.notFound(`Invalid Integration identifier specified ${integrationId}`);
    return i;
  }

  listIntegrations(apiId: string): Integration[] {
    return [...this.state(apiId).integrations.values()];
  }

  updateIntegration(apiId: string, integrationId: string, patch: IntegrationInput): Integration {
    const s = this.state(apiId);
    const cur = this.getIntegration(apiId, integrationId);
    const next = { ...cur, ...stripUndefined(patch) } as Integration;
    this.checkIntegration(s.api, next);
    Object.assign(cur, next);
    this.changed(s);
    return cur;
  }

  deleteIntegration(apiId: string, integrationId: string): void {
    const s = this.state(apiId);
    this.getIntegration(apiId, integrationId);
    const users = [...s.routes.values()].filter((r) => r.target === `integrations/${integrationId}`);
    if (users.length) throw apigwErrors.conflict(`Cannot delete integration ${integrationId}: it is the target of route(s) ${users.map((r) => r.routeKey).join(', ')}.`);
    s.integrations.delete(integrationId);
    this.changed(s);
  }

  // ------------------------------------------------------------------ routes

  private checkRoute(s: ApiState, r: RouteInput & { routeKey: string; authorizationType: string }, self?: string): void {
    if (s.api.protocolType === 'HTTP') {
      const parsed = parseRouteKey(r.routeKey);
      if ('error' in parsed) throw apigwErrors.badRequest(parsed.error);
    } else if (!r.routeKey) throw apigwErrors.badRequest('RouteKey is required.');
    for (const other of s.routes.values()) {
      if (other.routeId !== self && other.routeKey === r.routeKey) throw apigwErrors.conflict(`Route with key ${r.routeKey} already exists for this API`);
    }
    if (r.target !== undefined) {
      const m = /^integrations\/([a-z0-9]+)$/.exec(r.target);
      if (!m) throw apigwErrors.badRequest(`Invalid target specified: ${r.target}. A route's target must be integrations/<integration id>.`);
      if (!s.integrations.has(m[1]!)) throw apigwErrors.badRequest(`Invalid target specified: integration ${m[1]} does not exist in this API.`);
    }
    const types = s.api.protocolType === 'HTTP' ? ['NONE', 'AWS_IAM', 'CUSTOM', 'JWT'] : ['NONE', 'AWS_IAM', 'CUSTOM'];
    if (!types.includes(r.authorizationType)) throw apigwErrors.badRequest(`Invalid authorization type specified: ${r.authorizationType}. Valid values are ${types.join(', ')}.`);
    if (r.authorizationType === 'JWT') {
      const a = r.authorizerId ? s.authorizers.get(r.authorizerId) : undefined;
      if (!a || a.authorizerType !== 'JWT') throw apigwErrors.badRequest('Invalid authorizer ID specified. Setting the authorization type to JWT requires a valid JWT authorizer.');
    } else if (r.authorizationType === 'CUSTOM') {
      const a = r.authorizerId ? s.authorizers.get(r.authorizerId) : undefined;
      if (!a || a.authorizerType !== 'REQUEST') throw apigwErrors.badRequest('Invalid authorizer ID specified. Setting the authorization type to CUSTOM requires a valid REQUEST authorizer.');
    } else if (r.authorizerId) {
      throw apigwErrors.badRequest(`An authorizer can be attached only with authorization type JWT or CUSTOM, not ${r.authorizationType}.`);
    }
    if (r.authorizationScopes?.length && r.authorizationType !== 'JWT') throw apigwErrors.badRequest('Authorization scopes are supported only with authorization type JWT.');
  }

  createRoute(apiId: string, input: RouteInput): Route {
    const s = this.state(apiId);
    if (!input.routeKey) throw apigwErrors.badRequest('RouteKey is required.');
    const candidate = { ...input, routeKey: input.routeKey, authorizationType: input.authorizationType ?? 'NONE' };
    this.checkRoute(s, candidate);
    const routeId = freshId(7, (x) => s.routes.has(x));
    const route: Route = {
      routeId,
      routeKey: candidate.routeKey,
      authorizationType: candidate.authorizationType,
      apiKeyRequired: input.apiKeyRequired ?? false,
      ...(input.target !== undefined ? { target: input.target } : {}),
      ...(input.authorizerId !== undefined ? { authorizerId: input.authorizerId } : {}),
      ...(input.authorizationScopes !== undefined ? { authorizationScopes: input.authorizationScopes } : {}),
      ...(input.operationName !== undefined ? { operationName: input.operationName } : {}),
      ...(input.requestParameters !== undefined ? { requestParameters: input.requestParameters } : {}),
    };
    s.routes.set(routeId, route);
    this.deps.events?.append('apigateway.route.created', { apiId, routeId, routeKey: route.routeKey, target: route.target, authorizationType: route.authorizationType });
    this.changed(s);
    return route;
  }

  getRoute(apiId: string, routeId: string): Route {
    const r = this.state(apiId).routes.get(routeId);
    if (!r) throw apigwErrors.notFound(`Invalid Route identifier specified ${routeId}`);
    return r;
  }

  listRoutes(apiId: string): Route[] {
    return [...this.state(apiId).routes.values()];
  }

  updateRoute(apiId: string, routeId: string, patch: RouteInput): Route {
    const s = this.state(apiId);
    const cur = this.getRoute(apiId, routeId);
    const next = { ...cur, ...stripUndefined(patch) } as Route;
    if (patch.authorizationType === 'NONE' && patch.authorizerId === undefined) {
      delete next.authorizerId;
      delete next.authorizationScopes;
    }
    this.checkRoute(s, next, routeId);
    for (const k of Object.keys(cur) as (keyof Route)[]) if (!(k in next)) delete cur[k];
    Object.assign(cur, next);
    this.changed(s);
    return cur;
  }

  deleteRoute(apiId: string, routeId: string): void {
    const s = this.state(apiId);
    this.getRoute(apiId, routeId);
    s.routes.delete(routeId);
    this.changed(s);
  }

  // ------------------------------------------------------------------ authorizers

  private checkAuthorizer(s: ApiState, a: AuthorizerInput & { authorizerType: string; name: string; identitySource: string[] }): void {
    if (!a.name || a.name.length > 128) throw apigwErrors.badRequest('Name must be between 1 and 128 characters.');
    if (a.authorizerType !== 'JWT' && a.authorizerType !== 'REQUEST') throw apigwErrors.badRequest(`Invalid authorizer type specified: ${a.authorizerType}. Valid values are REQUEST and JWT.`);
    if (a.authorizerType === 'JWT') {
      if (s.api.protocolType !== 'HTTP') throw apigwErrors.badRequest('JWT authorizers are supported only for HTTP APIs.');
      if (a.identitySource.length !== 1) throw apigwErrors.badRequest('A JWT authorizer must have exactly one identity source.');
      if (!a.jwtConfiguration?.issuer) throw apigwErrors.badRequest('JwtConfiguration with an Issuer is required for a JWT authorizer.');
      if (!/^https:\/\/\S+$/.test(a.jwtConfiguration.issuer)) throw apigwErrors.badRequest(`Invalid issuer specified: ${a.jwtConfiguration.issuer}. The issuer must be an https URL.`);
      if (!a.jwtConfiguration.audience?.length) throw apigwErrors.badRequest('JwtConfiguration.Audience must list at least one audience for a JWT authorizer.');
    } else {
      if (!a.authorizerUri) throw apigwErrors.badRequest('AuthorizerUri is required for a REQUEST authorizer.');
      if (s.api.protocolType === 'HTTP' && !['1.0', '2.0'].includes(a.authorizerPayloadFormatVersion ?? '')) throw apigwErrors.badRequest('AuthorizerPayloadFormatVersion (1.0 or 2.0) is required for a REQUEST authorizer of an HTTP API.');
    }
    for (const src of a.identitySource) {
      if (!IDENTITY_SOURCE.test(src)) throw apigwErrors.badRequest(`Invalid identity source specified: ${src}. Expected $request.header.<name>, $request.querystring.<name>, $context.<variable> or $stageVariables.<name>.`);
    }
    if (a.authorizerResultTtlInSeconds !== undefined && (a.authorizerResultTtlInSeconds < 0 || a.authorizerResultTtlInSeconds > 3600)) throw apigwErrors.badRequest('AuthorizerResultTtlInSeconds must be between 0 and 3600.');
  }

  createAuthorizer(apiId: string, input: AuthorizerInput): Authorizer {
    const s = this.state(apiId);
    if (!input.authorizerType) throw apigwErrors.badRequest('AuthorizerType is required.');
    if (!input.identitySource) throw apigwErrors.badRequest('IdentitySource is required.');
    const candidate = { ...input, authorizerType: input.authorizerType, name: input.name ?? '', identitySource: input.identitySource };
    this.checkAuthorizer(s, candidate);
    const authorizerId = freshId(6, (x) => s.authorizers.has(x));
    const a: Authorizer = { authorizerId, ...stripUndefined(candidate) } as Authorizer;
    s.authorizers.set(authorizerId, a);
    this.changed(s);
    return a;
  }

  getAuthorizer(apiId: string, authorizerId: string): Authorizer {
    const a = this.state(apiId).authorizers.get(authorizerId);
    if (!a) throw apigwErrors.notFound(`Invalid Authorizer identifier specified ${authorizerId}`);
    return a;
  }

  listAuthorizers(apiId: string): Authorizer[] {
    return [...this.state(apiId).authorizers.values()];
  }

  updateAuthorizer(apiId: string, authorizerId: string, patch: AuthorizerInput): Authorizer {
    const s = this.state(apiId);
    const cur = this.getAuthorizer(apiId, authorizerId);
    const next = { ...cur, ...stripUndefined(patch) } as Authorizer;
    this.checkAuthorizer(s, next);
    Object.assign(cur, next);
    this.changed(s);
    return cur;
  }

  deleteAuthorizer(apiId: string, authorizerId: string): void {
    const s = this.state(apiId);
    this.getAuthorizer(apiId, authorizerId);
    const users = [...s.routes.values()].filter((r) => r.authorizerId === authorizerId);
    if (users.length) throw apigwErrors.conflict(`Cannot delete authorizer ${authorizerId}: route(s) ${users.map((r) => r.routeKey).join(', ')} use it.`);
    s.authorizers.delete(authorizerId);
    this.changed(s);
  }

  // ------------------------------------------------------------------ stages and deployments

  createStage(apiId: string, input: StageInput): Stage {
    const s = this.state(apiId);
    const name = input.stageName ?? '';
    if (!STAGE_NAME.test(name)) throw apigwErrors.badRequest(`Invalid stage name specified: '${name}'. A stage name is $default or 1 to 128 letters, digits, hyphens and underscores.`);
    if (s.stages.has(name)) throw apigwErrors.conflict(`Stage ${name} already exists for this API`);
    if (input.deploymentId !== undefined && !s.deployments.has(input.deploymentId)) throw apigwErrors.badRequest(`Invalid deployment identifier specified ${input.deploymentId}`);
    const now = this.now();
    const stage: Stage = {
      stageName: name,
      autoDeploy: input.autoDeploy ?? false,
      createdDate: now,
      lastUpdatedDate: now,
      stageVariables: { ...(input.stageVariables ?? {}) },
      tags: { ...(input.tags ?? {}) },
      defaultRouteSettings: { detailedMetricsEnabled: false, ...(input.defaultRouteSettings ?? {}) },
      routeSettings: { ...(input.routeSettings ?? {}) },
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.accessLogSettings !== undefined ? { accessLogSettings: input.accessLogSettings } : {}),
      ...(input.deploymentId !== undefined ? { deploymentId: input.deploymentId } : {}),
    };
    s.stages.set(name, stage);
    if (stage.autoDeploy) this.deploy(s, stage, true);
    return stage;
  }

  getStage(apiId: string, stageName: string): Stage {
    const st = this.state(apiId).stages.get(stageName);
    if (!st) throw apigwErrors.notFound(`Invalid stage identifier specified ${stageName}`);
    return st;
  }

  listStages(apiId: string): Stage[] {
    return [...this.state(apiId).stages.values()];
  }

  updateStage(apiId: string, stageName: string, patch: StageInput): Stage {
    const s = this.state(apiId);
    const st = this.getStage(apiId, stageName);
    if (patch.deploymentId !== undefined && !s.deployments.has(patch.deploymentId)) throw apigwErrors.badRequest(`Invalid deployment identifier specified ${patch.deploymentId}`);
    if (patch.autoDeploy !== undefined) st.autoDeploy = patch.autoDeploy;
    if (patch.description !== undefined) st.description = patch.description;
    if (patch.stageVariables !== undefined) st.stageVariables = { ...patch.stageVariables };
    if (patch.defaultRouteSettings !== undefined) st.defaultRouteSettings = { ...st.defaultRouteSettings, ...patch.defaultRouteSettings };
    if (patch.routeSettings !== undefined) st.routeSettings = { ...patch.routeSettings };
    if (patch.accessLogSettings !== undefined) st.accessLogSettings = patch.accessLogSettings;
    if (patch.deploymentId !== undefined) this.point(apiId, st, patch.deploymentId);
    st.lastUpdatedDate = this.now();
    if (patch.autoDeploy === true) this.deploy(s, st, true);
    return st;
  }

  deleteStage(apiId: string, stageName: string): void {
    const s = this.state(apiId);
    this.getStage(apiId, stageName);
    s.stages.delete(stageName);
  }

  createDeployment(apiId: string, input: { stageName?: string; description?: string }): Deployment {
    const s = this.state(apiId);
    const st = input.stageName !== undefined ? s.stages.get(input.stageName) : undefined;
    if (input.stageName !== undefined && !st) throw apigwErrors.badRequest(`Invalid stage identifier specified ${input.stageName}`);
    if (st?.autoDeploy) throw apigwErrors.badRequest(`Stage ${st.stageName} has AutoDeploy enabled: it is deployed on every change.`);
    return this.deploy(s, st, false, input.description);
  }

  getDeployment(apiId: string, deploymentId: string): Deployment {
    const d = this.state(apiId).deployments.get(deploymentId);
    if (!d) throw apigwErrors.notFound(`Invalid Deployment identifier specified ${deploymentId}`);
    return d.deployment;
  }

  listDeployments(apiId: string): Deployment[] {
    return [...this.state(apiId).deployments.values()].map((d) => d.deployment);
  }

  deleteDeployment(apiId: string, deploymentId: string): void {
    const s = this.state(apiId);
    this.getDeployment(apiId, deploymentId);
    const users = [...s.stages.values()].filter((st) => st.deploymentId === deploymentId);
    if (users.length) throw apigwErrors.badRequest(`Active stages pointing to this deployment must be moved or deleted: ${users.map((st) => st.stageName).join(', ')}`);
    s.deployments.delete(deploymentId);
  }

  /**
   * What a stage of an API serves now: the routes, integrations and authorizers of the
   * deployment it points at. Undefined when the API, the stage or a deployment is missing.
   */
  served(apiId: string, stageName: string): { api: HttpApi; stage: Stage; deploymentId: string; config: DeployedConfig } | undefined {
    const s = this.apis.get(apiId);
    const stage = s?.stages.get(stageName);
    const d = stage?.deploymentId ? s!.deployments.get(stage.deploymentId) : undefined;
    return d && { api: s!.api, stage: stage!, deploymentId: d.deployment.deploymentId, config: d.config };
  }

  /** The stage names of an API (the data plane resolves the path's first segment against them). */
  stageNames(apiId: string): string[] {
    return [...(this.apis.get(apiId)?.stages.keys() ?? [])];
  }

  private snapshot(s: ApiState): DeployedConfig {
    return structuredClone({
      routes: [...s.routes.values()],
      integrations: Object.fromEntries(s.integrations),
      authorizers: Object.fromEntries(s.authorizers),
    });
  }

  private deploy(s: ApiState, stage: Stage | undefined, auto: boolean, description?: string): Deployment {
    const deploymentId = freshId(6, (x) => s.deployments.has(x));
    const deployment: Deployment = { deploymentId, createdDate: this.now(), autoDeployed: auto, deploymentStatus: 'DEPLOYED', ...(description !== undefined ? { description } : {}) };
    s.deployments.set(deploymentId, { deployment, config: this.snapshot(s) });
    if (stage) this.point(s.api.apiId, stage, deploymentId);
    return deployment;
  }

  private point(apiId: string, stage: Stage, deploymentId: string): void {
    stage.deploymentId = deploymentId;
    stage.lastDeploymentStatusMessage = `Successfully deployed stage with deployment ID '${deploymentId}'`;
    stage.lastUpdatedDate = this.now();
    this.deps.events?.append('apigateway.stage.deployed', { apiId, stage: stage.stageName, deploymentId });
  }

  /** Routes, integrations or authorizers changed: every auto-deploy stage gets a new deployment. */
  private changed(s: ApiState): void {
    for (const st of s.stages.values()) if (st.autoDeploy) this.deploy(s, st, true);
  }
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
