// lowbit — the x86 backends (tags, target attributes) and the vector helpers they share.
//
// Every x86 kernel is compiled with __attribute__((target(...))), whatever -m flags the user
// passes, so a binary built for baseline x86-64 still carries the AVX2 and AVX-512 kernels and
// the runtime table (runtime.hpp) switches to them when cpu() reports the features. The
// compile-time choice (select.hpp) uses a backend only when the target already enables it.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../config.hpp"
#include "../cpu.hpp"
#include "../numeric/f16.hpp"
#include "scalar.hpp"

#if defined(LOWBIT_X86) && (defined(__GNUC__) || defined(__clang__))
#  define LOWBIT_HAS_X86_BACKENDS 1
#  include <immintrin.h>

// The feature sets the kernels are compiled for. avx512 requires F, BW, DQ and VL (Skylake-SP,
// Ice Lake, Zen 4, ...); avx512vnni adds the int8 dot-product instruction (Cascade Lake and later).
#  define LOWBIT_TARGET_AVX2 __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt")))
#  define LOWBIT_TARGET_AVX512 \
      __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl")))
#  define LOWBIT_TARGET_AVX512VNNI \
      __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")))
#  define LOWBIT_TARGET_AVX512BF16 \
      __attribute__((target("avx2,fma,f16c,bmi,bmi2,popcnt,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx512bf16")))
#  define LOWBIT_X86_INLINE inline __attribute__((always_inline))
// A loop of constant trip count unrolled whole: where its index picks fields and shift counts,
// unrolling turns them into constants (and keeps the index arithmetic off the vector ports).
#  if defined(__clang__)
#    define LOWBIT_UNROLL _Pragma("unroll")
#  else
#    define LOWBIT_UNROLL _Pragma("GCC unroll 16")
#  endif
#endif

namespace lowbit::backend {

/// AVX2 with FMA and F16C (Haswell, Zen 1 and later).
struct avx2 {
    static constexpr const char* name = "avx2";
    static bool cpu_supported() noexcept {
        const auto& f = cpu();
        return f.avx2 && f.fma && f.f16c && f.bmi2;
    }
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__BMI2__)
    static constexpr bool target_enabled = true;
#else
    static constexpr bool target_enabled = false;
#endif
};

/// AVX-512 F/BW/DQ/VL on top of avx2.
struct avx512 {
    static constexpr const char* name = "avx512";
    static bool cpu_supported() noexcept {
        const auto& f = cpu();
        return avx2::cpu_supported() && f.avx512f && f.avx512bw && f.avx512dq && f.avx512vl;
    }
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__) && \
    defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && defined(__BMI2__)
    static constexpr bool target_enabled = true;
#else
    static constexpr bool target_enabled = false;
#endif
};

/// avx512 plus VNNI (vpdpbusd: u8 x s8 products summed into int32 in one instruction).
struct avx512vnni {
    static constexpr const char* name = "avx512vnni";
    static bool cpu_supported() noexcept { return avx512::cpu_supported() && cpu().avx512vnni; }
#if defined(__AVX512VNNI__)
    static constexpr bool target_enabled = avx512::target_enabled;
#else
    static constexpr bool target_enabled = false;
#endif
};

/// avx512vnni plus the bf16 dot-product instruction (vdpbf16ps: Cooper Lake, Sapphire Rapids, Zen 4).
struct avx512bf16 {
    static constexpr const char* name = "avx512bf16";
    static bool cpu_supported() noexcept { return avx512vnni::cpu_supported() && cpu().avx512bf16; }
#if defined(__AVX512BF16__)
    static constexpr bool target_enabled = avx512vnni::target_enabled;
#else
    static constexpr bool target_enabled = false;
#endif
};

} // namespace lowbit::backend

#if defined(LOWBIT_HAS_X86_BACKENDS)
namespace lowbit::x86 {

// GCC contracts a vector multiply followed by an add into an FMA (the intrinsics are plain vector
// arithmetic to it), which changes the rounding. Where the scalar path rounds the product on its
// own, the product goes through one of these barriers before it is added.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 opaque(__m256 v) noexcept {
    __asm__("" : "+x"(v));
    return v;
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512 __m512 opaque(__m512 v) noexcept {
    __asm__("" : "+v"(v));
    return v;
}

/// Makes the compiler treat `values` as written by someone else, so that it reads them back with
/// broadcast loads (load ports only) rather than keeping them in a register and broadcasting
/// each lane with two shuffles (GCC does that for a small array it has just stored).
template <class T, std::size_t N>
inline void through_memory(T (&values)[N]) noexcept {
    __asm__("" : "+m"(values));
}

/// f16 -> f32 with the F16C instruction: exact, like numeric::f16_bits_to_f32.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float half_to_float(f16 h) noexcept {
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.bits)));
}

