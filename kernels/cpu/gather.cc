// Gather: picks slices of Data along `axis` by index (and ScatterSlices, its inverse, at the end).
//   Gather(Data any[d_0..d_{r-1}], Indices int32|int64[i_0..i_{q-1}]; axis)
//     -> Y[d_0..d_{axis-1}, i_0..i_{q-1}, d_{axis+1}..d_{r-1}]
//     Y[o, k, s] = Data[o, idx(Indices[k]), s],  idx(v) = v < 0 ? v + d_axis : v
// Every dtype (elements are moved as raw bits of their width); every view strided. Two passes:
//   1. Indices are read once into a normalized int64 table, checking every one. An index out of
//      range is recorded (the lowest position wins, so the message does not depend on threads) and
//      thrown after the parallel section, before Y is touched: a throw on a pool thread would end
//      the process.
//   2. For each (outer index o, index position k) pair, the slice Data[o, idx, :] is copied to
//      Y[o, k, :]: one memcpy when both slices are contiguous (the common case: embedding lookup
//      of contiguous rows), a strided loop otherwise.
// Bench alone (embedding lookup: 2^16 random rows of a [32768, 1024] float table):
//   node -e "const a=require('./build/Release/kiln.node'),V=32768,D=1024,K=65536,w=a.alloc(4*V*D),
//     ix=a.alloc(8*K),y=a.alloc(4*K*D);a.write(ix,0,BigInt64Array.from({length:K},()=>BigInt(
//     Math.floor(Math.random()*V))));let t=process.hrtime.bigint();for(let i=0;i<10;i++)a.launch(
//     'Gather',[{buf:w,offset:0,shape:[V,D],strides:[D,1],dtype:0},{buf:ix,offset:0,shape:[K],
//     strides:[1],dtype:4}],[{buf:y,offset:0,shape:[K,D],strides:[D,1],dtype:0}],{axis:0});
//     a.read(y,0,new Float32Array(1)).then(()=>console.log(Number(process.hrtime.bigint()-t)/10e6,'ms'))"
#include <atomic>
#include <cstring>
#include <vector>

#include "elementwise_map.h"

namespace kiln {
namespace {

// Indices -> int64 in [0, dim), in row-major order. Returns the lowest position holding an index
// out of range (table[pos] keeps its raw value), or n when every index is valid.
template <typename I> int64_t normalize_indices(const View& ind, int64_t dim, std::vector<int64_t>& table) {
  int64_t n = ind.numel();
  std::atomic<int64_t> bad{n};
  Coalesced c = coalesce(ind.shape, {&ind.strides});
  const I* ip = ind.data<I>();
  parallel_for(n, kElementwiseGrain, [&](int64_t b, int64_t e) {
    int64_t pos = b, first_bad = n;
    for_each_run<1>(c, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
      for (int64_t i = 0; i < cnt; ++i, ++pos) {
        int64_t v = (int64_t)ip[off[0] + i * st[0]], w = v < 0 ? v + dim : v;
        bool ok = w >= 0 && w < dim;
        table[pos] = ok ? w : v;
        if (!ok && pos < first_bad) first_bad = pos;
      }
    });
    int64_t cur = bad.load();
    while (first_bad < cur && !bad.compare_exchange_weak(cur, first_bad)) {
    }
  });
  return bad.load();
}

// Copies one slice Data[o, idx, ...] -> Y[o, k, ...] of n elements. Strides are hoisted into
// members so the per-slice call reads no vectors (which the stores could alias).
template <typename U> struct SliceCopy {
  const Coalesced& inner;
  int64_t n, sx, sy;
  bool flat;
  SliceCopy(const Coalesced& c, int64_t n)
      : inner(c), n(n), sx(c.strides[0][0]), sy(c.strides[1][0]), flat(c.shape.size() == 1) {}
  void operator()(const U* x, U* y) const {
    if (n == 1) *y = *x;  // gathering along the last axis
    else if (flat && sx == 1 && sy == 1) std::memcpy(y, x, n * sizeof(U));
    else if (flat) for (int64_t i = 0; i < n; ++i) y[i * sy] = x[i * sx];
    else
      for_each_run<2>(inner, 0, n, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
        for (int64_t i = 0; i < cnt; ++i) y[off[1] + i * st[1]] = x[off[0] + i * st[0]];
      });
  }
};

