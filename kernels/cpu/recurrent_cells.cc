// The elementwise part of one ONNX LSTM or GRU step, fused (cpu). The front end
// (src/onnx/ops/recurrent.ts) computes each step's products with R in one matmul; these kernels do
// the rest in one pass per row, with what the composed ops (Sigmoid, Tanh, Mul, Add, Sub over the
// same views) give, bit for bit: the same vmath.h functions on unit-stride runs (the scalar ones of
// elementwise_ops.h in the portable set), each product and sum rounded on its own in the same order
// (the build does not contract a * b + c). What fusing saves is launches: at batch 1 they were most
// of a replayed step (bench/results/onnx-recurrent-cpu.md).
//
// LstmCell: G float32[N, 4H] (gate pre-activations X W^T + H R^T + biases, ONNX's order i, o, f, c),
// C float32[N, H] (the previous cell)[, P float32[3, H] (peepholes i, o, f)] -> H', C' [N, H]:
//   i = sigmoid(G_i [+ P_i * C]), f = sigmoid(G_f [+ P_f * C]), C' = f * C + i * tanh(G_c)
//   o = sigmoid(G_o [+ P_o * C']), H' = o * tanh(C')
// GruCell, linear_before_reset = 1 (as PyTorch and Keras export GRUs): G float32[N, 3H] (H R^T, no
// bias, order z, r, h), X float32[N, 3H] (X W^T + Wb, plus Rb for z and r), H float32[N, H][,
// Rbh float32[H]] -> H' [N, H]:
//   z = sigmoid(X_z + G_z), r = sigmoid(X_r + G_r), n = tanh(X_h + r * (G_h [+ Rbh]))
//   H' = n + z * (H - n)                                   (= (1 - z) * n + z * H)
// H' may have any strides: the front end writes it straight into the step's slice of Y.
#include <algorithm>
#include <cmath>
#include <vector>

#include "elementwise_map.h"

