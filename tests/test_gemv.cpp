// Packed rows and gemv (algo/gemv.hpp, formats/packed.hpp): the layout as documented, packing
// that loses nothing, gemv under every backend against the exact dot of each row, the template
// API against the runtime one, and the checked API's errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lowbit/lowbit.hpp>

#include "support.hpp"

namespace {

using lowbit::type_id;

constexpr type_id packable_types[] = {type_id::q4_0, type_id::q4_1, type_id::q5_0, type_id::q5_1, type_id::q8_0,
                                      type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K};

std::int64_t block_of(type_id t) { return static_cast<std::int64_t>(lowbit::find_layout(t)->block_size); }

struct backend_guard {
    std::string saved{lowbit::active_backend()};
    ~backend_guard() { lowbit::set_backend(saved); }
};

/// Storage on a 4-byte boundary (the tiles of q5_0 / q5_1 hold 32-bit masks).
struct packed_buffer {
    std::vector<std::uint32_t> words;
    explicit packed_buffer(std::size_t bytes, std::uint32_t fill = 0xA5A5A5A5u) : words((bytes + 3) / 4, fill) {}
    void* data() { return words.data(); }
    const void* data() const { return words.data(); }
    std::size_t bytes() const { return words.size() * 4; }
};

std::vector<unsigned char> quantize(type_id t, const std::vector<float>& x, std::int64_t rows, std::int64_t n) {
    std::vector<unsigned char> q(lowbit::row_bytes(t, n) * static_cast<std::size_t>(rows));
    lowbit::quantize(t, x.data(), q.data(), rows, n);
    return q;
}

std::vector<float> normal(std::size_t count, std::uint32_t seed, float scale = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g(0.0f, scale);
    std::vector<float> v(count);
    for (auto& x : v) x = g(rng);
    return v;
}

using lowbit_test::contains;
using lowbit_test::error_of;

} // namespace

TEST_CASE("a tile holds four code bytes of each of eight rows per 32-byte group, and the fifth bits as masks") {
    using namespace lowbit::formats;
    block_q5_1 rows[8];
    for (int j = 0; j < 8; ++j) {
        rows[j].d = lowbit::f16{static_cast<std::uint16_t>(0x3C00 + j)};
        rows[j].m = lowbit::f16{static_cast<std::uint16_t>(0x4000 + j)};
        for (int i = 0; i < 16; ++i) rows[j].qs[i] = static_cast<std::uint8_t>(16 * j + i);
        const std::uint32_t qh = 0x9E3779B9u * static_cast<std::uint32_t>(j + 1);
        std::memcpy(rows[j].qh, &qh, 4);
    }
    const block_q5_1* in[8];
    for (int j = 0; j < 8; ++j) in[j] = &rows[j];
    tile_q5_1 t;
    packed<q5_1>::pack(in, t);
    for (int j = 0; j < 8; ++j) {
        CAPTURE(j);
        CHECK(t.d[j] == rows[j].d);
        CHECK(t.m[j] == rows[j].m);
        std::uint32_t qh;
        std::memcpy(&qh, rows[j].qh, 4);
        for (int g = 0; g < 4; ++g) {
            for (int b = 0; b < 4; ++b) {
                CHECK(t.qs[32 * g + 4 * j + b] == rows[j].qs[4 * g + b]);
                CHECK(((t.qh[g] >> (4 * j + b)) & 1u) == ((qh >> (4 * g + b)) & 1u));
                CHECK(((t.qh[4 + g] >> (4 * j + b)) & 1u) == ((qh >> (16 + 4 * g + b)) & 1u));
            }
        }
    }
    // missing rows are zero blocks
    const block_q5_1* three[8] = {&rows[0], &rows[1], &rows[2], nullptr, nullptr, nullptr, nullptr, nullptr};
    packed<q5_1>::pack(three, t);
    for (int j = 3; j < 8; ++j) {
        CHECK(t.d[j].bits == 0);
        for (int g = 0; g < 4; ++g) CHECK(t.qs[32 * g + 4 * j] == 0);
    }
    CHECK((t.qh[0] >> 12) == 0);
}

