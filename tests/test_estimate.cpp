// Footprint estimator: parameter counts, llama-quantize's per-tensor rules, KV cache, recommend.
// Expected byte counts are facts about published files (see docs/footprint.md for the sources),
// never outputs of this code.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <lowbit/estimate.hpp>
#include <lowbit/estimate/gguf_model.hpp>
#include <lowbit/gguf/quantize.hpp>

#include "gguf/support.hpp"

using namespace lowbit;

namespace {

// Published parameter counts: the sums of all tensors of the Hugging Face checkpoints.
static_assert(param_count(models::llama2_7b) == 6'738'415'616);
static_assert(param_count(models::llama2_13b) == 13'015'864'320);
static_assert(param_count(models::llama2_70b) == 68'976'648'192);
static_assert(param_count(models::llama3_1_8b) == 8'030'261'248);
static_assert(param_count(models::llama3_1_70b) == 70'553'706'496);
static_assert(param_count(models::llama3_1_405b) == 405'853'388'800);
static_assert(param_count(models::mistral_7b) == 7'241'732'096);
static_assert(param_count(models::mixtral_8x7b) == 46'702'792'704);
static_assert(param_count(models::qwen2_5_7b) == 7'615'616'512);

// Tensor-data bytes of published GGUF files (llama.cpp's own reports of them).
static_assert(weight_bytes(models::llama3_1_8b, presets::q4_k_m) == 4'912'898'304);
static_assert(weight_bytes(models::llama3_1_8b, presets::f16) == 16'061'055'232);
static_assert(weight_bytes(models::mistral_7b, presets::q4_k_m) == 4'367'704'064);
static_assert(weight_bytes(models::llama2_7b, presets::q4_0) == 3'825'065'984);
static_assert(weight_bytes(models::llama2_7b, presets::q4_k_m) == 4'080'263'168);

// The example of a compile-time budget.
static_assert(weight_bytes(models::llama3_1_8b, presets::q4_k_m) < 6 * GiB);

// llama-bench prints model sizes in GiB with two decimals: these must agree to 0.005 GiB.
constexpr bool about_gib(std::uint64_t bytes, double gib) {
    const double d = static_cast<double>(bytes) / static_cast<double>(GiB) - gib;
    return d < 0.005 && d > -0.005;
}
static_assert(about_gib(weight_bytes(models::qwen2_5_7b, presets::q4_k_m), 4.36));
static_assert(about_gib(weight_bytes(models::mixtral_8x7b, presets::q4_k_m), 26.49));
static_assert(about_gib(weight_bytes(models::llama3_1_70b, presets::q4_k_m), 39.59));

// The seeds' KV-cache facts: 128 KiB per token for Llama-3.1-8B in f16, 512 KiB for Llama-2-7B.
static_assert(kv_cache_bytes(models::llama3_1_8b, 8192, type_id::f16) == 8192 * 128 * KiB);
static_assert(kv_cache_bytes(models::llama2_7b, 4096) == 4096 * 512 * KiB);
// q8_0 rows: 34 bytes per 32 values.
static_assert(kv_cache_bytes(models::llama3_1_8b, 1, type_id::q8_0) == 2 * 32 * (1024 / 32 * 34));
static_assert(kv_cache_bytes(models::llama3_1_8b, 16, type_id::f16, type_id::q8_0) ==
              (kv_cache_bytes(models::llama3_1_8b, 16, type_id::f16) + kv_cache_bytes(models::llama3_1_8b, 16, type_id::q8_0)) / 2);

// Float presets: every 2-D weight in the preset's type, norms and rope factors stay f32.
constexpr std::uint64_t elements_1d(const model_spec& m) {
    std::uint64_t n = 0;
    for_each_tensor(m, [&](const tensor_desc& t) {
        if (t.n_dims() == 1) n += t.n_elements();
    });
    return n;
}
static_assert(weight_bytes(models::qwen2_5_7b, presets::f32) == 4 * param_count(models::qwen2_5_7b));
static_assert(weight_bytes(models::qwen2_5_7b, presets::bf16) ==
              2 * param_count(models::qwen2_5_7b) + 2 * elements_1d(models::qwen2_5_7b));

// A preset changes the bytes in the expected direction.
static_assert(weight_bytes(models::llama3_1_8b, presets::q2_k) < weight_bytes(models::llama3_1_8b, presets::q3_k_s));
static_assert(weight_bytes(models::llama3_1_8b, presets::q3_k_s) < weight_bytes(models::llama3_1_8b, presets::q3_k_m));
static_assert(weight_bytes(models::llama3_1_8b, presets::q3_k_m) < weight_bytes(models::llama3_1_8b, presets::q3_k_l));
static_assert(weight_bytes(models::llama3_1_8b, presets::q4_k_s) < weight_bytes(models::llama3_1_8b, presets::q4_k_m));
static_assert(weight_bytes(models::llama3_1_8b, presets::q5_k_s) < weight_bytes(models::llama3_1_8b, presets::q5_k_m));
static_assert(weight_bytes(models::llama3_1_8b, presets::q5_k_m) < weight_bytes(models::llama3_1_8b, presets::q6_k));
static_assert(weight_bytes(models::llama3_1_8b, presets::q6_k) < weight_bytes(models::llama3_1_8b, presets::q8_0));

// Per-tensor rules, on the tensors that published Q4_K_M files show.
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "output.weight") == type_id::q6_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "token_embd.weight") == type_id::q4_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "rope_freqs.weight") == type_id::f32);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.0.attn_norm.weight") == type_id::f32);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.3.attn_v.weight") == type_id::q6_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.4.attn_v.weight") == type_id::q4_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.6.ffn_down.weight") == type_id::q6_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.7.ffn_down.weight") == type_id::q4_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.31.ffn_down.weight") == type_id::q6_K);
static_assert(type_of(models::llama3_1_8b, presets::q4_k_m, "blk.9.attn_q.weight") == type_id::q4_K);
static_assert(!type_of(models::llama3_1_8b, presets::q4_k_m, "blk.32.attn_q.weight"));
// 70B: attn_v is 8x smaller than attn_q, so Q4_K becomes Q5_K.
static_assert(type_of(models::llama2_70b, presets::q4_k_m, "blk.11.attn_v.weight") == type_id::q5_K);
static_assert(type_of(models::llama2_70b, presets::q4_k_m, "blk.11.ffn_down.weight") == type_id::q4_K);
// Q2_K: attn_v gets Q4_K with grouped-query attention (n_gqa >= 4), Q3_K without.
static_assert(type_of(models::llama3_1_8b, presets::q2_k, "blk.20.attn_v.weight") == type_id::q4_K);
static_assert(type_of(models::llama2_7b, presets::q2_k, "blk.20.attn_v.weight") == type_id::q3_K);
static_assert(type_of(models::llama2_7b, presets::q2_k, "blk.20.attn_output.weight") == type_id::q3_K);
static_assert(type_of(models::llama2_7b, presets::q2_k, "blk.20.ffn_down.weight") == type_id::q3_K);
// Q3_K_M: the first two attn_v, the first 1/16 of ffn_down in Q5_K.
static_assert(type_of(models::llama2_7b, presets::q3_k_m, "blk.1.attn_v.weight") == type_id::q5_K);
static_assert(type_of(models::llama2_7b, presets::q3_k_m, "blk.2.attn_v.weight") == type_id::q4_K);
static_assert(type_of(models::llama2_7b, presets::q3_k_m, "blk.1.ffn_down.weight") == type_id::q5_K);
static_assert(type_of(models::llama2_7b, presets::q3_k_m, "blk.2.ffn_down.weight") == type_id::q4_K);
static_assert(type_of(models::llama2_7b, presets::q3_k_m, "blk.2.attn_output.weight") == type_id::q4_K);
// Q4_K_S: the first four attn_v and the first eighth of ffn_down in Q5_K.
static_assert(type_of(models::llama2_7b, presets::q4_k_s, "blk.3.attn_v.weight") == type_id::q5_K);
static_assert(type_of(models::llama2_7b, presets::q4_k_s, "blk.4.attn_v.weight") == type_id::q4_K);
// Legacy presets: output in Q6_K, Q8_0 keeps its output in Q8_0.
static_assert(type_of(models::llama2_7b, presets::q4_0, "output.weight") == type_id::q6_K);
static_assert(type_of(models::llama2_7b, presets::q4_0, "token_embd.weight") == type_id::q4_0);
static_assert(type_of(models::llama2_7b, presets::q8_0, "output.weight") == type_id::q8_0);
// Mixtral (8 experts): attn_v and attn_k in Q8_0 whatever the preset, the router stays f32.
static_assert(type_of(models::mixtral_8x7b, presets::q4_0, "blk.5.attn_v.weight") == type_id::q8_0);
static_assert(type_of(models::mixtral_8x7b, presets::q4_k_m, "blk.5.attn_k.weight") == type_id::q8_0);
static_assert(type_of(models::mixtral_8x7b, presets::q4_k_m, "blk.5.attn_output.weight") == type_id::q5_K);
static_assert(type_of(models::mixtral_8x7b, presets::q4_k_m, "blk.5.ffn_gate_inp.weight") == type_id::f32);
static_assert(type_of(models::mixtral_8x7b, presets::q4_k_m, "blk.6.ffn_down_exps.weight") == type_id::q6_K);
static_assert(type_of(models::mixtral_8x7b, presets::q4_k_m, "blk.7.ffn_down_exps.weight") == type_id::q4_K);
// Qwen2: biases stay f32.
static_assert(type_of(models::qwen2_5_7b, presets::q4_k_m, "blk.0.attn_q.bias") == type_id::f32);
static_assert(type_of(models::qwen2_5_7b, presets::f16, "blk.0.attn_q.bias") == type_id::f32);
static_assert(type_of(models::qwen2_5_7b, presets::f16, "blk.0.attn_q.weight") == type_id::f16);

// Rows that do not split into 256-value blocks fall back; the output head goes to Q8_0.
constexpr model_spec odd_width{.name = "odd", .n_vocab = 1000, .n_embd = 4160, .n_layer = 8, .n_head = 32,
                               .n_head_kv = 8, .head_dim = 130, .n_ff = 11264};
static_assert(type_of(odd_width, presets::q4_k_m, "output.weight") == type_id::q8_0);
static_assert(type_of(odd_width, presets::q4_k_m, "blk.2.attn_q.weight") == type_id::q5_0);
static_assert(type_of(odd_width, presets::q4_k_m, "blk.0.attn_v.weight") == type_id::q8_0);  // Q6_K → Q8_0
static_assert(type_of(odd_width, presets::q5_k_s, "blk.2.attn_q.weight") == type_id::q5_1);
static_assert(type_of(odd_width, presets::q3_k_s, "blk.2.attn_q.weight") == type_id::q4_0);
static_assert(type_of(odd_width, presets::q4_k_m, "blk.2.ffn_down.weight") == type_id::q4_K);  // 11264 = 44 × 256
constexpr model_spec narrow{.name = "narrow", .n_vocab = 1000, .n_embd = 256, .n_layer = 4, .n_head = 4,
                            .n_head_kv = 4, .head_dim = 64, .n_ff = 688};  // 688 = 21.5 × 32
static_assert(type_of(narrow, presets::q4_k_m, "blk.2.ffn_down.weight") == type_id::f16);

// Tied embeddings: no output.weight, token_embd takes the output head's type.
constexpr model_spec tied = [] {
    model_spec m = models::llama3_1_8b;
    m.tied_embeddings = true;
    return m;
}();
static_assert(param_count(tied) == param_count(models::llama3_1_8b) - 128256ull * 4096);
static_assert(!type_of(tied, presets::q4_k_m, "output.weight"));
static_assert(type_of(tied, presets::q4_k_m, "token_embd.weight") == type_id::q6_K);

// recommend: the decision tree, each tier stepping down until something fits.
constexpr std::uint32_t ctx = 4096;
static_assert(total_bytes(models::llama3_1_8b, presets::q8_0, ctx) > 8 * GiB);
static_assert(total_bytes(models::llama3_1_8b, presets::q6_k, ctx) <= 8 * GiB);
static_assert(recommend(models::llama3_1_8b, 8 * GiB, priority::quality, ctx)->name() == "Q6_K");
static_assert(recommend(models::llama3_1_8b, 24 * GiB, priority::quality, ctx)->name() == "Q8_0");
static_assert(recommend(models::llama3_1_8b, 24 * GiB, priority::balanced, ctx)->name() == "Q5_K_M");
static_assert(total_bytes(models::llama3_1_8b, presets::q5_k_m, ctx) > 6 * GiB);
static_assert(total_bytes(models::llama3_1_8b, presets::q4_k_m, ctx) <= 6 * GiB);
static_assert(recommend(models::llama3_1_8b, 6 * GiB, priority::balanced, ctx)->name() == "Q4_K_M");
static_assert(recommend(models::llama3_1_8b, 24 * GiB, priority::memory, ctx)->name() == "Q3_K_M");
static_assert(recommend(models::llama3_1_8b, 24 * GiB, priority::extreme, ctx)->name() == "Q2_K");
static_assert(total_bytes(models::llama3_1_70b, presets::q2_k, ctx) > 24 * GiB);
static_assert(!recommend(models::llama3_1_70b, 24 * GiB, priority::extreme, ctx));
static_assert(recommend(models::llama3_1_405b, 1024 * GiB, priority::quality, ctx)->name() == "Q8_0");

// The named models' tensor names classify back to the categories they were built with.
constexpr bool names_round_trip(const model_spec& m) {
    bool ok = true;
    for_each_tensor(m, [&](const tensor_desc& t) {
        const auto name = full_name(t);
        const auto again = describe_tensor(name.view(), t.ne, t.source);
        ok = ok && again.category == t.category && again.quantizable == t.quantizable && again.layer == t.layer &&
             again.base == t.base && again.parameter == t.parameter;
    });
    return ok;
}
// Two blocks keep the compile-time check inside clang's default constexpr step limit; the test
// case below runs it on the full models.
constexpr model_spec two_blocks(model_spec m) {
    m.n_layer = 2;
    return m;
}
static_assert(names_round_trip(two_blocks(models::qwen2_5_7b)));
static_assert(names_round_trip(two_blocks(models::mixtral_8x7b)));
static_assert(names_round_trip(two_blocks(models::llama3_1_8b)));

} // namespace

TEST_CASE("every named model's tensor list is in llama-quantize order and named like the converter's") {
    for (const auto& m : models::all) {
        std::vector<tensor_desc> list;
        std::vector<std::string> names;
        for_each_tensor(m, [&](const tensor_desc& t) {
            list.push_back(t);
            names.emplace_back(full_name(t).view());
        });
        CHECK(list.size() == tensor_count(m));
        CHECK(std::is_sorted(list.begin(), list.end(), quantize_order));
        CHECK(names_round_trip(m));
        CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
        CHECK(std::count(names.begin(), names.end(), "token_embd.weight") == 1);
        CHECK(std::count(names.begin(), names.end(), "output.weight") == (m.tied_embeddings ? 0 : 1));
        const std::string last_block = "blk." + std::to_string(m.n_layer - 1) + ".attn_q.weight";
        CHECK(std::count(names.begin(), names.end(), last_block) == 1);
        // weight_bytes over an explicit list equals the spec form.
        for (const auto& p : presets::all)
            CHECK(weight_bytes(std::span<const tensor_desc>(list), context_of(m, list), p) == weight_bytes(m, p));
    }
}

TEST_CASE("presets by name, with llama-quantize's aliases") {
    CHECK(std::size(presets::all) == 17);
    for (const auto& p : presets::all) {
        const auto found = presets::find(p.name());
        REQUIRE(found);
        CHECK(found->name() == p.name());
    }
    CHECK(presets::find("q4_k_m")->name() == "Q4_K_M");
    CHECK(presets::find("Q4_K")->name() == "Q4_K_M");
    CHECK(presets::find("q3_k")->name() == "Q3_K_M");
    CHECK(presets::find("Q5_K")->name() == "Q5_K_M");
    CHECK_FALSE(presets::find("Q7_K"));
    CHECK(presets::find("Q4_K_M")->llama_ftype == 15);
    // The type-erased entry and the policy object agree.
    for (const auto& m : models::all) {
        CHECK(weight_bytes(m, *presets::find("Q3_K_L")) == weight_bytes(m, presets::q3_k_l));
        CHECK(weight_bytes(m, *presets::find("BF16")) == weight_bytes(m, presets::bf16));
    }
}

TEST_CASE("rows without a fallback are an error, not a silent guess") {
    // 4100 values: not a multiple of 32, so Q8_0 (the output head's type) has nowhere to go.
    constexpr model_spec bad{.name = "bad", .n_vocab = 100, .n_embd = 4100, .n_layer = 1, .n_head = 4,
                             .n_head_kv = 4, .head_dim = 1025, .n_ff = 256};
    CHECK_THROWS_AS((void)weight_bytes(bad, presets::q4_k_m), lowbit::error);
    CHECK_THROWS_AS((void)weight_bytes(bad, presets::q8_0), lowbit::error);
    CHECK(weight_bytes(bad, presets::f16) > 0);
    // A KV row that does not split into q8_0 blocks.
    CHECK_THROWS_AS((void)kv_cache_bytes(bad, 16, type_id::q8_0), lowbit::error);
}

TEST_CASE("describe_tensor reads the block number the way llama-quantize does") {
    const auto t = describe_tensor("blk.12.ffn_down.weight", {14336, 4096, 1, 1}, type_id::f16);
    CHECK(t.layer == 12);
    CHECK(t.base == "ffn_down.weight");
    CHECK(t.category == tensor_category::ffn_down);
    CHECK(t.quantizable);
    const auto norm = describe_tensor("blk.0.attn_norm.weight", {4096, 1, 1, 1}, type_id::f32);
    CHECK_FALSE(norm.quantizable);
    const auto odd = describe_tensor("blk.x.attn_q.weight", {64, 64, 1, 1}, type_id::f32);
    CHECK(odd.layer == -1);
    CHECK(describe_tensor("blk.3.attn_qkv.weight", {64, 192, 1, 1}, type_id::f32).category == tensor_category::attn_v);
    CHECK_FALSE(describe_tensor("position_embd.weight", {64, 64, 1, 1}, type_id::f32).quantizable);
}


TEST_CASE("a GGUF file: spec from its metadata, and the same bytes as the spec and the file") {
    const auto r = gguf::reader::open(lowbit_test::tiny_llama());
    const auto m = spec_from_gguf(r);
    CHECK(m.arch == "llama");
    CHECK(m.n_layer == 2);
    CHECK(m.n_embd == 256);
    CHECK(m.n_head == 4);
    CHECK(m.n_head_kv == 2);
    CHECK(m.head_dim == 64);
    CHECK(m.n_ff == 768);
    CHECK(m.n_vocab == 1024);
    CHECK_FALSE(m.tied_embeddings);
    CHECK_FALSE(m.qkv_bias);
    CHECK_FALSE(m.rope_freqs);
    // The file is all f32, so the F32 preset must reproduce its tensor data exactly.
    std::uint64_t file_bytes = 0, file_params = 0;
    for (const auto& t : r.tensors()) {
        file_bytes += t.n_bytes;
        file_params += static_cast<std::uint64_t>(t.n_elements());
    }
    CHECK(weight_bytes(r, presets::f32) == file_bytes);
    CHECK(param_count(m) == file_params);
    CHECK(tensor_count(m) == r.tensors().size());
    // The spec's own tensor list (what the converter writes) and the file's give the same bytes.
    for (const auto& p : presets::all) CHECK(weight_bytes(r, p) == weight_bytes(m, p));
    // llama-quantize's choices on two blocks: use_more_bits(1, 2) holds, use_more_bits(0, 2) not.
    const auto plan = plan_gguf(r, presets::q4_k_m);
    auto type_in_plan = [&](std::string_view name) {
        for (const auto& p : plan)
            if (full_name(p.tensor).view() == name) return p.type;
        FAIL("no tensor " << std::string(name));
        return type_id::f32;
    };
    CHECK(type_in_plan("blk.0.attn_v.weight") == type_id::q4_K);
    CHECK(type_in_plan("blk.1.attn_v.weight") == type_id::q6_K);
    CHECK(type_in_plan("blk.1.ffn_down.weight") == type_id::q6_K);
    CHECK(type_in_plan("output.weight") == type_id::q6_K);
    CHECK(type_in_plan("output_norm.weight") == type_id::f32);
}

// The same preset tables drive the converter: quantizing the tiny model with a preset writes
// exactly the tensor types the plan names, and exactly the bytes weight_bytes estimated.
TEST_CASE("quantizing the tiny model with a preset writes the estimated tensor bytes") {
    namespace fs = std::filesystem;
    const auto in = gguf::reader::open(lowbit_test::tiny_llama());
    std::random_device rd;
    for (const auto& p : presets::all) {
        CAPTURE(std::string(p.name()));
        const auto types = preset_types(in, p);
        gguf::quantize_options opt;
        opt.type = p.default_type();
        opt.threads = 2;
        opt.choose = [&types](std::string_view name, std::span<const std::int64_t>, type_id, type_id) {
            return types.at(std::string(name));
        };
        const auto path = fs::temp_directory_path() / ("lowbit-preset-" + std::to_string(rd()) + ".gguf");
        gguf::quantize_model(in, path, opt);
        std::uint64_t written = 0;
        {
            const auto out = gguf::reader::open(path);
            REQUIRE(out.tensors().size() == in.tensors().size());
            for (const auto& t : out.tensors()) {
                CHECK(t.type == types.at(std::string(t.name)));
                written += t.n_bytes;
            }
        }
        std::error_code ec;
        fs::remove(path, ec);
        CHECK(written == weight_bytes(in, p));
        CHECK(written == weight_bytes(spec_from_gguf(in), p));
    }
}
