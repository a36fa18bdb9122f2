// lowbit — packed rows: a matrix of a block format regrouped for matrix-vector products.
//
// A GGUF row keeps each block's codes together, so a vector register filled from one block holds
// one row, and the products of a row must be summed across the register (and scaled) block by
// block. Packed, the blocks k of eight consecutive rows form one tile, in which every 32-byte
// group holds four code bytes of each of the eight rows, row j in bytes 4j .. 4j + 3: one
// multiply-add instruction then advances eight rows by four values, each row in its own 32-bit
// lane, and a tile's eight block sums are scaled by one vector of the eight rows' scales.
//
// The regrouping is lossless. A legacy, q2_K or q6_K tile is eight blocks' bytes, rearranged; q3_K,
// q4_K and q5_K tiles keep their scales decoded, 32 bytes more (the last tile row of a matrix whose
// row count is not a multiple of eight is padded with zero blocks). Tiles are stored row group by
// row group, each group's tiles in block order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kquants.hpp"
#include "legacy.hpp"

namespace lowbit::formats {

/// Rows per tile of a packed matrix.
inline constexpr int packed_rows = 8;

// Tiles of the legacy formats. qs: group g (32 bytes) holds bytes 4g .. 4g + 3 of row j's qs at
// 4j .. 4j + 3. qh (5-bit codes): qh[g] bit 4j + b is the fifth bit of row j's value 4g + b
// (a low nibble of group g), qh[4 + g] that of value 16 + 4g + b (its high nibble), so a
// group's fifth bits are one 32-bit mask per half, a bit per byte of the group.
struct tile_q4_0 { lowbit::f16 d[8]; std::uint8_t qs[128]; };
struct tile_q4_1 { lowbit::f16 d[8]; lowbit::f16 m[8]; std::uint8_t qs[128]; };
struct tile_q5_0 { lowbit::f16 d[8]; std::uint32_t qh[8]; std::uint8_t qs[128]; };
struct tile_q5_1 { lowbit::f16 d[8]; lowbit::f16 m[8]; std::uint32_t qh[8]; std::uint8_t qs[128]; };
struct tile_q8_0 { lowbit::f16 d[8]; std::int8_t qs[256]; };

static_assert(sizeof(tile_q4_0) == 8 * sizeof(block_q4_0) && sizeof(tile_q4_1) == 8 * sizeof(block_q4_1));
static_assert(sizeof(tile_q5_0) == 8 * sizeof(block_q5_0) && sizeof(tile_q5_1) == 8 * sizeof(block_q5_1));
static_assert(sizeof(tile_q8_0) == 8 * sizeof(block_q8_0));

/// packed<F>::tile and the tile's conversions from and to eight blocks; defined for the formats
/// that have a packed layout.
template <class F>
struct packed;

namespace impl {
/// The regrouping of every tile's codes: bytes 4g .. 4g + 3 of row j's `bytes` code bytes go to
/// group g of the tile, at 4j .. 4j + 3 (and back).
inline void group_codes(const void* row, int bytes, int j, void* tile) noexcept {
    for (int g = 0; g < bytes / 4; ++g) std::memcpy(static_cast<unsigned char*>(tile) + 32 * g + 4 * j, static_cast<const unsigned char*>(row) + 4 * g, 4);
}
inline void ungroup_codes(const void* tile, int bytes, int j, void* row) noexcept {
    for (int g = 0; g < bytes / 4; ++g) std::memcpy(static_cast<unsigned char*>(row) + 4 * g, static_cast<const unsigned char*>(tile) + 32 * g + 4 * j, 4);
}

template <class Block> struct tile_of;
template <> struct tile_of<block_q4_0> { using type = tile_q4_0; };
template <> struct tile_of<block_q4_1> { using type = tile_q4_1; };
template <> struct tile_of<block_q5_0> { using type = tile_q5_0; };
template <> struct tile_of<block_q5_1> { using type = tile_q5_1; };
template <> struct tile_of<block_q8_0> { using type = tile_q8_0; };

/// The regrouping shared by every tile: blocks' fields of one kind, eight rows at a time.
template <class Block>
struct tile_rule {
    using tile = typename tile_of<Block>::type;
    static constexpr bool has_min = requires(Block b) { b.m; };
    static constexpr bool has_qh = requires(Block b) { b.qh; };
    static constexpr int qs_bytes = sizeof(Block::qs);

