// lowbit — AVX2 (+FMA, F16C) kernels for the float and legacy block formats.
//
// Dequantize and quantize reproduce the scalar path bit for bit: the same IEEE operations in
// the same order, products kept unfused (x86::opaque) unless they are exact (the affine formats'
// dequantize: one FMA). Dots may round differently from the
// scalar path (they sum in another order) but stay within float accuracy.
#pragma once

#include "x86.hpp"

#if defined(LOWBIT_HAS_X86_BACKENDS)

#include "../formats/float.hpp"
#include "../formats/legacy.hpp"

namespace lowbit::x86 {

// ---------------------------------------------------------------------------------------------
// Legacy blocks: codes, dequantize, quantize, dot — shared by the avx2 and avx512 kernels.

/// The 32 values of a legacy block as bytes: code - offset (signed) for q4_0 / q5_0, the code for
/// q4_1 / q5_1. q5_0's fifth bit and offset together: nibble - 16 is nibble | 0xF0 as a signed
/// byte, so a clear bit ORs in 0xF0 and a set bit nothing.
template <int Bits, bool Affine>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i legacy_values(const typename formats::legacy_format<Bits, Affine>::block& b) noexcept {
    const __m256i nibbles = unpack_nibbles(b.qs);
    if constexpr (Bits == 5) {
        static_assert(formats::legacy_format<Bits, Affine>::offset == (Affine ? 0 : 16));
        std::uint32_t qh;
        std::memcpy(&qh, b.qh, 4);
        const __m256i set = bit_bytes(qh);
        if constexpr (Affine) return _mm256_or_si256(nibbles, _mm256_and_si256(set, _mm256_set1_epi8(0x10)));
        else return _mm256_or_si256(nibbles, _mm256_andnot_si256(set, _mm256_set1_epi8(static_cast<char>(0xF0))));
    } else if constexpr (!Affine) {
        return _mm256_sub_epi8(nibbles, _mm256_set1_epi8(static_cast<char>(formats::legacy_format<Bits, Affine>::offset)));
    } else {
        return nibbles;
    }
}

/// Stores d*(q - offset) [+ m] for the 32 codes (as int8 after the offset is removed). The
/// affine formats' d * q + m is one FMA: d, a binary16, has 11 significant bits and q (q4_1,
/// q5_1) at most 5, so the product is exact and rounding it first would change nothing. (Where
/// d and m are both NaN, which one comes out depends on operand order, as in the scalar path.)
template <bool Affine, bool Stream = false>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void store_block_avx2(__m256i q, __m256 d, __m256 m, float* y) noexcept {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i part[4] = {lo, _mm_unpackhi_epi64(lo, lo), hi, _mm_unpackhi_epi64(hi, hi)};
    for (int k = 0; k < 4; ++k) {
        if constexpr (Affine) store8<Stream>(y + 8 * k, _mm256_fmadd_ps(i8_to_ps(part[k]), d, m));
        else store8<Stream>(y + 8 * k, _mm256_mul_ps(i8_to_ps(part[k]), d));
    }
}

// The reference's closed-form quantizer of one legacy block (no importance weights), in three
// steps, so that the AVX-512 kernel can take the middle one sixteen blocks at a time: the
// block's extremes, its scale (d, and 1 / d), the codes. The scalar path takes the blocks the
// steps refuse (the signed-zero ties vector min/max cannot see, a 1 / d that overflows).

/// The block's extremes as the scalar scan finds them: affine, its min (lo) and max (hi);
/// symmetric, its first value of largest magnitude, sign included (hi; +0 when all are zero).
/// False where the scalar scan's choice between zeros matters (an affine min or max of zero).
template <bool Affine>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 bool legacy_extremes(const float* x, float& lo, float& hi) noexcept {
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    if constexpr (Affine) {
        lo = hmin(_mm256_min_ps(_mm256_min_ps(v[0], v[1]), _mm256_min_ps(v[2], v[3])));
        hi = hmax(_mm256_max_ps(_mm256_max_ps(v[0], v[1]), _mm256_max_ps(v[2], v[3])));
        return lo != 0.0f && hi != 0.0f;
    } else {
        const __m256 a = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
        const float amax = hmax(a);
        lo = 0.0f;
        hi = 0.0f;
        if (amax != 0.0f) {
            const __m256 va = _mm256_set1_ps(amax);
            std::uint32_t hits = 0;
            for (int k = 0; k < 4; ++k)
                hits |= static_cast<std::uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(abs_ps(v[k]), va, _CMP_EQ_OQ))) << (8 * k);
            hi = x[__builtin_ctz(hits)];
        }
        return true;
    }
}

