// lowbit — llama-quantize's presets ("file types") and the per-tensor type each one picks.
//
// A preset is a small policy: its default type plus the few places where it deviates (attn_v,
// ffn_down and attn_output of some layers). What every quantized preset shares — the output and
// token-embedding rules, the grouped-query, 70B and 8-expert adjustments, the fallback when a row
// does not split into whole blocks — lives once in choose_type(). The rules are those of
// llama.cpp's llama-quantize without an importance matrix and without per-tensor overrides.
#pragma once

#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "../error.hpp"
#include "../format/type_id.hpp"
#include "model_spec.hpp"

namespace lowbit {

/// The model-wide facts the type rules look at.
struct quant_context {
    std::uint32_t n_layer = 0;         ///< block count
    std::uint32_t n_gqa = 1;           ///< query heads per KV head
    std::uint32_t n_expert = 0;
    std::uint32_t n_attention_wv = 0;  ///< how many attn_v-like tensors the file has
    bool tied_embeddings = false;      ///< no output.weight: token_embd is also the output head
    bool type_70b = false;             ///< llama.cpp's LLM_TYPE_70B (llama, 80 blocks, grouped-query)
    bool falcon = false;
};

/// Counters llama-quantize advances as it visits tensors in order.
struct quant_counters {
    std::uint32_t attn_v = 0, ffn_down = 0, ffn_gate = 0, ffn_up = 0;
};

constexpr quant_context context_of(const model_spec& m) {
    quant_context c;
    c.n_layer = m.n_layer;
    c.n_gqa = m.n_head_kv == 0 ? 0 : m.n_head / m.n_head_kv;
    c.n_expert = m.n_expert;
    c.n_attention_wv = m.n_layer;
    c.tied_embeddings = m.tied_embeddings;
    c.type_70b = m.arch == "llama" && m.n_layer == 80 && m.n_head != m.n_head_kv;
    c.falcon = m.arch == "falcon";
    return c;
}

/// The context for a file's tensors: tied embeddings and the attn_v count come from the list.
constexpr quant_context context_of(const model_spec& m, std::span<const tensor_desc> tensors) {
    quant_context c = context_of(m);
    c.n_attention_wv = 0;
    c.tied_embeddings = true;
    for (const auto& t : tensors) {
        if (t.category == tensor_category::attn_v) ++c.n_attention_wv;
        if (t.category == tensor_category::output) c.tied_embeddings = false;
    }
    return c;
}

/// Anything that picks a type per tensor: the preset policies below, and preset_entry.
template <class P>
concept tensor_type_policy = requires(const P& p, const tensor_desc& t, const quant_context& c, quant_counters& k) {
    { p.name() } -> std::convertible_to<std::string_view>;
    { p.choose(t, c, k) } -> std::same_as<type_id>;
};

namespace presets {

/// The layers llama-quantize gives more bits in *_M presets: the first and last eighth and every
/// third layer in between.
constexpr bool use_more_bits(std::int64_t i, std::int64_t n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

using T = type_id;

/// Defaults of a preset: every quantizable tensor gets `Default`. Presets override the hooks.
template <type_id Default>
struct rules {
    static constexpr type_id default_type = Default;
    /// attn_v (and attn_qkv): the i-th of n such tensors.
    static constexpr type_id attn_v(std::int64_t, std::int64_t, const quant_context&) { return Default; }
    /// ffn_down of block i of n.
    static constexpr type_id ffn_down(std::int64_t, std::int64_t, const quant_context&) { return Default; }
    static constexpr type_id attn_output(const quant_context&) { return Default; }
};

struct f32_rules : rules<T::f32> { static constexpr std::string_view name = "F32"; };
struct f16_rules : rules<T::f16> { static constexpr std::string_view name = "F16"; };
struct bf16_rules : rules<T::bf16> { static constexpr std::string_view name = "BF16"; };
struct q4_0_rules : rules<T::q4_0> { static constexpr std::string_view name = "Q4_0"; };
struct q4_1_rules : rules<T::q4_1> { static constexpr std::string_view name = "Q4_1"; };
struct q5_0_rules : rules<T::q5_0> { static constexpr std::string_view name = "Q5_0"; };
struct q5_1_rules : rules<T::q5_1> { static constexpr std::string_view name = "Q5_1"; };
struct q8_0_rules : rules<T::q8_0> { static constexpr std::string_view name = "Q8_0"; };

struct q2_k_rules : rules<T::q2_K> {
    static constexpr std::string_view name = "Q2_K";
    // Grouped-query attention makes attn_v small, so it can afford more bits.
    static constexpr type_id attn_v(std::int64_t, std::int64_t, const quant_context& c) {
        return c.n_gqa >= 4 ? T::q4_K : T::q3_K;
    }
    static constexpr type_id ffn_down(std::int64_t, std::int64_t, const quant_context&) { return T::q3_K; }
    static constexpr type_id attn_output(const quant_context& c) {
        if (c.falcon) return T::q2_K;
        return c.n_expert == 8 ? T::q5_K : T::q3_K;
    }
};

struct q3_k_s_rules : rules<T::q3_K> {
    static constexpr std::string_view name = "Q3_K_S";
    static constexpr type_id attn_output(const quant_context& c) { return c.n_expert == 8 && !c.falcon ? T::q5_K : T::q3_K; }
};

struct q3_k_m_rules : rules<T::q3_K> {
    static constexpr std::string_view name = "Q3_K_M";
    static constexpr type_id attn_v(std::int64_t i, std::int64_t, const quant_context&) {
        return i < 2 ? T::q5_K : T::q4_K;
    }
    static constexpr type_id ffn_down(std::int64_t i, std::int64_t n, const quant_context& c) {
        if (i < n / 16) return T::q5_K;
        return !c.falcon || use_more_bits(i, n) ? T::q4_K : T::q3_K;
    }
    static constexpr type_id attn_output(const quant_context& c) {
        if (c.falcon) return T::q3_K;
        return c.n_expert == 8 ? T::q5_K : T::q4_K;
    }
};

struct q3_k_l_rules : rules<T::q3_K> {
    static constexpr std::string_view name = "Q3_K_L";
    static constexpr type_id attn_v(std::int64_t, std::int64_t, const quant_context&) { return T::q5_K; }
    static constexpr type_id ffn_down(std::int64_t, std::int64_t, const quant_context& c) {
        return c.falcon ? T::q4_K : T::q5_K;
    }
    static constexpr type_id attn_output(const quant_context& c) {
        if (c.falcon) return T::q4_K;
        return c.n_expert == 8 ? T::q3_K : T::q5_K;  // the 8-expert rule leaves Q3_K_L alone
    }
};

struct q4_k_s_rules : rules<T::q4_K> {
    static constexpr std::string_view name = "Q4_K_S";
    static constexpr type_id attn_v(std::int64_t i, std::int64_t, const quant_context&) {
        return i < 4 ? T::q5_K : T::q4_K;
    }
    static constexpr type_id ffn_down(std::int64_t i, std::int64_t n, const quant_context& c) {
        return !c.falcon && i < n / 8 ? T::q5_K : T::q4_K;
    }
    static constexpr type_id attn_output(const quant_context& c) { return c.n_expert == 8 && !c.falcon ? T::q5_K : T::q4_K; }
};

struct q4_k_m_rules : rules<T::q4_K> {
    static constexpr std::string_view name = "Q4_K_M";
    static constexpr type_id attn_v(std::int64_t i, std::int64_t n, const quant_context&) {
        return use_more_bits(i, n) ? T::q6_K : T::q4_K;
    }
    static constexpr type_id ffn_down(std::int64_t i, std::int64_t n, const quant_context& c) {
        if (c.falcon) return i < n / 16 ? T::q6_K : use_more_bits(i, n) ? T::q5_K : T::q4_K;
        return use_more_bits(i, n) ? T::q6_K : T::q4_K;
    }
    static constexpr type_id attn_output(const quant_context& c) { return c.n_expert == 8 && !c.falcon ? T::q5_K : T::q4_K; }
};

struct q5_k_s_rules : rules<T::q5_K> { static constexpr std::string_view name = "Q5_K_S"; };

struct q5_k_m_rules : rules<T::q5_K> {
    static constexpr std::string_view name = "Q5_K_M";
    static constexpr type_id attn_v(std::int64_t i, std::int64_t n, const quant_context&) {
        return use_more_bits(i, n) ? T::q6_K : T::q5_K;
    }
    static constexpr type_id ffn_down(std::int64_t i, std::int64_t n, const quant_context&) {
        return use_more_bits(i, n) ? T::q6_K : T::q5_K;
    }
};

struct q6_k_rules : rules<T::q6_K> { static constexpr std::string_view name = "Q6_K"; };

} // namespace presets

namespace estimate_detail {

// By value through layout_of: a null-pointer test would not be a constant expression under GCC's UBSan.
constexpr type_layout layout(type_id t) { return layout_of(t); }

// Where a row does not split into whole blocks of the chosen type: the nearest 32-wide type, and
// F16 when even that does not fit. Types without a fallback are an error, as in llama-quantize.
constexpr type_id fallback(type_id t, std::uint64_t row) {
    if (row % layout(t).block_size == 0) return t;
    type_id f{};
    switch (t) {
        case type_id::q2_K: case type_id::q3_K: case type_id::tq1_0: case type_id::tq2_0: case type_id::q2_0:
            f = type_id::q4_0; break;
        case type_id::q4_K: f = type_id::q5_0; break;
        case type_id::q5_K: f = type_id::q5_1; break;
        case type_id::q6_K: f = type_id::q8_0; break;
        case type_id::iq1_s: case type_id::iq1_m: case type_id::iq2_xxs: case type_id::iq2_xs: case type_id::iq2_s:
        case type_id::iq3_xxs: case type_id::iq3_s: case type_id::iq4_xs:
            f = type_id::iq4_nl; break;
        default: throw error(errc::invalid_argument, "row length is not a multiple of the block size and the type has no fallback");
    }
    return row % layout(f).block_size == 0 ? f : type_id::f16;
}

} // namespace estimate_detail

namespace presets {

/// The type `Rules` gives tensor `t`; advances the counters like llama-quantize does.
template <class Rules>
constexpr type_id choose_type(const tensor_desc& t, const quant_context& c, quant_counters& k) {
    using C = tensor_category;
    if (!t.quantizable) return t.source;
    constexpr type_id def = Rules::default_type;
    // Float presets convert every quantizable tensor and apply no rule at all.
    if (!estimate_detail::layout(def).quantized) return def;

    const std::uint64_t row = t.ne[0];
    type_id out = def;
    const bool is_output = t.category == C::output || (c.tied_embeddings && t.category == C::token_embd);
    if (is_output) {
        // The output head is the most sensitive matrix: Q6_K unless the preset is already Q8_0;
        // Q8_0 when the row does not split into the preset's blocks.
        if (c.falcon || row % estimate_detail::layout(def).block_size != 0) out = T::q8_0;
        else if (def != T::q8_0) out = T::q6_K;
    } else {
        switch (t.category) {
            case C::attn_v:
                out = Rules::attn_v(k.attn_v, c.n_attention_wv, c);
                // A 70B shares each attn_v among 8 heads: it is small, so more bits cost little.
                if (c.type_70b && (out == T::q3_K || out == T::q4_K)) out = T::q5_K;
                if (c.n_expert == 8) out = T::q8_0;
                ++k.attn_v;
                break;
            case C::attn_k:
                if (c.n_expert == 8) out = T::q8_0;
                break;
            case C::ffn_down: {
                // MoE files interleave experts, so the block number comes from the name there.
                const std::int64_t i = c.n_expert > 1 ? t.layer : k.ffn_down;
                if (i < 0 || i >= static_cast<std::int64_t>(c.n_layer))
                    throw error(errc::invalid_argument, "ffn_down tensor outside the model's blocks");
                out = Rules::ffn_down(i, c.n_layer, c);
                ++k.ffn_down;
                break;
            }
            case C::attn_output: out = Rules::attn_output(c); break;
            case C::ffn_gate: ++k.ffn_gate; break;
            case C::ffn_up: ++k.ffn_up; break;
            default: break;
        }
    }
    return estimate_detail::fallback(out, row);
}

/// A preset as a value: `presets::q4_k_m.choose(tensor, context, counters)`.
template <class Rules>
struct preset : Rules {
    static constexpr std::string_view name() { return Rules::name; }
    static constexpr type_id default_type() { return Rules::default_type; }
    constexpr type_id choose(const tensor_desc& t, const quant_context& c, quant_counters& k) const {
        return choose_type<Rules>(t, c, k);
    }
};

inline constexpr preset<f32_rules> f32{};
inline constexpr preset<f16_rules> f16{};
inline constexpr preset<bf16_rules> bf16{};
inline constexpr preset<q4_0_rules> q4_0{};
inline constexpr preset<q4_1_rules> q4_1{};
inline constexpr preset<q5_0_rules> q5_0{};
inline constexpr preset<q5_1_rules> q5_1{};
inline constexpr preset<q8_0_rules> q8_0{};
inline constexpr preset<q2_k_rules> q2_k{};
inline constexpr preset<q3_k_s_rules> q3_k_s{};
inline constexpr preset<q3_k_m_rules> q3_k_m{};
inline constexpr preset<q3_k_l_rules> q3_k_l{};
inline constexpr preset<q4_k_s_rules> q4_k_s{};
inline constexpr preset<q4_k_m_rules> q4_k_m{};
inline constexpr preset<q5_k_s_rules> q5_k_s{};
inline constexpr preset<q5_k_m_rules> q5_k_m{};
inline constexpr preset<q6_k_rules> q6_k{};

} // namespace presets

/// A preset chosen at run time (by name): same interface, through a function pointer.
struct preset_entry {
    std::string_view preset_name;
    type_id default_type_id;
    std::uint32_t llama_ftype;  ///< the number llama.cpp writes as general.file_type
    type_id (*choose_fn)(const tensor_desc&, const quant_context&, quant_counters&);

