// lowbit — the estimator applied to a GGUF file: its hyper-parameters as a model_spec, its
// tensors in llama-quantize's order, and the type a preset gives each of them.
//
// Separate from estimate.hpp because it needs the GGUF reader (and so the file system); the
// estimator itself stays constexpr and dependency-free.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "../lowbit.hpp"  // the reader needs the whole library (runtime table) declared first
#include "../gguf/reader.hpp"
#include "footprint.hpp"
#include "model_spec.hpp"
#include "presets.hpp"

namespace lowbit {

namespace estimate_detail {
inline std::uint32_t hparam(const gguf::reader& r, std::string_view key, std::optional<std::uint64_t> fallback = {}) {
    auto v = r.arch_uint(key);
    if (!v) v = fallback;
    if (!v) throw error(errc::malformed_file, r.source() + ": no " + std::string(r.architecture()) + "." + std::string(key));
    if (*v > 0xFFFFFFFFu) throw error(errc::malformed_file, r.source() + ": " + std::string(key) + " out of range");
    return static_cast<std::uint32_t>(*v);
}
} // namespace estimate_detail

/// The model_spec a GGUF file describes (llama.cpp's metadata keys; head_count_kv defaults to
/// head_count, key_length to embedding_length / head_count, vocab_size to token_embd's rows).
inline model_spec spec_from_gguf(const gguf::reader& r) {
    using estimate_detail::hparam;
    if (r.architecture().empty()) throw error(errc::malformed_file, r.source() + ": no general.architecture");
    model_spec m;
    m.name = r.get_string("general.name").value_or(r.architecture());
    m.arch = r.architecture();
    m.n_embd = hparam(r, "embedding_length");
    m.n_layer = hparam(r, "block_count");
    m.n_head = hparam(r, "attention.head_count");
    m.n_head_kv = hparam(r, "attention.head_count_kv", m.n_head);
    if (m.n_head == 0) throw error(errc::malformed_file, r.source() + ": attention.head_count is 0");
    m.head_dim = hparam(r, "attention.key_length", m.n_embd / m.n_head);
    m.n_ff = hparam(r, "feed_forward_length", 0);
    m.n_expert = hparam(r, "expert_count", 0);
    m.n_expert_used = hparam(r, "expert_used_count", 0);
    std::optional<std::uint64_t> vocab;
    if (const auto* t = r.find_tensor("token_embd.weight")) vocab = static_cast<std::uint64_t>(t->ne[1]);
    m.n_vocab = hparam(r, "vocab_size", vocab);
    m.tied_embeddings = r.find_tensor("output.weight") == nullptr;
    m.qkv_bias = r.find_tensor("blk.0.attn_q.bias") != nullptr;
    m.rope_freqs = r.find_tensor("rope_freqs.weight") != nullptr;
    return m;
}

/// The file's tensors in llama-quantize's visiting order. Names view into the reader.
inline std::vector<tensor_desc> tensors_from_gguf(const gguf::reader& r) {
    std::vector<tensor_desc> out;
    out.reserve(r.tensors().size());
    for (const auto& t : r.tensors()) {
        std::array<std::uint64_t, 4> ne{};
        for (std::size_t d = 0; d < 4; ++d) {
            if (t.ne[d] < 0) throw error(errc::malformed_file, r.source() + ": negative dimension");
            ne[d] = static_cast<std::uint64_t>(t.ne[d]);
        }
        out.push_back(describe_tensor(t.name, ne, t.type));
    }
    std::stable_sort(out.begin(), out.end(), quantize_order);
    return out;
}

/// One tensor of a file with the type a preset gives it.
struct planned_tensor {
    tensor_desc tensor;
    type_id type;
    std::uint64_t bytes;
};

/// What llama-quantize would write for each tensor of the file under `preset`.
template <tensor_type_policy P>
std::vector<planned_tensor> plan_gguf(const gguf::reader& r, const P& preset) {
    const auto spec = spec_from_gguf(r);
    const auto tensors = tensors_from_gguf(r);
    const quant_context c = context_of(spec, tensors);
    quant_counters k;
    std::vector<planned_tensor> out;
    out.reserve(tensors.size());
    for (const auto& t : tensors) {
        const type_id type = preset.choose(t, c, k);
        out.push_back({t, type, tensor_data_bytes(t, type)});
    }
    return out;
}

/// Tensor name → the type `preset` gives it in this file: what a converter's per-tensor type
/// hook needs to write exactly the file llama-quantize would (and the bytes weight_bytes predicts).
template <tensor_type_policy P>
std::unordered_map<std::string, type_id> preset_types(const gguf::reader& r, const P& preset) {
    std::unordered_map<std::string, type_id> out;
    for (const auto& p : plan_gguf(r, preset)) out.emplace(std::string(full_name(p.tensor).view()), p.type);
    return out;
}

/// Tensor-data bytes the file would have after quantizing it with `preset` (no padding).
template <tensor_type_policy P>
std::uint64_t weight_bytes(const gguf::reader& r, const P& preset) {
    std::uint64_t sum = 0;
    for (const auto& p : plan_gguf(r, preset)) sum += p.bytes;
    return sum;
}

} // namespace lowbit
