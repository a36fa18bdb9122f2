// lowbit — GGUF vocabulary shared by the reader and the writer: the metadata value types, the
// constants of the container, and little-endian loads and stores that work on any host.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "../error.hpp"

namespace lowbit::gguf {

/// The type tag of a metadata value, numbered as in the file.
enum class value_type : std::uint32_t {
    u8 = 0, i8 = 1, u16 = 2, i16 = 3, u32 = 4, i32 = 5, f32 = 6, boolean = 7,
    string = 8, array = 9, u64 = 10, i64 = 11, f64 = 12,
};

inline constexpr std::uint32_t value_type_count = 13;
inline constexpr std::uint32_t default_alignment = 32;   ///< when general.alignment is absent
inline constexpr std::uint32_t max_dims = 4;             ///< the reference's GGML_MAX_DIMS
inline constexpr std::size_t max_tensor_name = 63;       ///< longer names are refused by the reference reader
inline constexpr std::string_view alignment_key = "general.alignment";

constexpr bool is_known(std::uint32_t raw) noexcept { return raw < value_type_count; }

/// Encoded size of a fixed-size value, 0 for strings and arrays (whose size depends on content).
constexpr std::size_t fixed_size(value_type t) noexcept {
    switch (t) {
    case value_type::u8: case value_type::i8: case value_type::boolean: return 1;
    case value_type::u16: case value_type::i16: return 2;
    case value_type::u32: case value_type::i32: case value_type::f32: return 4;
    case value_type::u64: case value_type::i64: case value_type::f64: return 8;
    case value_type::string: case value_type::array: return 0;
    }
    return 0;
}

/// The name gguf-dump prints for a value type.
constexpr std::string_view value_type_name(value_type t) noexcept {
    switch (t) {
    case value_type::u8: return "u8";
    case value_type::i8: return "i8";
    case value_type::u16: return "u16";
    case value_type::i16: return "i16";
    case value_type::u32: return "u32";
    case value_type::i32: return "i32";
    case value_type::f32: return "f32";
    case value_type::boolean: return "bool";
    case value_type::string: return "string";
    case value_type::array: return "array";
    case value_type::u64: return "u64";
    case value_type::i64: return "i64";
    case value_type::f64: return "f64";
    }
    return "unknown";
}

/// The value type that stores the C++ type T (for the typed accessors and the writer).
template <class T> struct value_type_of;
template <> struct value_type_of<std::uint8_t> { static constexpr auto value = value_type::u8; };
template <> struct value_type_of<std::int8_t> { static constexpr auto value = value_type::i8; };
template <> struct value_type_of<std::uint16_t> { static constexpr auto value = value_type::u16; };
template <> struct value_type_of<std::int16_t> { static constexpr auto value = value_type::i16; };
template <> struct value_type_of<std::uint32_t> { static constexpr auto value = value_type::u32; };
template <> struct value_type_of<std::int32_t> { static constexpr auto value = value_type::i32; };
template <> struct value_type_of<float> { static constexpr auto value = value_type::f32; };
template <> struct value_type_of<bool> { static constexpr auto value = value_type::boolean; };
template <> struct value_type_of<std::uint64_t> { static constexpr auto value = value_type::u64; };
template <> struct value_type_of<std::int64_t> { static constexpr auto value = value_type::i64; };
template <> struct value_type_of<double> { static constexpr auto value = value_type::f64; };

namespace detail {

// GGUF is little-endian; these go through bytes so that a big-endian host reads the same numbers
// and no load is ever misaligned.
template <class T>
T load_le(const unsigned char* p) noexcept {
    unsigned char b[sizeof(T)];
    std::memcpy(b, p, sizeof(T));
    if constexpr (std::endian::native == std::endian::big)
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    T v;
    std::memcpy(&v, b, sizeof(T));
    return v;
}

template <class T>
void append_le(std::string& out, T v) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    if constexpr (std::endian::native == std::endian::big)
        for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    out.append(reinterpret_cast<const char*>(b), sizeof(T));
}

constexpr bool is_power_of_two(std::uint64_t x) noexcept { return x != 0 && (x & (x - 1)) == 0; }

/// x rounded up to a multiple of the power of two `a`; false when that overflows.
constexpr bool pad_to(std::uint64_t x, std::uint64_t a, std::uint64_t& out) noexcept {
    const std::uint64_t rem = x & (a - 1);
    if (rem == 0) { out = x; return true; }
    const std::uint64_t add = a - rem;
    if (x > UINT64_MAX - add) return false;
    out = x + add;
    return true;
}

} // namespace detail
} // namespace lowbit::gguf
