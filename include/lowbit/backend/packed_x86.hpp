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

/// The gemv driver of every packed format. A Step policy gives its tile and partner block types,
/// the values per block and the blocks per chunk; `terms`, the partner's per-block terms of a
/// chunk, which prepare() computes once for all row groups; and step(), which adds one tile's
/// eight row dots into `acc` and, if it has a second term (the mins), into `extra` (a second
/// chain). Written once as a macro and instantiated per target (see LOWBIT_DEFINE_LEGACY_DOT):
/// a kernel compiled for AVX-512 VNNI cannot be inlined into a driver compiled for AVX2.
#define LOWBIT_DEFINE_PACKED_GEMV(NAME, TARGET)                                                                                            \
    template <class Step>                                                                                                                  \
    LOWBIT_X86_INLINE TARGET void NAME(const typename Step::tile* w, const typename Step::partner_block* y, float* out, std::int64_t rows,  \
                                       std::int64_t n) noexcept {                                                                          \
        constexpr std::int64_t chunk = Step::chunk;                                                                                        \
        const std::int64_t nb = n / Step::block_size;                                                                                      \
        for (std::int64_t k0 = 0; k0 < nb; k0 += chunk) {                                                                                  \
            const std::int64_t count = std::min(chunk, nb - k0);                                                                           \
            typename Step::terms terms;                                                                                                    \
            Step::prepare(y + k0, count, terms);                                                                                           \
            for (std::int64_t r0 = 0; r0 < rows; r0 += 8) {                                                                               \
                const typename Step::tile* t = w + (r0 / 8) * nb + k0;                                                                     \
                const std::int64_t valid = std::min<std::int64_t>(8, rows - r0);                                                           \
                alignas(32) float sums[8] = {};                                                                                            \
                if (k0 != 0) std::copy(out + r0, out + r0 + valid, sums); /* the earlier chunks' sums */                                   \
                __m256 acc = _mm256_load_ps(sums), extra = _mm256_setzero_ps();                                                            \
                for (std::int64_t k = 0; k < count; ++k) Step::step(t[k], y[k0 + k], terms, k, acc, extra);                                \
                _mm256_store_ps(sums, _mm256_add_ps(acc, extra));                                                                          \
                std::copy(sums, sums + valid, out + r0);                                                                                   \
            }                                                                                                                              \
        }                                                                                                                                  \
    }

LOWBIT_DEFINE_PACKED_GEMV(packed_gemv_avx2, LOWBIT_TARGET_AVX2)
LOWBIT_DEFINE_PACKED_GEMV(packed_gemv_vnni, LOWBIT_TARGET_AVX512VNNI)

/// Eight f16 as floats.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 f16x8(const lowbit::f16* h) noexcept {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

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

    // The driver's parts (see LOWBIT_DEFINE_PACKED_GEMV): per partner block its scale dy, its
    // stored sum sy (q8_1) and the offset term base = -offset * Σ codes.
    using partner_block = typename F::partner::block;
    static constexpr std::int64_t block_size = 32, chunk = 64;
    static constexpr bool with_min = requires(const tile& t) { t.m; };
    struct terms {
        alignas(32) float dy[chunk], sy[chunk];
        alignas(32) std::int32_t base[chunk];
    };
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void prepare(const partner_block* y, std::int64_t count, terms& tm) noexcept {
        partner_terms<offset, with_min>(y, count, tm.dy, tm.sy, tm.base);
    }
    /// A tile's eight int32 block sums (offset removed) times the rows' and the partner's
    /// scales into acc; the rows' mins times the partner's sum into extra.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void scale(const tile& t, __m256i isum, const terms& tm, std::int64_t k, __m256& acc,
                                                           __m256& extra) noexcept {
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(f16x8(t.d), _mm256_set1_ps(tm.dy[k])), acc);
        if constexpr (with_min) extra = _mm256_fmadd_ps(f16x8(t.m), _mm256_set1_ps(tm.sy[k]), extra);
    }
};

