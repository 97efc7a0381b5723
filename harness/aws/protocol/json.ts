import { AwsError } from './errors.ts';

/** awsJson1_1: request body → input object. Malformed JSON is the client's fault. */
export function parseJsonBody(body: string): Record<string, unknown> {
  if (body.trim() === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new AwsError('SerializationException', 'Start of structure or map found where not expected.');
  }
  return v as Record<string, unknown>;
}

/** Output object → JSON text. Dates become epoch seconds (with fractions), as AWS sends them. */
export function serializeJson(output: unknown): string {
  return JSON.stringify(toWire(output ?? {}));
}

function toWire(v: unknown): unknown {
  if (v instanceof Date) return v.getTime() / 1000;
  if (Array.isArray(v)) return v.map(toWire);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = toWire(x);
    return out;
  }
  return v;
}

export function jsonErrorBody(err: AwsError): string {
  return JSON.stringify({ ...err.fields, __type: err.code, message: err.message });
}