/// The block's codes against min (affine; 0 otherwise) and id = 1 / d, into b's code fields.
template <int Bits, bool Affine>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void legacy_codes(const float* x, float min, float id, typename formats::legacy_format<Bits, Affine>::block& b) noexcept {
    using F = formats::legacy_format<Bits, Affine>;
    constexpr int top = F::levels - 1;
    __m256i codes[4];
    const __m256 vid = _mm256_set1_ps(id);
    for (int k = 0; k < 4; ++k) {
        const __m256 v = _mm256_loadu_ps(x + 8 * k);
        if constexpr (Affine) {
            const __m256 scaled = opaque(_mm256_mul_ps(_mm256_sub_ps(v, _mm256_set1_ps(min)), vid));
            codes[k] = _mm256_cvttps_epi32(_mm256_add_ps(scaled, _mm256_set1_ps(0.5f)));
        } else {
            const __m256 bias = _mm256_set1_ps(static_cast<float>(F::offset) + 0.5f);
            codes[k] = _mm256_cvttps_epi32(_mm256_add_ps(opaque(_mm256_mul_ps(v, vid)), bias));
        }
        codes[k] = _mm256_min_epi32(codes[k], _mm256_set1_epi32(top));
    }
    const __m256i q = pack_i32_to_i8(codes[0], codes[1], codes[2], codes[3]); // codes 0..top as bytes
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    const __m128i nibbles = _mm_or_si128(_mm_and_si128(lo, _mm_set1_epi8(0x0F)), _mm_slli_epi16(_mm_and_si128(hi, _mm_set1_epi8(0x0F)), 4));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(b.qs), nibbles);
    if constexpr (Bits == 5) {
        const auto qh = static_cast<std::uint32_t>(_mm256_movemask_epi8(_mm256_slli_epi16(q, 3))); // bit 4 -> bit 7
        std::memcpy(b.qh, &qh, 4);
    }
}

/// One block, the three steps in a row; false: the scalar path quantizes it.
template <int Bits, bool Affine>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 bool quantize_legacy_block_avx2(const float* x, typename formats::legacy_format<Bits, Affine>::block& b) noexcept {
    using F = formats::legacy_format<Bits, Affine>;
    float lo, hi;
    if (!legacy_extremes<Affine>(x, lo, hi)) return false;
    const float d = Affine ? (hi - lo) / static_cast<float>(F::levels - 1) : hi / static_cast<float>(-F::offset);
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (formats::impl::scale_overflows(id)) return false;
    b.d = float_to_half(d);
    if constexpr (Affine) b.m = float_to_half(lo);
    legacy_codes<Bits, Affine>(x, lo, id, b);
    return true;
}

/// B blocks (B = 8 or 16) of the steps above with the middle one in vectors:
/// scales(lo, hi, id, d16, m16) computes the B blocks' d, 1 / d and half-precision d and min
/// from their extremes and returns the mask of the blocks whose 1 / d is finite; codes(x, min,
/// id, block) writes one block's codes. Blocks the steps refuse go the scalar way. Block after
/// block, each block's two scalar divisions and conversions made a chain that bounded the loop.
template <int Bits, bool Affine, int B, class Scales, class Codes>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void quantize_legacy_blocks(const float* x, typename formats::legacy_format<Bits, Affine>::block* y,
                                                                 Scales&& scales, Codes&& codes) noexcept {
    using F = formats::legacy_format<Bits, Affine>;
    alignas(64) float lo[B], hi[B], id[B];
    alignas(32) std::uint16_t d16[B], m16[B];
    unsigned usable = 0;
    for (int b = 0; b < B; ++b) usable |= static_cast<unsigned>(legacy_extremes<Affine>(x + 32 * b, lo[b], hi[b])) << b;
    usable &= scales(lo, hi, id, d16, m16);
    for (int b = 0; b < B; ++b) {
        if (!((usable >> b) & 1u)) {
            F::quantize_row(x + 32 * b, y + b, 32, nullptr);
            continue;
        }
        y[b].d = f16{d16[b]};
        if constexpr (Affine) y[b].m = f16{m16[b]};
        codes(x + 32 * b, lo[b], id[b], y[b]);
    }
}

