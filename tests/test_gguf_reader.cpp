// GGUF reader on files written by the reference writer: every metadata type, every tensor type
// lowbit implements decoded bit-exactly to the reference's own dequantization, both load modes.
#include <doctest/doctest.h>

#include <cmath>
#include <set>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/reader.hpp>

#include "gguf/support.hpp"

using namespace lowbit_test;
namespace gguf = lowbit::gguf;

namespace {

std::vector<float> floats_of(const gguf::tensor_info& t) {
    REQUIRE(t.type == lowbit::type_id::f32);
    std::vector<float> v(t.bytes.size() / 4);
    std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
    return v;
}

} // namespace

TEST_CASE("all-types.gguf: metadata of every value type") {
    for (const auto mode : {gguf::load_mode::automatic, gguf::load_mode::read}) {
        const auto r = gguf::reader::open(gguf_dir() / "all-types.gguf", mode);
        CHECK(r.mapped() == (mode == gguf::load_mode::automatic && LOWBIT_GGUF_HAS_MMAP));
        CHECK(r.version() == 3);
        CHECK(r.alignment() == 32);
        CHECK(r.data_offset() % 32 == 0);
        CHECK(r.architecture() == "test");
        CHECK(r.at("general.name").as_string() == "every type \xe2\x9c\x93 unicode");
        CHECK(r.at("t.u8").get<std::uint8_t>() == 200);
        CHECK(r.at("t.i8").get<std::int8_t>() == -100);
        CHECK(r.at("t.u16").get<std::uint16_t>() == 60000);
        CHECK(r.at("t.i16").get<std::int16_t>() == -30000);
        CHECK(r.at("t.u32").get<std::uint32_t>() == 4000000000u);
        CHECK(r.at("t.i32").get<std::int32_t>() == -2000000000);
        CHECK(r.at("t.f32").get<float>() == 3.25f);
        CHECK(r.at("t.u64").get<std::uint64_t>() == 18000000000000000000ull);
        CHECK(r.at("t.i64").get<std::int64_t>() == -9000000000000000000ll);
        CHECK(r.at("t.f64").get<double>() == -1e300);
        CHECK(r.at("t.bool").get<bool>() == true);
        CHECK(r.at("t.str").as_string().empty());
        CHECK(r.get_uint("t.u16") == 60000u);
        CHECK(r.get_uint("t.i8") == std::nullopt);
        CHECK(r.at("t.i64").as_int() == -9000000000000000000ll);
        CHECK(r.at("t.u64").as_int() == std::nullopt);  // does not fit
        CHECK(r.get_float("t.f32") == 3.25);
        CHECK_THROWS_AS(r.at("t.u8").get<std::int8_t>(), lowbit::error);
        CHECK_THROWS_AS(r.at("no.such.key"), lowbit::error);

        const auto ai = r.at("t.arr_i32");
        REQUIRE(ai.is_array());
        CHECK(ai.element_type() == gguf::value_type::i32);
        REQUIRE(ai.size() == 5);
        const std::int32_t want_i[] = {1, -2, 3, -4, 5};
        for (std::uint64_t i = 0; i < 5; ++i) CHECK(ai.element<std::int32_t>(i) == want_i[i]);
        CHECK_THROWS_AS(ai[5], lowbit::error);
        const auto af = r.at("t.arr_f32");
        REQUIRE(af.size() == 3);
        CHECK(af.element<float>(0) == 0.5f);
        CHECK(af.element<float>(1) == -0.25f);
        CHECK(af.element<float>(2) == 1e-30f);
        const auto ab = r.at("t.arr_bool");
        REQUIRE(ab.size() == 4);
        CHECK((ab.element<bool>(0) && !ab.element<bool>(1) && ab.element<bool>(2) && ab.element<bool>(3)));
        const auto ae = r.at("t.arr_empty");
        CHECK(ae.element_type() == gguf::value_type::u64);
        CHECK(ae.size() == 0);
        const auto tok = r.at("tokenizer.ggml.tokens");
        CHECK(tok.element_type() == gguf::value_type::string);
        REQUIRE(tok.size() == 4);
        CHECK(tok[0].as_string() == "<s>");
        CHECK(tok[1].as_string() == "</s>");
        CHECK(tok[2].as_string().empty());
        CHECK(tok[3].as_string() == "\xc3\xa9t\xc3\xa9");
        CHECK(r.metadata().size() == 19);
        CHECK(r.metadata().front().key == "general.architecture");
    }
}