/// A tile-sums policy's step: its sums() under its own target, then the shared scale().
#define LOWBIT_TILE_STEP(TARGET)                                                                                                           \
    LOWBIT_X86_INLINE TARGET static void step(const tile& t, const typename base_parts::partner_block& y,                                  \
                                              const typename base_parts::terms& tm, std::int64_t k, __m256& acc, __m256& extra) noexcept { \
        base_parts::scale(t, sums(t, y.qs, base_parts::offset != 0 ? tm.base[k] : 0), tm, k, acc, extra);                                  \
    }

/// AVX2 tile sums: vpmaddubsw of unsigned codes by the partner's signed bytes, pair sums kept in
/// int16 over as many groups as cannot overflow (4-bit codes: all four, at most 8 * 2 * 15 * 127;
/// 5-bit codes: two), then one vpmaddwd to int32. q8_0's signed codes take the sign trick
/// (|x| times y with x's sign), one vpmaddwd per group, and need no offset.
template <class F>
struct tile_sums_avx2 : tile_sums_of<F, 0> {
    using base_parts = tile_sums_of<F, 0>;
    using typename base_parts::tile;
    using base_parts::q8;
    LOWBIT_TILE_STEP(LOWBIT_TARGET_AVX2)

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
    using base_parts = tile_sums_of<F, 128>;
    using typename base_parts::tile;
    using base_parts::q8;
    LOWBIT_TILE_STEP(LOWBIT_TARGET_AVX512VNNI)

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

#undef LOWBIT_TILE_STEP

// ---------------------------------------------------------------------------------------------
// K-quant tiles. A target's Sums policy gives the eight rows' Σ over sub-blocks of
// scale * (codes · partner bytes) as floats, the codes taken unsigned; the tile's k_tile part
// gives the rest in int32: Σ over sub-blocks of min * the partner's sums (q2_K, q4_K), or of
// scale * the code offset * those sums (q3_K: 4, q6_K: 32), one vpmaddwd per two sub-blocks.

/// A scale-pair vector (lane j: row j's scales of sub-blocks 2t, 2t + 1 as int16) times the
/// partner's two sums of 16 in every lane (an int32 of block_q8_K::bsums): one vpmaddwd.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i pair_times(__m256i pairs, std::int32_t sums) noexcept {
    return _mm256_madd_epi16(pairs, _mm256_set1_epi32(sums));
}

/// The eight rows' scales of sub-block 2t + e from a scale-pair vector, as floats.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 pick_scale(__m256i pairs, int e) noexcept {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi32(e == 0 ? 1 : 0x10000)));
}

/// One 32-byte group of a tile's codes.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i group_at(const std::uint8_t* field, int group) noexcept {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(field + 32 * group));
}

/// Per K-quant tile, what the targets share: partner() puts the partner block's sums in the
/// form mins() takes; mins() is the eight rows' int32 term that multiplies dmin (has_dmin) or d.
/// The tiles of sixteen sub-blocks add: scale(t, p, e), the rows' scales of sub-block 2p + e as
/// floats; codes_vnni(t, group, v), the four slices' code vectors of a group (slice s scaled by
/// 2^vnni_shift[s] in place, for vpdpbusd); codes_avx2, the same unscaled (vpmaddubsw saturates
/// beyond 127 * 128 per pair), whose int16 pair sums hold int16_groups groups.
template <class Tile>
struct k_tile;

/// The part shared by q4_K and q5_K tiles: mins per 32 values, met with the partner's sums per 32
/// values as int16 pairs of sub-blocks 2p, 2p + 1 (p < 4).
template <class Tile>
struct k32_tile {
    static constexpr bool has_dmin = true;
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void partner(const formats::block_q8_K& y, std::int32_t* terms) noexcept {
        const auto* bsums = reinterpret_cast<const __m128i*>(y.bsums);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(terms), _mm_hadd_epi16(_mm_loadu_si128(bsums), _mm_loadu_si128(bsums + 1)));
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i mins(const Tile& t, const std::int32_t* terms) noexcept {
        __m256i m = _mm256_setzero_si256();
        LOWBIT_UNROLL
        for (int p = 0; p < 4; ++p)
            m = _mm256_add_epi32(m, pair_times(_mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(t.mn[p]))), terms[p]));
        return m;
    }
    /// The eight rows' scales of sub-block s as floats.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 scale(const Tile& t, int s) noexcept {
        return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(t.sc[s]))));
    }
};
template <>
struct k_tile<formats::tile_q4_K> : k32_tile<formats::tile_q4_K> {};
template <>
struct k_tile<formats::tile_q5_K> : k32_tile<formats::tile_q5_K> {};

