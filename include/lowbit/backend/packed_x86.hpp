// lowbit — gemv over packed rows (formats/packed.hpp) with AVX2 and AVX-512 VNNI.
//
// Row j of a tile is lane j of a 256-bit vector: each 32-byte group of codes meets four partner
// bytes broadcast to all eight lanes, so one multiply-add advances eight rows by four values, and
// a tile's eight block sums are scaled by one conversion and one multiply-add. The partner's
// per-block work (its scale and sum as floats, its offset term -offset * Σy) is done once per
// chunk of blocks for all row groups.
#pragma once

#include "avx512.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include <algorithm>
#include <bit>
#include <cstring>

#include "../formats/packed.hpp"

namespace lowbit::x86 {

/// -Offset * (the sum of the 32 codes) of eight consecutive q8 blocks, as eight int32: four-byte
/// sums per lane, then two rounds of horizontal adds leave block b's two partial sums in dword
/// b % 4 of lane b / 4 of two vectors.
template <int Offset, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i offset_terms8(const YB* y) noexcept {
    static_assert(std::has_single_bit(static_cast<unsigned>(Offset)));
    __m256i part[8];
    for (int b = 0; b < 8; ++b)
        part[b] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y[b].qs))),
                                    _mm256_set1_epi16(1));
    const __m256i low = _mm256_hadd_epi32(_mm256_hadd_epi32(part[0], part[1]), _mm256_hadd_epi32(part[2], part[3]));
    const __m256i high = _mm256_hadd_epi32(_mm256_hadd_epi32(part[4], part[5]), _mm256_hadd_epi32(part[6], part[7]));
    const __m256i sums = _mm256_add_epi32(_mm256_permute2x128_si256(low, high, 0x20), _mm256_permute2x128_si256(low, high, 0x31));
    return _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(sums, std::countr_zero(static_cast<unsigned>(Offset))));
}

/// Per partner block k < count: its scale dy[k], with WithMin its stored sum sy[k] (q8_1), and
/// with an offset base[k] = -Offset * Σ codes.
template <int Offset, bool WithMin, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void partner_terms(const YB* y, std::int64_t count, float* dy, float* sy, std::int32_t* base) noexcept {
    std::int64_t k = 0;
    for (; k + 8 <= count; k += 8) {
        __m256 d8, s8;
        leading_halves8<WithMin>(y + k, d8, s8);
        _mm256_store_ps(dy + k, d8);
        if constexpr (WithMin) _mm256_store_ps(sy + k, s8);
        if constexpr (Offset != 0) _mm256_store_si256(reinterpret_cast<__m256i*>(base + k), offset_terms8<Offset>(y + k));
    }
    for (int tail = static_cast<int>(count - k); tail > 0; --tail, ++k) { // (fewer than eight: a bound GCC sees)
        dy[k] = half_to_float(y[k].d);
        if constexpr (WithMin) sy[k] = half_to_float(y[k].s);
        if constexpr (Offset != 0) {
            std::int32_t sum = 0;
            for (int j = 0; j < 32; ++j) sum += y[k].qs[j];
            base[k] = -Offset * sum;
        }
    }
}

/// Four partner bytes (values 4q .. 4q + 3 of a block) in every lane.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i partner_dword(const std::int8_t* p) noexcept {
    std::int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// The gemv driver. Sums::sums(tile, partner codes, base) gives the eight rows' int32 block sums