TEST_CASE("all-types.gguf: tensors decode bit-exactly to the reference's dequantization") {
    const auto r = gguf::reader::open(gguf_dir() / "all-types.gguf");
    const auto& src = r.tensor("src");
    CHECK(src.n_dims == 2);
    CHECK(src.ne[0] == 512);
    CHECK(src.ne[1] == 4);
    CHECK(src.n_rows() == 4);
    CHECK(src.bytes.size() == 512 * 4 * 4);

    std::set<std::string> tested, unsupported;
    for (const auto& t : r.tensors()) {
        if (t.name.substr(0, 2) != "q.") continue;
        const std::string type(t.name.substr(2));
        CAPTURE(type);
        CHECK(lowbit::type_name(t.type) == type);
        CHECK(t.bytes.size() == lowbit::row_bytes(t.type, 512) * 4);
        CHECK(t.file_offset % r.alignment() == 0);
        if (!lowbit::supports(t.type)) {
            unsupported.insert(type);
            CHECK_THROWS_AS(gguf::decode(t), lowbit::error);
            continue;
        }
        tested.insert(type);
        const auto want = floats_of(r.tensor("deq." + type));
        const auto got = gguf::decode(t);
        CHECK_MESSAGE(first_difference(got, want) == -1, "whole-tensor decode differs");
        // By rows: the last two rows alone.
        std::vector<float> tail(2 * 512);
        gguf::decode_rows(t, 2, 2, tail);
        CHECK(std::memcmp(tail.data(), want.data() + 1024, tail.size() * 4) == 0);
        CHECK_THROWS_AS(gguf::decode_rows(t, 3, 2, tail), lowbit::error);
    }
    // The legacy and float types are always there; K-quants and others join as they are implemented.
    for (const char* always : {"f16", "bf16", "q4_0", "q4_1", "q5_0", "q5_1", "q8_0"}) CHECK(tested.count(always) == 1);
    std::string skipped;
    for (const auto& s : unsupported) skipped += s + " ";
    MESSAGE("decoded bit-exactly: " << tested.size() << " types; not implemented in this build: " << skipped);

    const auto& iv = r.tensor("i32.vec");
    CHECK(iv.type == lowbit::type_id::i32);
    REQUIRE(iv.bytes.size() == 28);
    for (int i = 0; i < 7; ++i) {
        std::int32_t v;
        std::memcpy(&v, iv.bytes.data() + 4 * i, 4);
        CHECK(v == i * i - 10);
    }
    const auto& t4 = r.tensor("f32.4d");
    CHECK(t4.n_dims == 4);
    CHECK((t4.ne == std::array<std::int64_t, 4>{3, 2, 2, 2}));
    CHECK(t4.n_rows() == 8);
    const auto v4 = gguf::decode(t4);
    for (std::size_t i = 0; i < v4.size(); ++i) CHECK(v4[i] == static_cast<float>(i));
    CHECK(r.find_tensor("nope") == nullptr);
    CHECK_THROWS_AS(r.tensor("nope"), lowbit::error);
}

TEST_CASE("aligned-64.gguf: general.alignment 64, q8_0 of the stored source matches our quantizer") {
    const auto r = gguf::reader::open(gguf_dir() / "aligned-64.gguf");
    CHECK(r.alignment() == 64);
    CHECK(r.data_offset() % 64 == 0);
    for (const auto& t : r.tensors()) CHECK(t.file_offset % 64 == 0);
    const auto& odd = r.tensor("odd.f32");
    CHECK((odd.ne[0] == 33 && odd.ne[1] == 3));
    CHECK(gguf::decode(odd) == floats_of(odd));
    const auto& q = r.tensor("q8.odd");
    const auto& s = r.tensor("q8.src");
    CHECK(q.type == lowbit::type_id::q8_0);
    const auto src = floats_of(s);
    std::vector<unsigned char> ours(q.bytes.size());
    lowbit::quantize(lowbit::type_id::q8_0, src.data(), ours.data(), 5, 96);
    CHECK(std::memcmp(ours.data(), q.bytes.data(), ours.size()) == 0);
}

TEST_CASE("tiny-llama-f32.gguf: architecture metadata and the tensor list") {
    const auto r = gguf::reader::open(tiny_llama());
    CHECK(r.architecture() == "llama");
    CHECK(r.get_string("general.name") == "tiny-llama");
    CHECK(r.arch_uint("block_count") == 2u);
    CHECK(r.arch_uint("embedding_length") == 256u);
    CHECK(r.arch_uint("feed_forward_length") == 768u);
    CHECK(r.arch_uint("attention.head_count_kv") == 2u);
    CHECK(r.get_uint("general.file_type") == 0u);
    CHECK(r.tensors().size() == 21);
    const auto& emb = r.tensor("token_embd.weight");
    CHECK((emb.ne[0] == 256 && emb.ne[1] == 1024));
    CHECK(r.tensor("blk.1.ffn_down.weight").ne[0] == 768);
    CHECK(r.tensor("output_norm.weight").n_dims == 1);
    std::uint64_t total = 0;
    for (const auto& t : r.tensors()) {
        CHECK(t.type == lowbit::type_id::f32);
        total += t.bytes.size();
    }
    CHECK(r.data_offset() + total <= r.file_size());
}

TEST_CASE("parsing memory that is not 16-byte aligned decodes through an aligned copy") {
    // general.alignment = 1 lets tensor data start at any address.
    const auto bytes = read_bytes(gguf_dir() / "all-types.gguf");
    const auto ref = gguf::reader::parse_memory(bytes.data(), bytes.size(), "all-types");
    std::vector<unsigned char> shifted(bytes.size() + 1);
    std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
    const auto r = gguf::reader::parse_memory(shifted.data() + 1, bytes.size(), "shifted");
    const auto a = gguf::decode(ref.tensor("q.q4_0"));
    const auto b = gguf::decode(r.tensor("q.q4_0"));
    CHECK(first_difference(a, b) == -1);
}