/// f32 -> f16 with the F16C instruction, rounding to nearest even: numeric::f32_to_f16_bits's
/// result (NaN included) without its branches.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 f16 float_to_half(float x) noexcept {
    return f16{static_cast<std::uint16_t>(_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), 0))};
}

/// The 32 codes of a 4-bit block as bytes: low nibbles are values 0..15, high nibbles 16..31.
/// (A broadcast load and a per-lane shift: no shuffle-port work, which the dots are short of.)
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i unpack_nibbles(const std::uint8_t* qs) noexcept {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return _mm256_and_si256(_mm256_srlv_epi64(both, _mm256_set_epi64x(4, 4, 0, 0)), _mm256_set1_epi8(0x0F));
}

/// The same 32 codes with the high nibbles left in place: bytes 0..15 hold codes 0..15, bytes
/// 16..31 hold 16 * codes 16..31. One AND instead of a shift and an AND, for kernels that can
/// take the factor 16 out exactly (a power of two in a float scale, or once at the end of a dot).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i nibbles_in_place(const std::uint8_t* qs) noexcept {
    const __m256i both = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qs)));
    return _mm256_and_si256(both, _mm256_set_m128i(_mm_set1_epi8(static_cast<char>(0xF0)), _mm_set1_epi8(0x0F)));
}

/// Eight values of a block field (uint16_t or uint32_t, read(k) for block k), blocks in the order
/// 0 .. 7 or, InPairs, 0, 2, 4, 6, 1, 3, 5, 7 (the order of the pair dots' block sums), packed as
/// quadwords in general-purpose registers and moved to a vector two at a time. Inserted one by one
/// into a vector, the values took the shuffle ports the kernels need (on Zen 5 the q8_0
/// dequantize 1.81 -> 1.70 cycles per block, q4_0's four-row dot 1.51 -> 1.31).
template <class T, bool InPairs, class Read>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 auto pack8(Read read) noexcept {
    static_assert(sizeof(T) == 2 || sizeof(T) == 4);
    const auto v = [&](int k) { return std::uint64_t{static_cast<T>(read(InPairs ? (k % 4) * 2 + k / 4 : k))}; };
    const auto two = [](std::uint64_t lo, std::uint64_t hi) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
        return _mm_insert_epi64(_mm_cvtsi64_si128(static_cast<long long>(lo)), static_cast<long long>(hi), 1);
    };
    // (each quadword written out as one expression: built in a loop, GCC's code for it made the
    // q5_0 four-row dot 7% slower)
    if constexpr (sizeof(T) == 2) return two(v(0) | v(1) << 16 | v(2) << 32 | v(3) << 48, v(4) | v(5) << 16 | v(6) << 32 | v(7) << 48);
    else return _mm256_set_m128i(two(v(4) | v(5) << 32, v(6) | v(7) << 32), two(v(0) | v(1) << 32, v(2) | v(3) << 32));
}

/// The f16 field `Field` of eight consecutive blocks as floats (pack8's orders): one conversion
/// for eight blocks instead of one per block.
template <auto Field, bool InPairs = false, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 halves8(const B* b) noexcept {
    return _mm256_cvtph_ps(pack8<std::uint16_t, InPairs>([b](int k) { return (b[k].*Field).bits; }));
}

/// Rows r0 .. r0+R-1 of a matrix whose rows start `stride` bytes apart, for multi-row kernels;
/// past the last row the last row again (its results are dropped), so a pass is always R rows.
template <int R, class B>
inline std::array<const B*, R> row_group(const B* x, std::size_t stride, std::int64_t r0, std::int64_t rows) noexcept {
    std::array<const B*, R> group;
    for (int k = 0; k < R; ++k)
        group[static_cast<std::size_t>(k)] = reinterpret_cast<const B*>(reinterpret_cast<const unsigned char*>(x) +
                                                                         static_cast<std::size_t>(std::min(r0 + k, rows - 1)) * stride);
    return group;
}

/// The first four bytes of eight consecutive blocks as eight dwords (pack8's orders): a block
/// that leads with two f16 fields (d and m of q4_1 / q5_1, d and s of q8_1) gives both in one
/// dword. (From _mm256_setr_epi32 of eight ints GCC merges pairs through the stack, a
/// store-forwarding stall per call that made the q4_1 / q5_1 dots three times slower.)
template <bool InPairs = false, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i heads8(const B* b) noexcept {
    return pack8<std::uint32_t, InPairs>([b](int k) {
        std::uint32_t v;
        std::memcpy(&v, b + k, 4);
        return v;
    });
}
/// The low (High = false: the block's first f16) or high (its second) word of each dword, as floats.
template <bool High>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 head_halves(__m256i heads) noexcept {
    constexpr char o = High ? 2 : 0;
    const __m256i words = _mm256_shuffle_epi8(heads, _mm256_setr_epi8(o, o + 1, o + 4, o + 5, o + 8, o + 9, o + 12, o + 13, -1, -1, -1, -1, -1, -1, -1, -1,
                                                                      o, o + 1, o + 4, o + 5, o + 8, o + 9, o + 12, o + 13, -1, -1, -1, -1, -1, -1, -1, -1));
    return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(words, 0x08)));
}

