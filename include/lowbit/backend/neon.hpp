// lowbit — NEON kernels (aarch64) for the float and legacy block formats.
#pragma once

#include "../cpu.hpp"
#include "scalar.hpp"

#if defined(LOWBIT_AARCH64) && defined(__ARM_NEON) && (defined(__GNUC__) || defined(__clang__))
#  define LOWBIT_HAS_NEON_BACKEND 1
#  include <arm_neon.h>

namespace lowbit::backend {

/// Advanced SIMD, part of every aarch64 CPU.
struct neon {
    static constexpr const char* name = "neon";
    static bool cpu_supported() noexcept { return cpu().neon; }
    static constexpr bool target_enabled = true;
};

/// NEON plus the dot-product extension (sdot/udot; Armv8.2 and later, optional before 8.4).
struct neon_dotprod {
    static constexpr const char* name = "neon-dotprod";
    static bool cpu_supported() noexcept { return cpu().neon_dotprod; }
#  if defined(__ARM_FEATURE_DOTPROD)
    static constexpr bool target_enabled = true;
#  else
    static constexpr bool target_enabled = false;
#  endif
};

} // namespace lowbit::backend

#endif
