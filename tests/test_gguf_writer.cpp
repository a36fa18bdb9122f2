// GGUF writer: what it writes reads back identically, its layout is the reference writer's
// (a file copied through it is byte-identical), and a failed write leaves no file behind.
#include <doctest/doctest.h>

#include <random>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/reader.hpp>
#include <lowbit/gguf/writer.hpp>

#include "gguf/support.hpp"

using namespace lowbit_test;
namespace gguf = lowbit::gguf;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::random_device rd;
        path = fs::temp_directory_path() / ("lowbit-gguf-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> d(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = d(rng);
    return v;
}

std::span<const std::byte> as_bytes(const std::vector<unsigned char>& v) {
    return {reinterpret_cast<const std::byte*>(v.data()), v.size()};
}

} // namespace

TEST_CASE("a copy of the reference's file through the writer is byte-identical") {
    for (const char* name : {"all-types.gguf", "aligned-64.gguf"}) {
        CAPTURE(name);
        const auto original = read_bytes(gguf_dir() / name);
        const auto r = gguf::reader::parse_memory(original.data(), original.size(), name);
        gguf::writer w;
        w.copy_metadata(r);
        for (const auto& t : r.tensors()) w.add_tensor(t.name, t.type, t.shape(), t.bytes);
        const auto copy = w.to_bytes();
        REQUIRE(copy.size() == original.size());
        CHECK(std::memcmp(copy.data(), original.data(), copy.size()) == 0);
    }
}

TEST_CASE("metadata of every type, nested arrays and tensors of every implemented type round-trip") {
    for (const std::uint32_t alignment : {1u, 8u, 32u, 64u, 4096u}) {
        CAPTURE(alignment);
        gguf::writer w;
        w.set("general.architecture", "roundtrip");
        if (alignment != 32) w.set_alignment(alignment);
        w.set("v.u8", std::uint8_t{250});
        w.set("v.i8", std::int8_t{-7});
        w.set("v.u16", std::uint16_t{65535});
        w.set("v.i16", std::int16_t{-32768});
        w.set("v.u32", std::uint32_t{123456789});
        w.set("v.i32", std::int32_t{-123456789});
        w.set("v.f32", -0.0f);
        w.set("v.bool", false);
        w.set("v.u64", std::uint64_t{1} << 63);
        w.set("v.i64", std::int64_t{-1});
        w.set("v.f64", 6.02214076e23);
        w.set("v.str", "h\xc3\xa9llo\n");
        w.set("v.arr_u16", gguf::value::array_of<std::uint16_t>({1, 2, 65535}));
        w.set("v.arr_f64", gguf::value::array_of<double>({0.1, -2.5}));
        const std::vector<std::string> words{"a", "", "longer string"};
        w.set("v.arr_str", gguf::value::strings(words));
        w.set("v.nested", gguf::value::array(gguf::value_type::array,
                                              {gguf::value::array_of<std::int32_t>({1, 2}),
                                               gguf::value::array_of<std::int32_t>({}),
                                               gguf::value::array(gguf::value_type::array, {gguf::value::strings(words)})}));
        w.set("v.u8", std::uint8_t{251});  // replaced in place, order kept

        std::vector<std::pair<std::string, std::vector<unsigned char>>> data;
        std::vector<float> src = random_floats(256 * 3, 7);
        const std::vector<std::int64_t> shape{256, 3};
        for (const auto& layout : lowbit::all_type_layouts) {
            if (!lowbit::supports(layout.id) || !lowbit::ops(layout.id).quantize_row) continue;
            if (layout.id == lowbit::type_id::q8_1 || layout.id == lowbit::type_id::q8_K) continue;  // activation formats
            std::vector<unsigned char> q(lowbit::row_bytes(layout.id, 256) * 3);
            lowbit::quantize(layout.id, src.data(), q.data(), 3, 256);
            data.emplace_back("t." + std::string(layout.name), std::move(q));
        }
        for (const auto& [name, q] : data) w.add_tensor(name, *lowbit::type_from_name(name.substr(2)), shape, as_bytes(q));
        const std::vector<std::int64_t> odd{5};
        std::vector<float> five{1, 2, 3, 4, 5};
        w.add_f32("norm.weight", odd, five);
        const std::vector<std::int64_t> four{2, 1, 3, 1};
        w.add_tensor("filled.4d", lowbit::type_id::i8, four, [](std::span<std::byte> out) {
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i + 1);
        });

        const auto bytes = w.to_bytes();
        const auto r = gguf::reader::parse_memory(bytes.data(), bytes.size(), "roundtrip");
        CHECK(r.alignment() == alignment);
        CHECK(r.metadata()[1].key == (alignment != 32 ? "general.alignment" : "v.u8"));
        CHECK(r.at("v.u8").get<std::uint8_t>() == 251);
        CHECK(r.at("v.i8").get<std::int8_t>() == -7);
        CHECK(r.at("v.u16").get<std::uint16_t>() == 65535);
        CHECK(r.at("v.i16").get<std::int16_t>() == -32768);
        CHECK(r.at("v.u32").get<std::uint32_t>() == 123456789u);
        CHECK(r.at("v.i32").get<std::int32_t>() == -123456789);
        CHECK(std::signbit(r.at("v.f32").get<float>()));
        CHECK(r.at("v.bool").get<bool>() == false);
        CHECK(r.at("v.u64").get<std::uint64_t>() == std::uint64_t{1} << 63);
        CHECK(r.at("v.i64").get<std::int64_t>() == -1);
        CHECK(r.at("v.f64").get<double>() == 6.02214076e23);
        CHECK(r.at("v.str").as_string() == "h\xc3\xa9llo\n");
        CHECK(r.at("v.arr_u16").element<std::uint16_t>(2) == 65535);
        CHECK(r.at("v.arr_f64").element<double>(1) == -2.5);
        const auto s = r.at("v.arr_str");
        REQUIRE(s.size() == 3);
        for (std::uint64_t i = 0; i < 3; ++i) CHECK(s[i].as_string() == words[i]);
        const auto n = r.at("v.nested");
        REQUIRE(n.size() == 3);
        CHECK(n[0].element_type() == gguf::value_type::i32);
        CHECK(n[0].element<std::int32_t>(1) == 2);
        CHECK(n[1].size() == 0);
        CHECK(n[2][0][2].as_string() == "longer string");

        for (const auto& entry : data) {
            const std::string& name = entry.first;  // not a structured binding: clang 14 cannot capture those
            const auto& q = entry.second;
            CAPTURE(name);
            const auto& t = r.tensor(name);
            CHECK(t.file_offset % alignment == 0);
            REQUIRE(t.bytes.size() == q.size());
            CHECK(std::memcmp(t.bytes.data(), q.data(), q.size()) == 0);
            std::vector<float> ours(256 * 3);
            lowbit::dequantize(t.type, q.data(), ours.data(), 256 * 3);
            CHECK(first_difference(gguf::decode(t), ours) == -1);
        }
        CHECK(gguf::decode(r.tensor("norm.weight")) == five);
        const auto& f4 = r.tensor("filled.4d");
        CHECK(f4.n_dims == 4);
        CHECK(static_cast<int>(f4.bytes[5]) == 6);
        // The reference pads every tensor, the last included, to the alignment.
        CHECK(bytes.size() % alignment == 0);
    }
}