/// The leading f16 field d of eight consecutive blocks as floats, and with Two the f16 right after
/// it (m of q4_1 / q5_1, s of q8_1: the two come from one dword per block).
template <bool Two, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void leading_halves8(const B* b, __m256& first, __m256& second) noexcept {
    static_assert(offsetof(B, d) == 0);
    if constexpr (Two) {
        const __m256i heads = heads8(b);
        first = head_halves<false>(heads);
        second = head_halves<true>(heads);
    } else {
        first = halves8<&B::d>(b);
        second = _mm256_setzero_ps();
    }
}

/// The scales (and, WithMin, the mins) of eight consecutive 32-value blocks as floats in d[8]
/// (and m[8]), left in memory for broadcast loads (see through_memory).
template <bool WithMin, class B>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void block_scales8(const B* b, float (&d)[8], float (&m)[8]) noexcept {
    if constexpr (WithMin) static_assert(offsetof(B, m) == 2);
    __m256 vd, vm;
    leading_halves8<WithMin>(b, vd, vm);
    _mm256_store_ps(d, vd);
    if constexpr (WithMin) _mm256_store_ps(m, vm);
    through_memory(d);
    through_memory(m);
}

/// For the dots of eight consecutive blocks of x with the partner's (dy, sy: leading_halves8 of
/// the partner's blocks): d[k] = d_x * d_y of block pair k, stored for broadcast loads, and with
/// WithMin the mins' term m_x * s_y added to `mins`.
template <bool WithMin, class XB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void scale_products8(const XB* x, __m256 dy, __m256 sy, float (&d)[8], __m256& mins) noexcept {
    if constexpr (WithMin) static_assert(offsetof(XB, m) == 2);
    __m256 dx, mx;
    leading_halves8<WithMin>(x, dx, mx);
    _mm256_store_ps(d, _mm256_mul_ps(dx, dy));
    if constexpr (WithMin) mins = _mm256_fmadd_ps(mx, sy, mins);
}

/// Byte j all ones where bit j of the 32-bit mask is set (the fifth code bits of q5_0 / q5_1).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i bit_bytes(std::uint32_t bits) noexcept {
    // byte j gets the byte of `bits` holding bit j, then keeps only bit (j % 8)
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)),
                                               _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                                                 0x0101010101010101, 0x0000000000000000));
    const __m256i select = _mm256_set1_epi64x(static_cast<long long>(0x8040201008040201ull));
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

/// Output of at least this many bytes, 64-byte aligned, is written with non-temporal stores where
/// lowbit::streaming_stores() says so (cpu.hpp): a tensor that large will not be read back from
/// the caches, and skipping the read-for-ownership of every destination line is what lets
/// dequantize approach memcpy's bandwidth on Intel's processors.
inline constexpr std::int64_t stream_threshold_bytes = std::int64_t{4} << 20;
inline bool worth_streaming(const float* y, std::int64_t n) noexcept {
    return n * 4 >= stream_threshold_bytes && (reinterpret_cast<std::uintptr_t>(y) & 63u) == 0 && streaming_stores();
}

template <bool Stream>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void store8(float* y, __m256 v) noexcept {
    if constexpr (Stream) _mm256_stream_ps(y, v);
    else _mm256_storeu_ps(y, v);
}

LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float hsum(__m256 v) noexcept {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 double hsum(__m256d v) noexcept {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float hmax(__m256 v) noexcept {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float hmin(__m256 v) noexcept {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 abs_ps(__m256 v) noexcept {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

/// Eight int8 -> eight floats.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 i8_to_ps(__m128i eight_bytes) noexcept {
    return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(eight_bytes));
}

/// round(v) with C's halfway-away-from-zero rule, exact for |v| < 2^23: trunc(v) plus one step
/// away from zero when the dropped fraction (computed exactly) is at least one half.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 round_half_away(__m256 v) noexcept {
    v = opaque(v); // v is usually a product: it must be rounded before the fraction is taken
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
    const __m256 step = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), step));
}

/// Four vectors of eight int32 (each in -128..127) -> 32 int8 in order.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) noexcept {
    const __m256i ab = _mm256_packs_epi32(a, b); // a0-3 b0-3 | a4-7 b4-7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd); // a0-3 b0-3 c0-3 d0-3 | a4-7 b4-7 c4-7 d4-7
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/// Sum of the eight int32 lanes.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 int hsum_i32(__m256i v) noexcept {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

} // namespace lowbit::x86
#endif
