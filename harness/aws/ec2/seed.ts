import type { Ec2Store } from './store.ts';

/** The VPC and subnets the manifest says exist before the scripts run (never the scripts' SGs). */
export function seedVpc(store: Ec2Store, vpc: { id: string; cidr: string; subnets: { id: string; cidr: string; az: string; name?: string }[] }): void {
  store.seedVpc({
    vpcId: vpc.id,
    cidrBlock: vpc.cidr,
    subnets: vpc.subnets.map((s) => ({ subnetId: s.id, cidrBlock: s.cidr, availabilityZone: s.az, ...(s.name ? { name: s.name } : {}) })),
  });
}
