// Conv row kernels for AVX2+FMA (compiled with the avx2 flags; conv.cc calls them only when
// cpu_isa() is Avx2). conv_tile<Avx2, MR <= 6, 2> (conv_tile.h): Y[6 channels, 16 columns] in 12
// ymm accumulators + 2 input vectors + 1 broadcast, as in matmul's AVX2 micro-kernel.
// Bench alone: as conv_avx512.cc, with KILN_CPU_ISA=avx2.
#include "conv_tile.h"
#include "conv_winograd.h"
#include "simd_avx2.h"

namespace kiln {
namespace cv {
namespace {

template <int NV> using Tiles = TileTable<Avx2, NV, 1, 2, 3, 4, 5, 6>;
const ConvKernels kAvx2 = {"avx2", 6, conv_row<Avx2, 1, Tiles<1>>, conv_row<Avx2, 2, Tiles<2>>, 8, pool_rows<Avx2>,
                           winograd_slots<Avx2, 2, ProductTable<Avx2, 2, 1, 2, 3, 4, 5, 6>>, 2};

}  // namespace

const ConvKernels* conv_kernels_avx2() { return &kAvx2; }

}  // namespace cv
}  // namespace kiln