    constexpr std::string_view name() const { return preset_name; }
    constexpr type_id default_type() const { return default_type_id; }
    constexpr type_id choose(const tensor_desc& t, const quant_context& c, quant_counters& k) const {
        return choose_fn(t, c, k);
    }
};

namespace estimate_detail {
template <class Rules>
constexpr preset_entry entry(std::uint32_t ftype) {
    return {Rules::name, Rules::default_type, ftype, &presets::choose_type<Rules>};
}
} // namespace estimate_detail

namespace presets {

/// Every preset, best quality first within each family; general.file_type numbers are llama.cpp's.
inline constexpr preset_entry all[] = {
    estimate_detail::entry<f32_rules>(0),     estimate_detail::entry<f16_rules>(1),
    estimate_detail::entry<bf16_rules>(32),   estimate_detail::entry<q8_0_rules>(7),
    estimate_detail::entry<q5_1_rules>(9),    estimate_detail::entry<q5_0_rules>(8),
    estimate_detail::entry<q4_1_rules>(3),    estimate_detail::entry<q4_0_rules>(2),
    estimate_detail::entry<q6_k_rules>(18),   estimate_detail::entry<q5_k_m_rules>(17),
    estimate_detail::entry<q5_k_s_rules>(16), estimate_detail::entry<q4_k_m_rules>(15),
    estimate_detail::entry<q4_k_s_rules>(14), estimate_detail::entry<q3_k_l_rules>(13),
    estimate_detail::entry<q3_k_m_rules>(12), estimate_detail::entry<q3_k_s_rules>(11),
    estimate_detail::entry<q2_k_rules>(10),
};

/// A preset by name, case-insensitively; llama-quantize's aliases Q3_K, Q4_K, Q5_K mean the _M ones.
constexpr std::optional<preset_entry> find(std::string_view name) {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    auto same = [&](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (lower(a[i]) != lower(b[i])) return false;
        return true;
    };
    if (same(name, "q3_k")) name = "Q3_K_M";
    else if (same(name, "q4_k")) name = "Q4_K_M";
    else if (same(name, "q5_k")) name = "Q5_K_M";
    for (const auto& p : all)
        if (same(p.name(), name)) return p;
    return std::nullopt;
}

} // namespace presets

} // namespace lowbit
