/**
 * Fault injection: which requests fail (or slow down) and how, decided before a request is handled so a faulted
 * request changes nothing and a client's retry is safe. Reproducible: the draw comes from a seeded PRNG.
 */

export type FaultKind = 'secondary' | '429' | '502' | 'slow';

/** What `fake.faults(spec)` takes. */
export interface FaultSpec {
  /** Probability (0..1) that a matching request is faulted; default 1. */
  rate?: number;
  /** PRNG seed, so a run is reproducible; default 1. */
  seed?: number;
  /** Kinds to pick from (uniformly, by the PRNG). */
  kinds: FaultKind[];
  /** `retry-after` of 'secondary' and '429', seconds; default 1. */
  retryAfterS?: number;
  /** Delay of 'slow' before the real response, ms; default 2,000. */
  slowMs?: number;
  /** Only these methods (any case); default all. */
  methods?: string[];
  /** Only paths (pathname, no query) matching this. */
  paths?: RegExp;
  /** At most this many faulted requests, then none; default unlimited. */
  max?: number;
}

/** A decided fault: the kind and the numbers it needs. */
export interface Fault {
  kind: FaultKind;
  retryAfterS: number;
  slowMs: number;
}

/** mulberry32: small, fast, good enough to spread faults reproducibly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The current spec and how many faults it has injected. */
export class Faults {
  private spec: FaultSpec | null = null;
  private random: () => number = prng(1);
  private injected = 0;

  /**
   * Replaces the spec (null clears it) and resets the count and the PRNG.
   * @throws RangeError if `rate` is outside 0..1 or `kinds` is empty.
   */
  set(spec: FaultSpec | null): void {
    if (spec) {
      if (spec.rate !== undefined && !(spec.rate >= 0 && spec.rate <= 1)) throw new RangeError(`faults: rate ${spec.rate} is not in 0..1`);
      if (spec.kinds.length === 0) throw new RangeError('faults: kinds is empty');
    }
    this.spec = spec;
    this.injected = 0;
    this.random = prng(spec?.seed ?? 1);
  }

  /** The fault for this request, or undefined; counts it against `max`. */
  draw(method: string, pathname: string): Fault | undefined {
    const spec = this.spec;
    if (!spec) return undefined;
    if (spec.methods && !spec.methods.some((m) => m.toUpperCase() === method.toUpperCase())) return undefined;
    if (spec.paths) {
      spec.paths.lastIndex = 0; // a /g or /y pattern keeps state between tests
      if (!spec.paths.test(pathname)) return undefined;
    }
    if (spec.max !== undefined && this.injected >= spec.max) return undefined;
    if (this.random() >= (spec.rate ?? 1)) return undefined;
    this.injected++;
    const kind = spec.kinds[Math.floor(this.random() * spec.kinds.length)] ?? spec.kinds[0]!;
    return { kind, retryAfterS: spec.retryAfterS ?? 1, slowMs: spec.slowMs ?? 2_000 };
  }
}

/** GitHub's words for a secondary rate limit (the throttling plugin recognizes "secondary rate"). */
export const SECONDARY_RATE_LIMIT_MESSAGE = 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';