/// (offset removed); Sums::offset is the code offset its base must remove. Written once as a
/// macro and instantiated per target (see LOWBIT_DEFINE_LEGACY_DOT).
#define LOWBIT_DEFINE_PACKED_GEMV(NAME, TARGET)                                                                                            \
    template <class Sums, class Tile, class YB>                                                                                            \
    LOWBIT_X86_INLINE TARGET void NAME(const Tile* w, const YB* y, float* out, std::int64_t rows, std::int64_t n) noexcept {              \
        constexpr bool with_min = requires(const Tile& t) { t.m; };                                                                        \
        constexpr std::int64_t chunk = 64;                                                                                                 \
        const std::int64_t nb = n / 32;                                                                                                    \
        for (std::int64_t k0 = 0; k0 < nb; k0 += chunk) {                                                                                  \
            const std::int64_t count = std::min(chunk, nb - k0);                                                                           \
            alignas(32) float dy[chunk], sy[chunk];                                                                                        \
            alignas(32) std::int32_t base[chunk];                                                                                          \
            partner_terms<Sums::offset, with_min>(y + k0, count, dy, sy, base);                                                            \
            for (std::int64_t r0 = 0; r0 < rows; r0 += 8) {                                                                                \
                const Tile* t = w + (r0 / 8) * nb + k0;                                                                                    \
                const std::int64_t valid = std::min<std::int64_t>(8, rows - r0);                                                           \
                alignas(32) float sums[8] = {};                                                                                            \
                if (k0 != 0) std::copy(out + r0, out + r0 + valid, sums); /* the earlier chunks' sums */                                   \
                __m256 acc = _mm256_load_ps(sums), acc_min = _mm256_setzero_ps();                                                          \
                for (std::int64_t k = 0; k < count; ++k) {                                                                                 \
                    const __m256i isum = Sums::sums(t[k], y[k0 + k].qs, Sums::offset != 0 ? base[k] : 0);                                  \
                    const __m256 scale = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t[k].d))),         \
                                                       _mm256_set1_ps(dy[k]));                                                             \
                    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), scale, acc);                                                           \
                    if constexpr (with_min)                                                                                                \
                        acc_min = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t[k].m))),             \
                                                  _mm256_set1_ps(sy[k]), acc_min);                                                         \
                }                                                                                                                          \
                _mm256_store_ps(sums, _mm256_add_ps(acc, acc_min));                                                                        \
                std::copy(sums, sums + valid, out + r0);                                                                                   \
            }                                                                                                                              \
        }                                                                                                                                  \
    }

LOWBIT_DEFINE_PACKED_GEMV(packed_gemv_avx2, LOWBIT_TARGET_AVX2)
LOWBIT_DEFINE_PACKED_GEMV(packed_gemv_vnni, LOWBIT_TARGET_AVX512VNNI)

/// What the tile sums of a format share: its tile, whether it is q8_0, and the code offset the
/// driver's partner terms remove (QOffset: q8_0's, which depends on how the backend makes its
/// signed codes unsigned).
template <class F, int QOffset>
struct tile_sums_of {
    static constexpr bool q8 = std::same_as<F, formats::q8_0>;
    static constexpr int offset = [] {
        if constexpr (q8) return QOffset;
        else return F::offset;
    }();
    using tile = typename formats::packed<F>::tile;
};

/// AVX2 tile sums: vpmaddubsw of unsigned codes by the partner's signed bytes, pair sums kept in
/// int16 over as many groups as cannot overflow (4-bit codes: all four, at most 8 * 2 * 15 * 127;
/// 5-bit codes: two), then one vpmaddwd to int32. q8_0's signed codes take the sign trick
/// (|x| times y with x's sign), one vpmaddwd per group, and need no offset.
template <class F>
struct tile_sums_avx2 : tile_sums_of<F, 0> {
    using typename tile_sums_of<F, 0>::tile;
    using tile_sums_of<F, 0>::q8;

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i sums(const tile& t, const std::int8_t* qy, std::int32_t base) noexcept {
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i sum = _mm256_set1_epi32(base);
        if constexpr (q8) {
            for (int g = 0; g < 8; ++g) {
                const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * g));
                const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(partner_dword(qy + 4 * g), x));
                sum = _mm256_add_epi32(sum, _mm256_madd_epi16(p, ones));
            }
        } else {
            const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
            constexpr int per_int16 = F::levels == 16 ? 4 : 2; // groups whose pair sums int16 holds
            __m256i pairs = _mm256_setzero_si256();
            for (int g = 0; g < 4; ++g) {
                const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * g));
                __m256i c_lo = _mm256_and_si256(p, low_nibbles), c_hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low_nibbles);
                if constexpr (requires { t.qh; }) {
                    const __m256i fifth = _mm256_set1_epi8(16);
                    c_lo = _mm256_or_si256(c_lo, _mm256_and_si256(bit_bytes(t.qh[g]), fifth));
                    c_hi = _mm256_or_si256(c_hi, _mm256_and_si256(bit_bytes(t.qh[4 + g]), fifth));
                }
                pairs = _mm256_add_epi16(pairs, _mm256_add_epi16(_mm256_maddubs_epi16(c_lo, partner_dword(qy + 4 * g)),
                                                                 _mm256_maddubs_epi16(c_hi, partner_dword(qy + 16 + 4 * g))));
                if ((g + 1) % per_int16 == 0) {
                    sum = _mm256_add_epi32(sum, _mm256_madd_epi16(pairs, ones));
                    pairs = _mm256_setzero_si256();
                }
            }
        }
        return sum;
    }
};

