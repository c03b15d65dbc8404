// `kiln bench inference`: the ONNX fixtures (or the model paths given) on every engine and device.
import { benchInference, formatTable } from '../../bench/inference.js';
import { info } from '../info.js';

export async function inferenceCommand(flags: Record<string, string | boolean>, paths: string[]): Promise<number> {
  const models = [...(flags.model ? String(flags.model).split(',') : []), ...paths];
  const devices = flags.device ? String(flags.device).split(',') : undefined;
  const budgetMs = flags['budget-ms'] ? Number(flags['budget-ms']) : undefined;
  const json = !!flags.json;
  const log = json ? undefined : (l: string) => process.stderr.write(`  ${l}\n`);
  const host = info();
  if (!json) process.stdout.write(`kiln bench inference: ${Object.values(host.backends).flatMap((b) => b.devices.map((d) => d.id)).join(', ')}\n`);
  const rows = await benchInference({ models: models.length ? models : undefined, devices, budgetMs, log });
  if (json) process.stdout.write(JSON.stringify({ suite: 'inference', host: { version: host.version, node: host.node, devices: host.backends }, rows }, null, 2) + '\n');
  else process.stdout.write(formatTable(rows) + '\n');
  return 0;
}
