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

#include "elementwise_common.h"
#include "elementwise_ops.h"
#include "vmath.h"

namespace kiln {
namespace {

// y[0, n) = f(x[0, n)) with the vector function when the set has one, else the scalar loop the
// elementwise kernels run.
void sigmoid_run(const float* x, float* y, int64_t n) {
  if (auto f = vm::vmath().sigmoid) return f(x, y, n);
  for (int64_t j = 0; j < n; ++j) y[j] = ops::sigmoid_f32(x[j]);
}
void tanh_run(const float* x, float* y, int64_t n) {
  if (auto f = vm::vmath().tanh) return f(x, y, n);
  for (int64_t j = 0; j < n; ++j) y[j] = std::tanh(x[j]);
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

void lstm_cell_run(const KernelArgs& a) {
  const View &g = a.in[0], &c = a.in[1], &h_out = a.out[0], &c_out = a.out[1];
  const View* p = a.in.size() > 2 ? &a.in[2] : nullptr;
  const int64_t N = c.shape[0], H = c.shape[1];
  parallel_for(N, std::max<int64_t>(1, kElementwiseGrain / (8 * H)), [&](int64_t b, int64_t e) {
    // copies of strided rows (gates i, o, f and c; the cell; the peepholes), then the sigmoids of
    // i, o, f, tanh(G_c), C' and H'
    std::vector<float> buf(14 * H);
    float *iof = buf.data(), *gc_tmp = iof + 3 * H, *c_tmp = gc_tmp + H, *p_tmp = c_tmp + H;
    float *s = p_tmp + 3 * H, *ct = s + 3 * H, *cn = ct + H, *hn = cn + H;
    for (int64_t r = b; r < e; ++r) {
      const float* cp = row_in(c, r, 0, H, c_tmp);
      const float* gc = row_in(g, r, 3 * H, H, gc_tmp);
      if (!p) {
        sigmoid_run(row_in(g, r, 0, 3 * H, iof), s, 3 * H);  // i, o, f together
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
          sigmoid_run(x, s + gate * H, H);
        }
      }
      tanh_run(gc, ct, H);
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
        sigmoid_run(x, s + H, H);
      }
      tanh_run(cn, hn, H);
      const float* so = s + H;
      for (int64_t j = 0; j < H; ++j) hn[j] = so[j] * hn[j];
      row_out(c_out, r, cn, H);
      row_out(h_out, r, hn, H);
    }
  });
}

void lstm_cell_check(const std::string& op, const KernelArgs& a) {
  if ((a.in.size() != 2 && a.in.size() != 3) || a.out.size() != 2)
    fail("E_ARGUMENT", op + " takes G, C[, P] and writes H, C: " + describe(op, a));
  for (const auto* v : {&a.in[0], &a.in[1], &a.out[0], &a.out[1]})
    if (v->dtype != DType::F32 || v->rank() != 2) fail("E_DTYPE", op + ": every operand must be a 2-D float32 view: " + describe(op, a));
  const int64_t N = a.in[1].shape[0], H = a.in[1].shape[1];
  const Dims nh = {N, H}, gates = {N, 4 * H}, peep = {3, H};
  if (a.in[0].shape != gates || a.out[0].shape != nh || a.out[1].shape != nh)
    fail("E_SHAPE", op + ": G must be [N, 4H] and H, C [N, H] for C's [N, H]: " + describe(op, a));
  if (a.in.size() == 3 && (a.in[2].dtype != DType::F32 || a.in[2].shape != peep))
    fail("E_SHAPE", op + ": P must be float32[3, H]: " + describe(op, a));
}

KILN_CPU_KERNEL("LstmCell", lstm_cell_run, lstm_cell_check);

void gru_cell_run(const KernelArgs& a) {
  const View &g = a.in[0], &x = a.in[1], &h = a.in[2], &h_out = a.out[0];
  const View* rbh = a.in.size() > 3 ? &a.in[3] : nullptr;
  const int64_t N = h.shape[0], H = h.shape[1];
  parallel_for(N, std::max<int64_t>(1, kElementwiseGrain / (8 * H)), [&](int64_t b, int64_t e) {
    // copies of strided rows (G, X, H, Rbh), then z and r, the new gate n, and H'
    std::vector<float> buf(13 * H);
    float *g_tmp = buf.data(), *x_tmp = g_tmp + 3 * H, *h_tmp = x_tmp + 3 * H, *b_tmp = h_tmp + H;
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
    for (int64_t r = b; r < e; ++r) {
      const float* gr = row_in(g, r, 0, 3 * H, g_tmp);
      const float* xr = row_in(x, r, 0, 3 * H, x_tmp);
      const float* hp = row_in(h, r, 0, H, h_tmp);
      for (int64_t j = 0; j < 2 * H; ++j) zr[j] = gr[j] + xr[j];  // as the Gemm's epilogue: acc + c
      sigmoid_run(zr, zr, 2 * H);
      const float *z = zr, *rg = zr + H, *gh = gr + 2 * H, *xh = xr + 2 * H;
      for (int64_t j = 0; j < H; ++j) {
        const float hh = bias ? gh[j] + bias[j] : gh[j];
        const float t = rg[j] * hh;
        n[j] = xh[j] + t;
      }
      tanh_run(n, n, H);
      for (int64_t j = 0; j < H; ++j) {
        const float d = hp[j] - n[j], zd = z[j] * d;
        hn[j] = n[j] + zd;
      }
      row_out(h_out, r, hn, H);
    }
  });
}

void gru_cell_check(const std::string& op, const KernelArgs& a) {
  if ((a.in.size() != 3 && a.in.size() != 4) || a.out.size() != 1)
    fail("E_ARGUMENT", op + " takes G, X, H[, Rbh] and writes H: " + describe(op, a));
  for (const auto* v : {&a.in[0], &a.in[1], &a.in[2], &a.out[0]})
    if (v->dtype != DType::F32 || v->rank() != 2) fail("E_DTYPE", op + ": G, X, H and H' must be 2-D float32 views: " + describe(op, a));
  const int64_t N = a.in[2].shape[0], H = a.in[2].shape[1];
  const Dims nh = {N, H}, gates = {N, 3 * H};
  if (a.in[0].shape != gates || a.in[1].shape != gates || a.out[0].shape != nh)
    fail("E_SHAPE", op + ": G and X must be [N, 3H] and H' [N, H] for H's [N, H]: " + describe(op, a));
  if (a.in.size() == 4 && (a.in[3].dtype != DType::F32 || a.in[3].shape != Dims{H}))
    fail("E_SHAPE", op + ": Rbh must be float32[H]: " + describe(op, a));
}

KILN_CPU_KERNEL("GruCell", gru_cell_run, gru_cell_check);

}  // namespace
}  // namespace kiln