    /// rows[j] == nullptr stands for a zero block (padding).
    static void pack(const Block* const (&rows)[8], tile& t) noexcept {
        std::memset(&t, 0, sizeof(t));
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            const Block& b = *rows[j];
            t.d[j] = b.d;
            if constexpr (has_min) t.m[j] = b.m;
            group_codes(b.qs, qs_bytes, j, t.qs);
            if constexpr (has_qh) {
                std::uint32_t qh;
                std::memcpy(&qh, b.qh, 4);
                for (int g = 0; g < 4; ++g) {
                    t.qh[g] |= ((qh >> (4 * g)) & 0xFu) << (4 * j);
                    t.qh[4 + g] |= ((qh >> (16 + 4 * g)) & 0xFu) << (4 * j);
                }
            }
        }
    }
    /// rows[j] == nullptr: row j is not wanted (padding).
    static void unpack(const tile& t, Block* const (&rows)[8]) noexcept {
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            Block& b = *rows[j];
            b.d = t.d[j];
            if constexpr (has_min) b.m = t.m[j];
            ungroup_codes(t.qs, qs_bytes, j, b.qs);
            if constexpr (has_qh) {
                std::uint32_t qh = 0;
                for (int g = 0; g < 4; ++g) {
                    qh |= ((t.qh[g] >> (4 * j)) & 0xFu) << (4 * g);
                    qh |= ((t.qh[4 + g] >> (4 * j)) & 0xFu) << (16 + 4 * g);
                }
                std::memcpy(b.qh, &qh, 4);
            }
        }
    }
};
} // namespace impl

template <class F>
concept has_packed_layout = requires { typename packed<F>::tile; };

template <int Bits, bool Affine>
struct packed<legacy_format<Bits, Affine>> : impl::tile_rule<typename legacy_format<Bits, Affine>::block> {};
template <>
struct packed<q8_0> : impl::tile_rule<block_q8_0> {};

/// q4_K: qs in groups as above (group g: bytes 4g .. 4g + 3 of each row's qs; values
/// 64 (g / 8) + 4 (g % 8) + b in the low nibbles, 32 more in the high ones). The six-bit scales
/// and mins are decoded: sc[s][j] is row j's scale of sub-block s, and mn[t][j] holds row j's mins
/// of sub-blocks 2t and 2t + 1, ready to be widened into int16 pairs. The tile is 32 bytes larger
/// than eight blocks (1184 against 1152), and the scale encoding is a bijection of the 12 bytes,
/// so unpacking gives every block back byte for byte.
struct tile_q4_K {
    lowbit::f16 d[8], dmin[8];
    std::uint8_t sc[8][8];
    std::uint8_t mn[4][8][2];
    std::uint8_t qs[1024];
};
static_assert(sizeof(tile_q4_K) == 1184);

/// q5_K: q4_K's tile with the fifth bits as masks, qh[s][g] bit 4 j + b being that of row j's
/// value 32 s + 4 g + b (a bit per byte of the group of codes that holds it). 32 bytes more than
/// eight blocks.
struct tile_q5_K {
    lowbit::f16 d[8], dmin[8];
    std::uint8_t sc[8][8];
    std::uint8_t mn[4][8][2];
    std::uint32_t qh[8][8];
    std::uint8_t qs[1024];
};
static_assert(sizeof(tile_q5_K) == 8 * sizeof(block_q5_K) + 32);

namespace impl {
/// One bit per value of a 256-value block (bit s of byte l: value 32 s + l, as q3_K's hmask and
/// q5_K's qh) into and out of masks by slice and group of four values.
inline void group_bits(const std::uint8_t* bits, int j, std::uint32_t (&masks)[8][8]) noexcept {
    for (int s = 0; s < 8; ++s)
        for (int l = 0; l < 32; ++l) masks[s][l / 4] |= ((bits[l] >> s) & 1u) << (4 * j + l % 4);
}
inline void ungroup_bits(const std::uint32_t (&masks)[8][8], int j, std::uint8_t* bits) noexcept {
    std::memset(bits, 0, 32);
    for (int s = 0; s < 8; ++s)
        for (int l = 0; l < 32; ++l) bits[l] = static_cast<std::uint8_t>(bits[l] | (((masks[s][l / 4] >> (4 * j + l % 4)) & 1u) << s));
}

/// q4_K and q5_K tiles.
template <class Block, class Tile>
struct six_bit_tile_rule {
    using tile = Tile;
    using codec = kquant::six_bit_scale_min;
    static constexpr bool has_qh = requires(Block b) { b.qh; };

