import type { AwsError } from './errors.ts';

/** What the AWS edge knows about one request, handed to every operation. */
export interface RequestContext {
  requestId: string;
  region: string;
  account: string;
  /** the service name from the SigV4 credential scope, or the provider's own */
  signingName: string;
}

export type Operation = (input: any, ctx: RequestContext) => unknown | Promise<unknown>;

export type WireProtocol = 'json' | 'query' | 'ec2';

/**
 * One emulated AWS service as the edge sees it: how to recognise its requests, how to
 * (de)serialize them, and its operations. Providers never start processes.
 */
export interface ServiceProvider {
  /** endpoint prefix / signing name, e.g. 'ecs', 'ecr', 'sts', 'elasticloadbalancing' */
  readonly serviceName: string;
  /** other signing names that route here (ECR signs as 'ecr' on the 'api.ecr' endpoint) */
  readonly signingNames?: readonly string[];
  readonly protocol: WireProtocol;
  /** JSON 1.1: the X-Amz-Target prefix, e.g. 'AmazonEC2ContainerServiceV20141113' */
  readonly targetPrefix?: string;
  /** query/ec2: the xmlns of responses */
  readonly xmlNamespace?: string;
  /** the error code the service uses for malformed or missing parameters */
  readonly validationErrorCode: string;
  readonly operations: Readonly<Record<string, Operation>>;
}

/** Structured append-only log the providers write state changes to. */
export interface EventSink {
  append(type: string, fields?: Record<string, unknown>): unknown;
}

export type { AwsError };
