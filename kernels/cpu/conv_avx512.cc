// Conv row kernels for AVX-512 (compiled with the avx512 flags; conv.cc calls them only when
// cpu_isa() is Avx512). conv_tile<Avx512, MR <= 14, 2> (conv_tile.h): Y[14 channels, 32 columns]
// in 28 zmm accumulators + 2 input vectors, a tap being 2 loads from the row panel + 14 broadcasts for 28 FMAs
// (the matmul micro-kernel's shape); outputs 16 columns wide or narrower use NV = 1. Winograd
// (conv_winograd.h): the same 14 x 32 tile per product, 32 tiles (two slots of 16) per call.
// Bench alone: `kiln bench inference --model cnn` (its three 3x3 convs), or time
//   a.launch('Conv', [X, W, B], [Y], {strides: [1, 1], dilations: [1, 1], pads: [1, 1], group: 1,
//   activation: 'relu'}) through the raw addon with KILN_CPU_ISA=avx512.
#include "conv_tile.h"
#include "conv_winograd.h"
#include "simd_avx512.h"

namespace kiln {
namespace cv {
namespace {

template <int NV> using Tiles = TileTable<Avx512, NV, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14>;
const ConvKernels kAvx512 = {"avx512", 14, conv_row<Avx512, 1, Tiles<1>>, conv_row<Avx512, 2, Tiles<2>>, 16, pool_rows<Avx512>,
                             winograd_slots<Avx512, 2, ProductTable<Avx512, 2, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14>>, 2};

}  // namespace

const ConvKernels* conv_kernels_avx512() { return &kAvx512; }

}  // namespace cv
}  // namespace kiln
