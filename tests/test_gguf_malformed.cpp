// Malformed GGUF files: each kind of damage is rejected with a lowbit::error that names the problem
// and the byte offset; broad mutation sweeps (truncations, every header field overwritten with
// hostile values, bit flips) never produce anything but a clean rejection or a valid parse. Run
// under -fsanitize=address,undefined this is also the "no sanitizer report" check.
#include <doctest/doctest.h>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/reader.hpp>

#include "gguf/support.hpp"

using namespace lowbit_test;
namespace gguf = lowbit::gguf;

namespace {

constexpr std::uint32_t t_u8 = 0, t_u32 = 4, t_string = 8, t_array = 9, t_u64 = 10;
constexpr std::uint32_t f32 = 0, q8_0 = 8;

/// The message of the malformed_file error that parsing `bytes` must raise.
std::string rejection(const std::vector<unsigned char>& bytes) {
    try {
        (void)gguf::reader::parse_memory(bytes.data(), bytes.size(), "bad.gguf");
    } catch (const lowbit::error& e) {
        CHECK(e.code() == lowbit::errc::malformed_file);
        const std::string m = e.what();
        CHECK(m.find("bad.gguf: ") != std::string::npos);
        CHECK(m.find("(at byte ") != std::string::npos);
        return m;
    }
    FAIL("a malformed file was accepted");
    return {};
}

#define CHECK_REJECTED(file, fragment)                                                        \
    do {                                                                                      \
        const std::string msg_ = rejection((file).bytes);                                     \
        CHECK_MESSAGE(msg_.find(fragment) != std::string::npos, "message: " << msg_);         \
    } while (0)

/// A small valid file: three metadata entries (a string, strings, nested arrays) and two tensors.
raw_file valid(std::uint32_t kv_count = 3) {
    raw_file f;
    f.header(2, kv_count);
    f.str("general.architecture").u32(t_string).str("m");
    f.str("a").u32(t_array).u32(t_string).u64(2).str("x").str("yz");
    f.str("n").u32(t_array).u32(t_array).u64(1).u32(t_u8).u64(2).u8(1).u8(2);
    f.tensor("w", {32, 2}, q8_0, 0);
    f.tensor("b", {4}, f32, 96);
    f.pad(32).zeros(96 + 16);
    return f;
}

/// Parses or rejects cleanly; on success decodes whatever this build implements (in files of a
/// few tensors: decoding all 57 of all-types.gguf per mutant would make sanitizer runs slow).
void parse_or_reject(const std::vector<unsigned char>& bytes) {
    try {
        const auto r = gguf::reader::parse_memory(bytes.data(), bytes.size(), "mutant");
        if (r.tensors().size() > 8) return;
        for (const auto& t : r.tensors()) {
            if (!lowbit::supports(t.type) || t.n_elements() > (1 << 22)) continue;
            (void)gguf::decode(t);
        }
        for (const auto& kv : r.metadata()) {
            if (!kv.value.is_array()) continue;
            for (std::uint64_t i = 0; i < kv.value.size() && i < 64; ++i) (void)kv.value[i].type();
        }
    } catch (const lowbit::error& e) {
        if (e.code() != lowbit::errc::malformed_file) CHECK(e.code() == lowbit::errc::non_finite_input);
    }
}

} // namespace

TEST_CASE("the base file is valid") {
    const auto f = valid();
    const auto r = gguf::reader::parse_memory(f.bytes.data(), f.bytes.size());
    CHECK(r.tensors().size() == 2);
    CHECK(r.at("a")[1].as_string() == "yz");
    CHECK(r.at("n")[0].element<std::uint8_t>(1) == 2);
    CHECK(r.tensor("b").file_offset == r.data_offset() + 96);
}

TEST_CASE("header damage") {
    CHECK_REJECTED(raw_file{}, "truncated");
    raw_file magic;
    magic.bytes = {'G', 'G', 'U', 'X', 3, 0, 0, 0};
    CHECK_REJECTED(magic, "not a GGUF file");
    raw_file v1;
    v1.header(0, 0, 1);
    CHECK_REJECTED(v1, "version 1 is not supported");
    raw_file v4;
    v4.header(0, 0, 4);
    CHECK_REJECTED(v4, "version 4 is not supported");
    raw_file be;
    be.header(0, 0, 0x03000000u);
    CHECK_REJECTED(be, "big-endian");
    raw_file many_tensors;
    many_tensors.header(std::uint64_t{1} << 62, 0).zeros(64);
    CHECK_REJECTED(many_tensors, "tensor count");
    raw_file many_kv;
    many_kv.header(0, ~std::uint64_t{0}).zeros(64);
    CHECK_REJECTED(many_kv, "metadata count");
    raw_file short_header;
    short_header.header(0, 0).bytes.resize(20);
    CHECK_REJECTED(short_header, "truncated");
}

