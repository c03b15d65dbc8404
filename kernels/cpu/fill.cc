// Fill and Range: the creation kernels.
//   Fill(out: any[...]; value)               out[i] = value, cast to out's dtype
//   Range(out: any[n]; start, delta)          out[i] = start + i * delta
// Strided outputs are written through their strides, so a slice of a tensor can be filled in place.
// Bench alone: `kiln bench` has no separate entry; these are memory-bound and trivially so.
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

void range_check(const std::string& op, const KernelArgs& a) {
  one_output(op, a);
  if (a.out[0].rank() != 1) fail("E_SHAPE", "Range writes a 1-D output");
}

KILN_CPU_KERNEL("Fill", fill_run, one_output);
KILN_CPU_KERNEL("Range", range_run, range_check);

}  // namespace
}  // namespace kiln