/// A row of legacy blocks without importance weights (with them, the weighted search stays
/// scalar): B at a time through quantize_legacy_blocks, the last fewer than B one by one.
template <int Bits, bool Affine, int B, class Scales, class Codes>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 void quantize_legacy_row(const float* x, typename formats::legacy_format<Bits, Affine>::block* y, std::int64_t n,
                                                              const float* imatrix, Scales&& scales, Codes&& codes) noexcept {
    using F = formats::legacy_format<Bits, Affine>;
    if (imatrix) return F::quantize_row(x, y, n, imatrix);
    const std::int64_t nb = n / 32;
    const std::int64_t batched = nb - nb % B; // (not i + B <= nb: GCC then warns of an overflow no row can reach)
    std::int64_t i = 0;
    for (; i < batched; i += B) quantize_legacy_blocks<Bits, Affine, B>(x + 32 * i, y + i, scales, codes);
    for (; i < nb; ++i)
        if (!quantize_legacy_block_avx2<Bits, Affine>(x + 32 * i, y[i])) F::quantize_row(x + 32 * i, y + i, 32, nullptr);
}

/// amax/127 int8 quantization of 32 values (q8_0, q8_1): returns d, writes the codes, and the
/// code sum when asked.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float quantize_int8_block_avx2(const float* x, std::int8_t* qs, int* sum) noexcept {
    __m256 v[4];
    for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(x + 8 * k);
    const float amax = hmax(_mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3]))));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    if (formats::impl::scale_overflows(id)) { // every code 0, as the scalar path writes
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), _mm256_setzero_si256());
        if (sum) *sum = 0;
        return d;
    }
    const __m256 vid = _mm256_set1_ps(id);
    __m256i c[4];
    for (int k = 0; k < 4; ++k) c[k] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(v[k], vid)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(qs), pack_i32_to_i8(c[0], c[1], c[2], c[3]));
    if (sum) *sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(c[0], c[1]), _mm256_add_epi32(c[2], c[3])));
    return d;
}

/// Eight int32 sums of signed codes (x, in -16..15) times int8 y, without VNNI.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i dot_i8_avx2(__m256i x, __m256i y) noexcept {
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}
/// Same, x unsigned (0..127).
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i dot_u8_avx2(__m256i x, __m256i y) noexcept {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), _mm256_set1_epi16(1));
}

/// The dot driver of the 32-value block formats: scales converted eight blocks at a time, the
/// per-block int32 sums (Kernels::block_sums) scaled and summed in two chains. Formats with a min term
/// (q4_1, q5_1 against q8_1) add m_x * s_y per block. (The VNNI backend has its own driver,
/// x86::legacy_dot_pairs, two blocks per 512-bit vector.)
///
/// The scale products of eight blocks are computed while the eight before them are summed. Read
/// back right after they were stored, the broadcasts waited for the store, and the blocks with
/// them; q8_0, whose block sums are cheapest, had gone around it by converting each pair's
/// scales on their own (3.99 -> 3.50 reference cycles per 32 values). A group ahead, on an
/// AVX2-only Zen 4: q8_0 3.50 -> 3.43, q4_1 3.71 -> 3.40, q4_0 3.69 -> 3.61, q5_1 4.90 -> 4.80.
template <class Kernels, class XB, class YB>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 float legacy_dot(const XB* x, const YB* y, std::int64_t n) noexcept {
    constexpr bool with_min = requires(const XB& b) { b.m; };
    const std::int64_t nb = n / 32;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), mins = _mm256_setzero_ps();
    std::int64_t i = 0;
    alignas(32) float products8[2][8];
    const auto products = [&](std::int64_t at, float (&out)[8]) LOWBIT_TARGET_AVX2 LOWBIT_LAMBDA_INLINE {
        __m256 dy, sy; // d and s of the partner: s only with mins
        leading_halves8<with_min>(y + at, dy, sy);
        scale_products8<with_min>(x + at, dy, sy, out, mins);
    };
    if (i + 8 <= nb) products(i, products8[0]);
    for (int g = 0; i + 8 <= nb; i += 8, g ^= 1) {
        if (i + 16 <= nb) products(i + 8, products8[g ^ 1]);
        const float* d = products8[g];
        for (int k = 0; k < 8; k += 2) {
            acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Kernels::block_sums(x[i + k], y[i + k])), _mm256_broadcast_ss(d + k), acc0);
            acc1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Kernels::block_sums(x[i + k + 1], y[i + k + 1])), _mm256_broadcast_ss(d + k + 1), acc1);
        }
    }
    float tail_mins = 0.0f;
    for (; i < nb; ++i) {
        const __m256 d = _mm256_set1_ps(half_to_float(x[i].d) * half_to_float(y[i].d));
        acc0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(Kernels::block_sums(x[i], y[i])), d, acc0);
        if constexpr (with_min) tail_mins += half_to_float(x[i].m) * half_to_float(y[i].s);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), mins)) + tail_mins;
}

} // namespace lowbit::x86

