import { describe, expect, it } from 'vitest';
import { CborCodec, Uuid } from 'surrealdb';
import { CborFrameError, cborMap, cborText, cborUuid, engineErrorRange, readText, readUuid, skipItem, splitTopMap } from './cbor-frame.ts';

const codec = new CborCodec({});

describe('cbor-frame: RPC frames as raw pieces', () => {
  it('splits an SDK frame into raw values and rebuilds an equal one', () => {
    const session = new Uuid('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    const frame = codec.encode({ id: 'abc', method: 'query', params: ['SELECT * FROM $t', { t: 'x', rows: Array.from({ length: 100 }, (_, i) => ({ i })) }], session });
    const m = splitTopMap(frame);
    expect([...m.keys()]).toEqual(['id', 'method', 'params', 'session']);
    expect(readText(frame, m.get('method'))).toBe('query');
    expect(readUuid(frame, m.get('session'))).toBe('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    const rebuilt = cborMap([...m].map(([k, r]) => [k, frame.subarray(r[0], r[1])] as const));
    expect(codec.decode(rebuilt)).toEqual(codec.decode(frame));
    expect((codec.decode(cborUuid(session.toString())) as Uuid).toString()).toBe(session.toString());
    expect(codec.decode(cborText('ü'.repeat(300)))).toBe('ü'.repeat(300));
  });

  it('reads a UUID given as text, and knows an engine error from a result', () => {
    const f = codec.encode({ session: '0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B' });
    expect(readUuid(f, splitTopMap(f).get('session'))).toBe('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
    const err = codec.encode({ error: { code: -32000, message: 'x' } });
    const r = engineErrorRange(err)!;
    expect(codec.decode(err.subarray(r[0], r[1]))).toEqual({ code: -32000, message: 'x' });
    expect(engineErrorRange(codec.encode({ errors: 1 }))).toBeUndefined();
    expect(engineErrorRange(codec.encode([{ error: 1 }]))).toBeUndefined();
  });

  it('handles indefinite lengths', () => {
    // {_ "id": "a", "method": (_ "pi" "ng")} with a break
    const f = Uint8Array.from([0xbf, 0x62, 0x69, 0x64, 0x61, 0x61, 0x66, ...Buffer.from('method'), 0x7f, 0x62, 0x70, 0x69, 0x62, 0x6e, 0x67, 0xff, 0xff]);
    const m = splitTopMap(f);
    expect([...m.keys()]).toEqual(['id', 'method']);
    expect(skipItem(f, 0)).toBe(f.length);
  });

  it('rejects what is not one map with text keys, with CborFrameError only', () => {
    for (const bad of [[], [0xff], [0x83, 1, 2], [0xa1, 0x01, 0x02], [0xa2, 0x61, 0x61, 0x01], [0xa1, 0x61, 0x61, 0x01, 0x00], [0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]]) {
      expect(() => splitTopMap(Uint8Array.from(bad)), JSON.stringify(bad)).toThrow(CborFrameError);
    }
    // random bytes: never anything but CborFrameError, never a hang
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    for (let n = 0; n < 5000; n++) {
      const bytes = Uint8Array.from({ length: 1 + (rnd() % 40) }, rnd);
      try {
        splitTopMap(bytes);
      } catch (e) {
        expect(e).toBeInstanceOf(CborFrameError);
      }
    }
    // deep nesting is refused, not a stack overflow
    const deep = Uint8Array.from([0xa1, 0x61, 0x61, ...new Array(100_000).fill(0x81), 0x01]);
    expect(() => splitTopMap(deep)).toThrow(CborFrameError);
  });
});