TEST_CASE("q6_K, q3_K and q5_K tiles hold the documented bytes") {
    using namespace lowbit::formats;
    std::mt19937 rng(17);
    auto byte = [&] { return static_cast<std::uint8_t>(rng() & 0xFF); };
    block_q6_K six[8];
    block_q3_K three[8];
    for (int j = 0; j < 8; ++j) {
        for (auto& v : six[j].ql) v = byte();
        for (auto& v : six[j].qh) v = byte();
        for (auto& v : six[j].scales) v = static_cast<std::int8_t>(byte());
        six[j].d = lowbit::f16{static_cast<std::uint16_t>(0x3C00 + j)};
        for (auto& v : three[j].hmask) v = byte();
        for (auto& v : three[j].qs) v = byte();
        for (auto& v : three[j].scales) v = byte();
        three[j].d = lowbit::f16{static_cast<std::uint16_t>(0x3800 + j)};
    }
    const block_q6_K* in6[8];
    const block_q3_K* in3[8];
    for (int j = 0; j < 8; ++j) {
        in6[j] = &six[j];
        in3[j] = &three[j];
    }
    tile_q6_K t6;
    tile_q3_K t3;
    packed<q6_K>::pack(in6, t6);
    packed<q3_K>::pack(in3, t3);
    for (int j = 0; j < 8; ++j) {
        CAPTURE(j);
        CHECK(t6.d[j] == six[j].d);
        CHECK(t3.d[j] == three[j].d);
        for (int s = 0; s < 16; ++s) {
            CHECK(t6.scales[s / 2][j][s % 2] == six[j].scales[s]);
            // q3_K: code j % 8's low nibble in byte j % 8 (high nibble from 8 on), top bits in byte 8 + j % 4
            const int code = ((three[j].scales[s % 8] >> (4 * (s / 8))) & 0xF) | (((three[j].scales[8 + s % 4] >> (2 * (s / 4))) & 3) << 4);
            CHECK(t3.scales[s / 2][j][s % 2] == code - 32);
        }
        for (int v = 0; v < 256; ++v) {
            const int h = v / 128, s = v % 128 / 32, l = v % 32;
            // the reference's q6_K: ql[64 h + l + 32 (s % 2)] nibble s / 2, qh[32 h + l] bits 2 s
            const int code6 = ((six[j].ql[64 * h + 32 * (s % 2) + l] >> (4 * (s / 2))) & 0xF) | (((six[j].qh[32 * h + l] >> (2 * s)) & 3) << 4);
            const int at = 32 * (8 * h + l / 4) + 4 * j + l % 4; // group 8 h + l / 4
            const int a = t6.a[at], b = t6.b[at], c = t6.c[at];
            const int got = s == 0 ? a & 63 : s == 1 ? b & 63 : s == 2 ? c & 63 : (a >> 6) | (b >> 6) << 2 | (c >> 6) << 4;
            CHECK(got == code6);
            // q3_K: qs[32 h + l] bits 2 s, hmask[l] bit 4 h + s
            CHECK(t3.qs[at] == three[j].qs[32 * h + l]);
            CHECK(((t3.hmask[4 * h + s][l / 4] >> (4 * j + l % 4)) & 1u) == ((three[j].hmask[l] >> (4 * h + s)) & 1u));
        }
    }
}

