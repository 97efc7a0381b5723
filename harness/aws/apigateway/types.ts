/**
 * The seam between API Gateway REST APIs' control plane (aws/apigateway: store + restJson
 * provider) and their data plane (edge/rest-api: the execute-api endpoint). The endpoint serves
 * what a stage's deployment froze at CreateDeployment, as API Gateway does: changes to
 * resources, methods, integrations and authorizers reach callers only with a new deployment.
 */

export type RestAuthorizationType = 'NONE' | 'AWS_IAM' | 'CUSTOM' | 'COGNITO_USER_POOLS';

export interface RestIntegration {
  type: 'AWS' | 'AWS_PROXY' | 'HTTP' | 'HTTP_PROXY' | 'MOCK';
  /** the integration's own method (POST for Lambda) */
  httpMethod?: string;
  /** for AWS_PROXY to Lambda: arn:aws:apigateway:<region>:lambda:path/2015-03-31/functions/<function ARN>/invocations */
  uri?: string;
  /** 50–29000 ms; 29000 unless set */
  timeoutInMillis: number;
}

export interface RestMethod {
  /** GET, POST, … or ANY */
  httpMethod: string;
  authorizationType: RestAuthorizationType;
  authorizerId?: string;
  /** an access token's scopes that satisfy a COGNITO_USER_POOLS authorizer (none: an ID token is expected) */
  authorizationScopes?: string[];
  apiKeyRequired: boolean;
  integration?: RestIntegration;
}

export interface RestResource {
  id: string;
  /** undefined for the root resource `/` */
  parentId?: string;
  /** a literal, `{name}` or `{name+}` (undefined for the root) */
  pathPart?: string;
  /** the full path, e.g. `/feedback/{id}` */
  path: string;
  /** by HTTP method (or ANY) */
  methods: Record<string, RestMethod>;
}

export interface RestAuthorizer {
  id: string;
  name: string;
  type: 'TOKEN' | 'REQUEST' | 'COGNITO_USER_POOLS';
  /** COGNITO_USER_POOLS: the user pools' ARNs */
  providerARNs: string[];
  /** e.g. `method.request.header.Authorization` */
  identitySource?: string;
}

/** What a deployment froze: the API's resources (methods and integrations inside) and authorizers. */
export interface RestDeploymentSnapshot {
  id: string;
  createdDate: Date;
  resources: RestResource[];
  authorizers: Record<string, RestAuthorizer>;
}

/** A stage and the deployment it serves. */
export interface ServedRestStage {
  apiId: string;
  stageName: string;
  stageVariables: Record<string, string>;
  deployment: RestDeploymentSnapshot;
}

/** What the endpoint asks of the control plane. */
export interface RestApiLookup {
  readonly region: string;
  readonly account: string;
  /** whether apiId names a REST API (ids share the execute-api namespace with HTTP APIs) */
  isRestApi(apiId: string): boolean;
  /** whether the API's default execute-api endpoint is disabled (then 403) */
  endpointDisabled(apiId: string): boolean;
  /** the stage with its deployment, or undefined when there is no such stage (or it has no deployment) */
  served(apiId: string, stageName: string): ServedRestStage | undefined;
  /** `<apiId>.execute-api.<region>.amazonaws.com` */
  domainOf(apiId: string): string;
}