TEST_CASE("the writer refuses what readers would refuse") {
    gguf::writer w;
    const std::vector<std::int64_t> shape{32, 2};
    std::vector<unsigned char> q(lowbit::row_bytes(lowbit::type_id::q8_0, 32) * 2);
    w.add_tensor("a", lowbit::type_id::q8_0, shape, as_bytes(q));
    CHECK_THROWS_AS(w.add_tensor("a", lowbit::type_id::q8_0, shape, as_bytes(q)), lowbit::error);       // duplicate
    CHECK_THROWS_AS(w.add_tensor(std::string(64, 'n'), lowbit::type_id::q8_0, shape, as_bytes(q)), lowbit::error);  // name
    CHECK_THROWS_AS(w.add_tensor("b", lowbit::type_id::q4_0, shape, as_bytes(q)), lowbit::error);       // size
    const std::vector<std::int64_t> odd{33, 2};
    CHECK_THROWS_AS(w.add_tensor("c", lowbit::type_id::q8_0, odd, as_bytes(q)), lowbit::error);          // row length
    const std::vector<std::int64_t> five{32, 1, 1, 1, 1};
    CHECK_THROWS_AS(w.add_tensor("d", lowbit::type_id::q8_0, five, as_bytes(q)), lowbit::error);         // dims
    const std::vector<std::int64_t> huge{std::int64_t{1} << 40, std::int64_t{1} << 40};
    CHECK_THROWS_AS(w.add_tensor("e", lowbit::type_id::f32, huge, as_bytes(q)), lowbit::error);          // overflow
    CHECK_THROWS_AS(w.add_tensor("f", static_cast<lowbit::type_id>(4), shape, as_bytes(q)), lowbit::error);  // removed type
    CHECK_THROWS_AS(w.set_alignment(48), lowbit::error);
    CHECK_THROWS_AS(w.set_alignment(0), lowbit::error);
    CHECK_THROWS_AS(w.set("general.alignment", "32"), lowbit::error);
    CHECK_THROWS_AS(w.set("", 1.0f), lowbit::error);
    CHECK_THROWS_AS(gguf::value::array(gguf::value_type::u8, {gguf::value::of(1.0f)}), lowbit::error);
    CHECK(w.alignment() == 32);
}

TEST_CASE("write() replaces the target atomically; a failure leaves the old file and no temporary") {
    temp_dir dir;
    const auto target = dir.path / "model.gguf";
    gguf::writer good;
    good.set("general.architecture", "x");
    const std::vector<std::int64_t> shape{4};
    std::vector<float> v{1, 2, 3, 4};
    good.add_f32("t", shape, v);
    good.write(target);
    const auto first = read_bytes(target);
    const auto r = gguf::reader::open(target);
    CHECK(r.architecture() == "x");
    CHECK(gguf::decode(r.tensor("t")) == v);

    gguf::writer bad;
    bad.set("general.architecture", "y");
    bad.add_tensor("t", lowbit::type_id::f32, shape, [](std::span<std::byte>) { throw std::runtime_error("disk full (simulated)"); });
    CHECK_THROWS_WITH_AS(bad.write(target), "disk full (simulated)", std::runtime_error);
    CHECK(read_bytes(target) == first);
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir.path)) {
        CHECK(e.path().filename() == "model.gguf");
        ++files;
    }
    CHECK(files == 1);

    CHECK_THROWS_AS(good.write(dir.path / "no-such-dir" / "x.gguf"), lowbit::error);
    CHECK_THROWS_AS(gguf::reader::open(dir.path / "missing.gguf"), lowbit::error);
}
