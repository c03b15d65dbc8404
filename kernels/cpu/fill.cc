// Fill and Range: the creation kernels.
//   Fill(out: any[...]; value)               out[i] = value, cast to out's dtype
//   Range(out: any[n]; start, delta)          out[i] = start + i * delta
// Strided outputs are written through their strides, so a slice of a tensor can be filled in place.
// Bench alone: `kiln bench` has no separate entry; these are memory-bound and trivially so.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "elementwise_common.h"

namespace kiln {
namespace {

template <typename T>
void fill_typed(const View& out, double value) {
  T v = from_double<T>(value);
  for_each_index(out, [&](int64_t off) { out.data<T>()[off] = v; });
}

void fill_run(const KernelArgs& a) {
  dispatch_all(a.out[0].dtype, [&](auto tag) { fill_typed<decltype(tag)>(a.out[0], a.attrs.num("value")); });
}

template <typename T>
void range_typed(const View& out, double start, double delta) {
  T* p = out.data<T>();
  int64_t s = out.strides.empty() ? 1 : out.strides[0];
  parallel_for(out.numel(), 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) p[i * s] = from_double<T>(start + (double)i * delta);
  });
}

void range_run(const KernelArgs& a) {
  dispatch_all(a.out[0].dtype,
               [&](auto tag) { range_typed<decltype(tag)>(a.out[0], a.attrs.num("start"), a.attrs.num("delta")); });
}

void one_output(const std::string& op, const KernelArgs& a) {
  if (a.in.size() != 0 || a.out.size() != 1) fail("E_ARGUMENT", op + " takes no inputs and one output");
}

// The shortest decimal that reads back as v (for messages).
std::string number_text(double v) {
  char buf[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

// An integer output takes integer start and delta, and every value must fit it: the same refusal on
// every backend (src/backends/webgpu/elementwise-ops.ts checks the same), where converting each
// value would saturate here and wrap elsewhere.
void range_check(const std::string& op, const KernelArgs& a) {
  one_output(op, a);
  const View& y = a.out[0];
  if (y.rank() != 1) fail("E_SHAPE", "Range writes a 1-D output");
  double lo, hi;  // the dtype's range; hi exclusive
  switch (y.dtype) {
    case DType::I32: lo = -2147483648.0, hi = 2147483648.0; break;
    case DType::I64: lo = -9223372036854775808.0, hi = 9223372036854775808.0; break;
    case DType::U8: lo = 0, hi = 256; break;
    default: return;
  }
  const double start = a.attrs.num("start"), delta = a.attrs.num("delta");
  if (start != std::trunc(start) || delta != std::trunc(delta))
    fail("E_ARGUMENT", "Range: an integer output takes integer start and delta, got " + number_text(start) + " and " + number_text(delta));
  const double last = start + (double)(y.numel() - 1) * delta;
  if (y.numel() > 0 && !(start >= lo && start < hi && last >= lo && last < hi))
    fail("E_ARGUMENT", "Range: values from " + number_text(start) + " to " + number_text(last) + " do not fit " + dtype_name(y.dtype));
}

KILN_CPU_KERNEL("Fill", fill_run, one_output);
KILN_CPU_KERNEL("Range", range_run, range_check);

}  // namespace
}  // namespace kiln