/// The part shared by the tiles of sixteen sub-blocks: the partner's bsums as they are; the
/// scale pairs, signed bytes or (Nibbles, q2_K) scale and min codes in a byte's two nibbles;
/// mins(), Σ over the eight pairs of min (or scale) pairs * sums, shifted left by Shift (the
/// code offset's log).
template <class Tile, bool Nibbles, int Shift>
struct k16_tile {
    static constexpr bool has_dmin = Nibbles;
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void partner(const formats::block_q8_K& y, std::int32_t* terms) noexcept {
        std::memcpy(terms, y.bsums, sizeof(y.bsums));
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i pair_bytes(const Tile& t, int p) noexcept {
        const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t.scales[p]));
        return Nibbles ? _mm256_cvtepu8_epi16(b) : _mm256_cvtepi8_epi16(b);
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i mins(const Tile& t, const std::int32_t* terms) noexcept {
        __m256i m = _mm256_setzero_si256();
        LOWBIT_UNROLL
        for (int p = 0; p < 8; ++p) {
            const __m256i pairs = Nibbles ? _mm256_srli_epi16(pair_bytes(t, p), 4) : pair_bytes(t, p);
            m = _mm256_add_epi32(m, pair_times(pairs, terms[p]));
        }
        return _mm256_slli_epi32(m, Shift);
    }
    /// The rows' scales of sub-blocks 2p, 2p + 1 as int16 pairs.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i scale_pairs(const Tile& t, int p) noexcept {
        return Nibbles ? _mm256_and_si256(pair_bytes(t, p), _mm256_set1_epi16(0x0F)) : pair_bytes(t, p);
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 scale(const Tile& t, int p, int e) noexcept { return pick_scale(scale_pairs(t, p), e); }
    /// Sub-block sums of codes 2 << Bits at most: a sub-block's sum, at most 16 * code_max * 128,
    /// fits an int16 when the codes are 3 bits at most, and the two sums of a scale pair meet
    /// their scales in one vpmaddwd.
    template <int Bits>
    static constexpr bool sums_fit_int16 = 16 * ((1 << Bits) - 1) * 128 < 32768;
    /// Scale pair p applied to its two sub-blocks' sums (int32 lanes, exact multiples of
    /// 2^shift), in int32: the sums are narrowed into one int16 pair per lane for vpmaddwd.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i apply_pair(const Tile& t, int p, __m256i even, __m256i odd, int shift) noexcept {
        const __m256i both = _mm256_blend_epi16(_mm256_srai_epi32(even, shift), _mm256_slli_epi32(odd, 16 - shift), 0xAA);
        return _mm256_madd_epi16(both, scale_pairs(t, p));
    }
};

template <>
struct k_tile<formats::tile_q2_K> : k16_tile<formats::tile_q2_K, true, 0> {
    static constexpr bool int16_sums = sums_fit_int16<2>;
    static constexpr int vnni_shift[4] = {0, 2, 4, 6};
    static constexpr int int16_groups = 4; // 4 * 2 * 3 * 128
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void codes_avx2(const formats::tile_q2_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i q = group_at(t.qs, group), three = _mm256_set1_epi8(3);
        v[0] = _mm256_and_si256(q, three);
        v[1] = _mm256_and_si256(_mm256_srli_epi16(q, 2), three);
        v[2] = _mm256_and_si256(_mm256_srli_epi16(q, 4), three);
        v[3] = _mm256_and_si256(_mm256_srli_epi16(q, 6), three);
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static void codes_vnni(const formats::tile_q2_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i q = group_at(t.qs, group);
        LOWBIT_UNROLL
        for (int s = 0; s < 4; ++s) v[s] = _mm256_and_si256(q, _mm256_set1_epi8(static_cast<char>(3 << (2 * s))));
    }
};

template <>
struct k_tile<formats::tile_q3_K> : k16_tile<formats::tile_q3_K, false, 2> {
    static constexpr bool int16_sums = sums_fit_int16<3>;
    static constexpr int vnni_shift[4] = {0, 2, 4, 5}; // slice 3 at 32x: with its high bit (128x) the code stays a byte
    static constexpr int int16_groups = 4;             // 4 * 2 * 7 * 128
    /// Group 8 h + g: slice s of half h is slice 4 h + s of the high-bit masks.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void codes_avx2(const formats::tile_q3_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i q = group_at(t.qs, group), three = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
        const int h = group / 8, g = group % 8;
        LOWBIT_UNROLL
        for (int s = 0; s < 4; ++s)
            v[s] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * s), three), _mm256_and_si256(bit_bytes(t.hmask[4 * h + s][g]), four));
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static void codes_vnni(const formats::tile_q3_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i q = group_at(t.qs, group);
        const int h = group / 8, g = group % 8;
        LOWBIT_UNROLL
        for (int s = 0; s < 4; ++s) {
            const __m256i low = s < 3 ? _mm256_and_si256(q, _mm256_set1_epi8(static_cast<char>(3 << (2 * s))))
                                      : _mm256_and_si256(_mm256_srli_epi16(q, 1), _mm256_set1_epi8(0x60));
            v[s] = _mm256_mask_add_epi8(low, _cvtu32_mask32(t.hmask[4 * h + s][g]), low, _mm256_set1_epi8(static_cast<char>(4 << vnni_shift[s])));
        }
    }
};