/// AVX-512 VNNI tile sums: vpdpbusd accumulates unsigned codes times the partner's bytes in int32
/// directly. 4-bit codes: the low nibbles as they are, the high nibbles in place (16x, a sum of
/// their own, shifted back exactly); 5-bit codes get their fifth bits by a masked byte add of 16
/// (the tile keeps them as a 32-bit mask per half group); q8_0's signed codes are offset by 128.
template <class F>
struct tile_sums_vnni : tile_sums_of<F, 128> {
    using typename tile_sums_of<F, 128>::tile;
    using tile_sums_of<F, 128>::q8;

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256i sums(const tile& t, const std::int8_t* qy, std::int32_t base) noexcept {
        __m256i lo = _mm256_set1_epi32(base), hi = _mm256_setzero_si256();
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
        for (int g = 0; g < 4; ++g) {
            const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * g));
            if constexpr (q8) {
                const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
                const __m256i p2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * (g + 4)));
                lo = _mm256_dpbusd_epi32(lo, _mm256_xor_si256(p, flip), partner_dword(qy + 4 * g));
                hi = _mm256_dpbusd_epi32(hi, _mm256_xor_si256(p2, flip), partner_dword(qy + 16 + 4 * g));
            } else if constexpr (requires { t.qh; }) {
                const __m256i fifth = _mm256_set1_epi8(16);
                __m256i c_lo = _mm256_and_si256(p, low_nibbles), c_hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low_nibbles);
                c_lo = _mm256_mask_add_epi8(c_lo, _cvtu32_mask32(t.qh[g]), c_lo, fifth);
                c_hi = _mm256_mask_add_epi8(c_hi, _cvtu32_mask32(t.qh[4 + g]), c_hi, fifth);
                lo = _mm256_dpbusd_epi32(lo, c_lo, partner_dword(qy + 4 * g));
                hi = _mm256_dpbusd_epi32(hi, c_hi, partner_dword(qy + 16 + 4 * g));
            } else {
                lo = _mm256_dpbusd_epi32(lo, _mm256_and_si256(p, low_nibbles), partner_dword(qy + 4 * g));
                hi = _mm256_dpbusd_epi32(hi, _mm256_andnot_si256(low_nibbles, p), partner_dword(qy + 16 + 4 * g));
            }
        }
        if constexpr (!q8 && !requires { t.qh; }) hi = _mm256_srai_epi32(hi, 4); // the high nibbles' sums were 16x
        return _mm256_add_epi32(lo, hi);
    }
};

// ---------------------------------------------------------------------------------------------
// q4_K tiles: per 64-value slice, eight groups of codes give the eight rows' sums of its two
// sub-blocks (low and high nibbles), which meet the rows' decoded scales as floats; the mins
// meet the partner's sums per 32 values as int16 pairs in one vpmaddwd per two sub-blocks.

/// The gemv driver of q4_K tiles. Sums::scaled(tile, partner codes) gives, per row, Σ over
/// sub-blocks of scale * (codes · partner bytes). Instantiated per target like the one above.
#define LOWBIT_DEFINE_PACKED_GEMV_Q4K(NAME, TARGET)                                                                                        \
    template <class Sums>                                                                                                                  \
    LOWBIT_X86_INLINE TARGET void NAME(const formats::tile_q4_K* w, const formats::block_q8_K* y, float* out, std::int64_t rows,          \
                                       std::int64_t n) noexcept {                                                                          \
        constexpr std::int64_t chunk = 16;                                                                                                 \
        const std::int64_t nb = n / 256;                                                                                                   \
        for (std::int64_t k0 = 0; k0 < nb; k0 += chunk) {                                                                                  \
            const std::int64_t count = std::min(chunk, nb - k0);                                                                           \
            alignas(16) std::int32_t pairs[chunk][4]; /* dword t: the partner's sums of sub-blocks 2t, 2t + 1 as int16 */                  \
            for (std::int64_t k = 0; k < count; ++k) {                                                                                     \
                const auto* bsums = reinterpret_cast<const __m128i*>(y[k0 + k].bsums);                                                     \
                _mm_store_si128(reinterpret_cast<__m128i*>(pairs[k]), _mm_hadd_epi16(_mm_loadu_si128(bsums), _mm_loadu_si128(bsums + 1))); \
            }                                                                                                                              \
            for (std::int64_t r0 = 0; r0 < rows; r0 += 8) {                                                                               \
                const formats::tile_q4_K* t = w + (r0 / 8) * nb + k0;                                                                      \
                const std::int64_t valid = std::min<std::int64_t>(8, rows - r0);                                                           \
                alignas(32) float sums[8] = {};                                                                                            \
                if (k0 != 0) std::copy(out + r0, out + r0 + valid, sums);                                                                  \
                __m256 acc = _mm256_load_ps(sums);                                                                                         \
                for (std::int64_t k = 0; k < count; ++k) {                                                                                 \
                    const formats::tile_q4_K& tk = t[k];                                                                                   \
                    const __m256 codes = Sums::scaled(tk, y[k0 + k].qs);                                                                   \
                    __m256i mins = _mm256_setzero_si256();                                                                                 \
                    for (int p = 0; p < 4; ++p)                                                                                            \
                        mins = _mm256_add_epi32(mins, _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128(                              \
                                                                            reinterpret_cast<const __m128i*>(tk.mn[p]))),                  \
                                                                        _mm256_set1_epi32(pairs[k][p])));                                  \
                    const __m256 dy = _mm256_set1_ps(y[k0 + k].d);                                                                         \
                    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tk.d))), dy);          \
                    const __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(tk.dmin))), dy);    \
                    acc = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), dmin, _mm256_fmadd_ps(codes, d, acc));                                \
                }                                                                                                                          \
                _mm256_store_ps(sums, acc);                                                                                                \
                std::copy(sums, sums + valid, out + r0);                                                                                   \
            }                                                                                                                              \
        }                                                                                                                                  \
    }

