import { AwsError } from '../protocol/errors.ts';

export interface ImageIdentifier {
  imageDigest?: string;
  imageTag?: string;
}

function fmtId(id: ImageIdentifier): string {
  return `{imageDigest:'${id.imageDigest ?? 'null'}', imageTag:'${id.imageTag ?? 'null'}'}`;
}

/** ECR's modeled exceptions with the message texts the service sends. */
export const ecrErrors = {
  invalidParameter: (msg: string) => new AwsError('InvalidParameterException', msg),
  repositoryNotFound: (name: string, registryId: string) =>
    new AwsError('RepositoryNotFoundException', `The repository with name '${name}' does not exist in the registry with id '${registryId}'`),
  repositoryAlreadyExists: (name: string, registryId: string) =>
    new AwsError('RepositoryAlreadyExistsException', `The repository with name '${name}' already exists in the registry with id '${registryId}'`),
  repositoryNotEmpty: (name: string, registryId: string) =>
    new AwsError(
      'RepositoryNotEmptyException',
      `The repository with name '${name}' in registry with id '${registryId}' cannot be deleted because it still contains images`,
    ),
  imageNotFound: (id: ImageIdentifier, repo: string, registryId: string) =>
    new AwsError(
      'ImageNotFoundException',
      `The image with imageId ${fmtId(id)} does not exist within the repository with name '${repo}' in the registry with id '${registryId}'`,
    ),
  imageAlreadyExists: (digest: string, tag: string | undefined, repo: string, registryId: string) =>
    new AwsError(
      'ImageAlreadyExistsException',
      `Image with digest '${digest}' and tag '${tag ?? 'null'}' already exists in the repository with name '${repo}' in registry with id '${registryId}'`,
    ),
  imageTagAlreadyExists: (tag: string, digest: string, repo: string, registryId: string) =>
    new AwsError(
      'ImageTagAlreadyExistsException',
      `The image tag '${tag}' already exists in the '${repo}' repository and cannot be overwritten because the repository is immutable. (existing image digest '${digest}', registry '${registryId}')`,
    ),
  imageDigestDoesNotMatch: (given: string, computed: string) =>
    new AwsError('ImageDigestDoesNotMatchException', `Provided digest ${given} does not match the digest computed by Amazon ECR: ${computed}`),
};