TEST_CASE("metadata damage") {
    raw_file key_len;
    key_len.header(0, 1).u64(1000).zeros(20);
    CHECK_REJECTED(key_len, "has length 1000");
    raw_file empty_key;
    empty_key.header(0, 1).str("").u32(t_u8).u8(1);
    CHECK_REJECTED(empty_key, "is empty");
    raw_file bad_type;
    bad_type.header(0, 1).str("k").u32(13).u64(0);
    CHECK_REJECTED(bad_type, "13, not a GGUF value type");
    raw_file bad_elem;
    bad_elem.header(0, 1).str("k").u32(t_array).u32(99).u64(0);
    CHECK_REJECTED(bad_elem, "99, not a GGUF value type");
    raw_file huge_array;
    huge_array.header(0, 1).str("k").u32(t_array).u32(t_u64).u64(std::uint64_t{1} << 61).zeros(64);
    CHECK_REJECTED(huge_array, "cannot fit");
    raw_file huge_strings;
    huge_strings.header(0, 1).str("k").u32(t_array).u32(t_string).u64(1000000).zeros(64);
    CHECK_REJECTED(huge_strings, "cannot fit");
    raw_file long_string;
    long_string.header(0, 1).str("k").u32(t_string).u64(~std::uint64_t{0}).zeros(8);
    CHECK_REJECTED(long_string, "has length");
    raw_file short_value;
    short_value.header(0, 1).str("k").u32(t_u64).u32(0);
    CHECK_REJECTED(short_value, "truncated");
    raw_file dup;
    dup.header(0, 2).str("k").u32(t_u8).u8(1).str("k").u32(t_u8).u8(2);
    CHECK_REJECTED(dup, "duplicate metadata key 'k' (first at byte 24)");
    raw_file deep;
    deep.header(0, 1).str("k").u32(t_array);
    for (int i = 0; i < 20; ++i) deep.u32(t_array).u64(1);
    deep.zeros(64);
    CHECK_REJECTED(deep, "deeper than 16");
    raw_file unprintable;
    unprintable.header(0, 2).str("k\x01").u32(t_u8).u8(1).str("k\x01").u32(t_u8).u8(2);
    CHECK_REJECTED(unprintable, "'k\\x01'");
}

TEST_CASE("alignment damage") {
    for (const std::uint32_t a : {0u, 3u, 48u, 0x80000001u}) {
        raw_file f;
        f.header(0, 1).str("general.alignment").u32(t_u32).u32(a);
        CHECK_REJECTED(f, "is not a power of two");
    }
    raw_file wrong_type;
    wrong_type.header(0, 1).str("general.alignment").u32(t_u64).u64(32);
    CHECK_REJECTED(wrong_type, "must be u32, not u64");
}