template <>
struct k_tile<formats::tile_q6_K> : k16_tile<formats::tile_q6_K, false, 5> {
    static constexpr bool int16_sums = sums_fit_int16<6>;
    static constexpr int vnni_shift[4] = {0, 0, 0, 2}; // the fourth code assembled at 4x
    static constexpr int int16_groups = 2;             // 2 * 2 * 63 * 128
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void codes_avx2(const formats::tile_q6_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i a = group_at(t.a, group), b = group_at(t.b, group), c = group_at(t.c, group), six = _mm256_set1_epi8(63);
        v[0] = _mm256_and_si256(a, six);
        v[1] = _mm256_and_si256(b, six);
        v[2] = _mm256_and_si256(c, six);
        v[3] = _mm256_or_si256(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 6), _mm256_set1_epi8(0x03)),
                                               _mm256_and_si256(_mm256_srli_epi16(b, 4), _mm256_set1_epi8(0x0C))),
                               _mm256_and_si256(_mm256_srli_epi16(c, 2), _mm256_set1_epi8(0x30)));
    }
    /// The fourth code at 4x: bits 7-6 from c, 5-4 from b's 7-6, 3-2 from a's 7-6 (two selects by
    /// constant masks, then the low two bits cleared).
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static void codes_vnni(const formats::tile_q6_K& t, int group, __m256i (&v)[4]) noexcept {
        const __m256i a = group_at(t.a, group), b = group_at(t.b, group), c = group_at(t.c, group), six = _mm256_set1_epi8(63);
        constexpr int select = 0xCA; // first ? second : third
        v[0] = _mm256_and_si256(a, six);
        v[1] = _mm256_and_si256(b, six);
        v[2] = _mm256_and_si256(c, six);
        const __m256i ab = _mm256_ternarylogic_epi32(_mm256_set1_epi8(0x0C), _mm256_srli_epi16(a, 4), _mm256_srli_epi16(b, 2), select);
        v[3] = _mm256_and_si256(_mm256_ternarylogic_epi32(_mm256_set1_epi8(static_cast<char>(0xC0)), c, ab, select),
                                _mm256_set1_epi8(static_cast<char>(0xFC)));
    }
};