namespace lowbit {

template <int Bits, bool Affine>
struct kernels<formats::legacy_format<Bits, Affine>, backend::avx2> {
    using F = formats::legacy_format<Bits, Affine>;
    using block = typename F::block;
    using partner_block = typename F::partner::block;
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void dequantize_block(const block& x, __m256 d, __m256 m, float* y) noexcept {
        x86::store_block_avx2<Affine, Stream>(x86::legacy_values<Bits, Affine>(x), d, m, y);
    }

    LOWBIT_TARGET_AVX2 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        const std::int64_t nb = n / 32;
        std::int64_t i = 0;
        // eight blocks' scales converted while the eight before them are dequantized, as in the
        // avx512 kernels: read back right after they were stored, the broadcasts waited for the
        // stores, and with them the blocks (q8_0 below: 4.85 -> 3.9 reference cycles per 32
        // values on an AVX2-only Zen 4, the stores alone taking 3.73)
        alignas(32) float ds[2][8], ms[2][8] = {};
        if (nb >= 8) x86::block_scales8<Affine>(x, ds[0], ms[0]);
        for (int g = 0; i + 8 <= nb; i += 8, g ^= 1) {
            if (i + 16 <= nb) x86::block_scales8<Affine>(x + i + 8, ds[g ^ 1], ms[g ^ 1]);
            for (int k = 0; k < 8; ++k) dequantize_block<Stream>(x[i + k], _mm256_broadcast_ss(ds[g] + k), _mm256_broadcast_ss(ms[g] + k), y + 32 * (i + k));
        }
        for (; i < nb; ++i) {
            float m = 0.0f;
            if constexpr (Affine) m = x86::half_to_float(x[i].m);
            dequantize_block<Stream>(x[i], _mm256_set1_ps(x86::half_to_float(x[i].d)), _mm256_set1_ps(m), y + 32 * i);
        }
    }

    /// Eight blocks at a time (x86::quantize_legacy_row).
    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        x86::quantize_legacy_row<Bits, Affine, 8>(x, y, n, imatrix, scales8, x86::legacy_codes<Bits, Affine>);
    }

    /// Eight blocks' d (as the scalar path: (max - min) / top, or max / -offset), 1 / d where d !=
    /// 0 (NaN included) and 0 elsewhere, half-precision d and min; the mask of finite 1 / d.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static unsigned scales8(const float* lo, const float* hi, float* id, std::uint16_t* d16, std::uint16_t* m16) noexcept {
        const __m256 vlo = _mm256_load_ps(lo), vhi = _mm256_load_ps(hi);
        __m256 d;
        if constexpr (Affine) d = _mm256_div_ps(_mm256_sub_ps(vhi, vlo), _mm256_set1_ps(static_cast<float>(F::levels - 1)));
        else d = _mm256_div_ps(vhi, _mm256_set1_ps(static_cast<float>(-F::offset)));
        const __m256 inverse = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), d), _mm256_cmp_ps(d, _mm256_setzero_ps(), _CMP_NEQ_UQ));
        _mm256_store_ps(id, inverse);
        constexpr int nearest = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
        _mm_store_si128(reinterpret_cast<__m128i*>(d16), _mm256_cvtps_ph(d, nearest));
        if constexpr (Affine) _mm_store_si128(reinterpret_cast<__m128i*>(m16), _mm256_cvtps_ph(vlo, nearest));
        const __m256 infinite = _mm256_cmp_ps(x86::abs_ps(inverse), _mm256_set1_ps(std::numeric_limits<float>::infinity()), _CMP_EQ_OQ);
        return ~static_cast<unsigned>(_mm256_movemask_ps(infinite)) & 0xFFu;
    }

    /// Eight int32 partial sums of one block's codes (offset removed) times the partner's.
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i block_sums(const block& x, const partner_block& y) noexcept {
        const __m256i q = x86::legacy_values<Bits, Affine>(x);
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
        if constexpr (Affine) return x86::dot_u8_avx2(q, qy);
        else return x86::dot_i8_avx2(q, qy);
    }

    LOWBIT_TARGET_AVX2 static float dot(const block* x, const partner_block* y, std::int64_t n) noexcept {
        return x86::legacy_dot<kernels>(x, y, n);
    }
};