TEST_CASE("tensor damage") {
    auto one = [](std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset, std::size_t data = 64) {
        raw_file f;
        f.header(1, 0).tensor("t", std::move(ne), type, offset).pad(32).zeros(data);
        return f;
    };
    CHECK_REJECTED(one({4}, 99, 0), "unknown type 99");
    CHECK_REJECTED(one({4}, 4, 0), "unknown type 4");  // removed from the format
    CHECK_REJECTED(one({1, 1, 1, 1, 1}, f32, 0), "5 dimensions");
    CHECK_REJECTED(one({std::uint64_t{1} << 32, std::uint64_t{1} << 32}, f32, 0), "multiply past 2^63");
    CHECK_REJECTED(one({4, ~std::uint64_t{0}}, f32, 0), "is negative");
    CHECK_REJECTED(one({33}, q8_0, 0), "not a multiple of q8_0's block size 32");
    CHECK_REJECTED(one({4}, f32, 8), "not aligned to 32 bytes");
    CHECK_REJECTED(one({4}, f32, 64), "runs past the end");
    CHECK_REJECTED(one({16}, f32, 32), "runs past the end");
    CHECK_REJECTED(one({4}, f32, ~std::uint64_t{0} - 31), "runs past the end");
    CHECK_REJECTED(one({std::uint64_t{1} << 40, 1024}, f32, 0), "runs past the end");
    // Zero elements are allowed, even when the other dimensions alone would overflow.
    for (const auto& ne : {std::vector<std::uint64_t>{0, std::uint64_t{1} << 62},
                           std::vector<std::uint64_t>{0, std::uint64_t{1} << 62, std::uint64_t{1} << 62, 3},
                           std::vector<std::uint64_t>{std::uint64_t{1} << 62, std::uint64_t{1} << 62, 0}}) {
        const auto f = one(ne, f32, 0);
        const auto r = gguf::reader::parse_memory(f.bytes.data(), f.bytes.size());
        CHECK(r.tensors()[0].n_elements() == 0);
        CHECK(r.tensors()[0].n_rows() == 0);
        CHECK(gguf::decode(r.tensors()[0]).empty());
    }
    raw_file dup;
    dup.header(2, 0).tensor("t", {4}, f32, 0).tensor("t", {4}, f32, 32).pad(32).zeros(64);
    CHECK_REJECTED(dup, "duplicate tensor name 't' (first at byte 24)");
    raw_file overlap;
    overlap.header(2, 0).tensor("a", {16}, f32, 0).tensor("b", {4}, f32, 32).pad(32).zeros(128);
    CHECK_REJECTED(overlap, "'a' and 'b' overlap");
    raw_file no_data;
    no_data.header(1, 0).tensor("t", {0}, f32, 0);  // info ends at byte 61; data would start at 64
    CHECK_REJECTED(no_data, "data section would begin at byte 64");
    raw_file name_len;
    name_len.header(1, 0).u64(1u << 20).zeros(30);
    CHECK_REJECTED(name_len, "has length");
}

TEST_CASE("every truncation of a valid file is rejected until all tensor data is present") {
    for (const char* name : {"valid", "aligned-64.gguf"}) {
        CAPTURE(name);
        const auto full = std::string(name) == "valid" ? valid().bytes : read_bytes(gguf_dir() / name);
        const auto r = gguf::reader::parse_memory(full.data(), full.size());
        std::uint64_t data_end = 0;
        for (const auto& t : r.tensors()) data_end = std::max(data_end, t.file_offset + t.n_bytes);
        for (std::size_t n = 0; n < full.size(); ++n) {
            const std::vector<unsigned char> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
            if (n < data_end) {
                (void)rejection(cut);
            } else {
                CHECK_NOTHROW((void)gguf::reader::parse_memory(cut.data(), cut.size()));
            }
        }
    }
}

TEST_CASE("hostile values written over every header position never get past the checks") {
    const std::uint64_t patterns[] = {0, 1, 5, 13, 0xff, 0xffffffffu, 0x100000000ull, 0x7fffffffffffffffull,
                                      0x8000000000000000ull, 0xfffffffffffffff0ull, 0xffffffffffffffffull};
    for (const char* name : {"valid", "aligned-64.gguf", "all-types.gguf"}) {
        CAPTURE(name);
        const auto base = std::string(name) == "valid" ? valid().bytes : read_bytes(gguf_dir() / name);
        const auto r = gguf::reader::parse_memory(base.data(), base.size());
        const auto header_end = static_cast<std::size_t>(r.data_offset());
        std::size_t parsed = 0;
        auto m = base;
        auto restore = [&](std::size_t at) { std::memcpy(m.data() + at, base.data() + at, std::min<std::size_t>(8, m.size() - at)); };
        for (std::size_t at = 0; at < header_end; ++at) {
            for (const auto p : patterns) {
                for (const std::size_t width : {4u, 8u}) {
                    for (std::size_t i = 0; i < width && at + i < m.size(); ++i) m[at + i] = static_cast<unsigned char>(p >> (8 * i));
                    parse_or_reject(m);
                    restore(at);
                    ++parsed;
                }
            }
            for (int bit = 0; bit < 8; ++bit) {
                m[at] = static_cast<unsigned char>(m[at] ^ (1u << bit));
                parse_or_reject(m);
                restore(at);
                ++parsed;
            }
        }
        CHECK(parsed == header_end * 30);
    }
}