namespace kiln {
namespace {

// y[0, n) = Op(x[0, n)) as the elementwise kernels compute a unit-stride float32 run
// (elementwise_map.h): the vmath.h function where the process's set has one, else Op's scalar functor.
template <template <typename> class Op>
void unary_run(const float* x, float* y, int64_t n) {
  const Op<float> op{};
  if (auto f = vector_fn(op)) return f(x, y, n);
  for (int64_t j = 0; j < n; ++j) y[j] = op(x[j]);
}

// Elements [col, col + n) of row r of a 2-D float32 view: a pointer into it when the row is unit
// stride, else a copy in `tmp`.
const float* row_in(const View& v, int64_t r, int64_t col, int64_t n, float* tmp) {
  const float* p = v.data<float>() + r * v.strides[0] + col * v.strides[1];
  if (v.strides[1] == 1 || n <= 1) return p;
  for (int64_t j = 0; j < n; ++j) tmp[j] = p[j * v.strides[1]];
  return tmp;
}

void row_out(const View& v, int64_t r, const float* x, int64_t n) {
  float* p = v.data<float>() + r * v.strides[0];
  const int64_t s = v.strides[1];
  if (s == 1) std::copy(x, x + n, p);
  else for (int64_t j = 0; j < n; ++j) p[j * s] = x[j];
}

// The checks of every cell: arity (the last `optional` inputs may be absent), float32 throughout,
// and each view's shape (inputs, then outputs) as want(N, H) lists them, N and H read from input
// `ref`, an [N, H] view. `usage` names the operands for the message.
template <typename Want>
void check_cell(const std::string& op, const KernelArgs& a, size_t ins, size_t optional, size_t outs, size_t ref, const char* usage, Want want) {
  if (a.in.size() + optional < ins || a.in.size() > ins || a.out.size() != outs) fail("E_ARGUMENT", op + " takes " + usage + ": " + describe(op, a));
  for (const auto* vs : {&a.in, &a.out})
    for (const View& v : *vs)
      if (v.dtype != DType::F32) fail("E_DTYPE", op + ": every operand must be float32: " + describe(op, a));
  // H >= 1: the row loop sizes its chunks by it
  if (a.in[ref].rank() != 2 || a.in[ref].shape[1] < 1) fail("E_SHAPE", op + " takes " + usage + " with H >= 1: " + describe(op, a));
  const std::vector<Dims> w = want(a.in[ref].shape[0], a.in[ref].shape[1]);
  for (size_t i = 0; i < a.in.size() + outs; ++i)
    if ((i < a.in.size() ? a.in[i] : a.out[i - a.in.size()]).shape != w[i < a.in.size() ? i : ins + i - a.in.size()])
      fail("E_SHAPE", op + " takes " + usage + ": " + describe(op, a));
}

void lstm_cell_check(const std::string& op, const KernelArgs& a) {
  check_cell(op, a, 3, 1, 2, 1, "G [N, 4H], C [N, H][, P [3, H]] and writes H', C' [N, H]",
             [](int64_t N, int64_t H) { return std::vector<Dims>{{N, 4 * H}, {N, H}, {3, H}, {N, H}, {N, H}}; });
}

void gru_cell_check(const std::string& op, const KernelArgs& a) {
  check_cell(op, a, 4, 1, 1, 2, "G [N, 3H], X [N, 3H], H [N, H][, Rbh [H]] and writes H' [N, H]",
             [](int64_t N, int64_t H) { return std::vector<Dims>{{N, 3 * H}, {N, 3 * H}, {N, H}, {H}, {N, H}}; });
}

void gru_reset_check(const std::string& op, const KernelArgs& a) {
  check_cell(op, a, 3, 0, 2, 2, "G [N, 2H], X [N, 3H], H [N, H] and writes Z, RH [N, H]",
             [](int64_t N, int64_t H) { return std::vector<Dims>{{N, 2 * H}, {N, 3 * H}, {N, H}, {N, H}, {N, H}}; });
}

void gru_update_check(const std::string& op, const KernelArgs& a) {
  check_cell(op, a, 4, 0, 1, 3, "HH [N, H], X [N, 3H], Z [N, H], H [N, H] and writes H' [N, H]",
             [](int64_t N, int64_t H) { return std::vector<Dims>{{N, H}, {N, 3 * H}, {N, H}, {N, H}, {N, H}}; });
}

// fn(r, scratch) for every row r of N, the rows split across threads in chunks of about 1024 of
// H (a row's transcendental functions cost 3-5 ns an element: an LSTM's cell at batch 16 of 256
// units took 23 us on one thread), each thread with `floats` floats of scratch of its own.
template <typename Fn>
void for_rows(int64_t N, int64_t H, int64_t floats, Fn fn) {
  parallel_for(N, std::max<int64_t>(1, 1024 / H), [&](int64_t b, int64_t e) {
    std::vector<float> scratch(floats);
    for (int64_t r = b; r < e; ++r) fn(r, scratch.data());
  });
}

// GRU's z and r: zr[0, 2H) = sigmoid(G + X), as the Gemm's epilogue adds (acc + c)
void gru_zr(const float* g, const float* x, float* zr, int64_t H) {
  for (int64_t j = 0; j < 2 * H; ++j) zr[j] = g[j] + x[j];
  unary_run<ops::Sigmoid>(zr, zr, 2 * H);
}

// GRU's new state from the new gate's input n (tanh'd here, in place): h'[j] = n + z * (h - n)
void gru_blend(float* n, const float* z, const float* h, float* h_new, int64_t H) {
  unary_run<ops::Tanh>(n, n, H);
  for (int64_t j = 0; j < H; ++j) {
    const float d = h[j] - n[j], zd = z[j] * d;
    h_new[j] = n[j] + zd;
  }
}

void lstm_cell_run(const KernelArgs& a) {
  const View &g = a.in[0], &c = a.in[1], &h_out = a.out[0], &c_out = a.out[1];
  const View* p = a.in.size() > 2 ? &a.in[2] : nullptr;
  const int64_t N = c.shape[0], H = c.shape[1];
  // copies of strided rows (gates i, o, f and c; the cell; the peepholes), then the sigmoids of
  // i, o, f, tanh(G_c), C' and H'
  for_rows(N, H, 14 * H, [&](int64_t r, float* buf) {
    float *iof = buf, *gc_tmp = iof + 3 * H, *c_tmp = gc_tmp + H, *p_tmp = c_tmp + H;
    float *s = p_tmp + 3 * H, *ct = s + 3 * H, *cn = ct + H, *hn = cn + H;
    const float* cp = row_in(c, r, 0, H, c_tmp);
    const float* gc = row_in(g, r, 3 * H, H, gc_tmp);
    if (!p) {
      unary_run<ops::Sigmoid>(row_in(g, r, 0, 3 * H, iof), s, 3 * H);  // i, o, f together
    } else {
      // i and f: sigmoid(G + P * C), rounded as Mul then Add
      for (int gate : {0, 2}) {
        const float* gx = row_in(g, r, gate * H, H, iof + gate * H);
        const float* pg = row_in(*p, gate, 0, H, p_tmp + gate * H);
        float* x = iof + gate * H;
        for (int64_t j = 0; j < H; ++j) {
          const float pc = pg[j] * cp[j];
          x[j] = gx[j] + pc;
        }
        unary_run<ops::Sigmoid>(x, s + gate * H, H);
      }
    }
    unary_run<ops::Tanh>(gc, ct, H);
    const float *si = s, *sf = s + 2 * H;
    for (int64_t j = 0; j < H; ++j) {
      const float fc = sf[j] * cp[j], ic = si[j] * ct[j];
      cn[j] = fc + ic;
    }
    if (p) {
      const float* gx = row_in(g, r, H, H, iof + H);
      const float* po = row_in(*p, 1, 0, H, p_tmp + H);
      float* x = iof + H;
      for (int64_t j = 0; j < H; ++j) {
        const float pc = po[j] * cn[j];
        x[j] = gx[j] + pc;
      }
      unary_run<ops::Sigmoid>(x, s + H, H);
    }
    unary_run<ops::Tanh>(cn, hn, H);
    const float* so = s + H;
    for (int64_t j = 0; j < H; ++j) hn[j] = so[j] * hn[j];
    row_out(c_out, r, cn, H);
    row_out(h_out, r, hn, H);
  });
}

KILN_CPU_KERNEL("LstmCell", lstm_cell_run, lstm_cell_check);

void gru_cell_run(const KernelArgs& a) {
  const View &g = a.in[0], &x = a.in[1], &h = a.in[2], &h_out = a.out[0];
  const View* rbh = a.in.size() > 3 ? &a.in[3] : nullptr;
  const int64_t N = h.shape[0], H = h.shape[1];
  // copies of strided rows (G, X, H, Rbh), then z and r, the new gate n, and H'
  for_rows(N, H, 13 * H, [&](int64_t r, float* buf) {
    float *g_tmp = buf, *x_tmp = g_tmp + 3 * H, *h_tmp = x_tmp + 3 * H, *b_tmp = h_tmp + H;
    float *zr = b_tmp + H, *n = zr + 2 * H, *hn = n + H;
    const float* bias = nullptr;
    if (rbh) {  // a 1-D view: its one stride
      const float* p = rbh->data<float>();
      const int64_t st = rbh->strides[0];
      if (st == 1) bias = p;
      else {
        for (int64_t j = 0; j < H; ++j) b_tmp[j] = p[j * st];
        bias = b_tmp;
      }
    }
    const float* gr = row_in(g, r, 0, 3 * H, g_tmp);
    const float* xr = row_in(x, r, 0, 3 * H, x_tmp);
    const float* hp = row_in(h, r, 0, H, h_tmp);
    gru_zr(gr, xr, zr, H);
    const float *z = zr, *rg = zr + H, *gh = gr + 2 * H, *xh = xr + 2 * H;
    for (int64_t j = 0; j < H; ++j) {
      const float hh = bias ? gh[j] + bias[j] : gh[j];
      const float t = rg[j] * hh;
      n[j] = xh[j] + t;
    }
    gru_blend(n, z, hp, hn, H);
    row_out(h_out, r, hn, H);
  });
}

KILN_CPU_KERNEL("GruCell", gru_cell_run, gru_cell_check);

void gru_reset_run(const KernelArgs& a) {
  const View &g = a.in[0], &x = a.in[1], &h = a.in[2], &z_out = a.out[0], &rh_out = a.out[1];
  const int64_t N = h.shape[0], H = h.shape[1];
  // copies of strided rows (G, X, H), z and r, r * h
  for_rows(N, H, 8 * H, [&](int64_t r, float* buf) {
    float *g_tmp = buf, *x_tmp = g_tmp + 2 * H, *h_tmp = x_tmp + 2 * H, *zr = h_tmp + H, *rh = zr + 2 * H;
    const float* hp = row_in(h, r, 0, H, h_tmp);
    gru_zr(row_in(g, r, 0, 2 * H, g_tmp), row_in(x, r, 0, 2 * H, x_tmp), zr, H);
    for (int64_t j = 0; j < H; ++j) rh[j] = zr[H + j] * hp[j];
    row_out(z_out, r, zr, H);
    row_out(rh_out, r, rh, H);
  });
}

KILN_CPU_KERNEL("GruReset", gru_reset_run, gru_reset_check);

void gru_update_run(const KernelArgs& a) {
  const View &hh = a.in[0], &x = a.in[1], &z = a.in[2], &h = a.in[3], &h_out = a.out[0];
  const int64_t N = h.shape[0], H = h.shape[1];
  // copies of strided rows (HH, X_h, Z, H), n, H'
  for_rows(N, H, 6 * H, [&](int64_t r, float* buf) {
    float *hh_tmp = buf, *x_tmp = hh_tmp + H, *z_tmp = x_tmp + H, *h_tmp = z_tmp + H, *n = h_tmp + H, *hn = n + H;
    const float *hhr = row_in(hh, r, 0, H, hh_tmp), *xh = row_in(x, r, 2 * H, H, x_tmp);
    for (int64_t j = 0; j < H; ++j) n[j] = xh[j] + hhr[j];
    gru_blend(n, row_in(z, r, 0, H, z_tmp), row_in(h, r, 0, H, h_tmp), hn, H);
    row_out(h_out, r, hn, H);
  });
}

KILN_CPU_KERNEL("GruUpdate", gru_update_run, gru_update_check);

}  // namespace
}  // namespace kiln
