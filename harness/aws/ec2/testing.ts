import { Ec2Store } from './store.ts';

export const TEST_VPC_ID = 'vpc-0a1b2c3d4e5f60718';
export const TEST_SUBNETS = ['subnet-0aaaaaaaaaaaaaaa1', 'subnet-0bbbbbbbbbbbbbbb2'] as const;

/** An Ec2Store with one VPC (10.0.0.0/16) and two named private subnets, for tests. */
export function seededEc2Store(account = '123456789012', region = 'us-west-1'): Ec2Store {
  const store = new Ec2Store({ account, region });
  store.seedVpc({
    vpcId: TEST_VPC_ID,
    cidrBlock: '10.0.0.0/16',
    subnets: [
      { subnetId: TEST_SUBNETS[0], cidrBlock: '10.0.1.0/24', availabilityZone: `${region}a`, name: 'escher-private-1' },
      { subnetId: TEST_SUBNETS[1], cidrBlock: '10.0.2.0/24', availabilityZone: `${region}b`, name: 'escher-private-2' },
    ],
  });
  return store;
}