/// The driver's parts for K-quant tiles (see LOWBIT_DEFINE_PACKED_GEMV): the partner's sums as
/// k_tile::mins takes them, and scale(), which adds a tile's rows: d * dy * (Σ scaled code sums)
/// into acc, the min (or offset) term into extra. Sums derives from it and adds scaled().
template <class Tile>
struct k_sums_base {
    using tile = Tile;
    using parts = k_tile<Tile>;
    using partner_block = formats::block_q8_K;
    static constexpr std::int64_t block_size = 256, chunk = 16;
    struct terms {
        alignas(32) std::int32_t sums[chunk][8];
    };
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void prepare(const partner_block* y, std::int64_t count, terms& tm) noexcept {
        for (std::int64_t k = 0; k < count; ++k) parts::partner(y[k], tm.sums[k]);
    }
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void scale(const Tile& t, const partner_block& y, __m256 codes, const terms& tm, std::int64_t k,
                                                           __m256& acc, __m256& extra) noexcept {
        const __m256 mins = _mm256_cvtepi32_ps(parts::mins(t, tm.sums[k]));
        const __m256 dy = _mm256_set1_ps(y.d);
        const __m256 d = _mm256_mul_ps(f16x8(t.d), dy);
        acc = _mm256_fmadd_ps(codes, d, acc);
        if constexpr (parts::has_dmin) extra = _mm256_fnmadd_ps(mins, _mm256_mul_ps(f16x8(t.dmin), dy), extra);
        else extra = _mm256_fnmadd_ps(mins, d, extra);
    }
};

/// A Sums policy's step: its scaled() under its own target, then the shared scale().
#define LOWBIT_K_STEP(TARGET)                                                                                                              \
    LOWBIT_X86_INLINE TARGET static void step(const Tile& t, const formats::block_q8_K& y, const typename k_sums_base<Tile>::terms& tm,      \
                                              std::int64_t k, __m256& acc, __m256& extra) noexcept {                                       \
        k_sums_base<Tile>::scale(t, y, scaled(t, y.qs), tm, k, acc, extra);                                                                \
    }

/// Sums of the tiles of sixteen sub-blocks. Group 8 h + g meets the partner's bytes
/// 128 h + 32 s + 4 g .. + 3 for slice s; groups 4q .. 4q + 3 of a half make up sub-blocks
/// 2 s + q of its slices, whose scales are pair 4 h + s, element q. A half's eight sub-block
/// sums per row (sum[q][s], exact multiples of 2^shift[s]) meet their scales through
/// apply_pair in int32 where they fit int16 (q2_K, q3_K: `isum`), else as floats (q6_K: `acc`).
template <class Tile>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void k16_scale_half(const Tile& t, int h, const __m256i (&sum)[2][4], const int (&shift)[4], __m256i& isum,
                                                        __m256& acc) noexcept {
    using parts = k_tile<Tile>;
    LOWBIT_UNROLL
    for (int s = 0; s < 4; ++s) {
        if constexpr (parts::int16_sums) {
            isum = _mm256_add_epi32(isum, parts::apply_pair(t, 4 * h + s, sum[0][s], sum[1][s], shift[s]));
        } else {
            LOWBIT_UNROLL
            for (int q = 0; q < 2; ++q)
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srai_epi32(sum[q][s], shift[s])), parts::scale(t, 4 * h + s, q), acc);
        }
    }
}

/// AVX2: vpmaddubsw's int16 pair sums over int16_groups groups, then vpmaddwd to int32.
template <class Tile>
struct k16_sums_avx2 : k_sums_base<Tile> {
    using parts = k_tile<Tile>;
    LOWBIT_K_STEP(LOWBIT_TARGET_AVX2)
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 scaled(const Tile& t, const std::int8_t* qy) noexcept {
        static constexpr int unscaled[4] = {0, 0, 0, 0};
        const __m256i ones = _mm256_set1_epi16(1);
        __m256i isum = _mm256_setzero_si256();
        __m256 acc = _mm256_setzero_ps();
        LOWBIT_UNROLL
        for (int h = 0; h < 2; ++h) {
            __m256i sum[2][4], pairs[4];
            LOWBIT_UNROLL
            for (int s = 0; s < 4; ++s) sum[0][s] = sum[1][s] = pairs[s] = _mm256_setzero_si256();
            LOWBIT_UNROLL
            for (int g = 0; g < 8; ++g) {
                __m256i v[4];
                parts::codes_avx2(t, 8 * h + g, v);
                LOWBIT_UNROLL
                for (int s = 0; s < 4; ++s)
                    pairs[s] = _mm256_add_epi16(pairs[s], _mm256_maddubs_epi16(v[s], partner_dword(qy + 128 * h + 32 * s + 4 * g)));
                if ((g + 1) % parts::int16_groups == 0) {
                    LOWBIT_UNROLL
                    for (int s = 0; s < 4; ++s) {
                        sum[g / 4][s] = _mm256_add_epi32(sum[g / 4][s], _mm256_madd_epi16(pairs[s], ones));
                        pairs[s] = _mm256_setzero_si256();
                    }
                }
            }
            k16_scale_half(t, h, sum, unscaled, isum, acc);
        }
        return parts::int16_sums ? _mm256_cvtepi32_ps(isum) : acc;
    }
};

