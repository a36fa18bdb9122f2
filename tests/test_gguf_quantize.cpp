// Model quantization (what `lowbit quantize` runs): the reference tiny llama to q8_0 (and every
// other implemented weight type) gives tensors bit-exact with lowbit::quantize of the source rows
// (itself bit-exact with the reference, see test_golden), norms kept, metadata copied with
// general.file_type updated; the per-tensor type rule is swappable; thread count does not matter.
#include <doctest/doctest.h>

#include <random>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/quantize.hpp>

#include "gguf/support.hpp"

using namespace lowbit_test;
namespace gguf = lowbit::gguf;
namespace fs = std::filesystem;

namespace {

fs::path temp_file(const char* stem) {
    std::random_device rd;
    return fs::temp_directory_path() / (std::string(stem) + "-" + std::to_string(rd()) + ".gguf");
}

struct removed_on_exit {
    fs::path path;
    ~removed_on_exit() {
        std::error_code ec;
        fs::remove(path, ec);
    }
};

void check_converted(const gguf::reader& in, const gguf::reader& out, lowbit::type_id type) {
    REQUIRE(out.tensors().size() == in.tensors().size());
    std::size_t converted = 0;
    for (std::size_t i = 0; i < in.tensors().size(); ++i) {
        const auto& a = in.tensors()[i];
        const auto& b = out.tensors()[i];
        CAPTURE(a.name);
        CHECK(a.name == b.name);
        CHECK(a.ne == b.ne);
        CHECK(b.file_offset % out.alignment() == 0);
        if (a.n_dims == 1) {
            CHECK(b.type == a.type);  // norms stay F32
            CHECK(std::memcmp(a.bytes.data(), b.bytes.data(), a.n_bytes) == 0);
            continue;
        }
        REQUIRE(b.type == type);
        const auto src = gguf::decode(a);
        std::vector<unsigned char> want(lowbit::row_bytes(type, a.ne[0]) * static_cast<std::size_t>(a.n_rows()));
        lowbit::quantize(type, src.data(), want.data(), a.n_rows(), a.ne[0]);
        REQUIRE(b.n_bytes == want.size());
        CHECK(std::memcmp(b.bytes.data(), want.data(), want.size()) == 0);
        ++converted;
    }
    CHECK(converted == 16);
    for (const auto& kv : in.metadata()) {
        CAPTURE(kv.key);
        const auto* o = out.find(kv.key);
        REQUIRE(o != nullptr);
        CHECK(o->value.type() == kv.value.type());
    }
    CHECK(out.get_uint("general.file_type") == gguf::llama_file_type(type));
}

} // namespace

TEST_CASE("tiny llama to q8_0: bit-exact tensors, norms kept, metadata copied, file type 7") {
    const auto in = gguf::reader::open(tiny_llama());
    removed_on_exit out_file{temp_file("lowbit-q8")};
    gguf::quantize_options opt;
    opt.type = lowbit::type_id::q8_0;
    opt.threads = 3;
    std::size_t last_done = 0, calls = 0;
    opt.progress = [&](std::size_t done, std::size_t total, std::string_view) {
        CHECK(total == 21);
        CHECK(done >= last_done);
        last_done = done;
        ++calls;
    };
    gguf::quantize_model(in, out_file.path, opt);
    CHECK(last_done == 21);
    CHECK(calls == 17);  // once up front, then once per converted tensor
    const auto out = gguf::reader::open(out_file.path);
    check_converted(in, out, lowbit::type_id::q8_0);
    CHECK(out.get_uint("general.file_type") == 7u);
    CHECK(out.architecture() == "llama");

    // One thread or many: the same bytes.
    removed_on_exit single{temp_file("lowbit-q8-1t")};
    opt.threads = 1;
    opt.progress = nullptr;
    gguf::quantize_model(in, single.path, opt);
    CHECK(read_bytes(single.path) == read_bytes(out_file.path));
}

