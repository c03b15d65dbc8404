// reduceInto(dtype, op, acc, x): acc = acc (op) x element-wise, for the CPU collectives backend
// (src/distributed/reduce-ops.ts owns the semantics and the decode/encode around it). acc is the
// accumulator array: float32 for float32, float16 and bfloat16 (x then holds the half bits, widened
// here), and the dtype's own width for integers, whose sums and products wrap. Float min/max let NaN
// win, as torch and NCCL do. Synchronous: the arrays are JS's, and a reduction runs at memory speed.
#include <napi.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "dtype.h"
#include "error.h"

namespace kiln {
namespace {

enum class Op { Sum, Prod, Max, Min };

Op op_of(const std::string& s) {
  if (s == "sum" || s == "avg") return Op::Sum;  // avg divides once at the end (reduce-ops.ts)
  if (s == "prod") return Op::Prod;
  if (s == "max") return Op::Max;
  if (s == "min") return Op::Min;
  fail("E_ARGUMENT", "reduceInto: unknown op '" + s + "'");
}

// Floats: x converted by `load` (identity, or a half widened) and combined in float32.
template <typename X, typename Load>
void combine_float(float* a, const X* x, size_t n, Op op, Load load) {
  switch (op) {
    case Op::Sum: for (size_t i = 0; i < n; ++i) a[i] += load(x[i]); break;
    case Op::Prod: for (size_t i = 0; i < n; ++i) a[i] *= load(x[i]); break;
    case Op::Max:
      for (size_t i = 0; i < n; ++i) {
        const float v = load(x[i]);
        a[i] = v > a[i] || v != v ? v : a[i];
      }
      break;
    case Op::Min:
      for (size_t i = 0; i < n; ++i) {
        const float v = load(x[i]);
        a[i] = v < a[i] || v != v ? v : a[i];
      }
      break;
  }
}

// Integers: sums and products in the unsigned type of the same width (wrapping), max/min signed.
template <typename T>
void combine_int(T* a, const T* x, size_t n, Op op) {
  using U = std::make_unsigned_t<T>;
  switch (op) {
    case Op::Sum: for (size_t i = 0; i < n; ++i) a[i] = (T)((U)a[i] + (U)x[i]); break;
    case Op::Prod: for (size_t i = 0; i < n; ++i) a[i] = (T)((U)a[i] * (U)x[i]); break;
    case Op::Max: for (size_t i = 0; i < n; ++i) a[i] = x[i] > a[i] ? x[i] : a[i]; break;
    case Op::Min: for (size_t i = 0; i < n; ++i) a[i] = x[i] < a[i] ? x[i] : a[i]; break;
  }
}

struct Span {
  char* data;
  size_t bytes;
};

Span span_of(const Napi::Value& v, const char* what) {
  if (!v.IsTypedArray()) fail("E_ARGUMENT", std::string("reduceInto: ") + what + " must be a typed array");
  auto t = v.As<Napi::TypedArray>();
  return Span{static_cast<char*>(t.ArrayBuffer().Data()) + t.ByteOffset(), t.ByteLength()};
}

}  // namespace

Napi::Value ReduceInto(const Napi::CallbackInfo& info) {
  const std::string dtype = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  const Op op = op_of(info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "");
  const Span acc = span_of(info[2], "acc"), x = span_of(info[3], "x");
  const bool half = dtype == "float16" || dtype == "bfloat16";
  const size_t acc_size = half || dtype == "float32" || dtype == "int32" ? 4 : dtype == "int64" ? 8 : 1;
  const size_t x_size = half ? 2 : acc_size;
  if (dtype != "float32" && !half && dtype != "int32" && dtype != "int64" && dtype != "uint8" && dtype != "bool")
    fail("E_DTYPE", "reduceInto: no reduction for dtype '" + dtype + "'");
  const size_t n = acc.bytes / acc_size;
  if (acc.bytes % acc_size || x.bytes != n * x_size || (uintptr_t)acc.data % acc_size || (uintptr_t)x.data % x_size)
    fail("E_ARGUMENT", "reduceInto: " + std::to_string(acc.bytes) + " accumulator bytes and " + std::to_string(x.bytes) +
                           " input bytes do not hold the same number of aligned " + dtype + " elements");
  float* af = reinterpret_cast<float*>(acc.data);
  if (dtype == "float32") combine_float(af, reinterpret_cast<const float*>(x.data), n, op, [](float v) { return v; });
  else if (dtype == "float16") combine_float(af, reinterpret_cast<const uint16_t*>(x.data), n, op, half_to_float);
  else if (dtype == "bfloat16") combine_float(af, reinterpret_cast<const uint16_t*>(x.data), n, op, bf16_to_float);
  else if (dtype == "int32") combine_int(reinterpret_cast<int32_t*>(acc.data), reinterpret_cast<const int32_t*>(x.data), n, op);
  else if (dtype == "int64") combine_int(reinterpret_cast<int64_t*>(acc.data), reinterpret_cast<const int64_t*>(x.data), n, op);
  else combine_int(reinterpret_cast<uint8_t*>(acc.data), reinterpret_cast<const uint8_t*>(x.data), n, op);  // uint8, bool (0/1)
  return info.Env().Undefined();
}

}  // namespace kiln
