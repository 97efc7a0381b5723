import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import {
  ElasticLoadBalancingV2Client,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  CreateListenerCommand,
  CreateRuleCommand,
  DescribeRulesCommand,
  DescribeTargetHealthCommand,
  RegisterTargetsCommand,
  DescribeTargetGroupsCommand,
  ModifyRuleCommand,
  DeleteRuleCommand,
  DescribeLoadBalancersCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { findAwsClis, runAws } from '../../scenario/aws-cli.ts';
import { startTestEdge, sdkConfig, TEST_ACCOUNT, TEST_REGION } from '../test-edge.ts';
import { ElbStore, TARGET_HEALTH } from './store.ts';
import { createElbv2Provider } from './provider.ts';

const clis = findAwsClis();
if (clis.length < 2) console.log(`[elbv2 contract] testing with ${clis.map((c) => `aws ${c.version}`).join(', ') || 'no aws CLI'}: the other major version was not found`);

const CERT = `arn:aws:acm:${TEST_REGION}:${TEST_ACCOUNT}:certificate/00000000-0000-0000-0000-000000000001`;
const POOL = `arn:aws:cognito-idp:${TEST_REGION}:${TEST_ACCOUNT}:userpool/${TEST_REGION}_AbC123xyz`;

async function edgeWithStore() {
  // 1 AWS second = 20 ms, so deregistration delays pass quickly
  const store = new ElbStore({ account: TEST_ACCOUNT, region: TEST_REGION, scaledMs: (s) => s * 20 });
  return { store, ...(await startTestEdge([createElbv2Provider(store)])) };
}

describe.each(clis)('ELBv2 with aws $major ($version)', (cli) => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  beforeAll(async () => {
    env = await edgeWithStore();
  });
  afterAll(() => env.stop());
  const aws = (...args: string[]) => runAws(cli, env.url, args);

  it('the seed flow: ALB, HTTPS listener, target group with AWS defaults, the authenticate-cognito rule, PriorityInUse', async () => {
    const lb = await aws('elbv2', 'create-load-balancer', '--name', 'escher-alb', '--subnets', 'subnet-1', 'subnet-2', '--security-groups', 'sg-1', '--scheme', 'internet-facing', '--type', 'application');
    expect(lb.code, lb.stderr).toBe(0);
    const lbArn = lb.json.LoadBalancers[0].LoadBalancerArn;
    expect(lbArn).toMatch(new RegExp(`^arn:aws:elasticloadbalancing:${TEST_REGION}:${TEST_ACCOUNT}:loadbalancer/app/escher-alb/[0-9a-f]{16}$`));
    expect(lb.json.LoadBalancers[0]).toMatchObject({ Scheme: 'internet-facing', Type: 'application', State: { Code: 'active' }, SecurityGroups: ['sg-1'] });
    const byName = await aws('elbv2', 'describe-load-balancers', '--names', 'escher-alb', '--query', 'LoadBalancers[0].LoadBalancerArn', '--output', 'text');
    expect(byName.stdout.trim()).toBe(lbArn);
    const missing = await aws('elbv2', 'describe-load-balancers', '--names', 'nope');
    expect([254, 255]).toContain(missing.code);
    expect(missing.stderr).toContain('LoadBalancerNotFound');

    const tg = await aws('elbv2', 'create-target-group', '--name', 'escher-gateway-tg', '--protocol', 'HTTP', '--port', '8080', '--vpc-id', 'vpc-1', '--target-type', 'ip', '--health-check-path', '/q/health', '--health-check-interval-seconds', '30');
    expect(tg.code, tg.stderr).toBe(0);
    const t = tg.json.TargetGroups[0];
    expect(t).toMatchObject({
      TargetGroupName: 'escher-gateway-tg',
      Protocol: 'HTTP',
      Port: 8080,
      TargetType: 'ip',
      HealthCheckPath: '/q/health',
      HealthCheckPort: 'traffic-port',
      HealthCheckProtocol: 'HTTP',
      HealthCheckIntervalSeconds: 30,
      HealthCheckTimeoutSeconds: 5,
      HealthyThresholdCount: 5,
      UnhealthyThresholdCount: 2,
      Matcher: { HttpCode: '200' },
      LoadBalancerArns: [],
    });
    const tgArn = t.TargetGroupArn;
    const again = await aws('elbv2', 'create-target-group', '--name', 'escher-gateway-tg', '--protocol', 'HTTP', '--port', '8080', '--vpc-id', 'vpc-1', '--target-type', 'ip', '--health-check-path', '/q/health', '--health-check-interval-seconds', '30');
    expect(again.json.TargetGroups[0].TargetGroupArn).toBe(tgArn);
    const dup = await aws('elbv2', 'create-target-group', '--name', 'escher-gateway-tg', '--protocol', 'HTTP', '--port', '9090', '--vpc-id', 'vpc-1', '--target-type', 'ip');
    expect(dup.stderr).toContain('DuplicateTargetGroupName');
    const attrs = await aws('elbv2', 'describe-target-group-attributes', '--target-group-arn', tgArn, '--query', "Attributes[?Key=='deregistration_delay.timeout_seconds'].Value", '--output', 'text');
    expect(attrs.stdout.trim()).toBe('300');

    const listener = await aws('elbv2', 'create-listener', '--load-balancer-arn', lbArn, '--protocol', 'HTTPS', '--port', '443', '--certificates', `CertificateArn=${CERT}`,
      '--default-actions', JSON.stringify([{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404', ContentType: 'text/plain', MessageBody: 'not found' } }]));
    expect(listener.code, listener.stderr).toBe(0);
    const listenerArn = listener.json.Listeners[0].ListenerArn;
    expect(listener.json.Listeners[0]).toMatchObject({ Protocol: 'HTTPS', Port: 443, Certificates: [{ CertificateArn: CERT }], SslPolicy: 'ELBSecurityPolicy-2016-08' });

    const actions = [
      { Type: 'authenticate-cognito', AuthenticateCognitoConfig: { UserPoolArn: POOL, UserPoolClientId: 'client1', UserPoolDomain: 'escher-auth.auth.us-west-1.amazoncognito.com', OnUnauthenticatedRequest: 'deny' }, Order: 1 },
      { Type: 'forward', TargetGroupArn: tgArn, Order: 2 },
    ];
    const rule = await aws('elbv2', 'create-rule', '--listener-arn', listenerArn, '--priority', '1', '--conditions', '[{"Field":"path-pattern","Values":["/*"]}]', '--actions', JSON.stringify(actions));
    expect(rule.code, rule.stderr).toBe(0);
    expect(rule.json.Rules[0]).toMatchObject({
      Priority: '1',
      IsDefault: false,
      Conditions: [{ Field: 'path-pattern', Values: ['/*'], PathPatternConfig: { Values: ['/*'] } }],
      Actions: [
        { Type: 'authenticate-cognito', Order: 1, AuthenticateCognitoConfig: { UserPoolClientId: 'client1', OnUnauthenticatedRequest: 'deny', SessionCookieName: 'AWSELBAuthSessionCookie', Scope: 'openid', SessionTimeout: 604800 } },
        { Type: 'forward', Order: 2, TargetGroupArn: tgArn, ForwardConfig: { TargetGroups: [{ TargetGroupArn: tgArn, Weight: 1 }] } },
      ],
    });
    const inUse = await aws('elbv2', 'create-rule', '--listener-arn', listenerArn, '--priority', '1', '--conditions', '[{"Field":"path-pattern","Values":["/x"]}]', '--actions', JSON.stringify([{ Type: 'forward', TargetGroupArn: tgArn }]));
    expect([254, 255]).toContain(inUse.code);
    expect(inUse.stderr).toContain('PriorityInUse');
    const rules = await aws('elbv2', 'describe-rules', '--listener-arn', listenerArn, '--query', 'Rules[].Priority', '--output', 'text');
    expect(rules.stdout.trim().split(/\s+/)).toEqual(['1', 'default']);
    const tgs = await aws('elbv2', 'describe-target-groups', '--load-balancer-arn', lbArn, '--query', 'TargetGroups[].TargetGroupName', '--output', 'text');
    expect(tgs.stdout.trim()).toBe('escher-gateway-tg');
    const busy = await aws('elbv2', 'delete-target-group', '--target-group-arn', tgArn);
    expect(busy.stderr).toContain('ResourceInUse');

    if (cli.major === 'v1') {
      // jwt-validation is in botocore 1.43's model; v2.9's model does not know it
      const jwt = await aws('elbv2', 'create-rule', '--listener-arn', listenerArn, '--priority', '5', '--conditions', '[{"Field":"path-pattern","Values":["/api/*"]}]', '--actions',
        JSON.stringify([
          { Type: 'jwt-validation', Order: 1, JwtValidationConfig: { JwksEndpoint: 'https://example/jwks.json', Issuer: 'https://iss', AdditionalClaims: [{ Format: 'single-string', Name: 'client_id', Values: ['client1'] }] } },
          { Type: 'forward', Order: 2, TargetGroupArn: tgArn },
        ]));
      expect(jwt.code, jwt.stderr).toBe(0);
      expect(jwt.json.Rules[0].Actions[0]).toEqual({ Type: 'jwt-validation', Order: 1, JwtValidationConfig: { JwksEndpoint: 'https://example/jwks.json', Issuer: 'https://iss', AdditionalClaims: [{ Format: 'single-string', Name: 'client_id', Values: ['client1'] }] } });
      const del = await aws('elbv2', 'delete-rule', '--rule-arn', jwt.json.Rules[0].RuleArn);
      expect(del.code, del.stderr).toBe(0);
    }
  });

  it('a rule whose forward names its target groups only in ForwardConfig (weights, stickiness) reads back as AWS gives it', async () => {
    const store = env.store;
    const lb = store.createLoadBalancer({ Name: `fc-${cli.major}`, Subnets: ['subnet-1', 'subnet-2'] });
    const listener = store.createListener({ LoadBalancerArn: lb.LoadBalancerArn!, Protocol: 'HTTPS', Port: 443, Certificates: [{ CertificateArn: CERT }], DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '404' } }] });
    const blue = store.createTargetGroup({ Name: `blue-${cli.major}`, Protocol: 'HTTP', Port: 3000, VpcId: 'vpc-1', TargetType: 'ip' }).TargetGroupArn!;
    const green = store.createTargetGroup({ Name: `green-${cli.major}`, Protocol: 'HTTP', Port: 3000, VpcId: 'vpc-1', TargetType: 'ip' }).TargetGroupArn!;
    const actions = [
      { Type: 'authenticate-cognito', Order: 1, AuthenticateCognitoConfig: { UserPoolArn: POOL, UserPoolClientId: 'client1', UserPoolDomain: 'escher-prod-auth.auth.us-west-1.amazoncognito.com', OnUnauthenticatedRequest: 'deny' } },
      { Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 90 }, { TargetGroupArn: green, Weight: 10 }], TargetGroupStickinessConfig: { Enabled: false } } },
    ];
    const r = await aws('elbv2', 'create-rule', '--listener-arn', listener.ListenerArn!, '--priority', '10', '--conditions', '[{"Field":"path-pattern","Values":["/*"]}]', '--actions', JSON.stringify(actions));
    expect(r.code, r.stderr).toBe(0);
    expect(r.json.Rules[0].Actions[1]).toEqual({ Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 90 }, { TargetGroupArn: green, Weight: 10 }], TargetGroupStickinessConfig: { Enabled: false } } });
    const weights = await aws('elbv2', 'describe-rules', '--listener-arn', listener.ListenerArn!, '--query', "Rules[?Priority=='10'] | [0].Actions[?Type=='forward'] | [0].ForwardConfig.TargetGroups[].[TargetGroupArn,Weight]", '--output', 'text');
    expect(weights.stdout.trim().split('\n').map((l) => l.split('\t'))).toEqual([[blue, '90'], [green, '10']]);
    // one target group in ForwardConfig: AWS fills in TargetGroupArn as well
    const one = await aws('elbv2', 'modify-rule', '--rule-arn', r.json.Rules[0].RuleArn, '--actions', JSON.stringify([actions[0], { Type: 'forward', Order: 2, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 100 }] } }]));
    expect(one.code, one.stderr).toBe(0);
    expect(one.json.Rules[0].Actions[1]).toMatchObject({ Type: 'forward', TargetGroupArn: blue, ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 100 }] } });
    const tgs = await aws('elbv2', 'describe-target-groups', '--target-group-arns', blue, green, '--query', 'TargetGroups[].LoadBalancerArns', '--output', 'json');
    expect(tgs.json).toEqual([[lb.LoadBalancerArn], []]);
    const bad = await aws('elbv2', 'create-rule', '--listener-arn', listener.ListenerArn!, '--priority', '11', '--conditions', '[{"Field":"path-pattern","Values":["/x"]}]',
      '--actions', JSON.stringify([{ Type: 'forward', ForwardConfig: { TargetGroups: [{ TargetGroupArn: blue, Weight: 1000 }] } }]));
    expect(bad.stderr).toContain('ValidationError');
  });

  it('targets: registration, AWS states, target-in-service and target-deregistered waiters', async () => {
    const store = env.store;
    const lb = store.createLoadBalancer({ Name: `lb-${cli.major}`, Subnets: ['subnet-1', 'subnet-2'] });
    const tg = store.createTargetGroup({ Name: `tg-${cli.major}`, Protocol: 'HTTP', Port: 8080, VpcId: 'vpc-1', TargetType: 'ip' });
    const arn = tg.TargetGroupArn!;
    const reg0 = await aws('elbv2', 'register-targets', '--target-group-arn', arn, '--targets', 'Id=10.0.1.5,Port=8080');
    expect(reg0.code, reg0.stderr).toBe(0);
    let h = await aws('elbv2', 'describe-target-health', '--target-group-arn', arn);
    expect(h.json.TargetHealthDescriptions).toEqual([{ Target: { Id: '10.0.1.5', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: TARGET_HEALTH.notInUse }]);
    store.createListener({ LoadBalancerArn: lb.LoadBalancerArn!, Protocol: 'HTTP', Port: 80, DefaultActions: [{ Type: 'forward', TargetGroupArn: arn }] });
    h = await aws('elbv2', 'describe-target-health', '--target-group-arn', arn, '--targets', 'Id=10.0.1.5,Port=8080');
    expect(h.json.TargetHealthDescriptions[0].TargetHealth).toEqual({ State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' });
    const bad = await aws('elbv2', 'register-targets', '--target-group-arn', arn, '--targets', 'Id=i-0abc');
    expect(bad.stderr).toContain('InvalidTarget');

    store.setTargetHealth(arn, '10.0.1.5', 8080, TARGET_HEALTH.healthy);
    const inService = await aws('elbv2', 'wait', 'target-in-service', '--target-group-arn', arn, '--targets', 'Id=10.0.1.5,Port=8080');
    expect(inService.code, inService.stderr).toBe(0);

    const unregistered = await aws('elbv2', 'describe-target-health', '--target-group-arn', arn, '--targets', 'Id=10.0.9.9');
    expect(unregistered.json.TargetHealthDescriptions[0].TargetHealth).toEqual({ State: 'unused', Reason: 'Target.NotRegistered', Description: 'Target is not registered to the target group' });

    const mod = await aws('elbv2', 'modify-target-group-attributes', '--target-group-arn', arn, '--attributes', 'Key=deregistration_delay.timeout_seconds,Value=30');
    expect(mod.code, mod.stderr).toBe(0);
    const dereg = await aws('elbv2', 'deregister-targets', '--target-group-arn', arn, '--targets', 'Id=10.0.1.5,Port=8080');
    expect(dereg.code, dereg.stderr).toBe(0);
    expect(store.targetHealth(arn, '10.0.1.5', 8080)).toEqual({ State: 'draining', Reason: 'Target.DeregistrationInProgress', Description: 'Target deregistration is in progress' });
    await new Promise((r) => setTimeout(r, 650)); // 30 AWS s × 20 ms
    const gone = await aws('elbv2', 'wait', 'target-deregistered', '--target-group-arn', arn, '--targets', 'Id=10.0.1.5,Port=8080');
    expect(gone.code, gone.stderr).toBe(0);

    const badAttr = await aws('elbv2', 'modify-target-group-attributes', '--target-group-arn', arn, '--attributes', 'Key=deregistration_delay.timeout_seconds,Value=4000');
    expect(badAttr.stderr).toContain('ValidationError');
    const badHc = await aws('elbv2', 'modify-target-group', '--target-group-arn', arn, '--health-check-timeout-seconds', '40', '--health-check-interval-seconds', '30');
    expect(badHc.stderr).toContain('InvalidConfigurationRequest');
  });
});

describe('ELBv2 with @aws-sdk/client-elastic-load-balancing-v2', () => {
  let env: Awaited<ReturnType<typeof edgeWithStore>>;
  let elb: ElasticLoadBalancingV2Client;
  beforeAll(async () => {
    env = await edgeWithStore();
    elb = new ElasticLoadBalancingV2Client(sdkConfig(env.url));
  });
  afterAll(async () => {
    elb.destroy();
    await env.stop();
  });

  it('creates, describes, modifies and deletes; errors come back by their modeled names', async () => {
    const lb = (await elb.send(new CreateLoadBalancerCommand({ Name: 'sdk-alb', Subnets: ['subnet-1', 'subnet-2'] }))).LoadBalancers![0]!;
    expect(lb.CreatedTime).toBeInstanceOf(Date);
    const tg = (await elb.send(new CreateTargetGroupCommand({ Name: 'sdk-tg', Protocol: 'HTTP', Port: 8080, VpcId: 'vpc-1', TargetType: 'ip', Matcher: { HttpCode: '200-299' } }))).TargetGroups![0]!;
    const tg2 = (await elb.send(new CreateTargetGroupCommand({ Name: 'sdk-tg2', Protocol: 'HTTP', Port: 8080, VpcId: 'vpc-1', TargetType: 'ip' }))).TargetGroups![0]!;
    const l = (await elb.send(new CreateListenerCommand({ LoadBalancerArn: lb.LoadBalancerArn, Protocol: 'HTTP', Port: 80, DefaultActions: [{ Type: 'fixed-response', FixedResponseConfig: { StatusCode: '503' } }] }))).Listeners![0]!;
    const weighted = {
      Type: 'forward' as const,
      ForwardConfig: { TargetGroups: [{ TargetGroupArn: tg.TargetGroupArn, Weight: 80 }, { TargetGroupArn: tg2.TargetGroupArn, Weight: 20 }] },
    };
    const r = (await elb.send(new CreateRuleCommand({
      ListenerArn: l.ListenerArn,
      Priority: 10,
      Conditions: [
        { Field: 'host-header', HostHeaderConfig: { Values: ['api.*'] } },
        { Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['blue'] } },
        { Field: 'http-request-method', HttpRequestMethodConfig: { Values: ['GET'] } },
        { Field: 'query-string', QueryStringConfig: { Values: [{ Key: 'v', Value: '2' }] } },
      ],
      Actions: [weighted],
    }))).Rules![0]!;
    expect(r.Actions![0]!.ForwardConfig!.TargetGroups).toEqual([{ TargetGroupArn: tg.TargetGroupArn, Weight: 80 }, { TargetGroupArn: tg2.TargetGroupArn, Weight: 20 }]);
    expect(r.Conditions![1]).toEqual({ Field: 'http-header', HttpHeaderConfig: { HttpHeaderName: 'X-Env', Values: ['blue'] } });
    const modified = (await elb.send(new ModifyRuleCommand({ RuleArn: r.RuleArn, Conditions: [{ Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/16'] } }] }))).Rules![0]!;
    expect(modified.Conditions).toEqual([{ Field: 'source-ip', SourceIpConfig: { Values: ['10.0.0.0/16'] } }]);
    const rules = (await elb.send(new DescribeRulesCommand({ ListenerArn: l.ListenerArn }))).Rules!;
    expect(rules.map((x) => x.Priority)).toEqual(['10', 'default']);
    await expect(elb.send(new DeleteRuleCommand({ RuleArn: rules[1]!.RuleArn }))).rejects.toMatchObject({ name: 'OperationNotPermittedException' });
    await expect(elb.send(new CreateRuleCommand({ ListenerArn: l.ListenerArn, Priority: 10, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: [weighted] }))).rejects.toMatchObject({
      name: 'PriorityInUseException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(elb.send(new CreateRuleCommand({ ListenerArn: l.ListenerArn, Priority: 11, Conditions: [{ Field: 'path-pattern', Values: ['/a'] }], Actions: [{ Type: 'authenticate-cognito', AuthenticateCognitoConfig: { UserPoolArn: POOL, UserPoolClientId: 'c', UserPoolDomain: 'd' } }, { Type: 'forward', TargetGroupArn: tg.TargetGroupArn }] }))).rejects.toMatchObject({
      name: 'InvalidLoadBalancerActionException',
    });
    await elb.send(new RegisterTargetsCommand({ TargetGroupArn: tg.TargetGroupArn, Targets: [{ Id: '10.0.1.7' }] }));
    const th = (await elb.send(new DescribeTargetHealthCommand({ TargetGroupArn: tg.TargetGroupArn }))).TargetHealthDescriptions!;
    expect(th).toEqual([{ Target: { Id: '10.0.1.7', Port: 8080 }, HealthCheckPort: '8080', TargetHealth: { State: 'initial', Reason: 'Elb.RegistrationInProgress', Description: 'Target registration is in progress' } }]);
    await expect(elb.send(new DescribeTargetGroupsCommand({ Names: ['nope'] }))).rejects.toMatchObject({ name: 'TargetGroupNotFoundException' });
    const all = await elb.send(new DescribeLoadBalancersCommand({ PageSize: 1 }));
    expect(all.LoadBalancers).toHaveLength(1);
  });
});