    static void pack(const Block* const (&rows)[8], tile& t) noexcept {
        std::memset(&t, 0, sizeof(t));
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            const Block& b = *rows[j];
            t.d[j] = b.d;
            t.dmin[j] = b.dmin;
            int sc[8], mn[8];
            codec::decode(b.scales, sc, mn);
            for (int s = 0; s < 8; ++s) {
                t.sc[s][j] = static_cast<std::uint8_t>(sc[s]);
                t.mn[s / 2][j][s % 2] = static_cast<std::uint8_t>(mn[s]);
            }
            group_codes(b.qs, sizeof(b.qs), j, t.qs);
            if constexpr (has_qh) group_bits(b.qh, j, t.qh);
        }
    }
    static void unpack(const tile& t, Block* const (&rows)[8]) noexcept {
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            Block& b = *rows[j];
            b.d = t.d[j];
            b.dmin = t.dmin[j];
            int sc[8], mn[8];
            for (int s = 0; s < 8; ++s) {
                sc[s] = t.sc[s][j];
                mn[s] = t.mn[s / 2][j][s % 2];
            }
            codec::encode(sc, mn, b.scales);
            ungroup_codes(t.qs, sizeof(b.qs), j, b.qs);
            if constexpr (has_qh) ungroup_bits(t.qh, j, b.qh);
        }
    }
};
} // namespace impl

template <>
struct packed<q4_K> : impl::six_bit_tile_rule<block_q4_K, tile_q4_K> {};
template <>
struct packed<q5_K> : impl::six_bit_tile_rule<block_q5_K, tile_q5_K> {};

// ---------------------------------------------------------------------------------------------
// The K-quants with sixteen sub-blocks of 16 values (q2_K, q3_K, q6_K). Their codes are grouped
// as above, a field of B bytes per row giving B / 4 groups; within a 128-value half h of the
// super-block, byte position l (0 .. 31) holds, or helps hold, the codes of the values
// 128 h + 32 s + l of its four slices s = 0 .. 3, so group 8 h + g meets the partner's bytes
// 128 h + 32 s + 4 g .. + 3. Scales are kept as pairs: scales[t][j][e] is row j's of sub-block
// 2 t + e, so one load widened to int16 holds, in lane j, the two sub-blocks' scales that one
// vpmaddwd meets with the partner's two sums of 16 (block_q8_K::bsums read as int32).

/// q2_K: the blocks' scale bytes as pairs (scale code in the low nibble, min code in the high
/// one) and their qs grouped (the four slices in the bit pairs of each byte, as in the block).
/// Exactly eight blocks' bytes.
struct tile_q2_K {
    lowbit::f16 d[8], dmin[8];
    std::uint8_t scales[8][8][2];
    std::uint8_t qs[512];
};
static_assert(sizeof(tile_q2_K) == 8 * sizeof(block_q2_K));

/// q3_K: scales decoded to their values (code - 32) as pairs; qs grouped as q2_K's; the high
/// bits as masks, hmask[s][g] bit 4 j + b being that of row j's value 32 s + 4 g + b (a bit per
/// byte of group g of slice s's codes). 32 bytes more than eight blocks.
struct tile_q3_K {
    lowbit::f16 d[8];
    std::int8_t scales[8][8][2];
    std::uint32_t hmask[8][8];
    std::uint8_t qs[512];
};
static_assert(sizeof(tile_q3_K) == 8 * sizeof(block_q3_K) + 32);

/// q6_K: scales as pairs; the 6-bit codes c0 .. c3 of the four slices at a byte position (see
/// above) rearranged into three bytes, each grouped: a = c0 | (c3 & 3) << 6,
/// b = c1 | (c3 >> 2 & 3) << 6, c = c2 | (c3 >> 4) << 6, so three codes are one AND away and
/// the fourth is the three top bit pairs. Exactly eight blocks' bytes.
struct tile_q6_K {
    lowbit::f16 d[8];
    std::int8_t scales[8][8][2];
    std::uint8_t a[512], b[512], c[512];
};
static_assert(sizeof(tile_q6_K) == 8 * sizeof(block_q6_K));