TEST_CASE("q5_K tiles: q4_K's with the fifth bits as masks by slice and group") {
    using namespace lowbit::formats;
    std::mt19937 rng(23);
    block_q5_K five[8];
    const block_q5_K* in[8];
    for (int j = 0; j < 8; ++j) {
        for (auto& v : five[j].qs) v = static_cast<std::uint8_t>(rng());
        for (auto& v : five[j].qh) v = static_cast<std::uint8_t>(rng());
        for (auto& v : five[j].scales) v = static_cast<std::uint8_t>(rng());
        five[j].d = lowbit::f16{static_cast<std::uint16_t>(0x3C00 + j)};
        five[j].dmin = lowbit::f16{static_cast<std::uint16_t>(0x3400 + j)};
        in[j] = &five[j];
    }
    tile_q5_K t;
    packed<q5_K>::pack(in, t);
    for (int j = 0; j < 8; ++j) {
        CAPTURE(j);
        int sc[8], mn[8];
        lowbit::formats::kquant::six_bit_scale_min::decode(five[j].scales, sc, mn);
        for (int s = 0; s < 8; ++s) {
            CHECK(t.sc[s][j] == sc[s]);
            CHECK(t.mn[s / 2][j][s % 2] == mn[s]);
        }
        for (int v = 0; v < 256; ++v) {
            const int c = v / 64, l = v % 32, high = v % 64 / 32; // the reference: qs[32 c + l], nibble `high`
            const int at = 32 * (8 * c + l / 4) + 4 * j + l % 4;
            CHECK(((t.qs[at] >> (4 * high)) & 0xF) == ((five[j].qs[32 * c + l] >> (4 * high)) & 0xF));
            CHECK(((t.qh[v / 32][l / 4] >> (4 * j + l % 4)) & 1u) == ((five[j].qh[l] >> (v / 32)) & 1u));
        }
    }
}

TEST_CASE("K-quant gemv: the largest codes against the partner's extremes overflow nothing") {
    using namespace lowbit::formats;
    backend_guard guard;
    const std::int64_t rows = 8, n = 512;
    for (const type_id t : {type_id::q2_K, type_id::q3_K, type_id::q4_K, type_id::q5_K, type_id::q6_K}) {
        for (const int extreme : {-128, 127}) {
            CAPTURE(lowbit::type_name(t));
            CAPTURE(extreme);
            // every code and scale byte all ones (the largest codes; q6_K's scales -1, q2_K's and
            // q4_K's / q5_K's scales and mins 15 / 63), the f16 factors 1 or -1 per row
            const std::size_t rb = lowbit::row_bytes(t, n);
            std::vector<unsigned char> q(rb * rows, 0xFF);
            for (std::int64_t r = 0; r < rows; ++r) {
                for (std::int64_t k = 0; k < n / 256; ++k) {
                    unsigned char* blk = q.data() + static_cast<std::size_t>(r) * rb + static_cast<std::size_t>(k) * lowbit::row_bytes(t, 256);
                    const lowbit::f16 one{static_cast<std::uint16_t>(r % 2 ? 0xBC00 : 0x3C00)};
                    switch (t) {
                    case type_id::q2_K: std::memcpy(blk + offsetof(block_q2_K, d), &one, 2); std::memcpy(blk + offsetof(block_q2_K, dmin), &one, 2); break;
                    case type_id::q3_K: std::memcpy(blk + offsetof(block_q3_K, d), &one, 2); break;
                    case type_id::q4_K: std::memcpy(blk + offsetof(block_q4_K, d), &one, 2); std::memcpy(blk + offsetof(block_q4_K, dmin), &one, 2); break;
                    case type_id::q5_K: std::memcpy(blk + offsetof(block_q5_K, d), &one, 2); std::memcpy(blk + offsetof(block_q5_K, dmin), &one, 2); break;
                    default: std::memcpy(blk + offsetof(block_q6_K, d), &one, 2); break;
                    }
                }
            }
            std::vector<block_q8_K> y(static_cast<std::size_t>(n / 256));
            for (auto& b : y) {
                b.d = 1.0f;
                for (auto& v : b.qs) v = static_cast<std::int8_t>(extreme);
                for (auto& v : b.bsums) v = static_cast<std::int16_t>(16 * extreme);
            }
            std::vector<float> deq(static_cast<std::size_t>(n));
            packed_buffer w(lowbit::packed_bytes(t, rows, n));
            lowbit::pack_rows(t, q.data(), rb, rows, n, w.data(), w.bytes());
            for (const auto& b : lowbit::available_backends()) {
                CAPTURE(b);
                lowbit::set_backend(b);
                std::vector<float> out(rows);
                lowbit::gemv(t, w.data(), w.bytes(), y.data(), out.data(), rows, n);
                for (std::int64_t r = 0; r < rows; ++r) {
                    lowbit::dequantize(t, q.data() + static_cast<std::size_t>(r) * rb, deq.data(), n);
                    double exact = 0;
                    for (const float v : deq) exact += static_cast<double>(v) * extreme;
                    CHECK(out[static_cast<std::size_t>(r)] == doctest::Approx(exact).epsilon(1e-6));
                }
            }
        }
    }
}

