// The backends this version ships, registered lazily (nothing loads until first use).
import { registerBackend } from './backend.js';
import { CpuBackend } from './cpu.js';
import { CudaBackend } from './cuda.js';
import { WebGpuBackend } from './webgpu/backend.js';

registerBackend('cpu', () => new CpuBackend());
registerBackend('cuda', () => new CudaBackend());
registerBackend('webgpu', () => new WebGpuBackend());

export * from './backend.js';