/// VNNI: vpdpbusd of each slice's codes, scaled in place (k_tile::vnni_shift), in int32.
template <class Tile>
struct k16_sums_vnni : k_sums_base<Tile> {
    using parts = k_tile<Tile>;
    LOWBIT_K_STEP(LOWBIT_TARGET_AVX512VNNI)
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256 scaled(const Tile& t, const std::int8_t* qy) noexcept {
        __m256i isum = _mm256_setzero_si256();
        __m256 acc = _mm256_setzero_ps();
        LOWBIT_UNROLL
        for (int h = 0; h < 2; ++h) {
            __m256i sum[2][4];
            LOWBIT_UNROLL
            for (int s = 0; s < 4; ++s) sum[0][s] = sum[1][s] = _mm256_setzero_si256();
            LOWBIT_UNROLL
            for (int g = 0; g < 8; ++g) {
                __m256i v[4];
                parts::codes_vnni(t, 8 * h + g, v);
                LOWBIT_UNROLL
                for (int s = 0; s < 4; ++s) sum[g / 4][s] = _mm256_dpbusd_epi32(sum[g / 4][s], v[s], partner_dword(qy + 128 * h + 32 * s + 4 * g));
            }
            k16_scale_half(t, h, sum, parts::vnni_shift, isum, acc);
        }
        return parts::int16_sums ? _mm256_cvtepi32_ps(isum) : acc;
    }
};

/// Sums of q4_K and q5_K tiles. Group 8 c + g holds values 64 c + 4 g .. + 3 in its low nibbles
/// (sub-block 2 c) and 32 more in its high ones (2 c + 1); q5_K's fifth bits of those are masks
/// qh[2 c][g] and qh[2 c + 1][g].
/// AVX2: vpmaddubsw pair sums stay in int16 over a sub-block's eight groups (q4_K: at most
/// 8 * 2 * 15 * 128) or four (q5_K: 4 * 2 * 31 * 128), then one vpmaddwd to int32.
template <class Tile>
struct k32_sums_avx2 : k_sums_base<Tile> {
    LOWBIT_K_STEP(LOWBIT_TARGET_AVX2)
    static constexpr bool fifth = requires(const Tile& t) { t.qh; };
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256 scaled(const Tile& t, const std::int8_t* qy) noexcept {
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1), sixteen = _mm256_set1_epi8(16);
        constexpr int per_int16 = fifth ? 4 : 8;
        __m256 acc = _mm256_setzero_ps();
        LOWBIT_UNROLL
        for (int c = 0; c < 4; ++c) {
            __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256(), lo32 = lo, hi32 = lo;
            LOWBIT_UNROLL
            for (int g = 0; g < 8; ++g) {
                const __m256i p = group_at(t.qs, 8 * c + g);
                __m256i c_lo = _mm256_and_si256(p, low_nibbles), c_hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low_nibbles);
                if constexpr (fifth) {
                    c_lo = _mm256_or_si256(c_lo, _mm256_and_si256(bit_bytes(t.qh[2 * c][g]), sixteen));
                    c_hi = _mm256_or_si256(c_hi, _mm256_and_si256(bit_bytes(t.qh[2 * c + 1][g]), sixteen));
                }
                lo = _mm256_add_epi16(lo, _mm256_maddubs_epi16(c_lo, partner_dword(qy + 64 * c + 4 * g)));
                hi = _mm256_add_epi16(hi, _mm256_maddubs_epi16(c_hi, partner_dword(qy + 64 * c + 32 + 4 * g)));
                if ((g + 1) % per_int16 == 0) {
                    lo32 = _mm256_add_epi32(lo32, _mm256_madd_epi16(lo, ones));
                    hi32 = _mm256_add_epi32(hi32, _mm256_madd_epi16(hi, ones));
                    lo = hi = _mm256_setzero_si256();
                }
            }
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo32), k32_tile<Tile>::scale(t, 2 * c), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi32), k32_tile<Tile>::scale(t, 2 * c + 1), acc);
        }
        return acc;
    }
};

