// The backends this version ships, registered lazily (nothing loads until first use).
import { registerBackend } from './backend.js';
import { CpuBackend } from './cpu.js';
import { CudaBackend } from './cuda.js';

registerBackend('cpu', () => new CpuBackend());
registerBackend('cuda', () => new CudaBackend());

export * from './backend.js';
