import { describe, expect, it } from 'vitest';
import { fixPlan, formatDoctor, formatFixOutcome, type DoctorCheck } from './doctor.ts';

const check = (name: string, level: DoctorCheck['level'], required: boolean, aptPackage?: string, fix = `fix ${name}`): DoctorCheck => ({ name, level, detail: level, required, fix, ...(aptPackage ? { aptPackage } : {}) });

/** A machine with everything required and neither Docker nor QEMU nor nftables: what `doctor --fix` met silently. */
const onlyOptionalMissing = [
  check('aws CLI', 'ok', true, 'awscli'),
  check('curl', 'ok', true, 'curl'),
  check('nftables / iptables', 'warn', false, 'nftables'),
  check('Docker engine (optional: --runtime docker)', 'warn', false, 'docker.io'),
  check('linux/arm64 execution (QEMU binfmt, for docker mode on x86)', 'warn', false, 'qemu-user-static'),
  check('stub images (docker mode)', 'warn', false, undefined, 'npm run images'),
];

describe('doctor --fix', () => {
  it('with only optional items missing, says what it left out and that --all installs it', () => {
    const plan = fixPlan(onlyOptionalMissing, false);
    expect(plan.install).toEqual([]);
    expect(formatFixOutcome(plan, [], false)).toEqual([
      'nothing required is missing: nothing to install.',
      'optional, not installed: nftables (nftables / iptables), docker.io (Docker engine (optional: --runtime docker)), qemu-user-static (linux/arm64 execution (QEMU binfmt, for docker mode on x86))',
      '  `harness doctor --fix --all` installs them too: apt-get install -y nftables docker.io qemu-user-static',
      'no package fixes these; by hand:',
      '  stub images (docker mode): npm run images',
    ]);
  });

  it('--all installs the optional packages too', () => {
    const plan = fixPlan(onlyOptionalMissing, true);
    expect(plan).toEqual({ install: ['nftables', 'docker.io', 'qemu-user-static'], optional: [], manual: ['stub images (docker mode): npm run images'] });
    expect(formatFixOutcome(plan, plan.install, true)[0]).toBe('installed: nftables docker.io qemu-user-static');
  });

  it('installs required packages without --all, and still names the optional ones', () => {
    const checks = [check('curl', 'missing', true, 'curl'), check('Docker engine (optional: --runtime docker)', 'warn', false, 'docker.io')];
    const plan = fixPlan(checks, false);
    expect(plan.install).toEqual(['curl']);
    expect(formatFixOutcome(plan, ['curl'], false).slice(0, 2)).toEqual(['installed: curl', 'optional, not installed: docker.io (Docker engine (optional: --runtime docker))']);
  });

  it('plain doctor on a ready machine points at --all for the optional items', () => {
    expect(formatDoctor(onlyOptionalMissing).split('\n').at(-1)).toBe('  ready. Optional: `harness doctor --fix --all` installs nftables docker.io qemu-user-static.');
    expect(formatDoctor(onlyOptionalMissing.slice(0, 2)).split('\n').at(-1)).toBe('  ready.');
  });
});
