import { describe, expect, it } from 'vitest';
import { parseEnvFile, ConfigError } from './env-file.ts';

describe('parseEnvFile', () => {
  it('reads values, quotes, comments and multi-line arrays', () => {
    const f = parseEnvFile(
      [
        '# comment',
        'REGION=us-west-1',
        'SUBNETS="a,b"  # trailing',
        "NAME='x y'",
        'RULES=(',
        '  "ingress g tcp 8080 other"',
        "  'egress g tcp 443 0.0.0.0/0'",
        ')',
        'ONE=( "a b" "c" )',
      ].join('\n'),
      'cfg.env',
    );
    expect(f.values).toEqual({ REGION: 'us-west-1', SUBNETS: 'a,b', NAME: 'x y' });
    expect(f.arrays.RULES).toEqual(['ingress g tcp 8080 other', 'egress g tcp 443 0.0.0.0/0']);
    expect(f.arrays.ONE).toEqual(['a b', 'c']);
  });

  it('names the file and line of a bad line', () => {
    expect(() => parseEnvFile('OK=1\nthis is not config', 'configs/x.env')).toThrow(/configs\/x\.env: line 2/);
  });

  it('refuses shell expansions instead of guessing', () => {
    expect(() => parseEnvFile('A=$(whoami)', 'c.env')).toThrow(ConfigError);
  });
});
