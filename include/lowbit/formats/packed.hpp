// lowbit — packed rows: a matrix of a block format regrouped for matrix-vector products.
//
// A GGUF row keeps each block's codes together, so a vector register filled from one block holds
// one row, and the products of a row must be summed across the register (and scaled) block by
// block. Packed, the blocks k of eight consecutive rows form one tile, in which every 32-byte
// group holds four code bytes of each of the eight rows, row j in bytes 4j .. 4j + 3: one
// multiply-add instruction then advances eight rows by four values, each row in its own 32-bit
// lane, and a tile's eight block sums are scaled by one vector of the eight rows' scales.
//
// The regrouping is lossless. A legacy tile is eight blocks' bytes, rearranged; a q4_K tile keeps
// its scales decoded, 32 bytes more (the last tile row of a matrix whose row count is not a
// multiple of eight is padded with zero blocks). Tiles are stored row group by row group, each
// group's tiles in block order.
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

template <>
struct packed<q4_K> {
    using tile = tile_q4_K;
    using codec = kquant::six_bit_scale_min;

    static void pack(const block_q4_K* const (&rows)[8], tile& t) noexcept {
        std::memset(&t, 0, sizeof(t));
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            const block_q4_K& b = *rows[j];
            t.d[j] = b.d;
            t.dmin[j] = b.dmin;
            int sc[8], mn[8];
            codec::decode(b.scales, sc, mn);
            for (int s = 0; s < 8; ++s) {
                t.sc[s][j] = static_cast<std::uint8_t>(sc[s]);
                t.mn[s / 2][j][s % 2] = static_cast<std::uint8_t>(mn[s]);
            }
            impl::group_codes(b.qs, sizeof(b.qs), j, t.qs);
        }
    }
    static void unpack(const tile& t, block_q4_K* const (&rows)[8]) noexcept {
        for (int j = 0; j < 8; ++j) {
            if (!rows[j]) continue;
            block_q4_K& b = *rows[j];
            b.d = t.d[j];
            b.dmin = t.dmin[j];
            int sc[8], mn[8];
            for (int s = 0; s < 8; ++s) {
                sc[s] = t.sc[s][j];
                mn[s] = t.mn[s / 2][j][s % 2];
            }
            codec::encode(sc, mn, b.scales);
            impl::ungroup_codes(t.qs, sizeof(b.qs), j, b.qs);
        }
    }
};

} // namespace lowbit::formats
