// lowbit — a transformer's shape as constants, and the GGUF tensor list it implies.
//
// The tensor list is what llama.cpp's converter writes for the llama family (llama, mistral,
// mixtral, qwen2): one token embedding, an output head unless the embeddings are tied, and per
// block the attention and feed-forward matrices with their RMS norms. It is enumerated in the
// order llama-quantize visits tensors (by block number, then by name), because some of its rules
// count tensors as they go.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "../error.hpp"
#include "../format/type_id.hpp"

namespace lowbit {

/// The hyper-parameters that fix every tensor shape of a llama-family model (config.json terms in
/// brackets). Zero experts means a dense feed-forward block.
struct model_spec {
    std::string_view name;
    std::string_view arch = "llama";   ///< GGUF general.architecture
    std::uint32_t n_vocab = 0;         ///< [vocab_size]
    std::uint32_t n_embd = 0;          ///< [hidden_size]
    std::uint32_t n_layer = 0;         ///< [num_hidden_layers]
    std::uint32_t n_head = 0;          ///< [num_attention_heads]
    std::uint32_t n_head_kv = 0;       ///< [num_key_value_heads]
    std::uint32_t head_dim = 0;        ///< [head_dim], hidden_size / num_attention_heads when absent
    std::uint32_t n_ff = 0;            ///< [intermediate_size], per expert for MoE
    std::uint32_t n_expert = 0;        ///< [num_local_experts]
    std::uint32_t n_expert_used = 0;   ///< [num_experts_per_tok]
    bool tied_embeddings = false;      ///< [tie_word_embeddings]: no output.weight in the file
    bool qkv_bias = false;             ///< q/k/v projections carry biases (qwen2)
    bool rope_freqs = false;           ///< llama 3.1 rope scaling: a rope_freqs.weight tensor of head_dim/2

    constexpr std::uint32_t n_embd_q() const { return n_head * head_dim; }
    constexpr std::uint32_t n_embd_kv() const { return n_head_kv * head_dim; }
    constexpr bool moe() const { return n_expert > 1; }
};

/// llama-quantize's tensor categories. attn_qkv and attn_kv_b fall into attn_v, as they do there.
enum class tensor_category : std::uint8_t {
    token_embd, output, attn_q, attn_k, attn_v, attn_output, ffn_up, ffn_gate, ffn_down, other,
};

/// One tensor as the type rules see it: its name (split so it can be built at compile time),
/// its shape GGUF-style (ne[0] is the row length) and the type it has before quantization.
struct tensor_desc {
    std::string_view base;             ///< the name after "blk.N.", or the whole name outside blocks
    std::int32_t layer = -1;           ///< the block number, -1 outside blocks
    tensor_category category = tensor_category::other;
    bool quantizable = false;          ///< would llama-quantize change its type at all
    bool parameter = true;             ///< counts as a model parameter (rope_freqs does not)
    std::array<std::uint64_t, 4> ne{1, 1, 1, 1};
    type_id source = type_id::f32;     ///< the type kept when the tensor is not quantizable

    constexpr std::uint64_t n_elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    constexpr std::uint64_t n_rows() const { return ne[1] * ne[2] * ne[3]; }
    /// ggml_n_dims: trailing dimensions of 1 do not count, and a scalar has one dimension.
    constexpr std::uint32_t n_dims() const {
        for (std::uint32_t d = 4; d > 1; --d)
            if (ne[d - 1] != 1) return d;
        return 1;
    }
};

/// A tensor name built without allocation, so it exists at compile time.
struct tensor_name {
    std::array<char, 128> chars{};
    std::size_t size = 0;

