import { AwsError } from './errors.ts';

/**
 * Small input checks used by providers at the edge. Each throws the service's own
 * validation error (e.g. ECS InvalidParameterException, Secrets Manager
 * InvalidParameterException, Cloud Map InvalidInput) with a message naming the field.
 */
export class Params {
  constructor(
    private readonly input: Record<string, unknown>,
    private readonly errorCode: string,
  ) {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) {
      throw new AwsError(errorCode, 'The request body must be a JSON object.');
    }
  }

  private fail(msg: string): never {
    throw new AwsError(this.errorCode, msg);
  }

  raw(name: string): unknown {
    return this.input[name];
  }

  str(name: string): string {
    const v = this.input[name];
    if (v === undefined || v === null || v === '') this.fail(`${name} is required`);
    if (typeof v !== 'string') this.fail(`${name} must be a string`);
    return v;
  }

  optStr(name: string): string | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'string') this.fail(`${name} must be a string`);
    return v;
  }

  int(name: string): number {
    const v = this.optInt(name);
    if (v === undefined) this.fail(`${name} is required`);
    return v;
  }

  optInt(name: string): number | undefined {
    let v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string' && /^-?\d+$/.test(v)) v = Number(v);
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(`${name} must be an integer`);
    return v as number;
  }

  optBool(name: string): boolean | undefined {
    let v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (v === 'true') v = true;
    if (v === 'false') v = false;
    if (typeof v !== 'boolean') this.fail(`${name} must be a boolean`);
    return v as boolean;
  }

  optStrList(name: string): string[] | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) this.fail(`${name} must be a list of strings`);
    return v as string[];
  }

  strList(name: string): string[] {
    const v = this.optStrList(name);
    if (v === undefined) this.fail(`${name} is required`);
    return v;
  }

  optObj<T = Record<string, unknown>>(name: string): T | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) this.fail(`${name} must be a structure`);
    return v as T;
  }

  optList<T = unknown>(name: string): T[] | undefined {
    const v = this.input[name];
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) this.fail(`${name} must be a list`);
    return v as T[];
  }

  optEnum<E extends string>(name: string, values: readonly E[]): E | undefined {
    const v = this.optStr(name);
    if (v === undefined) return undefined;
    if (!values.includes(v as E)) this.fail(`${name} must be one of: ${values.join(', ')}`);
    return v as E;
  }
}
