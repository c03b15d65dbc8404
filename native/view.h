// TensorView: what a kernel sees of a tensor — a base pointer at element [0,...,0], a dtype, a shape
// and strides in elements. Kernels read strides, so transposes, slices and broadcasts (stride 0)
// arrive without a copy.
#pragma once
#include <cstdint>
#include <vector>

#include "dtype.h"

namespace kiln {

using Dims = std::vector<int64_t>;

struct View {
  char* ptr = nullptr;  // element [0,...,0]
  DType dtype = DType::F32;
  Dims shape;
  Dims strides;  // in elements

  int rank() const { return (int)shape.size(); }
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  bool contiguous() const {
    int64_t expect = 1;
    for (int i = rank() - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != expect) return false;
      expect *= shape[i];
    }
    return true;
  }
  template <typename T> T* data() const { return reinterpret_cast<T*>(ptr); }
};

// Merge adjacent dimensions that every view walks the same way, and drop size-1 dimensions, so a
// strided loop does as little index arithmetic as the layouts allow. All views share `shape`.
struct Coalesced {
  Dims shape;
  std::vector<Dims> strides;  // one per view
};

inline Coalesced coalesce(const Dims& shape, const std::vector<const Dims*>& strides) {
  Coalesced c;
  c.strides.resize(strides.size());
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    bool merge = !c.shape.empty();
    if (merge) {
      for (size_t v = 0; v < strides.size(); ++v)
        if (c.strides[v].back() != (*strides[v])[d] * shape[d]) { merge = false; break; }
    }
    if (merge) {
      c.shape.back() *= shape[d];
      for (size_t v = 0; v < strides.size(); ++v) c.strides[v].back() = (*strides[v])[d];
    } else {
      c.shape.push_back(shape[d]);
      for (size_t v = 0; v < strides.size(); ++v) c.strides[v].push_back((*strides[v])[d]);
    }
  }
  if (c.shape.empty()) {
    c.shape.push_back(1);
    for (auto& s : c.strides) s.push_back(0);
  }
  return c;
}

// Walks the elements [begin, end) of a coalesced iteration space, calling fn(offsets, inner_count,
// inner_strides) once per run of the innermost dimension. Offsets are in elements, one per view.
template <size_t N, typename Fn>
void for_each_run(const Coalesced& c, int64_t begin, int64_t end, Fn&& fn) {
  const int r = (int)c.shape.size();
  const int64_t inner = c.shape[r - 1];
  int64_t idx[16] = {0};
  int64_t rem = begin;
  for (int d = r - 1; d >= 0; --d) { idx[d] = rem % c.shape[d]; rem /= c.shape[d]; }
  int64_t off[N];
  int64_t istr[N];
  for (size_t v = 0; v < N; ++v) {
    off[v] = 0;
    for (int d = 0; d < r; ++d) off[v] += idx[d] * c.strides[v][d];
    istr[v] = c.strides[v][r - 1];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t count = std::min<int64_t>(inner - idx[r - 1], end - pos);
    fn(off, count, istr);
    pos += count;
    // advance to the start of the next run
    for (size_t v = 0; v < N; ++v) off[v] += count * istr[v];
    idx[r - 1] += count;
    for (int d = r - 1; d > 0 && idx[d] == c.shape[d]; --d) {
      idx[d] = 0;
      idx[d - 1]++;
      for (size_t v = 0; v < N; ++v) off[v] += c.strides[v][d - 1] - c.shape[d] * c.strides[v][d];
    }
  }
}

}  // namespace kiln