template <class F>
    requires std::same_as<F, formats::q8_0> || std::same_as<F, formats::q8_1>
struct kernels<F, backend::avx2> {
    using block = typename F::block;
    static constexpr bool has_sum = std::same_as<F, formats::q8_1>;

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void dequantize_block(const block& x, __m256 d, float* y) noexcept {
        for (int j = 0; j < 4; ++j) {
            const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(x.qs + 8 * j));
            x86::store8<Stream>(y + 8 * j, _mm256_mul_ps(x86::i8_to_ps(b), d));
        }
    }

    LOWBIT_TARGET_AVX2 static void dequantize_row(const block* x, float* y, std::int64_t n) noexcept {
        if (x86::worth_streaming(y, n)) {
            dequantize_impl<true>(x, y, n);
            _mm_sfence();
        } else {
            dequantize_impl<false>(x, y, n);
        }
    }

    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static void dequantize_impl(const block* x, float* y, std::int64_t n) noexcept {
        const std::int64_t nb = n / 32;
        std::int64_t i = 0;
        // as the legacy formats' loop above
        alignas(32) float d[2][8];
        if (nb >= 8) _mm256_store_ps(d[0], x86::halves8<&block::d>(x));
        for (int g = 0; i + 8 <= nb; i += 8, g ^= 1) {
            if (i + 16 <= nb) _mm256_store_ps(d[g ^ 1], x86::halves8<&block::d>(x + i + 8));
            x86::through_memory(d);
            for (int k = 0; k < 8; ++k) dequantize_block<Stream>(x[i + k], _mm256_broadcast_ss(d[g] + k), y + 32 * (i + k));
        }
        for (; i < nb; ++i) dequantize_block<Stream>(x[i], _mm256_set1_ps(x86::half_to_float(x[i].d)), y + 32 * i);
    }

    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        for (std::int64_t i = 0; i < n / 32; ++i) {
            int sum = 0;
            const float d = x86::quantize_int8_block_avx2(x + 32 * i, y[i].qs, has_sum ? &sum : nullptr);
            y[i].d = x86::float_to_half(d);
            if constexpr (has_sum) y[i].s = x86::float_to_half(detail::mul(static_cast<float>(sum), d));
        }
    }

    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static __m256i block_sums(const block& x, const block& y) noexcept {
        const __m256i qx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x.qs));
        const __m256i qy = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.qs));
        return x86::dot_i8_avx2(qx, qy);
    }

    LOWBIT_TARGET_AVX2 static float dot(const block* x, const block* y, std::int64_t n) noexcept {
        return x86::legacy_dot<kernels>(x, y, n);
    }
};

// ---------------------------------------------------------------------------------------------
// f16 and bf16: conversions in eight lanes; dots accumulate in double like the scalar path.

namespace x86 {
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 load8_f16(const f16* p) noexcept {
    return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 load8_bf16(const bf16* p) noexcept {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 load8(const f16* p) noexcept { return load8_f16(p); }
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 load8(const bf16* p) noexcept { return load8_bf16(p); }
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256 load8(const float* p) noexcept { return _mm256_loadu_ps(p); }

/// f32 -> bf16 bits with the scalar rule (nearest even; NaN made quiet), eight lanes.
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 __m256i to_bf16_bits(__m256 v) noexcept {
    const __m256i x = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), lsb), 16);
    const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(64));
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
    return _mm256_blendv_epi8(rounded, quiet, nan);
}

/// Dot of the first `done` values (a multiple of 8) in four float chains. Unlike the scalar
/// path (which sums in double) this rounds like any float dot: within the tests' tolerance.
template <class T>
LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 double dot_float_avx2(const T* x, const T* y, std::int64_t n, std::int64_t& done) noexcept {
    __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    std::int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; ++k) acc[k] = _mm256_fmadd_ps(load8(x + i + 8 * k), load8(y + i + 8 * k), acc[k]);
    for (; i + 8 <= n; i += 8) acc[0] = _mm256_fmadd_ps(load8(x + i), load8(y + i), acc[0]);
    done = i;
    return hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
}
} // namespace x86

