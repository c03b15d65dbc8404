// kiln.serve: helpers for embedding inference in a service.
export { Batcher, batcher, type BatcherOptions, type BatcherStats } from './batcher.js';
