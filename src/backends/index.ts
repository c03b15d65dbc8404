// The backends this version ships, registered lazily (nothing loads until first use).
import { registerBackend } from './backend.js';
import { CpuBackend } from './cpu.js';

registerBackend('cpu', () => new CpuBackend());

export * from './backend.js';