TEST_CASE("packing loses nothing and is fully determined by the rows") {
    for (const type_id t : packable_types) {
        for (const std::int64_t n : {std::int64_t{32}, std::int64_t{256}, std::int64_t{64 * 32 + 96}, std::int64_t{2560}}) {
            if (n % block_of(t) != 0) continue;
            for (const std::int64_t rows : {1, 7, 8, 9, 17}) {
                CAPTURE(lowbit::type_name(t));
                CAPTURE(n);
                CAPTURE(rows);
                const auto q = quantize(t, normal(static_cast<std::size_t>(rows * n), 7), rows, n);
                const std::size_t rb = lowbit::row_bytes(t, n);
                const std::size_t bytes = lowbit::packed_bytes(t, rows, n);
                const std::size_t per_block = lowbit::ops(t).tile_bytes / 8; // the block's size; q3_K's, q4_K's and q5_K's 4 more
                const bool decoded_scales = t == type_id::q3_K || t == type_id::q4_K || t == type_id::q5_K;
                CHECK(per_block == lowbit::find_layout(t)->type_size + (decoded_scales ? 4 : 0));
                CHECK(bytes == per_block * static_cast<std::size_t>(n / block_of(t)) * static_cast<std::size_t>((rows + 7) / 8 * 8));
                packed_buffer a(bytes, 0xA5A5A5A5u), b(bytes, 0x5A5A5A5Au);
                lowbit::pack_rows(t, q.data(), rb, rows, n, a.data(), a.bytes());
                lowbit::pack_rows(t, q.data(), rb, rows, n, b.data(), b.bytes());
                CHECK(a.words == b.words); // padding included: no byte left as it was
                const std::size_t stride = rb + 4;
                std::vector<unsigned char> back(stride * static_cast<std::size_t>(rows), 0xEE);
                lowbit::unpack_rows(t, a.data(), a.bytes(), rows, n, back.data(), stride);
                for (std::int64_t r = 0; r < rows; ++r) {
                    const auto* got = back.data() + static_cast<std::size_t>(r) * stride;
                    CHECK(std::memcmp(got, q.data() + static_cast<std::size_t>(r) * rb, rb) == 0);
                    for (std::size_t k = rb; k < stride; ++k) CHECK(got[k] == 0xEE); // the gap untouched
                }
            }
        }
    }
}

