// lowbit — GGUF tensor type numbers and the layout facts of every one of them.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "../error.hpp"

namespace lowbit {

/// The GGML/GGUF tensor type number. Values are the file format's; gaps are types the reference
/// removed (4, 5, 31-33, 36-38), which files may not use.
enum class type_id : std::uint32_t {
    f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
    q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15,
    iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23,
    i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30,
    tq1_0 = 34, tq2_0 = 35, mxfp4 = 39, nvfp4 = 40, q1_0 = 41, q2_0 = 42,
};

/// Layout of one GGUF type: `block_size` values are stored in `type_size` bytes.
struct type_layout {
    type_id id;
    std::string_view name;   ///< the reference's spelling (ggml_type_name), e.g. "q4_K"
    std::uint32_t block_size;
    std::uint32_t type_size;
    bool quantized;
};

/// Every type a GGUF file may name, including the ones lowbit does not (yet) encode.
inline constexpr std::array<type_layout, 35> all_type_layouts{{
    {type_id::f32, "f32", 1, 4, false},       {type_id::f16, "f16", 1, 2, false},
    {type_id::q4_0, "q4_0", 32, 18, true},    {type_id::q4_1, "q4_1", 32, 20, true},
    {type_id::q5_0, "q5_0", 32, 22, true},    {type_id::q5_1, "q5_1", 32, 24, true},
    {type_id::q8_0, "q8_0", 32, 34, true},    {type_id::q8_1, "q8_1", 32, 36, true},
    {type_id::q2_K, "q2_K", 256, 84, true},   {type_id::q3_K, "q3_K", 256, 110, true},
    {type_id::q4_K, "q4_K", 256, 144, true},  {type_id::q5_K, "q5_K", 256, 176, true},
    {type_id::q6_K, "q6_K", 256, 210, true},  {type_id::q8_K, "q8_K", 256, 292, true},
    {type_id::iq2_xxs, "iq2_xxs", 256, 66, true}, {type_id::iq2_xs, "iq2_xs", 256, 74, true},
    {type_id::iq3_xxs, "iq3_xxs", 256, 98, true}, {type_id::iq1_s, "iq1_s", 256, 50, true},
    {type_id::iq4_nl, "iq4_nl", 32, 18, true},    {type_id::iq3_s, "iq3_s", 256, 110, true},
    {type_id::iq2_s, "iq2_s", 256, 82, true},     {type_id::iq4_xs, "iq4_xs", 256, 136, true},
    {type_id::i8, "i8", 1, 1, false},         {type_id::i16, "i16", 1, 2, false},
    {type_id::i32, "i32", 1, 4, false},       {type_id::i64, "i64", 1, 8, false},
    {type_id::f64, "f64", 1, 8, false},       {type_id::iq1_m, "iq1_m", 256, 56, true},
    {type_id::bf16, "bf16", 1, 2, false},     {type_id::tq1_0, "tq1_0", 256, 54, true},
    {type_id::tq2_0, "tq2_0", 256, 66, true}, {type_id::mxfp4, "mxfp4", 32, 17, true},
    {type_id::nvfp4, "nvfp4", 64, 36, true},  {type_id::q1_0, "q1_0", 128, 18, true},
    {type_id::q2_0, "q2_0", 64, 18, true},
}};

/// Index of `id` in all_type_layouts, or -1 for a number that names no GGUF type. Constant
/// expressions should use this (or layout_of) rather than compare pointers: GCC's UBSan
/// instrumentation makes pointer-to-null comparisons non-constant.
constexpr int layout_index(type_id id) noexcept {
    for (std::size_t i = 0; i < all_type_layouts.size(); ++i)
        if (all_type_layouts[i].id == id) return static_cast<int>(i);
    return -1;
}

constexpr bool is_gguf_type(type_id id) noexcept { return layout_index(id) >= 0; }

/// The layout of a known type, by value (a constant expression only for known types).
constexpr type_layout layout_of(type_id id) {
    const int i = layout_index(id);
    if (i < 0) throw error(errc::unsupported_type, "type #" + std::to_string(static_cast<std::uint32_t>(id)) + " is not a GGUF tensor type");
    return all_type_layouts[static_cast<std::size_t>(i)];
}

/// The layout of `id`, or nullptr for a number that names no GGUF type.
constexpr const type_layout* find_layout(type_id id) noexcept {
    const int i = layout_index(id);
    return i < 0 ? nullptr : &all_type_layouts[static_cast<std::size_t>(i)];
}

/// The layout of a raw type number read from a file, or nullptr.
constexpr const type_layout* find_layout(std::uint32_t raw) noexcept {
    return find_layout(static_cast<type_id>(raw));
}

/// Type by its name, case-insensitively ("Q4_K", "q4_k" and "q4_K" all work).
constexpr std::optional<type_id> type_from_name(std::string_view name) noexcept {
    auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
    for (const auto& l : all_type_layouts) {
        if (l.name.size() != name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < name.size() && same; ++i) same = lower(l.name[i]) == lower(name[i]);
        if (same) return l.id;
    }
    return std::nullopt;
}

/// The reference's spelling of the type, or "unknown".
constexpr std::string_view type_name(type_id id) noexcept {
    const int i = layout_index(id);
    return i < 0 ? std::string_view{"unknown"} : all_type_layouts[static_cast<std::size_t>(i)].name;
}

} // namespace lowbit
