import { AwsError } from '../protocol/errors.ts';

/** Lambda's errors, with the codes, statuses and wording the service uses. */
export const lambdaErrors = {
  functionNotFound: (arn: string) => new AwsError('ResourceNotFoundException', `Function not found: ${arn}`, 404),
  aliasNotFound: (arn: string) => new AwsError('ResourceNotFoundException', `Alias not found: ${arn}`, 404),
  functionExists: (name: string) => new AwsError('ResourceConflictException', `Function already exist: ${name}`, 409),
  aliasExists: (arn: string) => new AwsError('ResourceConflictException', `Alias already exists: ${arn}`, 409),
  updateInProgress: (arn: string) => new AwsError('ResourceConflictException', `The operation cannot be performed at this time. An update is in progress for resource: ${arn}`, 409),
  notActive: (state: string) => new AwsError('ResourceConflictException', `The operation cannot be performed at this time. The function is currently in the following state: ${state}`, 409),
  invalid: (message: string) => new AwsError('InvalidParameterValueException', message, 400),
  /** constraint violations of the model (pattern, length, range, enum) */
  validation: (errors: string[]) =>
    new AwsError('ValidationException', `${errors.length} validation error${errors.length === 1 ? '' : 's'} detected: ${errors.join('; ')}`, 400),
  noPolicy: () => new AwsError('ResourceNotFoundException', 'The resource you requested does not exist.', 404),
  statementNotFound: (sid: string) => new AwsError('ResourceNotFoundException', `Statement ${sid} is not found in resource policy.`, 404),
  statementExists: (sid: string) => new AwsError('ResourceConflictException', `The statement id (${sid}) provided already exists. Please provide a new statement id, or remove the existing statement.`, 409),
  revisionMismatch: () =>
    new AwsError('PreconditionFailedException', 'The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id', 412),
  roleCannotBeAssumed: () => new AwsError('InvalidParameterValueException', 'The role defined for the function cannot be assumed by Lambda.', 400),
  badZip: () => new AwsError('InvalidParameterValueException', 'Could not unzip uploaded file. Please check your file, then try to upload again.', 400),
  requestTooLarge: (max: number, op: string) => new AwsError('RequestTooLargeException', `Request must be smaller than ${max} bytes for the ${op} operation`, 413),
  codeShaMismatch: (given: string, current: string) =>
    new AwsError('PreconditionFailedException', `CodeSHA256 (${given}) is different from current CodeSHA256 in $LATEST (${current}). Please try again with the current CodeSHA256.`, 412),
  versionInUse: (aliases: string[]) => new AwsError('ResourceConflictException', `Unable to delete version because the following aliases reference it: [${aliases.join(', ')}]`, 409),
  invalidContent: (message: string) => new AwsError('InvalidRequestContentException', message, 400),
  service: (message: string) => new AwsError('ServiceException', message, 500, false),
};