TEST_CASE("tiny llama to every other implemented weight type") {
    const auto in = gguf::reader::open(tiny_llama());
    for (const auto& l : lowbit::all_type_layouts) {
        if (!lowbit::supports(l.id) || !lowbit::ops(l.id).quantize_row || l.id == lowbit::type_id::q8_1 ||
            l.id == lowbit::type_id::q8_K || l.id == lowbit::type_id::f32 || l.id == lowbit::type_id::q8_0)
            continue;
        CAPTURE(l.name);
        removed_on_exit f{temp_file("lowbit-any")};
        gguf::quantize_options opt;
        opt.type = l.id;
        opt.threads = 2;
        gguf::quantize_model(in, f.path, opt);
        check_converted(in, gguf::reader::open(f.path), l.id);
    }
}

TEST_CASE("the per-tensor type rule is one swappable function") {
    const std::vector<std::int64_t> matrix{256, 64}, vec{256}, odd{100, 4};
    CHECK(gguf::plain_tensor_type("blk.0.attn_q.weight", matrix, lowbit::type_id::f32, lowbit::type_id::q4_0) == lowbit::type_id::q4_0);
    CHECK(gguf::plain_tensor_type("blk.0.attn_norm.weight", vec, lowbit::type_id::f32, lowbit::type_id::q4_0) == lowbit::type_id::f32);
    CHECK(gguf::plain_tensor_type("blk.0.attn_q.bias", matrix, lowbit::type_id::f32, lowbit::type_id::q4_0) == lowbit::type_id::f32);
    CHECK(gguf::plain_tensor_type("odd.weight", odd, lowbit::type_id::f32, lowbit::type_id::q4_0) == lowbit::type_id::f32);

    const auto in = gguf::reader::open(tiny_llama());
    removed_on_exit f{temp_file("lowbit-mixed")};
    gguf::quantize_options opt;
    opt.type = lowbit::type_id::q4_0;
    opt.choose = [](std::string_view name, std::span<const std::int64_t> shape, lowbit::type_id current, lowbit::type_id requested) {
        if (name == "output.weight") return lowbit::type_id::q8_0;
        return gguf::plain_tensor_type(name, shape, current, requested);
    };
    gguf::quantize_model(in, f.path, opt);
    const auto out = gguf::reader::open(f.path);
    CHECK(out.tensor("output.weight").type == lowbit::type_id::q8_0);
    CHECK(out.tensor("token_embd.weight").type == lowbit::type_id::q4_0);
    CHECK(out.tensor("output_norm.weight").type == lowbit::type_id::f32);
    CHECK(out.get_uint("general.file_type") == 2u); // derived from the requested type (q4_0)

    // A preset names its own file type: Q4_K_S (14) shares its default type with Q4_K_M (15).
    removed_on_exit g{temp_file("lowbit-ftype")};
    opt.file_type = 14u;
    gguf::quantize_model(in, g.path, opt);
    CHECK(gguf::reader::open(g.path).get_uint("general.file_type") == 14u);
}

TEST_CASE("a source that cannot be quantized fails cleanly and leaves no output") {
    // A weight matrix holding a NaN: quantized types refuse non-finite input.
    gguf::writer w;
    w.set("general.architecture", "nan");
    std::vector<float> v(64 * 2, 0.5f);
    v[70] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<std::int64_t> shape{64, 2};
    w.add_f32("bad.weight", shape, v);
    const auto bytes = w.to_bytes();
    const auto in = gguf::reader::parse_memory(bytes.data(), bytes.size(), "nan");
    const auto target = temp_file("lowbit-nan");
    gguf::quantize_options opt;
    opt.type = lowbit::type_id::q8_0;
    opt.threads = 2;
    CHECK_THROWS_AS(gguf::quantize_model(in, target, opt), lowbit::error);
    CHECK_FALSE(fs::exists(target));
    for (const auto& e : fs::directory_iterator(target.parent_path()))
        CHECK(e.path().filename().string().find(target.filename().string()) == std::string::npos);
}