template <>
struct kernels<formats::f16, backend::avx2> {
    using F = formats::f16;
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static std::int64_t convert(const f16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        for (; i + 8 <= n; i += 8) x86::store8<Stream>(y + i, x86::load8_f16(x + i));
        return i;
    }
    LOWBIT_TARGET_AVX2 static void dequantize_row(const f16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        if (x86::worth_streaming(y, n)) {
            i = convert<true>(x, y, n);
            _mm_sfence();
        } else {
            i = convert<false>(x, y, n);
        }
        for (; i < n; ++i) y[i] = x86::half_to_float(x[i]);
    }
    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, f16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
        for (; i < n; ++i) y[i] = to_f16(x[i]);
    }
    LOWBIT_TARGET_AVX2 static float dot(const f16* x, const f16* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        double sum = x86::dot_float_avx2(x, y, n, i);
        for (; i < n; ++i) sum += static_cast<double>(to_f32(x[i])) * static_cast<double>(to_f32(y[i]));
        return static_cast<float>(sum);
    }
};

template <>
struct kernels<formats::bf16, backend::avx2> {
    template <bool Stream>
    LOWBIT_X86_INLINE LOWBIT_TARGET_AVX2 static std::int64_t convert(const bf16* x, float* y, std::int64_t n) noexcept {
        // as the avx512 kernel does: one quadword permute, then two in-lane interleavings with
        // zero words make 16 floats (widening 8 at a time: 2.97 against 1.5 cycles per 32 values
        // on Zen 5, where the scalar path vectorised by the compiler took 1.3)
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m256i v = _mm256_permute4x64_epi64(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i)), 0xD8);
            x86::store8<Stream>(y + i, _mm256_castsi256_ps(_mm256_unpacklo_epi16(_mm256_setzero_si256(), v)));
            x86::store8<Stream>(y + i + 8, _mm256_castsi256_ps(_mm256_unpackhi_epi16(_mm256_setzero_si256(), v)));
        }
        return i;
    }
    LOWBIT_TARGET_AVX2 static void dequantize_row(const bf16* x, float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        if (x86::worth_streaming(y, n)) {
            i = convert<true>(x, y, n);
            _mm_sfence();
        } else {
            i = convert<false>(x, y, n);
        }
        for (; i < n; ++i) y[i] = to_f32(x[i]);
    }
    LOWBIT_TARGET_AVX2 static void quantize_row(const float* x, bf16* y, std::int64_t n, const float*) noexcept {
        std::int64_t i = 0;
        for (; i + 16 <= n; i += 16) {
            const __m256i a = x86::to_bf16_bits(_mm256_loadu_ps(x + i)), b = x86::to_bf16_bits(_mm256_loadu_ps(x + i + 8));
            const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xD8);
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + i), packed);
        }
        for (; i < n; ++i) y[i] = to_bf16(x[i]);
    }
    /// Sixteen values per load and operand, the even-numbered as floats by a shift of each dword
    /// by 16 and the odd-numbered by clearing its low word: two integer operations per eight
    /// values against a widening and a shift, and even meets even, odd meets odd. On an
    /// AVX2-only Zen 4, 5.7 -> 3.7 reference cycles per 32 values on 64-byte aligned rows (the
    /// reference: 6.0); products and sums as two operations, whose four chains are shorter than
    /// the multiply-adds'.
    LOWBIT_TARGET_AVX2 static float dot(const bf16* x, const bf16* y, std::int64_t n) noexcept {
        // (no lambdas: one returning a vector, outside a template, draws GCC's -Wpsabi in code
        // built for baseline x86-64)
        const __m256i high = _mm256_set1_epi32(static_cast<int>(0xFFFF0000u));
        __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
        std::int64_t i = 0;
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 2; ++k) {
                const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + i + 16 * k));
                const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(y + i + 16 * k));
                const __m256 even = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(a, 16)), _mm256_castsi256_ps(_mm256_slli_epi32(b, 16)));
                const __m256 odd = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_and_si256(a, high)), _mm256_castsi256_ps(_mm256_and_si256(b, high)));
                acc[2 * k] = _mm256_add_ps(acc[2 * k], even);
                acc[2 * k + 1] = _mm256_add_ps(acc[2 * k + 1], odd);
            }
        double sum = x86::hsum(_mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3])));
        for (; i < n; ++i) sum += static_cast<double>(to_f32(x[i])) * static_cast<double>(to_f32(y[i]));
        return static_cast<float>(sum);
    }
};

template <>
struct kernels<formats::f32, backend::avx2> {
    LOWBIT_TARGET_AVX2 static float dot(const float* x, const float* y, std::int64_t n) noexcept {
        std::int64_t i = 0;
        double sum = x86::dot_float_avx2(x, y, n, i);
        for (; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(y[i]);
        return static_cast<float>(sum);
    }
};

} // namespace lowbit

#endif
