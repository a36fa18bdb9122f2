// lowbit — published model configurations (config.json of each Hugging Face checkpoint).
#pragma once

#include <iterator>
#include <optional>
#include <string_view>

#include "model_spec.hpp"

namespace lowbit::models {

// meta-llama/Llama-2-{7b,13b,70b}-hf config.json
inline constexpr model_spec llama2_7b{.name = "Llama-2-7B", .n_vocab = 32000, .n_embd = 4096, .n_layer = 32,
                                      .n_head = 32, .n_head_kv = 32, .head_dim = 128, .n_ff = 11008};
inline constexpr model_spec llama2_13b{.name = "Llama-2-13B", .n_vocab = 32000, .n_embd = 5120, .n_layer = 40,
                                       .n_head = 40, .n_head_kv = 40, .head_dim = 128, .n_ff = 13824};
inline constexpr model_spec llama2_70b{.name = "Llama-2-70B", .n_vocab = 32000, .n_embd = 8192, .n_layer = 80,
                                       .n_head = 64, .n_head_kv = 8, .head_dim = 128, .n_ff = 28672};

// meta-llama/Llama-3.1-{8B,70B,405B} config.json; rope_scaling "llama3" makes the converter
// store the rope frequency factors as a tensor.
inline constexpr model_spec llama3_1_8b{.name = "Llama-3.1-8B", .n_vocab = 128256, .n_embd = 4096, .n_layer = 32,
                                        .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336,
                                        .rope_freqs = true};
inline constexpr model_spec llama3_1_70b{.name = "Llama-3.1-70B", .n_vocab = 128256, .n_embd = 8192, .n_layer = 80,
                                         .n_head = 64, .n_head_kv = 8, .head_dim = 128, .n_ff = 28672,
                                         .rope_freqs = true};
inline constexpr model_spec llama3_1_405b{.name = "Llama-3.1-405B", .n_vocab = 128256, .n_embd = 16384,
                                          .n_layer = 126, .n_head = 128, .n_head_kv = 8, .head_dim = 128,
                                          .n_ff = 53248, .rope_freqs = true};

// mistralai/Mistral-7B-v0.1 and mistralai/Mixtral-8x7B-v0.1 config.json (llama architecture in GGUF).
inline constexpr model_spec mistral_7b{.name = "Mistral-7B-v0.1", .n_vocab = 32000, .n_embd = 4096, .n_layer = 32,
                                       .n_head = 32, .n_head_kv = 8, .head_dim = 128, .n_ff = 14336};
inline constexpr model_spec mixtral_8x7b{.name = "Mixtral-8x7B-v0.1", .n_vocab = 32000, .n_embd = 4096,
                                         .n_layer = 32, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
                                         .n_ff = 14336, .n_expert = 8, .n_expert_used = 2};

// Qwen/Qwen2.5-7B config.json: untied embeddings at this size, biases on q/k/v.
inline constexpr model_spec qwen2_5_7b{.name = "Qwen2.5-7B", .arch = "qwen2", .n_vocab = 152064, .n_embd = 3584,
                                       .n_layer = 28, .n_head = 28, .n_head_kv = 4, .head_dim = 128,
                                       .n_ff = 18944, .qkv_bias = true};

inline constexpr model_spec all[] = {llama2_7b,  llama2_13b,   llama2_70b, llama3_1_8b,  llama3_1_70b,
                                     llama3_1_405b, mistral_7b, mixtral_8x7b, qwen2_5_7b};

/// The identifiers above as strings, in the order of `all`.
inline constexpr std::string_view ids[] = {"llama2_7b",     "llama2_13b", "llama2_70b",   "llama3_1_8b", "llama3_1_70b",
                                           "llama3_1_405b", "mistral_7b", "mixtral_8x7b", "qwen2_5_7b"};

/// A named model by identifier ("llama3_1_8b") or published name ("Llama-3.1-8B"), ignoring case.
constexpr std::optional<model_spec> find(std::string_view name) {
    auto same = [](std::string_view a, std::string_view b) {
        auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (lower(a[i]) != lower(b[i])) return false;
        return true;
    };
    for (std::size_t i = 0; i < std::size(all); ++i)
        if (same(name, ids[i]) || same(name, all[i].name)) return all[i];
    return std::nullopt;
}

} // namespace lowbit::models
