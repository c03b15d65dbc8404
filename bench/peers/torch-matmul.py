#!/usr/bin/env python3
"""A second peer for `kiln bench matmul --device cuda`: torch.matmul on the same GPU, timed with CUDA
events (median of several back-to-back batches after a warm-up), on random inputs, for the sizes and
dtypes of issue 3's targets. The GPU check (`sh kiln-run.sh check`, step 10) runs it after Kiln's own
rows so a weak cuBLASLt heuristic choice in Kiln's in-process peer would show up as a gap here.
Prints one JSON object: {"torch": version, "device": name, "rows": [{case, dtype, precision, tflops, ms}]}.
"""
import json
import sys

import torch


def time_ms(fn, reps=10, samples=7):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    per = []
    for _ in range(samples):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        stop.synchronize()
        per.append(start.elapsed_time(stop) / reps)
    per.sort()
    return per[len(per) // 2]


def main():
    if not torch.cuda.is_available():
        print(json.dumps({"torch": torch.__version__, "error": "torch sees no CUDA device"}))
        return 1
    dev = torch.device("cuda")
    plan = [(s, dt, "highest") for dt in ("bfloat16", "float16") for s in (4096, 8192)]
    plan += [(s, "float32", "high") for s in (4096, 8192)] + [(4096, "float32", "highest")]
    rows = []
    for size, dtype, precision in plan:
        torch.backends.cuda.matmul.allow_tf32 = precision == "high"
        g = torch.Generator(device=dev).manual_seed(1234)
        a = (torch.rand(size, size, device=dev, generator=g) * 2 - 1).to(getattr(torch, dtype))
        b = (torch.rand(size, size, device=dev, generator=g) * 2 - 1).to(getattr(torch, dtype))
        ms = time_ms(lambda: torch.matmul(a, b))
        rows.append({"case": f"{size}^3", "dtype": dtype, "precision": precision, "ms": ms, "tflops": 2 * size**3 / ms / 1e9})
        del a, b
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(0), "rows": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