namespace impl {
/// Row j's sixteen scale bytes into, and out of, the pair layout.
template <class T>
inline void pair_scales(const T* in, int j, T (&out)[8][8][2]) noexcept {
    for (int s = 0; s < 16; ++s) out[s / 2][j][s % 2] = in[s];
}
template <class T>
inline void unpair_scales(const T (&in)[8][8][2], int j, T* out) noexcept {
    for (int s = 0; s < 16; ++s) out[s] = in[s / 2][j][s % 2];
}

/// The tiles of the K-quants of sixteen sub-blocks: pack and unpack go row by row through
/// Tile's rule, which moves one row's fields (Rule::pack_row / unpack_row).
template <class Block, class Tile, class Rule>
struct k16_tile_rule {
    using tile = Tile;
    static void pack(const Block* const (&rows)[8], tile& t) noexcept {
        std::memset(&t, 0, sizeof(t));
        for (int j = 0; j < 8; ++j)
            if (rows[j]) Rule::pack_row(*rows[j], j, t);
    }
    static void unpack(const tile& t, Block* const (&rows)[8]) noexcept {
        for (int j = 0; j < 8; ++j)
            if (rows[j]) Rule::unpack_row(t, j, *rows[j]);
    }
};

struct q2_K_rows {
    static void pack_row(const block_q2_K& b, int j, tile_q2_K& t) noexcept {
        t.d[j] = b.d;
        t.dmin[j] = b.dmin;
        pair_scales(b.scales, j, t.scales);
        group_codes(b.qs, sizeof(b.qs), j, t.qs);
    }
    static void unpack_row(const tile_q2_K& t, int j, block_q2_K& b) noexcept {
        b.d = t.d[j];
        b.dmin = t.dmin[j];
        unpair_scales(t.scales, j, b.scales);
        ungroup_codes(t.qs, sizeof(b.qs), j, b.qs);
    }
};

struct q3_K_rows {
    using codec = kquant::six_bit_scales;
    static void pack_row(const block_q3_K& b, int j, tile_q3_K& t) noexcept {
        t.d[j] = b.d;
        int sc[16];
        codec::decode(b.scales, sc, nullptr);
        std::int8_t value[16];
        for (int s = 0; s < 16; ++s) value[s] = static_cast<std::int8_t>(sc[s] - codec::offset);
        pair_scales(value, j, t.scales);
        group_codes(b.qs, sizeof(b.qs), j, t.qs);
        group_bits(b.hmask, j, t.hmask);
    }
    static void unpack_row(const tile_q3_K& t, int j, block_q3_K& b) noexcept {
        b.d = t.d[j];
        std::int8_t value[16];
        unpair_scales(t.scales, j, value);
        int sc[16];
        for (int s = 0; s < 16; ++s) sc[s] = value[s] + codec::offset;
        codec::encode(sc, nullptr, b.scales);
        ungroup_codes(t.qs, sizeof(b.qs), j, b.qs);
        ungroup_bits(t.hmask, j, b.hmask);
    }
};

struct q6_K_rows {
    using low = kquant::code_field<4, 128>;
    using high = kquant::code_field<2, 128>;
    static void pack_row(const block_q6_K& b, int j, tile_q6_K& t) noexcept {
        t.d[j] = b.d;
        pair_scales(b.scales, j, t.scales);
        std::uint8_t code[256] = {};
        low::load(b.ql, 0, code);
        high::load(b.qh, 4, code);
        std::uint8_t a[64], bb[64], c[64];
        for (int h = 0; h < 2; ++h) {
            for (int l = 0; l < 32; ++l) {
                const std::uint8_t* v = code + 128 * h + l; // v[32 s]: slice s
                const int c3 = v[96];
                a[32 * h + l] = static_cast<std::uint8_t>(v[0] | (c3 & 3) << 6);
                bb[32 * h + l] = static_cast<std::uint8_t>(v[32] | (c3 >> 2 & 3) << 6);
                c[32 * h + l] = static_cast<std::uint8_t>(v[64] | (c3 >> 4) << 6);
            }
        }
        group_codes(a, 64, j, t.a);
        group_codes(bb, 64, j, t.b);
        group_codes(c, 64, j, t.c);
    }
    static void unpack_row(const tile_q6_K& t, int j, block_q6_K& b) noexcept {
        b.d = t.d[j];
        unpair_scales(t.scales, j, b.scales);
        std::uint8_t a[64], bb[64], c[64];
        ungroup_codes(t.a, 64, j, a);
        ungroup_codes(t.b, 64, j, bb);
        ungroup_codes(t.c, 64, j, c);
        std::uint8_t code[256];
        for (int h = 0; h < 2; ++h) {
            for (int l = 0; l < 32; ++l) {
                std::uint8_t* v = code + 128 * h + l;
                const int i = 32 * h + l;
                v[0] = a[i] & 63;
                v[32] = bb[i] & 63;
                v[64] = c[i] & 63;
                v[96] = static_cast<std::uint8_t>((a[i] >> 6) | (bb[i] >> 6) << 2 | (c[i] >> 6) << 4);
            }
        }
        low::store(code, 0, b.ql);
        high::store(code, 4, b.qh);
    }
};
} // namespace impl

template <>
struct packed<q2_K> : impl::k16_tile_rule<block_q2_K, tile_q2_K, impl::q2_K_rows> {};
template <>
struct packed<q3_K> : impl::k16_tile_rule<block_q3_K, tile_q3_K, impl::q3_K_rows> {};
template <>
struct packed<q6_K> : impl::k16_tile_rule<block_q6_K, tile_q6_K, impl::q6_K_rows> {};

} // namespace lowbit::formats
