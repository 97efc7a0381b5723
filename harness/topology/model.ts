/** One typed model of the deployment a run stands up, loaded from a deploy dir. */
export interface Subnet {
  subnetId: string;
  cidrBlock: string;
  availabilityZone: string;
}

export interface SgRule {
  direction: 'ingress' | 'egress';
  group: string;
  protocol: string;
  fromPort: number;
  toPort: number;
  /** another group's name, or a CIDR */
  peer: string;
}

export interface ServiceModel {
  /** e.g. 'gateway' */
  name: string;
  /** ECS service name, e.g. 'escher-gateway' */
  ecsService: string;
  /** ECR repository, e.g. 'escher-gateway' */
  repository: string;
  /** services/<name>-service.yaml */
  file: string;
  /** the RegisterTaskDefinition input with placeholders still in it */
  taskDefinition: Record<string, any>;
  containerName: string;
  containerPort: number;
  /** the security group (by name) its tasks use */
  securityGroup?: string;
  /** hosts its *_URL environment names (e.g. context-engine.escher.internal:8001) */
  dependencies: { env: string; url: string; host: string; port: number }[];
  /** secret ARNs (as written, with placeholders) */
  secrets: { name: string; valueFrom: string }[];
}

export interface Topology {
  deployDir: string;
  configFile: string;
  region: string;
  cluster: string;
  vpc: { vpcId: string; cidrBlock: string; subnets: Subnet[] };
  namespace: string;
  /** dependency order, as deploy-all deploys them */
  services: ServiceModel[];
  securityGroups: { name: string; description: string }[];
  sgRules: SgRule[];
  /** every KEY=value of the config, for scripts' own settings */
  settings: Record<string, string>;
}
