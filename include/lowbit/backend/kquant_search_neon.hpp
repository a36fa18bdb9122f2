// lowbit — the K-quant sub-block searches for NEON (four lanes, 16 sub-blocks per call):
// kquant_search_lanes.inl compiled for aarch64, bit for bit the scalar searches.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>

#include "lanes_neon.hpp"

#if defined(LOWBIT_HAS_NEON_BACKEND)

#include "../algo/scale_search.hpp"

namespace lowbit::neon::ksearch {
using V = lanes4;
/// four sets of four lanes, whose chains interleave (aarch64 has thirty-two vector registers)
inline constexpr int groups_per_call = 16;
#  define LOWBIT_LANES_TARGET
#  include "kquant_search_lanes.inl"
#  undef LOWBIT_LANES_TARGET
} // namespace lowbit::neon::ksearch

namespace lowbit::neon {
/// The engine of formats/kquants.hpp's quantize_row_with.
using search_engine = ksearch::engine;
} // namespace lowbit::neon

#endif
