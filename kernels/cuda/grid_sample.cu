// GridSample on CUDA: X sampled at the positions a grid gives (kernels/OPS.md; the CPU's
// grid_sample.cc has the full statement).
//   GridSample(X float*[N, C, s_1..s_r], Grid float32[N, p_1..p_q, r]; mode, padding, align_corners)
//     -> Y (X's dtype)[N, C, p_1..p_q], 1 <= r <= 3
// grid_sample_position: one thread per output position (n, p), as PyTorch's grid_sampler kernels:
// it computes the position's taps once (kernels/cpu/grid_sample_taps.h, the CPU's own tap math) and
// loops over the channels; neighbouring threads read neighbouring grid entries and write
// neighbouring Y elements. Few positions (a small grid, many channels) split the channels between
// blockIdx.y rows. Sums as the CPU: the K^r taps in row-major order of their steps, left to right,
// each product and sum rounded (__fmul_rn / __fadd_rn: never contracted into an FMA), so the two
// devices agree bit for bit.
// Bench alone: bench/grid-sample.ts times the CPU; on a GPU host, time `kiln.gridSample` of 'cuda'
// tensors the same way (a kiln.sync() after the calls).
#include "common.cuh"
#include "grid_sample_taps.h"

namespace kiln {
namespace cuda {
namespace {

struct Params {
  int64_t N, C, P, per;                  // per: channels per blockIdx.y row
  int64_t size[3], xs[3];                // X's spatial sizes and strides
  int64_t xn, xc, yn, yc, gn, gk;        // batch and channel strides of X and Y; Grid's batch and coordinate strides
  int padding;
  bool align;
};

template <typename T> struct Bits { using type = uint32_t; };
template <> struct Bits<__half> { using type = uint16_t; };
template <> struct Bits<__nv_bfloat16> { using type = uint16_t; };

// pos: the output positions, with the strides of Y (0) and Grid (1).
template <typename T, int MODE, int R>
__global__ void __launch_bounds__(kThreads) grid_sample_position(Params q, Geometry<2> pos, const T* x, const float* grid, T* y) {
  constexpr int K = gs::taps_per_dim(MODE);
  const int64_t c0 = (int64_t)blockIdx.y * q.per, c1 = c0 + q.per < q.C ? c0 + q.per : q.C;
  KILN_GRID_STRIDE(i, q.N * q.P) {
    const int64_t n = i / q.P, p = i - n * q.P;
    int64_t off[2];
    pos.offsets(p, off);
    const float* gp = grid + n * q.gn + off[1];
    int64_t idx[R][4];
    float w[R][4];
    bool in[R][4];
#pragma unroll
    for (int d = 0; d < R; ++d) {
      gs::dim_taps<MODE>(gp[(R - 1 - d) * q.gk], q.size[d], q.padding, q.align, idx[d], w[d], in[d]);
#pragma unroll
      for (int k = 0; k < K; ++k) idx[d][k] *= q.xs[d];
    }
    const T* xb = x + n * q.xn;
    T* yb = y + n * q.yn + off[0];
    for (int64_t c = c0; c < c1; ++c) {
      const T* xc = xb + c * q.xc;
      if constexpr (MODE == gs::kNearest) {
        using U = typename Bits<T>::type;  // raw bits: NaN payloads kept
        int64_t o = 0;
        bool inside = true;
#pragma unroll
        for (int d = 0; d < R; ++d) o += idx[d][0], inside = inside && in[d][0];
        const U v = reinterpret_cast<const U*>(xc)[o];
        reinterpret_cast<U*>(yb + c * q.yc)[0] = inside ? v : U(0);
      } else {
        float acc = 0.0f;
        constexpr int KR = K * (R > 1 ? K : 1) * (R > 2 ? K : 1);
        // cubic in 3-D: the 64 taps' offsets and weights held across the channel loop would spill;
        // unrolled by 16, the outer dim's tap is picked at run time instead
#pragma unroll(KR > 16 ? 16 : KR)
        for (int k = 0; k < KR; ++k) {
          int64_t o = 0;
          float wk = 1.0f;
          bool inside = true;
#pragma unroll
          for (int d = 0; d < R; ++d) {
            int step = k;
#pragma unroll
            for (int e = R - 1; e > d; --e) step /= K;
            step %= K;
            o += idx[d][step];
            inside = inside && in[d][step];
            wk = d == 0 ? w[0][step] : __fmul_rn(wk, w[d][step]);
          }
          const float v = dload(xc + o);
          const float term = __fmul_rn(inside ? v : 0.0f, wk);
          acc = k == 0 ? term : __fadd_rn(acc, term);
        }
        dstore(yb + c * q.yc, acc);
      }
    }
  }
}

template <typename T, int MODE>
void launch_rank(int r, const Params& q, const Geometry<2>& pos, const View& x, const View& grid, const View& y, dim3 blocks, const Stream& s) {
  const T* xp = x.data<T>();
  const float* gp = grid.data<float>();
  T* yp = y.data<T>();
  if (r == 1) grid_sample_position<T, MODE, 1><<<blocks, kThreads, 0, s.stream>>>(q, pos, xp, gp, yp);
  else if (r == 2) grid_sample_position<T, MODE, 2><<<blocks, kThreads, 0, s.stream>>>(q, pos, xp, gp, yp);
  else grid_sample_position<T, MODE, 3><<<blocks, kThreads, 0, s.stream>>>(q, pos, xp, gp, yp);
}

void grid_sample_run(const KernelArgs& a, const Stream& s) {
  const View &x = a.in[0], &grid = a.in[1], &y = a.out[0];
  if (y.numel() == 0) return;
  const int r = x.rank() - 2;
  const std::string m = a.attrs.str("mode"), pad = a.attrs.str("padding");
  const int mode = m == "nearest" ? gs::kNearest : m == "cubic" ? gs::kCubic : gs::kLinear;
  Params q;
  q.padding = pad == "border" ? gs::kBorder : pad == "reflection" ? gs::kReflection : gs::kZeros;
  q.align = a.attrs.i64("align_corners") != 0;
  q.N = x.shape[0], q.C = x.shape[1], q.P = 1;
  for (int d = 0; d < r; ++d) q.size[d] = x.shape[2 + d], q.xs[d] = x.strides[2 + d];
  q.xn = x.strides[0], q.xc = x.strides[1], q.yn = y.strides[0], q.yc = y.strides[1];
  q.gn = grid.strides[0], q.gk = grid.strides[grid.rank() - 1];
  Dims shape, ys, gs_;
  for (int d = 1; d + 1 < grid.rank(); ++d) shape.push_back(grid.shape[d]), ys.push_back(y.strides[d + 1]), gs_.push_back(grid.strides[d]), q.P *= grid.shape[d];
  const auto pos = make_geometry<2>(shape, {&ys, &gs_});
  // rows of channels until the device has a few threads per core's worth of work
  const int64_t positions = q.N * q.P, target = (int64_t)s.sm_count * 2048;
  const int64_t rows = std::min<int64_t>({q.C, std::max<int64_t>(1, (target + positions - 1) / positions), 65535});
  q.per = (q.C + rows - 1) / rows;
  const dim3 blocks(grid_for(positions, kThreads, s), (unsigned)((q.C + q.per - 1) / q.per));
  dispatch_float(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    if (mode == gs::kLinear) launch_rank<T, gs::kLinear>(r, q, pos, x, grid, y, blocks, s);
    else if (mode == gs::kNearest) launch_rank<T, gs::kNearest>(r, q, pos, x, grid, y, blocks, s);
    else launch_rank<T, gs::kCubic>(r, q, pos, x, grid, y, blocks, s);
  });
  check_launch("grid_sample_position");
}

KILN_CUDA_KERNEL("GridSample", grid_sample_run);

}  // namespace
}  // namespace cuda
}  // namespace kiln
