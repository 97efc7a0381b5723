import { AwsError } from '../protocol/errors.ts';

/** ECS's modeled exceptions, with the messages real responses carry. */
export const ecsErrors = {
  client: (msg: string) => new AwsError('ClientException', msg),
  invalidParameter: (msg: string) => new AwsError('InvalidParameterException', msg),
  clusterNotFound: () => new AwsError('ClusterNotFoundException', 'Cluster not found.'),
  serviceNotFound: () => new AwsError('ServiceNotFoundException', 'Service not found.'),
  serviceNotActive: () => new AwsError('ServiceNotActiveException', 'Service was not ACTIVE.'),
  clusterContainsServices: () =>
    new AwsError('ClusterContainsServicesException', 'The Cluster cannot be deleted while Services are active.'),
  clusterContainsTasks: () =>
    new AwsError('ClusterContainsTasksException', 'The Cluster cannot be deleted while Tasks are active.'),
  platformUnknown: (msg: string) => new AwsError('PlatformUnknownException', msg),
};
