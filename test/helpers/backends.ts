// The backends an op suite runs on: every available one. An absent backend is skipped with a
// visible message naming kiln.backendReason(); KILN_REQUIRE=cuda,webgpu turns an absent required
// backend into a failing test. Importing this file also turns on output poisoning, so every
// element a kernel forgets to write shows up as NaN (floats) or a sentinel (integers).
import { describe, it } from 'vitest';
import * as kiln from '../../src/index.js';

kiln.debug.poison = true;
// WebGPU finds its adapters asynchronously: its devices exist once init() resolves.
await kiln.init();

export const KINDS: readonly kiln.BackendKind[] = ['cpu', 'cuda', 'webgpu'];

export interface BackendPlan {
  kind: kiln.BackendKind;
  /** The device the suite runs on (the kind's first device), or undefined when the kind is absent. */
  device?: string;
  reason?: string;
  required: boolean;
}

/** What to do for each backend kind, given the devices found and KILN_REQUIRE. */
export function planBackends(
  required: readonly kiln.BackendKind[] = kiln.requiredBackends(),
  devices: readonly kiln.DeviceInfo[] = kiln.devices(),
  reason: (k: kiln.BackendKind) => string | undefined = kiln.backendReason,
): BackendPlan[] {
  return KINDS.map((kind) => {
    const first = devices.find((d) => d.kind === kind);
    return first
      ? { kind, device: first.id, required: required.includes(kind) }
      : { kind, reason: reason(kind) ?? `no ${kind} device found`, required: required.includes(kind) };
  });
}

const warned = new Set<string>();

/**
 * Registers `body(device)` once per available backend under "<suite> [<device>]". Absent backends
 * get a describe.skip naming the reason (and a console.warn), or a failing test when KILN_REQUIRE
 * names them. `body` must only register tests: it may not touch a device while collecting.
 */
export function forEachBackend(suite: string, body: (device: string) => void): void {
  for (const p of planBackends()) {
    if (p.device) {
      describe(`${suite} [${p.device}]`, () => body(p.device!));
    } else if (p.required) {
      describe(`${suite} [${p.kind}]`, () => {
        it(`${p.kind} is required by KILN_REQUIRE but absent`, () => {
          throw new Error(`KILN_REQUIRE names ${p.kind}, but it is absent: ${p.reason}`);
        });
      });
    } else {
      if (!warned.has(p.kind)) {
        warned.add(p.kind);
        console.warn(`kiln tests: skipping the ${p.kind} backend: ${p.reason} (set KILN_REQUIRE=${p.kind} to make this a failure)`);
      }
      describe.skip(`${suite} [${p.kind}] skipped: backend absent (${p.reason})`, () => {
        it(`${suite} on ${p.kind}`, () => {});
      });
    }
  }
}

/** Devices of the available backends (for tests that loop inside one test). */
/** The CPU kernel sets (KILN_CPU_ISA) this host runs: its own and every lower one, best first. */
export function cpuIsaSets(): string[] {
  const isas = ['avx512', 'avx2', 'portable'];
  const host = kiln.devices().find((d) => d.id === 'cpu')!.details.isa as string;
  return isas.slice(Math.max(0, isas.indexOf(host)));
}

export const availableDevices = (): string[] => planBackends().flatMap((p) => (p.device ? [p.device] : []));
