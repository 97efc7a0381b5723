import { AwsError } from '../protocol/errors.ts';

/**
 * A Cloud Map error that carries modeled members besides the message (e.g. NamespaceAlreadyExists
 * has NamespaceId and CreatorRequestId). `fields` are meant to be merged into the JSON error body
 * next to `__type` and `message`.
 */
export class CloudMapError extends AwsError {
  constructor(code: string, message: string, fields: Record<string, unknown> = {}) {
    super(code, message, 400, true, fields);
  }
}

/** Cloud Map's modeled exceptions: codes have no `Exception` suffix (except the tagging one). */
export const sdErrors = {
  invalidInput: (msg: string) => new AwsError('InvalidInput', msg),
  namespaceNotFound: (id: string) => new AwsError('NamespaceNotFound', `Namespace not found: ${id}`),
  serviceNotFound: (id: string) => new AwsError('ServiceNotFound', `Service not found: ${id}`),
  instanceNotFound: (id: string) => new AwsError('InstanceNotFound', `Instance not found: ${id}`),
  operationNotFound: (id: string) => new AwsError('OperationNotFound', `Operation not found: ${id}`),
  resourceInUse: (msg: string) => new AwsError('ResourceInUse', msg),
  customHealthNotFound: (serviceId: string) =>
    new AwsError('CustomHealthNotFound', `Service ${serviceId} is not configured with a custom health check.`),
  namespaceAlreadyExists: (name: string, namespaceId: string, creatorRequestId?: string) =>
    new CloudMapError('NamespaceAlreadyExists', `Namespace with name ${name} already exists.`, {
      NamespaceId: namespaceId,
      ...(creatorRequestId ? { CreatorRequestId: creatorRequestId } : {}),
    }),
  serviceAlreadyExists: (name: string, serviceId: string, serviceArn: string, creatorRequestId?: string) =>
    new CloudMapError('ServiceAlreadyExists', `Service with name ${name} already exists.`, {
      ServiceId: serviceId,
      ServiceArn: serviceArn,
      ...(creatorRequestId ? { CreatorRequestId: creatorRequestId } : {}),
    }),
  resourceNotFound: (arn: string) => new AwsError('ResourceNotFoundException', `Resource not found: ${arn}`),
  tooManyTags: (arn: string) =>
    new CloudMapError('TooManyTagsException', 'The resource can have up to 50 tags.', { ResourceName: arn }),
  resourceLimitExceeded: (msg: string) => new AwsError('ResourceLimitExceeded', msg),
};