TEST_CASE("every backend's gemv agrees with the exact dot of each row") {
    backend_guard guard;
    for (const type_id t : packable_types) {
        const type_id partner = lowbit::dot_partner(t);
        // 64 * 32 + 96: two chunks of partner blocks, the second with a tail of fewer than eight
        // q4_K: 2560 = 10 blocks, more than one chunk of the packed kernels
        for (const std::int64_t n : {std::int64_t{32}, std::int64_t{256}, std::int64_t{64 * 32 + 96}, std::int64_t{2560}, std::int64_t{4096}}) {
            if (n % block_of(t) != 0 || n % block_of(partner) != 0) continue;
            for (const std::int64_t rows : {1, 5, 8, 13, 24}) {
                CAPTURE(lowbit::type_name(t));
                CAPTURE(n);
                CAPTURE(rows);
                lowbit::set_backend("scalar");
                std::vector<float> x = normal(static_cast<std::size_t>(rows * n), static_cast<std::uint32_t>(n + rows));
                for (std::int64_t r = 0; r < rows; ++r) // rows of different scales, one shifted (the mins)
                    for (std::int64_t i = 0; i < n; ++i) x[static_cast<std::size_t>(r * n + i)] = x[static_cast<std::size_t>(r * n + i)] * static_cast<float>(1 + r) + (r % 3 == 1 ? 2.0f : 0.0f);
                const auto q = quantize(t, x, rows, n);
                const auto qa = quantize(partner, normal(static_cast<std::size_t>(n), 99), 1, n);
                std::vector<float> deq_a(static_cast<std::size_t>(n)), deq_x(static_cast<std::size_t>(n));
                lowbit::dequantize(partner, qa.data(), deq_a.data(), n);
                const std::size_t rb = lowbit::row_bytes(t, n);
                packed_buffer w(lowbit::packed_bytes(t, rows, n));
                lowbit::pack_rows(t, q.data(), rb, rows, n, w.data(), w.bytes());
                std::vector<double> exact, mag;
                for (std::int64_t r = 0; r < rows; ++r) {
                    lowbit::dequantize(t, q.data() + static_cast<std::size_t>(r) * rb, deq_x.data(), n);
                    double s = 0, m = 0;
                    for (std::size_t i = 0; i < deq_x.size(); ++i) {
                        s += static_cast<double>(deq_x[i]) * deq_a[i];
                        m += std::fabs(static_cast<double>(deq_x[i]) * deq_a[i]);
                    }
                    exact.push_back(s);
                    mag.push_back(m);
                }
                for (const auto& b : lowbit::available_backends()) {
                    CAPTURE(b);
                    lowbit::set_backend(b);
                    std::vector<float> out(static_cast<std::size_t>(rows) + 1, -7.0f);
                    lowbit::gemv(t, w.data(), w.bytes(), qa.data(), out.data(), rows, n);
                    // the partner's stored f16 sum (q8_1) adds up to a relative 2^-11 of each block's min term
                    const double rel = partner == type_id::q8_1 ? 1e-3 : 2e-5;
                    for (std::int64_t r = 0; r < rows; ++r)
                        CHECK(std::fabs(out[static_cast<std::size_t>(r)] - exact[static_cast<std::size_t>(r)]) <= rel * mag[static_cast<std::size_t>(r)] + 1e-6);
                    CHECK(out.back() == -7.0f); // nothing written past the last row
                }
            }
        }
    }
}