void gather_run(const KernelArgs& a) {
  const View &d = a.in[0], &ind = a.in[1], &y = a.out[0];
  const int axis = (int)a.attrs.i64("axis"), r = d.rank(), q = ind.rank();
  const int64_t dim = d.shape[axis];
  std::vector<int64_t> table(ind.numel());
  int64_t bad = ind.dtype == DType::I32 ? normalize_indices<int32_t>(ind, dim, table)
                                        : normalize_indices<int64_t>(ind, dim, table);
  if (bad < ind.numel())
    fail("E_INDEX", "Gather: index " + std::to_string(table[bad]) + " is out of range for axis " +
                           std::to_string(axis) + " of size " + std::to_string(dim));

  // (o, k) pairs: strides of Data (0 along the index dims), Y, and the position k in the table.
  Dims ps, px, py, pk;
  for (int i = 0; i < axis; ++i) ps.push_back(d.shape[i]), px.push_back(d.strides[i]), py.push_back(y.strides[i]), pk.push_back(0);
  int64_t kstride = 1;
  for (int i = q - 1; i >= 0; --i) pk.insert(pk.begin() + axis, kstride), kstride *= ind.shape[i];
  for (int i = 0; i < q; ++i) ps.push_back(ind.shape[i]), px.push_back(0), py.push_back(y.strides[axis + i]);
  Dims is, ix, iy;
  for (int i = axis + 1; i < r; ++i) is.push_back(d.shape[i]), ix.push_back(d.strides[i]), iy.push_back(y.strides[i - 1 + q]);
  int64_t pairs = 1, n = 1;
  for (auto s : ps) pairs *= s;
  for (auto s : is) n *= s;
  if (pairs == 0 || n == 0) return;
  Coalesced pc = coalesce(ps, {&px, &py, &pk}), inner = coalesce(is, {&ix, &iy});
  const int64_t sa = d.strides[axis];
  dispatch_bits(d.dtype, [&](auto tag) {
    using U = decltype(tag);
    const U* xp = d.data<U>();
    U* yp = y.data<U>();
    const int64_t* idx = table.data();
    const SliceCopy<U> copy(inner, n);
    parallel_for(pairs, std::max<int64_t>(1, kElementwiseGrain / n), [&](int64_t b, int64_t e) {
      for_each_run<3>(pc, b, e, [&](const int64_t* off, int64_t cnt, const int64_t* st) {
        const int64_t sx = st[0], sy = st[1], sk = st[2];
        for (int64_t i = 0; i < cnt; ++i) copy(xp + off[0] + i * sx + idx[off[2] + i * sk] * sa, yp + off[1] + i * sy);
      });
    });
  });
}

void gather_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 2, 1);
  const View &d = a.in[0], &ind = a.in[1], &y = a.out[0];
  if (ind.dtype != DType::I32 && ind.dtype != DType::I64)
    fail("E_DTYPE", op + ": Indices must be int32 or int64: " + describe(op, a));
  if (y.dtype != d.dtype) fail("E_DTYPE", op + ": Y must have Data's dtype: " + describe(op, a));
  if (d.rank() > 16 || y.rank() > 16) unsupported(op, a);  // for_each_run walks at most 16 dims
  if (!a.attrs.has("axis")) fail("E_ARGUMENT", op + ": missing attribute 'axis'");
  int64_t axis = a.attrs.i64("axis");
  if (axis < 0 || axis >= d.rank())
    fail("E_ARGUMENT", op + ": axis " + std::to_string(axis) + " is not a dim of Data: " + describe(op, a));
  Dims want(d.shape.begin(), d.shape.begin() + axis);
  want.insert(want.end(), ind.shape.begin(), ind.shape.end());
  want.insert(want.end(), d.shape.begin() + axis + 1, d.shape.end());
  if (y.shape != want)
    fail("E_SHAPE", op + ": Y must have shape Data.shape[:axis] + Indices.shape + Data.shape[axis+1:]: " + describe(op, a));
}

KILN_CPU_KERNEL("Gather", gather_run, gather_check);

// ScatterSlices: writes slices into Y in place, the rest of Y unchanged (the front end fills Y with
// Data first: ONNX ScatterND and ScatterElements without a reduction).
//   ScatterSlices(Positions int64[U], Updates any[U * S]; slice S) -> Y (written in place, [P * S])
//     Y[p * S .. p * S + S) = Updates[u * S .. u * S + S) for p = Positions[u], u in order
// Positions, Updates and Y contiguous. A position outside [0, P) writes nothing: the front end has
// checked each one (an index out of range is its Gather's data fault), so a faulted position's
// value never lands outside Y. Duplicates: the last update wins, as onnxruntime's serial loop.
void scatter_run(const KernelArgs& a) {
  const View &pos = a.in[0], &upd = a.in[1], &y = a.out[0];
  const int64_t S = a.attrs.i64("slice"), U = pos.numel(), P = y.numel() / S;
  const int64_t* pp = pos.data<int64_t>();
  dispatch_bits(y.dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* up = upd.data<T>();
    T* yp = y.data<T>();
    for (int64_t u = 0; u < U; ++u) {
      const int64_t p = pp[u];
      if (p >= 0 && p < P) std::memcpy(yp + p * S, up + u * S, (size_t)S * sizeof(T));
    }
  });
}

void scatter_check(const std::string& op, const KernelArgs& a) {
  expect_arity(op, a, 2, 1);
  const View &pos = a.in[0], &upd = a.in[1], &y = a.out[0];
  if (pos.dtype != DType::I64) fail("E_DTYPE", op + ": Positions must be int64: " + describe(op, a));
  if (upd.dtype != y.dtype) fail("E_DTYPE", op + ": Updates must have Y's dtype: " + describe(op, a));
  if (!pos.contiguous() || !upd.contiguous() || !y.contiguous())
    fail("E_ARGUMENT", op + ": Positions, Updates and Y must be contiguous: " + describe(op, a));
  if (!a.attrs.has("slice")) fail("E_ARGUMENT", op + ": missing attribute 'slice'");
  const int64_t S = a.attrs.i64("slice");
  if (S < 1 || y.numel() % S != 0 || upd.numel() != pos.numel() * S)
    fail("E_SHAPE", op + ": slice " + std::to_string(S) + " must divide Y's elements, and Updates must hold one slice per position: " +
                        describe(op, a));
}

KILN_CPU_KERNEL("ScatterSlices", scatter_run, scatter_check);

}  // namespace
}  // namespace kiln
