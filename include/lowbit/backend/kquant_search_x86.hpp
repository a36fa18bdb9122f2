// lowbit — the K-quant sub-block searches for AVX-512 (sixteen lanes, up to 64 sub-blocks per
// call) and AVX2 (eight lanes, up to 32 sub-blocks per call): kquant_search_lanes.inl compiled
// once per instruction set, bit for bit the scalar searches.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "lanes_x86.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../algo/scale_search.hpp"

namespace lowbit::x86::ksearch512 {
using V = lanes16;
/// up to four sets of sixteen lanes, whose chains interleave; with the engine's cap of four
/// super-blocks per call, four sets for the formats of sixteen sub-blocks (q2_K, q3_K, q6_K) and
/// two for those of eight. Four sets made q2_K / q6_K 4-8% faster than two, and q3_K's
/// code-by-code search 1.4x as fast while the latency of its chain bound it; now that most of
/// its steps skip that chain (refined_search), two to sixteen sets are within 7% of one another
/// there (Zen 5). (Four sets for q4_K / q5_K, eight super-blocks a call, gained 3-6% on a row of
/// sixteen blocks: less than a padded last batch can throw away. Eight sets were slower.)
inline constexpr int groups_per_call = 64;
#  define LOWBIT_LANES_TARGET LOWBIT_TARGET_AVX512
#  include "kquant_search_lanes.inl"
#  undef LOWBIT_LANES_TARGET
} // namespace lowbit::x86::ksearch512

namespace lowbit::x86::ksearch256 {
using V = lanes8;
/// four sets of eight lanes: as for AVX-512, more chains side by side pay although AVX2 has
/// sixteen registers, not thirty-two (against two sets, with LOWBIT_BACKEND=avx2 on Sapphire
/// Rapids: q3_K 1.27x as fast, q2_K 11%, q4_K / q5_K 5-6%)
inline constexpr int groups_per_call = 32;
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
