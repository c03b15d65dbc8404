// The backends this version ships, registered lazily (nothing loads until first use).
import { registerBackend } from './backend.js';
import { CpuBackend } from './cpu.js';
import { WebGpuBackend } from './webgpu/backend.js';

registerBackend('cpu', () => new CpuBackend());
registerBackend('webgpu', () => new WebGpuBackend());

export * from './backend.js';
