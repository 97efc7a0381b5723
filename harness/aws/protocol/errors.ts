/**
 * An error the emulated AWS service returns to its client. `code` is the modeled shape name
 * (e.g. `ClusterNotFoundException`, `TargetGroupNotFound`, `InvalidGroup.NotFound`); the
 * protocol serializer turns it into the wire shape the real service uses.
 */
export class AwsError extends Error {
  readonly code: string;
  readonly statusCode: number;
  readonly senderFault: boolean;
  /** modeled members besides the message (e.g. Cloud Map's NamespaceId), sent in the error body */
  readonly fields: Record<string, unknown>;

  constructor(code: string, message: string, statusCode = 400, senderFault = statusCode < 500, fields: Record<string, unknown> = {}) {
    super(message);
    this.name = code;
    this.code = code;
    this.statusCode = statusCode;
    this.senderFault = senderFault;
    this.fields = fields;
  }
}

/** A fault of the emulator itself: 500 InternalFailure, never a crash. */
export function internalFailure(err: unknown): AwsError {
  const msg = err instanceof Error ? err.message : String(err);
  return new AwsError('InternalFailure', `The request processing has failed because of an unknown error, exception or failure. (${msg})`, 500, false);
}
