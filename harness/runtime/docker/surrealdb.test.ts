import { describe, expect, it } from 'vitest';
import { parseStartArgs } from './surrealdb-entry.ts';
import { chooseSurrealContainer, surrealImageArch, surrealStartArgs } from './surrealdb.ts';

const CREDS = { username: 'root', password: 'pw-1' };

describe('which SurrealDB docker mode runs', () => {
  it('prefers the official image when it is present locally', () => {
    const c = chooseSurrealContainer({ official: 'surrealdb/surrealdb:v3.0.2', officialPresent: true, embeddedImage: 'escher-harness/surrealdb:abc-amd64' });
    expect(c).toEqual({ kind: 'official', image: 'surrealdb/surrealdb:v3.0.2', reason: 'official image surrealdb/surrealdb:v3.0.2 in a container (present locally)' });
  });
  it('else the embedded server in its container, saying the official image is absent', () => {
    const c = chooseSurrealContainer({ official: 'surrealdb/surrealdb:v3.0.2', officialPresent: false, embeddedImage: 'escher-harness/surrealdb:abc-amd64' });
    expect(c.kind).toBe('embedded');
    expect(c.reason).toBe('embedded server in container escher-harness/surrealdb:abc-amd64 (official image surrealdb/surrealdb:v3.0.2 not present locally)');
  });
  it('else the embedded server on the host, with the build error', () => {
    const c = chooseSurrealContainer({ official: 'surrealdb/surrealdb:v3.0.2', officialPresent: false, embeddedError: 'apt has no amd64 candidate for curl' });
    expect(c).toEqual({ kind: 'host', reason: expect.stringMatching(/^embedded server on the host \(official image .* not present locally; the server image could not be built: apt has no amd64 candidate for curl\)$/) });
  });
  it('builds the server image for the host architecture', () => {
    expect(surrealImageArch('x64')).toBe('amd64');
    expect(surrealImageArch('arm64')).toBe('arm64');
  });
});

describe('the container command line', () => {
  it("is the official CLI's start: bind 0.0.0.0:4000, root credentials, memory or surrealkv on the volume", () => {
    expect(surrealStartArgs(CREDS, 'memory', 4000)).toEqual(['start', '--bind', '0.0.0.0:4000', '--user', 'root', '--pass', 'pw-1', 'memory']);
    expect(surrealStartArgs(CREDS, 'disk', 4000)).toEqual(['start', '--bind', '0.0.0.0:4000', '--user', 'root', '--pass', 'pw-1', 'surrealkv:///data/surrealdb']);
  });
  it("is understood by the embedded image's entry point exactly", () => {
    expect(parseStartArgs(surrealStartArgs(CREDS, 'memory', 4000))).toEqual({ host: '0.0.0.0', port: 4000, username: 'root', password: 'pw-1', storage: { kind: 'memory' } });
    expect(parseStartArgs(surrealStartArgs(CREDS, 'disk', 4000)).storage).toEqual({ kind: 'surrealkv', path: '/data/surrealdb' });
    expect(parseStartArgs(['start', '-u', 'a', '-p', 'b', '--bind', '127.0.0.1:8000', 'rocksdb:///x'])).toMatchObject({ host: '127.0.0.1', port: 8000, username: 'a', storage: { kind: 'rocksdb', path: '/x' } });
  });
  it('refuses what it does not understand, clearly', () => {
    expect(() => parseStartArgs(['start', '--user', 'root', 'memory'])).toThrow(/--pass is required/);
    expect(() => parseStartArgs(['start', '--pass', 'x', 'tikv://pd:2379'])).toThrow(/storage must be memory, surrealkv/);
    expect(() => parseStartArgs(['start', '--pass', 'x', '--strict'])).toThrow(/unsupported option --strict/);
    expect(() => parseStartArgs(['start', '--pass', 'x', '--bind', '4000'])).toThrow(/--bind must be host:port/);
  });
});
