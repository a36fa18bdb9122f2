// lowbit — the K-quants: q2_K, q3_K, q4_K, q5_K, q6_K, and q8_K, the activation format they are
// dotted against.
//
// All five weight formats share one structure, written once here as kquant_format<Policy>:
//   - a super-block of 256 values with a half-precision scale d (and, for the affine ones, dmin);
//   - sub-blocks of 16 or 32 values, each with its own scale (and min), stored as small integer
//     codes that d (dmin) multiplies: x = d*sc_j * (q - offset)  or  x = d*sc_j * q - dmin*m_j;
//   - the codes q of the 256 values in one or two bit fields (low bits, high bits).
// A policy names what differs: the block struct, the sub-block size, how sub-scale codes are packed,
// where the code bits go, and the reference's two recipes (without and with importance weights):
// which sub-block search, which weights, which parameters, and how the sub-scales become codes.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "../algo/scale_search.hpp"
#include "../format/concepts.hpp"
#include "../numeric/f16.hpp"

namespace lowbit::formats {

using ::lowbit::detail::mul;

// ---------------------------------------------------------------------------------------------
// Block layouts, exactly as GGUF stores them (field names as in the reference).

struct block_q2_K {
    std::uint8_t scales[16]; // per 16 values: scale code (low nibble), min code (high nibble)
    std::uint8_t qs[64];     // 2-bit codes
    lowbit::f16 d, dmin;
};
struct block_q3_K {
    std::uint8_t hmask[32];  // third (high) code bit
    std::uint8_t qs[64];     // low two code bits
    std::uint8_t scales[12]; // sixteen 6-bit scale codes
    lowbit::f16 d;
};
struct block_q4_K {
    lowbit::f16 d, dmin;
    std::uint8_t scales[12]; // eight 6-bit scale codes and eight 6-bit min codes
    std::uint8_t qs[128];    // 4-bit codes
};
struct block_q5_K {
    lowbit::f16 d, dmin;
    std::uint8_t scales[12]; // as q4_K
    std::uint8_t qh[32];     // fifth (high) code bit
    std::uint8_t qs[128];    // low four code bits
};
struct block_q6_K {
    std::uint8_t ql[128];   // low four code bits
    std::uint8_t qh[64];    // high two code bits
    std::int8_t scales[16]; // signed 8-bit scale codes
    lowbit::f16 d;
};
struct block_q8_K {
    float d;                 // f32 scale: activations need the range
    std::int8_t qs[256];
    std::int16_t bsums[16];  // sum of qs per 16 values, so mins cost one multiply per 16 in a dot
};

static_assert(sizeof(block_q2_K) == 84 && sizeof(block_q3_K) == 110 && sizeof(block_q4_K) == 144);
static_assert(sizeof(block_q5_K) == 176 && sizeof(block_q6_K) == 210 && sizeof(block_q8_K) == 292);

namespace kquant {

inline constexpr int super_block = 256;

// ---------------------------------------------------------------------------------------------
// Where code bits go. Every K-quant field follows one rule: the 256 values are cut into groups of
// `Group` values; a group's bits fill Group*Bits/8 bytes as rows of 32 bytes; value l of the group's
// 32-value slice s sits in byte l of row s % rows, at bit Bits * (s / rows). So the slices of a group
// are spread over the rows first and stacked in the bit positions next.
//   q2_K codes, q3_K low bits: Bits 2, Group 128 (one row: four slices in the four bit pairs)
//   q4_K codes, q5_K low bits: Bits 4, Group 64  (one row: two slices in the two nibbles)
//   q6_K low bits:             Bits 4, Group 128 (two rows: slices 0,1 low nibbles; 2,3 high)
//   q6_K high bits:            Bits 2, Group 128
//   q3_K, q5_K high bit:       Bits 1, Group 256 (one row: bit s of byte l is value 32*s + l)

template <int Bits, int Group>
struct code_field {
    static_assert(Group % 32 == 0 && (Group * Bits) % 256 == 0 && super_block % Group == 0);
    static constexpr int bits = Bits;
    static constexpr int bytes = super_block * Bits / 8;
    static constexpr int rows = Group * Bits / 256;
    static constexpr unsigned mask = (1u << Bits) - 1u;

    static constexpr int byte_of(int v) noexcept { return Group * Bits / 8 * (v / Group) + 32 * ((v % Group / 32) % rows) + v % 32; }
    static constexpr int shift_of(int v) noexcept { return Bits * ((v % Group / 32) / rows); }

    /// Slices sharing a row, in its bit positions: slice r + rows * k of a group at bit Bits * k.
    static constexpr int stacked = 8 / Bits;