    constexpr std::string_view view() const { return {chars.data(), size}; }
    constexpr void append(std::string_view s) {
        if (s.size() > chars.size() - size) throw error(errc::invalid_argument, "tensor name too long");
        for (char c : s) chars[size++] = c;
    }
    constexpr void append(std::uint64_t v) {
        std::array<char, 20> digits{};
        std::size_t n = 0;
        do {
            digits[n++] = static_cast<char>('0' + v % 10);
            v /= 10;
        } while (v != 0);
        while (n > 0) append(std::string_view{&digits[--n], 1});
    }
};

/// The full GGUF name, e.g. "blk.17.attn_q.weight".
constexpr tensor_name full_name(const tensor_desc& t) {
    tensor_name n;
    if (t.layer >= 0) {
        n.append("blk.");
        n.append(static_cast<std::uint64_t>(t.layer));
        n.append(".");
    }
    n.append(t.base);
    return n;
}

namespace estimate_detail {

constexpr bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
constexpr bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

// Substrings of names llama-quantize never quantizes although they are 2-D weights: routers,
// positional tables, tiny convolution and RWKV mixing weights, multimodal projector parts.
inline constexpr std::string_view never_quantized[] = {
    "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
    "per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight",
    "indexer.q_proj.weight", "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight",
    "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight",
    "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight",
    "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd", "sam.pos_embd",
    "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
    "mm.a.code_embd",
};

} // namespace estimate_detail

/// llama-quantize's category of a tensor, from its full name.
constexpr tensor_category category_of(std::string_view name) {
    using estimate_detail::contains;
    if (name == "output.weight") return tensor_category::output;
    if (name == "token_embd.weight" || name == "per_layer_token_embd.weight") return tensor_category::token_embd;
    if (contains(name, "attn_qkv.weight") || contains(name, "attn_kv_b.weight") || contains(name, "attn_v.weight"))
        return tensor_category::attn_v;
    if (contains(name, "attn_k.weight")) return tensor_category::attn_k;
    if (contains(name, "attn_q.weight")) return tensor_category::attn_q;
    if (contains(name, "attn_output.weight")) return tensor_category::attn_output;
    if (contains(name, "ffn_up")) return tensor_category::ffn_up;
    if (contains(name, "ffn_gate")) return tensor_category::ffn_gate;
    if (contains(name, "ffn_down")) return tensor_category::ffn_down;
    return tensor_category::other;
}

/// Whether llama-quantize converts the tensor at all: 2-D and 3-D weights only, minus norms,
/// expert routers and a list of small or positional tables; everything else keeps its type.
constexpr bool quantize_allowed(std::string_view name, std::uint32_t n_dims) {
    if (n_dims < 2 || !estimate_detail::ends_with(name, "weight")) return false;
    if (name == "position_embd.weight" || name == "token_types.weight") return false;
    for (auto part : estimate_detail::never_quantized)
        if (estimate_detail::contains(name, part)) return false;
    return true;
}

/// A tensor of a GGUF file as the type rules see it: block number and category from its name.
constexpr tensor_desc describe_tensor(std::string_view name, std::array<std::uint64_t, 4> ne, type_id type) {
    tensor_desc t;
    t.base = name;
    // "blk.N." prefix: the block number, as llama-quantize reads it.
    if (name.substr(0, 4) == "blk.") {
        std::size_t i = 4;
        std::int64_t layer = 0;
        while (i < name.size() && name[i] >= '0' && name[i] <= '9' && layer < (1 << 24))
            layer = layer * 10 + (name[i++] - '0');
        if (i > 4 && i < name.size() && name[i] == '.') {
            t.layer = static_cast<std::int32_t>(layer);
            t.base = name.substr(i + 1);
        }
    }
    t.ne = ne;
    t.source = type;
    t.category = category_of(name);
    t.quantizable = quantize_allowed(name, t.n_dims());
    t.parameter = t.base != "rope_freqs.weight";
    return t;
}

/// llama-quantize's visiting order: by block number (tensors outside blocks first), then by name.
constexpr bool quantize_order(const tensor_desc& a, const tensor_desc& b) {
    return a.layer != b.layer ? a.layer < b.layer : a.base < b.base;
}

namespace estimate_detail {

// A fixed-capacity list of the tensors of one block, filled once per model and then stamped with
// each block number.
struct block_tensors {
    std::array<tensor_desc, 16> items{};
    std::size_t size = 0;
    constexpr void add(std::string_view base, std::array<std::uint64_t, 4> ne, bool param = true) {
        tensor_desc t;
        t.base = base;
        t.ne = ne;
        t.parameter = param;
        // Classified by the same name rules a file's tensors go through ("blk.0." changes nothing).
        t.category = category_of(base);
        t.quantizable = quantize_allowed(base, t.n_dims());
        items[size++] = t;
    }
};

// Names sorted as llama-quantize sorts them within a block (plain string order).
constexpr block_tensors block_of(const model_spec& m) {
    const std::uint64_t e = m.n_embd, q = m.n_embd_q(), kv = m.n_embd_kv(), ff = m.n_ff, x = m.n_expert;
    block_tensors b;
    if (m.qkv_bias) b.add("attn_k.bias", {kv, 1, 1, 1});
    b.add("attn_k.weight", {e, kv, 1, 1});
    b.add("attn_norm.weight", {e, 1, 1, 1});
    b.add("attn_output.weight", {q, e, 1, 1});
    if (m.qkv_bias) b.add("attn_q.bias", {q, 1, 1, 1});
    b.add("attn_q.weight", {e, q, 1, 1});
    if (m.qkv_bias) b.add("attn_v.bias", {kv, 1, 1, 1});
    b.add("attn_v.weight", {e, kv, 1, 1});
    if (m.moe()) {
        // Experts are stored merged, one 3-D tensor per projection (older files split them per
        // expert; the bytes are the same).
        b.add("ffn_down_exps.weight", {ff, e, x, 1});
        b.add("ffn_gate_exps.weight", {e, ff, x, 1});
        b.add("ffn_gate_inp.weight", {e, x, 1, 1});
        b.add("ffn_norm.weight", {e, 1, 1, 1});
        b.add("ffn_up_exps.weight", {e, ff, x, 1});
    } else {
        b.add("ffn_down.weight", {ff, e, 1, 1});
        b.add("ffn_gate.weight", {e, ff, 1, 1});
        b.add("ffn_norm.weight", {e, 1, 1, 1});
        b.add("ffn_up.weight", {e, ff, 1, 1});
    }
    return b;
}

constexpr block_tensors globals_of(const model_spec& m) {
    block_tensors g;
    if (!m.tied_embeddings) g.add("output.weight", {m.n_embd, m.n_vocab, 1, 1});
    g.add("output_norm.weight", {m.n_embd, 1, 1, 1});
    if (m.rope_freqs) g.add("rope_freqs.weight", {m.head_dim / 2, 1, 1, 1}, /*param=*/false);
    g.add("token_embd.weight", {m.n_embd, m.n_vocab, 1, 1});
    return g;
}

} // namespace estimate_detail

/// Calls f(tensor_desc) for every tensor of the model's GGUF file, in llama-quantize's order.
template <class F>
constexpr void for_each_tensor(const model_spec& m, F&& f) {
    const auto globals = estimate_detail::globals_of(m);
    for (std::size_t i = 0; i < globals.size; ++i) f(globals.items[i]);
    const auto block = estimate_detail::block_of(m);
    for (std::uint32_t l = 0; l < m.n_layer; ++l)
        for (std::size_t i = 0; i < block.size; ++i) {
            tensor_desc t = block.items[i];
            t.layer = static_cast<std::int32_t>(l);
            f(t);
        }
}

/// Number of tensors in the model's GGUF file.
constexpr std::size_t tensor_count(const model_spec& m) {
    return estimate_detail::globals_of(m).size + std::size_t{m.n_layer} * estimate_detail::block_of(m).size;
}

/// Number of parameters: the elements of every tensor of the checkpoint (the published count).
constexpr std::uint64_t param_count(const model_spec& m) {
    std::uint64_t n = 0;
    for_each_tensor(m, [&](const tensor_desc& t) {
        if (t.parameter) n += t.n_elements();
    });
    return n;
}

} // namespace lowbit