TEST_CASE("a gemv split by row groups (as threads would share it) gives the whole call's floats") {
    backend_guard guard;
    for (const type_id t : {type_id::q4_1, type_id::q6_K}) {
        const std::int64_t rows = 29, n = 512;
        const auto q = quantize(t, normal(static_cast<std::size_t>(rows * n), 31), rows, n);
        const auto qa = quantize(lowbit::dot_partner(t), normal(static_cast<std::size_t>(n), 32), 1, n);
        packed_buffer w(lowbit::packed_bytes(t, rows, n));
        lowbit::pack_rows(t, q.data(), lowbit::row_bytes(t, n), rows, n, w.data(), w.bytes());
        for (const auto& b : lowbit::available_backends()) {
            CAPTURE(lowbit::type_name(t));
            CAPTURE(b);
            lowbit::set_backend(b);
            std::vector<float> whole(rows), split(rows);
            lowbit::gemv(t, w.data(), w.bytes(), qa.data(), whole.data(), rows, n);
            for (const auto& [r0, r1] : {std::pair<std::int64_t, std::int64_t>{0, 8}, {8, 24}, {24, 29}}) {
                const std::size_t offset = lowbit::packed_bytes(t, r0, n);
                lowbit::gemv(t, static_cast<const unsigned char*>(w.data()) + offset, w.bytes() - offset, qa.data(), split.data() + r0, r1 - r0, n);
            }
            CHECK(std::memcmp(whole.data(), split.data(), whole.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("gemv comes from the chosen backend's packed kernel where it has one, even if its dot is another's") {
    backend_guard guard;
    // the backends with packed kernels: AVX2, AVX-512 VNNI, NEON with the dot-product extension
    // (whose K-quant dots are plain NEON's)
    const std::string with_kernel[] = {"avx2", "avx512vnni", "neon-dotprod"};
    for (const auto& b : lowbit::available_backends()) {
        lowbit::set_backend(b);
        for (const type_id t : packable_types) {
            CAPTURE(b);
            CAPTURE(lowbit::type_name(t));
            const char* served = lowbit::ops(t).gemv_backend;
            REQUIRE(served != nullptr);
            const auto has_kernel = [&](std::string_view name) {
                return std::find(std::begin(with_kernel), std::end(with_kernel), name) != std::end(with_kernel);
            };
            if (has_kernel(b)) CHECK(std::string(served) == b);
            else // a later backend's packed kernel (avx512 -> avx2), or the dot's backend unpacking (neon, scalar)
                CHECK((has_kernel(served) || std::string(served) == lowbit::ops(t).dot_backend));
        }
    }
}

TEST_CASE("gemv carries NaN and Inf scales into the rows that hold them, and only those") {
    backend_guard guard;
    const std::int64_t rows = 11, n = 512;
    const auto q_clean = quantize(type_id::q4_0, normal(static_cast<std::size_t>(rows * n), 5), rows, n);
    const auto qa = quantize(type_id::q8_0, normal(static_cast<std::size_t>(n), 6), 1, n);
    auto q = q_clean;
    const std::size_t rb = lowbit::row_bytes(type_id::q4_0, n);
    const lowbit::f16 inf{0x7C00}, nan{0x7E00};
    std::memcpy(q.data() + 2 * rb + 3 * sizeof(lowbit::formats::block_q4_0), &inf, 2); // row 2, block 3
    std::memcpy(q.data() + 9 * rb, &nan, 2);                                           // row 9, block 0
    packed_buffer w(lowbit::packed_bytes(type_id::q4_0, rows, n));
    lowbit::pack_rows(type_id::q4_0, q.data(), rb, rows, n, w.data(), w.bytes());
    for (const auto& b : lowbit::available_backends()) {
        CAPTURE(b);
        lowbit::set_backend(b);
        std::vector<float> out(rows), ref(rows);
        lowbit::gemv(type_id::q4_0, w.data(), w.bytes(), qa.data(), out.data(), rows, n);
        lowbit::dot_rows(type_id::q4_0, q.data(), rb, qa.data(), ref.data(), rows, n);
        for (std::int64_t r = 0; r < rows; ++r) {
            CAPTURE(r);
            const float o = out[static_cast<std::size_t>(r)], e = ref[static_cast<std::size_t>(r)];
            if (r == 2) { // ±inf times a block sum (NaN where the dot_rows kernel splits the sum by sign)
                CHECK(!std::isfinite(o));
                CHECK(!std::isfinite(e));
            } else if (r == 9) {
                CHECK(std::isnan(o));
                CHECK(std::isnan(e));
            } else {
                CHECK(std::isfinite(o));
                CHECK(std::fabs(o - e) <= 1e-4 * (1 + std::fabs(e)));
            }
        }
    }
}

TEST_CASE("the template API packs and multiplies like the runtime API") {
    using F = lowbit::formats::q5_0;
    const std::int64_t rows = 10, n = 1024;
    const auto q = quantize(type_id::q5_0, normal(static_cast<std::size_t>(rows * n), 11), rows, n);
    const auto qa = quantize(type_id::q8_0, normal(static_cast<std::size_t>(n), 12), 1, n);
    std::vector<lowbit::packed_tile<F>> tiles(lowbit::packed_tile_count<F>(rows, n));
    static_assert(sizeof(lowbit::packed_tile<F>) == 8 * sizeof(F::block));
    lowbit::pack_rows<F>(reinterpret_cast<const F::block*>(q.data()), lowbit::row_bytes(type_id::q5_0, n), rows, n, tiles.data());
    packed_buffer w(lowbit::packed_bytes(type_id::q5_0, rows, n));
    lowbit::pack_rows(type_id::q5_0, q.data(), lowbit::row_bytes(type_id::q5_0, n), rows, n, w.data(), w.bytes());
    CHECK(std::memcmp(tiles.data(), w.data(), tiles.size() * sizeof(tiles[0])) == 0);
    std::vector<float> out(rows), ref(rows);
    lowbit::gemv<F>(tiles, std::span(reinterpret_cast<const lowbit::formats::block_q8_0*>(qa.data()), static_cast<std::size_t>(n / 32)), out);
    lowbit::dot_rows(type_id::q5_0, q.data(), lowbit::row_bytes(type_id::q5_0, n), qa.data(), ref.data(), rows, n);
    for (std::int64_t r = 0; r < rows; ++r) CHECK(out[static_cast<std::size_t>(r)] == doctest::Approx(ref[static_cast<std::size_t>(r)]).epsilon(1e-5));
}

TEST_CASE("the checked packed API refuses what it cannot do, naming the problem") {
    const std::int64_t rows = 9, n = 64;
    const auto q = quantize(type_id::q5_1, normal(static_cast<std::size_t>(rows * n), 3), rows, n);
    const auto qa = quantize(type_id::q8_1, normal(static_cast<std::size_t>(n), 4), 1, n);
    const std::size_t rb = lowbit::row_bytes(type_id::q5_1, n);
    const std::size_t need = lowbit::packed_bytes(type_id::q5_1, rows, n);
    packed_buffer w(need + 8);
    std::vector<float> out(rows);
    lowbit::errc code{};

    CHECK(lowbit::has_packed_layout(type_id::q4_0));
    CHECK(lowbit::has_packed_layout(type_id::q8_0));
    CHECK(lowbit::has_packed_layout(type_id::q4_K));
    CHECK(lowbit::has_packed_layout(type_id::q6_K));
    CHECK(!lowbit::has_packed_layout(type_id::q8_K));
    CHECK(!lowbit::has_packed_layout(type_id::f16));
    auto msg = error_of([&] { lowbit::packed_bytes(type_id::f16, 8, 256); }, &code);
    CHECK(code == lowbit::errc::unsupported_type);
    CHECK(contains(msg, "no packed layout"));
    msg = error_of([&] { lowbit::gemv(type_id::q8_1, w.data(), w.bytes(), qa.data(), out.data(), rows, n); }, &code);
    CHECK(code == lowbit::errc::unsupported_type);

    msg = error_of([&] { lowbit::pack_rows(type_id::q5_1, q.data(), rb, rows, n, w.data(), need - 1); }, &code);
    CHECK(code == lowbit::errc::invalid_argument);
    CHECK(contains(msg, std::to_string(need)));
    msg = error_of([&] { lowbit::pack_rows(type_id::q5_1, q.data(), rb, rows, n, static_cast<unsigned char*>(w.data()) + 2, need); });
    CHECK(contains(msg, "boundary"));
    msg = error_of([&] { lowbit::pack_rows(type_id::q5_1, q.data(), rb - 4, rows, n, w.data(), w.bytes()); });
    CHECK(contains(msg, "shorter"));
    msg = error_of([&] { lowbit::pack_rows(type_id::q5_1, nullptr, rb, rows, n, w.data(), w.bytes()); });
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::packed_bytes(type_id::q5_1, rows, 48); });
    CHECK(contains(msg, "block size 32"));
    msg = error_of([&] { lowbit::packed_bytes(type_id::q5_1, -1, 64); });
    CHECK(contains(msg, "negative"));

    lowbit::pack_rows(type_id::q5_1, q.data(), rb, rows, n, w.data(), w.bytes());
    msg = error_of([&] { lowbit::gemv(type_id::q5_1, w.data(), need - 4, qa.data(), out.data(), rows, n); });
    CHECK(contains(msg, "needed"));
    msg = error_of([&] { lowbit::gemv(type_id::q5_1, w.data(), w.bytes(), qa.data(), nullptr, rows, n); });
    CHECK(contains(msg, "null"));
    msg = error_of([&] { lowbit::unpack_rows(type_id::q5_1, w.data(), w.bytes(), rows, n, nullptr, rb); });
    CHECK(contains(msg, "null"));
    // nothing to do is no error
    CHECK_NOTHROW(lowbit::gemv(type_id::q5_1, nullptr, 0, nullptr, nullptr, 0, n));
    CHECK(lowbit::packed_bytes(type_id::q5_1, 0, n) == 0);
}