    /// Stores bits [from, from + Bits) of every code. Each byte is put together once, from the
    /// codes of its stacked slices, instead of a slice at a time or-ed into zeroed bytes.
    static void store(const std::uint8_t* codes, int from, std::uint8_t* dst) noexcept {
        for (int g = 0; g < super_block / Group; ++g)
            for (int r = 0; r < rows; ++r) {
                const std::uint8_t* c = codes + Group * g + 32 * r;
                std::uint8_t* row = dst + byte_of(Group * g + 32 * r);
                for (int l = 0; l < 32; ++l) {
                    unsigned byte = 0;
                    for (int k = 0; k < stacked; ++k) byte |= ((c[32 * rows * k + l] >> from) & mask) << (Bits * k);
                    row[l] = static_cast<std::uint8_t>(byte);
                }
            }
    }
    /// Adds the field's bits to every code at bit `to`.
    static void load(const std::uint8_t* src, int to, std::uint8_t* codes) noexcept {
        for (int g = 0; g < super_block / Group; ++g)
            for (int r = 0; r < rows; ++r) {
                std::uint8_t* c = codes + Group * g + 32 * r;
                const std::uint8_t* row = src + byte_of(Group * g + 32 * r);
                for (int l = 0; l < 32; ++l)
                    for (int k = 0; k < stacked; ++k)
                        c[32 * rows * k + l] = static_cast<std::uint8_t>(c[32 * rows * k + l] | (((row[l] >> (Bits * k)) & mask) << to));
            }
    }
};

// The layouts the reference documents, checked against the rule.
static_assert(code_field<2, 128>::byte_of(32 + 5) == 5 && code_field<2, 128>::shift_of(96) == 6 && code_field<2, 128>::byte_of(128) == 32);
static_assert(code_field<4, 64>::byte_of(64 + 32 + 1) == 33 && code_field<4, 64>::shift_of(32) == 4);
static_assert(code_field<4, 128>::byte_of(32) == 32 && code_field<4, 128>::byte_of(64) == 0 && code_field<4, 128>::shift_of(64) == 4);
static_assert(code_field<1, 256>::byte_of(200) == 8 && code_field<1, 256>::shift_of(200) == 6);

/// For formats whose codes fit in the low field.
struct no_field {
    static constexpr int bits = 0;
};

// ---------------------------------------------------------------------------------------------
// How the sub-block scale codes (and min codes) are packed. Each packing states the range of the
// scale value a code stands for (value = code - offset) and turns int codes into bytes and back.
// Codes are ints holding what the reference holds in its byte variables, so that a code the
// reference would let spill into a neighbour's bits spills the same way here.

/// q2_K: one byte per 16 values, scale code in the low nibble, min code in the high one.
struct nibble_scale_min {
    static constexpr int count = 16, offset = 0, min_value = 0, max_value = 15;
    static constexpr bool has_min = true;
    static void encode(const int* sc, const int* mn, std::uint8_t* out) noexcept {
        for (int j = 0; j < count; ++j) out[j] = static_cast<std::uint8_t>(sc[j] | (mn[j] << 4));
    }
    static void decode(const std::uint8_t* in, int* sc, int* mn) noexcept {
        for (int j = 0; j < count; ++j) {
            sc[j] = in[j] & 0xF;
            mn[j] = in[j] >> 4;
        }
    }
};

/// q4_K, q5_K: eight 6-bit scale codes and eight 6-bit min codes in 12 bytes. Sub-blocks 0-3 keep
/// theirs whole in bytes 0-3 (scales) and 4-7 (mins); sub-blocks 4-7 keep their low four bits in
/// bytes 8-11 (scale in the low nibble, min in the high one) and their top two bits in the spare
/// top two bits of bytes 0-3 (scales) and 4-7 (mins).
struct six_bit_scale_min {
    static constexpr int count = 8, offset = 0, min_value = 0, max_value = 63;
    static constexpr bool has_min = true;
    static void encode(const int* sc, const int* mn, std::uint8_t* out) noexcept {
        for (int j = 0; j < 4; ++j) { // each byte written once
            out[j] = static_cast<std::uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
            out[j + 4] = static_cast<std::uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
            out[j + 8] = static_cast<std::uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
        }
    }
    static void decode(const std::uint8_t* in, int* sc, int* mn) noexcept {
        for (int j = 0; j < 4; ++j) {
            sc[j] = in[j] & 63;
            mn[j] = in[j + 4] & 63;
        }
        for (int j = 4; j < 8; ++j) {
            sc[j] = (in[j + 4] & 0xF) | ((in[j - 4] >> 6) << 4);
            mn[j] = (in[j + 4] >> 4) | ((in[j] >> 6) << 4);
        }
    }
};

/// q3_K: sixteen 6-bit codes (scale + 32) in 12 bytes: the low four bits of code j in byte j % 8
/// (low nibble for j < 8, high nibble after), the top two bits in byte 8 + j % 4 at bit 2 * (j / 4).
struct six_bit_scales {
    static constexpr int count = 16, offset = 32, min_value = -32, max_value = 31;
    static constexpr bool has_min = false;
    static void encode(const int* sc, const int* /*mn*/, std::uint8_t* out) noexcept {
        for (int j = 0; j < 8; ++j) out[j] = static_cast<std::uint8_t>((sc[j] & 0xF) | ((sc[j + 8] & 0xF) << 4));
        for (int j = 0; j < 4; ++j)
            out[8 + j] = static_cast<std::uint8_t>((sc[j] >> 4) | ((sc[j + 4] >> 4) << 2) | ((sc[j + 8] >> 4) << 4) | ((sc[j + 12] >> 4) << 6));
    }
    static void decode(const std::uint8_t* in, int* sc, int* /*mn*/) noexcept {
        for (int j = 0; j < count; ++j)
            sc[j] = ((in[j % 8] >> (4 * (j / 8))) & 0xF) | (((in[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
    }
};

/// q6_K: one signed byte per 16 values.
struct int8_scales {
    static constexpr int count = 16, offset = 0, min_value = -128, max_value = 127;
    static constexpr bool has_min = false;
    static void encode(const int* sc, const int* /*mn*/, std::int8_t* out) noexcept {
        for (int j = 0; j < count; ++j) out[j] = static_cast<std::int8_t>(sc[j]);
    }
    static void decode(const std::int8_t* in, int* sc, int* /*mn*/) noexcept {
        for (int j = 0; j < count; ++j) sc[j] = in[j];
    }
};

// ---------------------------------------------------------------------------------------------
// Recipes: how the reference picks the sub-block scales and codes.

/// The search run on each sub-block.
enum class sub_search {
    affine,            ///< search::affine_codes_weighted (make_qkx2/qkx3_quants): scale and min
    symmetric,         ///< search::symmetric_codes with least-squares candidates (make_qx_quants, rmse 1)
    symmetric_refined, ///< search::symmetric_codes_refined (make_q3_quants)
};

/// The per-value weights of that search.
enum class weighting {
    abs_x,          ///< |x|
    rms_plus_abs_x, ///< the sub-block's RMS + |x|
    x_squared,      ///< x² (the symmetric searches' own default)
    imatrix,        ///< the importance weights as given
    imatrix_sigma,  ///< importance * sqrt(σ² + x²), σ² = sigma2_factor * the super-block's mean x²
};

/// How the sub-block scales (and mins) become codes under d (and dmin).
enum class scale_coding {
    ratio_to_max,    ///< d = the largest scale / the largest code; codes by rounding
    weighted_search, ///< a weighted search over the scales (nonnegative_codes_weighted for scales and
                     ///< mins; symmetric_codes for signed scales), weighted by each sub-block's weight sum
};

struct recipe {
    sub_search search;
    weighting weights;
    scale_coding coding;
    float sigma2_factor = 1.0f;
    // affine search parameters: candidate scales (nmax + rmin + rdelta*k) / range, k = 0..nstep
    float rmin = 0.0f, rdelta = 0.0f;
    int nstep = 0;
    bool use_mad = false;      ///< score candidates by absolute instead of squared error
    bool clamp_codes = false;  ///< affine codes are cut to max_value after the byte store
};

/// The sum of a dot product's float terms: per super-block (q2_K), or in eight lanes by position
/// modulo 8 summed at the end (the others).
enum class accumulation { per_block, eight_lanes };

// ---------------------------------------------------------------------------------------------

template <class P>
struct super_block_format {
    using block = typename P::block;
    using scales = typename P::scales;
    using low = typename P::low;
    using high = typename P::high;
    static constexpr int sub = P::sub_block;
    static constexpr int nsub = super_block / sub;
    static constexpr bool affine = scales::has_min;
    static constexpr int code_bits = low::bits + high::bits;
    static constexpr int code_max = (1 << code_bits) - 1;
    /// Symmetric codes stand for code - code_offset.
    static constexpr int code_offset = affine ? 0 : 1 << (code_bits - 1);
    static_assert(scales::count == nsub);
    /// Affine formats whose products dl * code are exact in binary32: dl = d * sc has at most 11
    /// significant bits (d, a binary16) plus the scale's, and the code adds its own (q4_K, q5_K:
    /// 11 + 6 + 5 <= 24). Rounding such a product before subtracting ml changes nothing (signed
    /// zeros included: x - y is x + -y), so a kernel may compute dl * code - ml in one FMA and
    /// give this path's floats, for blocks where fused_values_exact holds.
    static constexpr bool exact_affine_products =
        affine && scales::min_value >= 0 && 11 + std::bit_width(static_cast<unsigned>(scales::max_value)) + code_bits <= 24;
    /// exact_affine_products, and the block's d and dmin finite: no NaN then arises, whose sign
    /// and payload would depend on the FMA's operand order (a NaN ml, negated for an addition,
    /// would come out with its sign flipped). Other blocks take the unfused operations.
    static bool fused_values_exact(const block& b) noexcept {
        if constexpr (!exact_affine_products) {
            return false;
        } else {
            return ((b.d.bits & 0x7C00u) != 0x7C00u) & ((b.dmin.bits & 0x7C00u) != 0x7C00u);
        }
    }

    /// The 256 codes of a block, each in [0, code_max].
    static void unpack_codes(const block& b, std::uint8_t* q) noexcept {
        std::memset(q, 0, super_block);
        low::load(b.*P::low_field, 0, q);
        if constexpr (high::bits > 0) high::load(b.*P::high_field, low::bits, q);
    }
    static void pack_codes(const std::uint8_t* q, block& b) noexcept {
        low::store(q, 0, b.*P::low_field);
        if constexpr (high::bits > 0) high::store(q, low::bits, b.*P::high_field);
    }

    static void dequantize_block(const block& b, float* out) noexcept {
        std::uint8_t q[super_block];
        unpack_codes(b, q);
        int sc[nsub], mn[nsub];
        scales::decode(b.scales, sc, mn);
        const float d = to_f32(b.d);
        for (int j = 0; j < nsub; ++j) {
            const float dl = mul(d, static_cast<float>(sc[j] - scales::offset));
            const std::uint8_t* qj = q + sub * j;
            float* o = out + sub * j;
            if constexpr (affine) {
                const float ml = mul(to_f32(b.dmin), static_cast<float>(mn[j]));
                for (int l = 0; l < sub; ++l) o[l] = dl * static_cast<float>(qj[l]);
                search::detail_::fence(o); // the products are rounded before the min is taken off
                for (int l = 0; l < sub; ++l) o[l] -= ml;
            } else {
                for (int l = 0; l < sub; ++l) o[l] = dl * static_cast<float>(qj[l] - code_offset); // nothing is added
            }
        }
    }

    static float dot_blocks(const block* x, const block_q8_K* y, std::int64_t nb) noexcept {
        float sumf = 0.0f;
        float lanes[8] = {};
        for (std::int64_t i = 0; i < nb; ++i) {
            std::uint8_t q[super_block];
            unpack_codes(x[i], q);
            int sc[nsub], mn[nsub];
            scales::decode(x[i].scales, sc, mn);
            int isum[8] = {};
            for (int v = 0; v < super_block; ++v)
                isum[v % 8] += (sc[v / sub] - scales::offset) * (y[i].qs[v] * (q[v] - code_offset));
            int summs = 0; // the mins times the activations, from the partner's sums per 16
            if constexpr (affine)
                for (int j = 0; j < super_block / 16; ++j) summs += y[i].bsums[j] * mn[j * 16 / sub];
            if constexpr (P::dot_accumulation == accumulation::per_block) {
                int total = 0;
                for (int l = 0; l < 8; ++l) total += isum[l];
                const float dall = mul(y[i].d, to_f32(x[i].d));
                const float dmin = mul(y[i].d, to_f32(x[i].dmin));
                sumf += mul(dall, static_cast<float>(total)) - mul(dmin, static_cast<float>(summs));
            } else {
                const float d = mul(to_f32(x[i].d), y[i].d);
                for (int l = 0; l < 8; ++l) lanes[l] += mul(d, static_cast<float>(isum[l]));
                if constexpr (affine) sumf -= mul(mul(to_f32(x[i].dmin), y[i].d), static_cast<float>(summs));
            }
        }
        if constexpr (P::dot_accumulation == accumulation::eight_lanes)
            for (int l = 0; l < 8; ++l) sumf += lanes[l];
        return sumf;
    }

    /// One row; `imatrix` (the row's n importance weights) selects the weighted recipe.
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        quantize_row_with<search::portable_engine>(x, y, n, imatrix);
    }

    /// quantize_row with the sub-block searches run by `Engine` (search::portable_engine, or a SIMD
    /// backend's): Engine::batch<nsub> super-blocks go through one call of its search, whose result
    /// must be bit for bit the portable one's. Everything else is this scalar code.
    template <class Engine>
    static void quantize_row_with(const float* x, block* y, std::int64_t n, const float* imatrix) noexcept {
        if (imatrix)
            quantize_blocks<P::weighted, Engine>(x, imatrix, y, n / super_block);
        else
            quantize_blocks<P::plain, Engine>(x, nullptr, y, n / super_block);
    }

private:
    template <const recipe& R, class Engine>
    static void quantize_blocks(const float* x, const float* qw, block* y, std::int64_t nb) noexcept {
        constexpr int B = Engine::template batch<nsub>;
        constexpr int values = B * super_block;
        float scale[B * nsub], min[B * nsub] = {}, weight_sum[B * nsub], w[values];
        float iscale[B * nsub]; // the symmetric search's: the factor of each sub-block's codes
        float x_pad[values], q_pad[values]; // a short last batch repeats its last block
        std::uint8_t L[values];
        for (std::int64_t i = 0; i < nb; i += B) {
            const int count = static_cast<int>(nb - i < B ? nb - i : B);
            const float* xb = x + super_block * i;
            const float* qb = qw ? qw + super_block * i : nullptr;
            if (count < B) {
                for (int b = 0; b < B; ++b) {
                    const int from = b < count ? b : count - 1;
                    std::memcpy(x_pad + super_block * b, xb + super_block * from, sizeof(float) * super_block);
                    if (qw) std::memcpy(q_pad + super_block * b, qb + super_block * from, sizeof(float) * super_block);
                }
                xb = x_pad;
                qb = qw ? q_pad : nullptr;
            }
            for (int b = 0; b < B; ++b)
                sub_block_weights<R>(xb + super_block * b, qb ? qb + super_block * b : nullptr, w + super_block * b,
                                     weight_sum + nsub * b);
            // The symmetric searches run for the scales alone: their codes are wanted only where a
            // stored scale is zero, rarely, and requantize finds those itself.
            if constexpr (R.search == sub_search::symmetric_refined) {
                Engine::template symmetric_refined<sub, B * nsub>(code_offset, xb, nullptr, scale);
            } else if constexpr (R.search == sub_search::symmetric) {
                const float* weights = R.weights == weighting::x_squared ? nullptr : R.weights == weighting::imatrix ? qb : w;
                Engine::template symmetric<sub, B * nsub>(code_offset, xb, weights, scale, iscale);
            } else if constexpr (R.search == sub_search::affine) {
                static_assert(R.weights != weighting::imatrix && R.weights != weighting::x_squared);
                Engine::template affine<sub, B * nsub>(code_max, xb, w, L, scale, min, R.rmin, R.rdelta, R.nstep, R.use_mad);
            }
            for (int b = 0; b < count; ++b)
                finish_block<R, Engine>(xb + super_block * b, scale + nsub * b, min + nsub * b, weight_sum + nsub * b,
                                        iscale + nsub * b, L + super_block * b, y[i + b]);
        }
    }

    template <const recipe& R, class Engine>
    static void finish_block(const float* x, const float* scale, const float* min, const float* weight_sum,
                             const float* iscale, std::uint8_t* L, block& b) noexcept {
        int sc[nsub], mn[nsub] = {};
        float d = 0.0f, dmin = 0.0f;
        if (!code_scales<R>(scale, min, weight_sum, sc, mn, d, dmin)) {
            b = block{}; // the reference's empty q6_K block: every byte zero
            return;
        }
        scales::encode(sc, mn, b.scales);
        b.d = to_f16(d);
        if constexpr (affine) b.dmin = to_f16(dmin);

        requantize<R, Engine>(x, iscale, b, L);
        pack_codes(L, b);
    }

    /// The per-value weights of one super-block's searches (into w), and each sub-block's weight
    /// sum where the scales are coded by a weighted search.
    template <const recipe& R>
    static void sub_block_weights(const float* x, const float* qw, float* w_all, float* weight_sum) noexcept {
        float sigma2 = 0.0f;
        if constexpr (R.weights == weighting::imatrix_sigma) {
            float sum_x2 = 0.0f;
            for (int l = 0; l < super_block; ++l) sum_x2 += mul(x[l], x[l]);
            sigma2 = mul(R.sigma2_factor, sum_x2) / static_cast<float>(super_block);
        }
        float sum_x2[nsub] = {}; // each sub-block's Σ x², the sub-blocks' chains side by side
        if constexpr (R.weights == weighting::rms_plus_abs_x) {
            float x2[super_block];
            for (int l = 0; l < super_block; ++l) x2[l] = x[l] * x[l];
            search::detail_::fence(x2); // rounded before they are summed
            for (int l = 0; l < sub; ++l)
                for (int j = 0; j < nsub; ++j) sum_x2[j] += x2[sub * j + l];
        }
        for (int j = 0; j < nsub; ++j) {
            const float* xj = x + sub * j;
            float* w = w_all + sub * j;
            const float* weights = w;
            if constexpr (R.weights == weighting::abs_x) {
                for (int l = 0; l < sub; ++l) w[l] = std::fabs(xj[l]);
            } else if constexpr (R.weights == weighting::rms_plus_abs_x) {
                const float rms = std::sqrt(sum_x2[j] / static_cast<float>(sub));
                for (int l = 0; l < sub; ++l) w[l] = rms + std::fabs(xj[l]);
            } else if constexpr (R.weights == weighting::imatrix_sigma) {
                for (int l = 0; l < sub; ++l) w[l] = mul(qw[sub * j + l], std::sqrt(sigma2 + mul(xj[l], xj[l])));
            } else if constexpr (R.weights == weighting::imatrix) {
                weights = qw + sub * j;
            } else {
                weights = nullptr; // x², the symmetric search's default
            }
            if constexpr (R.coding == scale_coding::weighted_search) {
                float s = 0.0f;
                for (int l = 0; l < sub; ++l) s += weights[l];
                weight_sum[j] = s;
            }
        }
    }

    /// Sub-block scales (and mins) to codes and the super-block scale(s). False: the block is empty.
    template <const recipe& R>
    static bool code_scales(const float* scale, const float* min, const float* weight_sum, int* sc, int* mn, float& d,
                            float& dmin) noexcept {
        constexpr int top = scales::max_value;
        if constexpr (affine && R.coding == scale_coding::ratio_to_max) {
            float max_scale = 0.0f, max_min = 0.0f;
            for (int j = 0; j < nsub; ++j) {
                if (scale[j] > max_scale) max_scale = scale[j];
                if (min[j] > max_min) max_min = min[j];
            }
            const float inv_scale = max_scale > 0 ? static_cast<float>(top) / max_scale : 0.0f;
            const float inv_min = max_min > 0 ? static_cast<float>(top) / max_min : 0.0f;
            for (int j = 0; j < nsub; ++j) {
                sc[j] = affine_code<R>(search::nearest_int(mul(inv_scale, scale[j])));
                mn[j] = affine_code<R>(search::nearest_int(mul(inv_min, min[j])));
            }
            d = max_scale / static_cast<float>(top);
            dmin = max_min / static_cast<float>(top);
        } else if constexpr (affine) {
            std::uint8_t Ls[nsub], Lm[nsub];
            d = search::nonnegative_codes_weighted(nsub, top, scale, Ls, weight_sum);
            dmin = search::nonnegative_codes_weighted(nsub, top, min, Lm, weight_sum);
            for (int j = 0; j < nsub; ++j) {
                sc[j] = affine_code<R>(Ls[j]);
                mn[j] = affine_code<R>(Lm[j]);
            }
        } else if constexpr (R.coding == scale_coding::ratio_to_max) {
            float max_scale = 0.0f, amax = 0.0f; // the scale of largest magnitude, with its sign
            for (int j = 0; j < nsub; ++j) {
                if (std::fabs(scale[j]) > amax) {
                    amax = std::fabs(scale[j]);
                    max_scale = scale[j];
                }
            }
            if constexpr (P::empty_below_eps) {
                if (amax < search::group_max_eps) return false;
            } else if (amax == 0.0f) {
                for (int j = 0; j < nsub; ++j) sc[j] = 0;
                d = 0.0f;
                return true;
            }
            // The largest scale maps to the most negative code, the one value with no positive twin.
            const float iscale = static_cast<float>(scales::min_value) / max_scale;
            for (int j = 0; j < nsub; ++j)
                sc[j] = numeric::clamp(search::nearest_int(mul(iscale, scale[j])), scales::min_value, top) + scales::offset;
            d = 1 / iscale;
        } else {
            std::int8_t Ls[nsub];
            d = search::symmetric_codes(nsub, -scales::min_value, scale, Ls, 1, weight_sum);
            for (int j = 0; j < nsub; ++j) sc[j] = Ls[j];
        }
        return true;
    }

    /// An affine sub-scale code as the reference stores it: a byte, cut to the top code where it does.
    template <const recipe& R>
    static int affine_code(int l) noexcept {
        const int byte = static_cast<std::uint8_t>(l);
        return R.clamp_codes && byte > scales::max_value ? scales::max_value : byte;
    }

    /// Final codes against the scales as stored (rounded to half precision and to their codes), so
    /// that dequantization reproduces what the codes were chosen for. Sub-blocks whose stored scale
    /// is zero keep their search codes; the symmetric searches ran for the scales alone, and
    /// `iscale` holds the factor each sub-block's codes are computed with (symmetric: moving the
    /// codes out of the searches' lanes had taken 6% of q6_K's quantizer, a tenth of q3_K's).
    template <const recipe& R, class Engine>
    static void requantize(const float* x, const float* iscale, const block& b, std::uint8_t* L) noexcept {
        int sc[nsub], mn[nsub];
        scales::decode(b.scales, sc, mn);
        const float d = to_f32(b.d);
        float dj[nsub], mj[nsub] = {};
        bool some_zero = false;
        for (int j = 0; j < nsub; ++j) {
            dj[j] = mul(d, static_cast<float>(sc[j] - scales::offset));
            some_zero |= dj[j] == 0.0f;
            // (symmetric codes: (x + 0) / dj rounds to the reference's x / dj, a zero being a zero)
            if constexpr (affine) mj[j] = mul(to_f32(b.dmin), static_cast<float>(mn[j]));
        }
        auto* codes = reinterpret_cast<std::int8_t*>(L);
        if constexpr (R.search == sub_search::symmetric) {
            if (some_zero) {
                for (int j = 0; j < nsub; ++j) {
                    if (dj[j] != 0.0f) continue;
                    if (search::flat_group(sub, x + sub * j)) std::memset(codes + sub * j, 0, sub);
                    else search::symmetric_codes_for(sub, code_offset, iscale[j], x + sub * j, codes + sub * j);
                }
            }
        }
        // The code-by-code search (q3_K) has no one factor: its codes are found one sub-block at a
        // time (a sub-block below group_max_eps at once: codes 0), or by the engine's search of the
        // whole super-block where more than two would need the whole search.
        if constexpr (R.search == sub_search::symmetric_refined) {
            if (some_zero) {
                int searched = 0;
                for (int j = 0; j < nsub; ++j) searched += dj[j] == 0.0f && !search::flat_group(sub, x + sub * j);
                if (searched > 2) {
                    float unused[nsub];
                    Engine::template symmetric_refined<sub, nsub>(code_offset, x, codes, unused);
                } else {
                    for (int j = 0; j < nsub; ++j)
                        if (dj[j] == 0.0f) search::symmetric_codes_refined(sub, code_offset, x + sub * j, codes + sub * j);
                }
            }
        }
        constexpr int lo = -code_offset, hi = code_max - code_offset;
        if constexpr (requires { Engine::template requantize_all<sub, nsub>(x, dj, mj, lo, hi, L); }) {
            if (!some_zero) return Engine::template requantize_all<sub, nsub>(x, dj, mj, lo, hi, L);
        }
        for (int j = 0; j < nsub; ++j)
            if (dj[j] != 0.0f) Engine::template requantize<sub>(x + sub * j, dj[j], mj[j], lo, hi, L + sub * j);
    }
};

} // namespace kquant

// ---------------------------------------------------------------------------------------------
// The five weight formats: what differs, and nothing else.

struct q2_K_policy {
    using block = block_q2_K;
    static constexpr type_id id = type_id::q2_K;
    static constexpr int sub_block = 16;
    using scales = kquant::nibble_scale_min;
    using low = kquant::code_field<2, 128>;
    using high = kquant::no_field;
    static constexpr auto low_field = &block::qs;
    static constexpr kquant::recipe plain{.search = kquant::sub_search::affine, .weights = kquant::weighting::abs_x,
                                          .coding = kquant::scale_coding::ratio_to_max, .rmin = -0.5f,
                                          .rdelta = 0.1f, .nstep = 15, .use_mad = true};
    static constexpr kquant::recipe weighted{.search = kquant::sub_search::affine,
                                             .weights = kquant::weighting::imatrix_sigma,
                                             .coding = kquant::scale_coding::weighted_search, .sigma2_factor = 1.0f,
                                             .rmin = -0.9f, .rdelta = 0.05f, .nstep = 36};
    static constexpr auto dot_accumulation = kquant::accumulation::per_block;
};

struct q3_K_policy {
    using block = block_q3_K;
    static constexpr type_id id = type_id::q3_K;
    static constexpr int sub_block = 16;
    using scales = kquant::six_bit_scales;
    using low = kquant::code_field<2, 128>;
    using high = kquant::code_field<1, 256>;
    static constexpr auto low_field = &block::qs;
    static constexpr auto high_field = &block::hmask;
    static constexpr kquant::recipe plain{.search = kquant::sub_search::symmetric_refined,
                                          .weights = kquant::weighting::x_squared,
                                          .coding = kquant::scale_coding::ratio_to_max};
    static constexpr kquant::recipe weighted{.search = kquant::sub_search::symmetric,
                                             .weights = kquant::weighting::imatrix_sigma,
                                             .coding = kquant::scale_coding::weighted_search, .sigma2_factor = 2.0f};
    static constexpr bool empty_below_eps = false;
    static constexpr auto dot_accumulation = kquant::accumulation::eight_lanes;
};

struct q4_K_policy {
    using block = block_q4_K;
    static constexpr type_id id = type_id::q4_K;
    static constexpr int sub_block = 32;
    using scales = kquant::six_bit_scale_min;
    using low = kquant::code_field<4, 64>;
    using high = kquant::no_field;
    static constexpr auto low_field = &block::qs;
    static constexpr kquant::recipe plain{.search = kquant::sub_search::affine,
                                          .weights = kquant::weighting::rms_plus_abs_x,
                                          .coding = kquant::scale_coding::ratio_to_max, .rmin = -1.0f,
                                          .rdelta = 0.1f, .nstep = 20, .clamp_codes = true};
    static constexpr kquant::recipe weighted{.search = kquant::sub_search::affine,
                                             .weights = kquant::weighting::imatrix_sigma,
                                             .coding = kquant::scale_coding::weighted_search, .sigma2_factor = 2.0f,
                                             .rmin = -0.9f, .rdelta = 0.05f, .nstep = 36};
    static constexpr auto dot_accumulation = kquant::accumulation::eight_lanes;
};

struct q5_K_policy {
    using block = block_q5_K;
    static constexpr type_id id = type_id::q5_K;
    static constexpr int sub_block = 32;
    using scales = kquant::six_bit_scale_min;
    using low = kquant::code_field<4, 64>;
    using high = kquant::code_field<1, 256>;
    static constexpr auto low_field = &block::qs;
    static constexpr auto high_field = &block::qh;
    static constexpr kquant::recipe plain{.search = kquant::sub_search::affine,
                                          .weights = kquant::weighting::rms_plus_abs_x,
                                          .coding = kquant::scale_coding::ratio_to_max, .rmin = -0.5f,
                                          .rdelta = 0.1f, .nstep = 15, .clamp_codes = true};
    static constexpr kquant::recipe weighted{.search = kquant::sub_search::affine,
                                             .weights = kquant::weighting::imatrix_sigma,
                                             .coding = kquant::scale_coding::weighted_search, .sigma2_factor = 2.0f,
                                             .rmin = -0.9f, .rdelta = 0.05f, .nstep = 36, .clamp_codes = true};
    static constexpr auto dot_accumulation = kquant::accumulation::eight_lanes;
};

struct q6_K_policy {
    using block = block_q6_K;
    static constexpr type_id id = type_id::q6_K;
    static constexpr int sub_block = 16;
    using scales = kquant::int8_scales;
    using low = kquant::code_field<4, 128>;
    using high = kquant::code_field<2, 128>;
    static constexpr auto low_field = &block::ql;
    static constexpr auto high_field = &block::qh;
    static constexpr kquant::recipe plain{.search = kquant::sub_search::symmetric,
                                          .weights = kquant::weighting::x_squared,
                                          .coding = kquant::scale_coding::ratio_to_max};
    static constexpr kquant::recipe weighted{.search = kquant::sub_search::symmetric,
                                             .weights = kquant::weighting::imatrix,
                                             .coding = kquant::scale_coding::ratio_to_max};
    static constexpr bool empty_below_eps = true; // a block of (near) zeros is stored as all-zero bytes
    static constexpr auto dot_accumulation = kquant::accumulation::eight_lanes;
};

// ---------------------------------------------------------------------------------------------
// q8_K: the activations' format. Symmetric int8 over 256 values with an f32 scale; the code of
// the largest magnitude is -127 (not -128) so that every code has a negation.

struct q8_K {
    using block = block_q8_K;
    using partner = q8_K;
    static constexpr type_id id = type_id::q8_K;
    static constexpr std::size_t block_size = 256;

    /// Importance weights do not change q8_K.
    static void quantize_row(const float* x, block* y, std::int64_t n, const float* /*imatrix*/) noexcept {
        for (std::int64_t i = 0; i < n / 256; ++i, x += 256) {
            float max = 0, amax = 0;
            for (int j = 0; j < 256; ++j) {
                if (std::fabs(x[j]) > amax) {
                    amax = std::fabs(x[j]);
                    max = x[j];
                }
            }
            y[i] = block{};
            if (amax == 0.0f) continue;
            const float iscale = -127.0f / max;
            for (int j = 0; j < 256; ++j) {
                const int v = search::nearest_int(mul(iscale, x[j]));
                y[i].qs[j] = static_cast<std::int8_t>(v < 127 ? v : 127);
            }
            for (int j = 0; j < 16; ++j) {
                int sum = 0;
                for (int l = 0; l < 16; ++l) sum += y[i].qs[16 * j + l];
                y[i].bsums[j] = static_cast<std::int16_t>(sum);
            }
            y[i].d = 1 / iscale;
        }
    }
    static void dequantize_block(const block& b, float* out) noexcept {
        for (int j = 0; j < 256; ++j) out[j] = mul(b.d, static_cast<float>(b.qs[j]));
    }
};

template <class P>
struct kquant_format : kquant::super_block_format<P> {
    using partner = q8_K;
    static constexpr type_id id = P::id;
    static constexpr std::size_t block_size = kquant::super_block;
};

using q2_K = kquant_format<q2_K_policy>;
using q3_K = kquant_format<q3_K_policy>;
using q4_K = kquant_format<q4_K_policy>;
using q5_K = kquant_format<q5_K_policy>;
using q6_K = kquant_format<q6_K_policy>;

static_assert(matches_gguf_layout<q2_K>() && matches_gguf_layout<q3_K>() && matches_gguf_layout<q4_K>());
static_assert(matches_gguf_layout<q5_K>() && matches_gguf_layout<q6_K>() && matches_gguf_layout<q8_K>());

} // namespace lowbit::formats