/// VNNI: vpdpbusd in int32. q4_K's high nibbles in place (16x, shifted back exactly); q5_K's
/// nibbles shifted down and their fifth bits added by a masked byte add of 16.
template <class Tile>
struct k32_sums_vnni : k_sums_base<Tile> {
    LOWBIT_K_STEP(LOWBIT_TARGET_AVX512VNNI)
    static constexpr bool fifth = requires(const Tile& t) { t.qh; };
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX512VNNI static __m256 scaled(const Tile& t, const std::int8_t* qy) noexcept {
        const __m256i low_nibbles = _mm256_set1_epi8(0x0F), sixteen = _mm256_set1_epi8(16);
        __m256 acc = _mm256_setzero_ps();
        LOWBIT_UNROLL
        for (int c = 0; c < 4; ++c) {
            __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
            LOWBIT_UNROLL
            for (int g = 0; g < 8; ++g) {
                const __m256i p = group_at(t.qs, 8 * c + g);
                __m256i c_lo = _mm256_and_si256(p, low_nibbles), c_hi;
                if constexpr (fifth) {
                    c_hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), low_nibbles);
                    c_lo = _mm256_mask_add_epi8(c_lo, _cvtu32_mask32(t.qh[2 * c][g]), c_lo, sixteen);
                    c_hi = _mm256_mask_add_epi8(c_hi, _cvtu32_mask32(t.qh[2 * c + 1][g]), c_hi, sixteen);
                } else {
                    c_hi = _mm256_andnot_si256(low_nibbles, p);
                }
                lo = _mm256_dpbusd_epi32(lo, c_lo, partner_dword(qy + 64 * c + 4 * g));
                hi = _mm256_dpbusd_epi32(hi, c_hi, partner_dword(qy + 64 * c + 32 + 4 * g));
            }
            if constexpr (!fifth) hi = _mm256_srai_epi32(hi, 4);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(lo), k32_tile<Tile>::scale(t, 2 * c), acc);
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(hi), k32_tile<Tile>::scale(t, 2 * c + 1), acc);
        }
        return acc;
    }
};

#undef LOWBIT_K_STEP

/// The Sums policy of a K-quant's tiles per target: by sub-blocks of 32 (q4_K, q5_K) or 16.
template <class F>
inline constexpr bool k32 = F::sub == 32;
template <class F>
using k_sums_avx2 = std::conditional_t<k32<F>, k32_sums_avx2<typename formats::packed<F>::tile>, k16_sums_avx2<typename formats::packed<F>::tile>>;
template <class F>
using k_sums_vnni = std::conditional_t<k32<F>, k32_sums_vnni<typename formats::packed<F>::tile>, k16_sums_vnni<typename formats::packed<F>::tile>>;

} // namespace lowbit::x86

namespace lowbit {

// One kernel per target for every packed format: the legacy tiles and q8_0 through the driver of
// 32-value blocks, the K-quants through theirs.
template <class F>
    requires formats::has_packed_layout<F>
struct packed_kernels<F, backend::avx2> {
    LOWBIT_TARGET_AVX2 static void gemv(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out,
                                        std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (F::block_size == 256) x86::packed_gemv_avx2<x86::k_sums_avx2<F>>(w, y, out, rows, n);
        else x86::packed_gemv_avx2<x86::tile_sums_avx2<F>>(w, y, out, rows, n);
    }
};

template <class F>
    requires formats::has_packed_layout<F>
struct packed_kernels<F, backend::avx512vnni> {
    LOWBIT_TARGET_AVX512VNNI static void gemv(const typename formats::packed<F>::tile* w, const typename F::partner::block* y, float* out,
                                              std::int64_t rows, std::int64_t n) noexcept {
        if constexpr (F::block_size == 256) x86::packed_gemv_vnni<x86::k_sums_vnni<F>>(w, y, out, rows, n);
        else x86::packed_gemv_vnni<x86::tile_sums_vnni<F>>(w, y, out, rows, n);
    }
};

} // namespace lowbit

#endif