LOWBIT_DEFINE_PACKED_GEMV_Q4K(packed_gemv_q4K_avx2, LOWBIT_TARGET_AVX2)
LOWBIT_DEFINE_PACKED_GEMV_Q4K(packed_gemv_q4K_vnni, LOWBIT_TARGET_AVX512VNNI)

/// The eight rows' scales of sub-block s as floats.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 q4K_scales(const formats::tile_q4_K& t, int s) noexcept {
    return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(t.sc[s]))));
}

/// AVX2: a sub-block's eight vpmaddubsw stay in int16 (at most 8 * 2 * 15 * 127), one vpmaddwd to int32.
struct q4K_sums_avx2 {
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 scaled(const formats::tile_q4_K& t, const std::int8_t* qy) noexcept {
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < 4; ++c) {
            __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
            for (int g = 0; g < 8; ++g) {
                const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * (8 * c + g)));
                lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(_mm256_and_si256(p, low_nibbles), partner_dword(qy + 64 * c + 4 * g)));
                hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(p, 4), low_nibbles),
                                                               partner_dword(qy + 64 * c + 32 + 4 * g)));
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(lo, ones)), q4K_scales(t, 2 * c), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(hi, ones)), q4K_scales(t, 2 * c + 1), acc);
        }
        return acc;
    }
};

/// VNNI: vpdpbusd in int32, the high nibbles in place (16x, shifted back exactly).
struct q4K_sums_vnni {
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256 scaled(const formats::tile_q4_K& t, const std::int8_t* qy) noexcept {
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F);
        __m256 acc = _mm256_setzero_ps();
        for (int c = 0; c < 4; ++c) {
            __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
            for (int g = 0; g < 8; ++g) {
                const __m256i p = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t.qs + 32 * (8 * c + g)));
                lo = _mm256_dpbusd_epi32(lo, _mm256_and_si256(p, low_nibbles), partner_dword(qy + 64 * c + 4 * g));
                hi = _mm256_dpbusd_epi32(hi, _mm256_andnot_si256(low_nibbles, p), partner_dword(qy + 64 * c + 32 + 4 * g));
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), q4K_scales(t, 2 * c), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srai_epi32(hi, 4)), q4K_scales(t, 2 * c + 1), acc);
        }
        return acc;
    }
};

} // namespace lowbit::x86

namespace lowbit {

// One kernel per target for every packed format: the legacy tiles and q8_0 through the driver of
// 32-value blocks, q4_K through its own.
template <class F>
    requires formats::has_packed_layout<F>
struct packed_kernels<F, backend::avx2> {
    LOWBIT_TARGET_AVX2 static void gemv(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out,
                                        std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (std::same_as<F, formats::q4_K>) x86::packed_gemv_q4K_avx2<x86::q4K_sums_avx2>(w, y, out, rows, n);
        else x86::packed_gemv_avx2<x86::tile_sums_avx2<F>>(w, y, out, rows, n);
    }
};

template <class F>
    requires formats::has_packed_layout<F>
struct packed_kernels<F, backend::avx512vnni> {
    LOWBIT_TARGET_AVX512VNNI static void gemv(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out,
                                              std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (std::same_as<F, formats::q4_K>) x86::packed_gemv_q4K_vnni<x86::q4K_sums_vnni>(w, y, out, rows, n);
        else x86::packed_gemv_vnni<x86::tile_sums_vnni<F>>(w, y, out, rows, n);
    }
};

} // namespace lowbit

#endif
