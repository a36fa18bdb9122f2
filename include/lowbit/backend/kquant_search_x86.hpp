// lowbit — the K-quant sub-block searches for AVX-512 (sixteen lanes, 32 sub-blocks per call)
// and AVX2 (eight lanes, 16 sub-blocks per call): kquant_search_lanes.inl compiled once per
// instruction set, bit for bit the scalar searches.
#pragma once

#include <cstdint>
#include <limits>

#include "lanes_x86.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../algo/scale_search.hpp"

namespace lowbit::x86::ksearch512 {
using V = lanes16;
/// two sets of sixteen lanes, whose chains interleave
inline constexpr int groups_per_call = 32;
#  define LOWBIT_LANES_TARGET LOWBIT_TARGET_AVX512
#  include "kquant_search_lanes.inl"
#  undef LOWBIT_LANES_TARGET
} // namespace lowbit::x86::ksearch512

namespace lowbit::x86::ksearch256 {
using V = lanes8;
/// two sets of eight lanes (AVX2 has sixteen registers, not thirty-two)
inline constexpr int groups_per_call = 16;
#  define LOWBIT_LANES_TARGET LOWBIT_TARGET_AVX2
#  include "kquant_search_lanes.inl"
#  undef LOWBIT_LANES_TARGET
} // namespace lowbit::x86::ksearch256

namespace lowbit::x86 {
/// The engines of formats/kquants.hpp's quantize_row_with.
using avx512_search_engine = ksearch512::engine;
using avx2_search_engine = ksearch256::engine;
} // namespace lowbit::x86

#endif
