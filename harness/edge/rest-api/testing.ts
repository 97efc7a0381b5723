import type { RestApiLookup, ServedRestStage } from '../../aws/apigateway/types.ts';

/** An in-memory RestApiLookup for tests: stages by API id and name. */
export class MemoryRestApiLookup implements RestApiLookup {
  readonly stages = new Map<string, ServedRestStage>();
  readonly disabled = new Set<string>();

  constructor(
    readonly region: string,
    readonly account: string,
  ) {}

  add(stage: ServedRestStage): ServedRestStage {
    this.stages.set(`${stage.apiId}/${stage.stageName}`, stage);
    return stage;
  }

  isRestApi(apiId: string): boolean {
    return [...this.stages.values()].some((s) => s.apiId === apiId);
  }

  endpointDisabled(apiId: string): boolean {
    return this.disabled.has(apiId);
  }

  served(apiId: string, stageName: string): ServedRestStage | undefined {
    return this.stages.get(`${apiId}/${stageName}`);
  }

  domainOf(apiId: string): string {
    return `${apiId}.execute-api.${this.region}.amazonaws.com`;
  }
}
