// lowbit — GGUF reader: the header parsed once into views of the file's own bytes.
//
// Nothing is trusted: every count, length, shape and offset is checked against the bytes that
// remain and for overflow before it is used, so a crafted file yields a lowbit::error
// (errc::malformed_file) that names the problem and the byte offset, never undefined behaviour.
// Strings, metadata and tensor data are zero-copy views into the mapped file; they live as long as
// the reader (moving the reader keeps them valid).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "../error.hpp"
#include "../format/type_id.hpp"
#include "../runtime.hpp"
#include "common.hpp"
#include "mmap.hpp"

namespace lowbit::gguf {

namespace detail {

// Where a metadata value lies in the file. Strings and arrays of fixed-size values are described
// by (offset, count) alone; arrays of strings or of arrays also own a run of child nodes, because
// their elements have different sizes and random access needs each one's position.
struct value_node {
    value_type type = value_type::u8;
    value_type elem = value_type::u8;  ///< arrays: the element type
    std::uint64_t offset = 0;          ///< scalars: the value; strings: the first char; arrays: element 0
    std::uint64_t count = 0;           ///< strings: bytes; arrays: elements
    std::uint64_t children = 0;        ///< arrays of strings/arrays: index of element 0's node
};

/// A key or tensor name made safe to print: control and non-ASCII bytes escaped, long ones cut.
inline std::string printable(std::string_view s, std::size_t max = 80) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < max; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
            out += static_cast<char>(c);
        } else {
            char b[8];
            std::snprintf(b, sizeof b, "\\x%02x", c);
            out += b;
        }
    }
    if (s.size() > max) out += "...";
    return out;
}

} // namespace detail

/// A view of one metadata value (or of one element of an array value).
class value_ref {
public:
    value_ref() = default;
    value_ref(const unsigned char* base, const detail::value_node* nodes, detail::value_node n) noexcept
        : base_(base), nodes_(nodes), n_(n) {}

    value_type type() const noexcept { return n_.type; }
    /// Byte offset in the file where the value's payload begins.
    std::uint64_t offset() const noexcept { return n_.offset; }

    /// The value as exactly the C++ type of its tag (u32 -> std::uint32_t, bool -> bool, ...).
    template <class T>
    T get() const {
        require(value_type_of<T>::value);
        if constexpr (std::is_same_v<T, bool>) return base_[n_.offset] != 0;
        else return detail::load_le<T>(base_ + n_.offset);
    }

    std::string_view as_string() const {
        require(value_type::string);
        return {reinterpret_cast<const char*>(base_ + n_.offset), static_cast<std::size_t>(n_.count)};
    }

    /// Any integer (or bool) that is non-negative, widened; nullopt for anything else.
    std::optional<std::uint64_t> as_uint() const noexcept {
        switch (n_.type) {
        case value_type::u8: case value_type::boolean: return base_[n_.offset];
        case value_type::u16: return detail::load_le<std::uint16_t>(base_ + n_.offset);
        case value_type::u32: return detail::load_le<std::uint32_t>(base_ + n_.offset);
        case value_type::u64: return detail::load_le<std::uint64_t>(base_ + n_.offset);
        default: {
            const auto s = as_int();
            if (s && *s >= 0) return static_cast<std::uint64_t>(*s);
            return std::nullopt;
        }
        }
    }

    /// Any integer that fits std::int64_t; nullopt otherwise.
    std::optional<std::int64_t> as_int() const noexcept {
        switch (n_.type) {
        case value_type::i8: return detail::load_le<std::int8_t>(base_ + n_.offset);
        case value_type::i16: return detail::load_le<std::int16_t>(base_ + n_.offset);
        case value_type::i32: return detail::load_le<std::int32_t>(base_ + n_.offset);
        case value_type::i64: return detail::load_le<std::int64_t>(base_ + n_.offset);
        case value_type::u8: case value_type::u16: case value_type::u32: case value_type::boolean: return static_cast<std::int64_t>(*as_uint());
        case value_type::u64: {
            const auto u = detail::load_le<std::uint64_t>(base_ + n_.offset);
            if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
            return static_cast<std::int64_t>(u);
        }
        default: return std::nullopt;
        }
    }

    /// f32 or f64 as double; nullopt otherwise.
    std::optional<double> as_float() const noexcept {
        if (n_.type == value_type::f32) return detail::load_le<float>(base_ + n_.offset);
        if (n_.type == value_type::f64) return detail::load_le<double>(base_ + n_.offset);
        return std::nullopt;
    }

    /// The encoded bytes of a fixed-size value, or of all elements of an array of fixed-size values.
    std::span<const std::byte> payload() const {
        const std::size_t w = fixed_size(n_.type == value_type::array ? n_.elem : n_.type);
        if (!w) throw error(errc::invalid_argument, "a " + std::string(value_type_name(n_.type)) + " value has no fixed-size payload");
        const std::uint64_t n = n_.type == value_type::array ? n_.count * w : w;
        return {reinterpret_cast<const std::byte*>(base_ + n_.offset), static_cast<std::size_t>(n)};
    }

    // Arrays.
    bool is_array() const noexcept { return n_.type == value_type::array; }
    value_type element_type() const { require(value_type::array); return n_.elem; }
    std::uint64_t size() const { require(value_type::array); return n_.count; }

    /// Element i of an array, as a value of its own.
    value_ref operator[](std::uint64_t i) const {
        require(value_type::array);
        if (i >= n_.count)
            throw error(errc::invalid_argument, "array index " + std::to_string(i) + " is past its " + std::to_string(n_.count) + " elements");
        const std::size_t width = fixed_size(n_.elem);
        if (width) {
            detail::value_node e;
            e.type = n_.elem;
            e.offset = n_.offset + i * width;
            return {base_, nodes_, e};
        }
        return {base_, nodes_, nodes_[n_.children + i]};
    }

    /// Element i of an array of T.
    template <class T>
    T element(std::uint64_t i) const { return (*this)[i].template get<T>(); }

private:
    const unsigned char* base_ = nullptr;
    const detail::value_node* nodes_ = nullptr;
    detail::value_node n_{};

    void require(value_type t) const {
        if (n_.type != t)
            throw error(errc::invalid_argument, "metadata value is " + std::string(value_type_name(n_.type)) + ", not " +
                                                    std::string(value_type_name(t)));
    }
};

/// One metadata entry.
struct key_value {
    std::string_view key;
    value_ref value;
    std::uint64_t offset = 0;  ///< where the entry (its key length) begins in the file
};

/// One tensor: its shape and type, and a view of its bytes in the file.
struct tensor_info {
    std::string_view name;
    std::uint32_t n_dims = 0;
    std::array<std::int64_t, max_dims> ne{1, 1, 1, 1};  ///< ne[0] is the row length (contiguous); unused dims are 1
    type_id type = type_id::f32;
    std::uint64_t offset = 0;       ///< relative to the data section, as stored in the file
    std::uint64_t file_offset = 0;  ///< absolute byte offset of the data
    std::uint64_t info_offset = 0;  ///< where this tensor's description begins in the file
    std::uint64_t n_bytes = 0;
    std::span<const std::byte> bytes;  ///< the data, n_bytes long
    std::int64_t elements = 0;         ///< checked product of ne (0 when any dimension is 0)

    std::span<const std::int64_t> shape() const noexcept { return {ne.data(), n_dims}; }
    std::int64_t n_elements() const noexcept { return elements; }
    std::int64_t row_length() const noexcept { return ne[0]; }
    std::int64_t n_rows() const noexcept { return ne[0] == 0 ? 0 : n_elements() / ne[0]; }
};

/// A parsed GGUF file (v2 or v3, little-endian). Move-only; views stay valid while it lives.
class reader {
public:
    /// Opens and parses `path` (memory-mapped where possible, see load_mode).
    static reader open(const std::filesystem::path& path, load_mode mode = load_mode::automatic) {
        reader r;
        r.file_ = file_bytes::open(path, mode);
        r.source_ = path.string();
        r.parse(r.file_.data(), r.file_.size());
        return r;
    }

    /// Parses bytes the caller owns and keeps alive for the reader's life; `source` names them in errors.
    static reader parse_memory(const void* data, std::size_t size, std::string source = "<memory>") {
        reader r;
        r.source_ = std::move(source);
        static const unsigned char empty = 0;
        r.parse(data ? static_cast<const unsigned char*>(data) : &empty, data ? size : 0);
        return r;
    }

    std::uint32_t version() const noexcept { return version_; }
    std::uint64_t alignment() const noexcept { return alignment_; }
    /// Where the tensor data section begins.
    std::uint64_t data_offset() const noexcept { return data_offset_; }
    std::size_t file_size() const noexcept { return size_; }
    bool mapped() const noexcept { return file_.mapped(); }
    const std::string& source() const noexcept { return source_; }

    std::span<const key_value> metadata() const noexcept { return kvs_; }
    const key_value* find(std::string_view key) const {
        const auto it = kv_index_.find(key);
        return it == kv_index_.end() ? nullptr : &kvs_[it->second];
    }
    /// The value of `key`; throws when absent.
    value_ref at(std::string_view key) const {
        if (const auto* kv = find(key)) return kv->value;
        throw error(errc::invalid_argument, source_ + ": no metadata key '" + detail::printable(key) + "'");
    }
    std::optional<std::string_view> get_string(std::string_view key) const {
        const auto* kv = find(key);
        if (!kv || kv->value.type() != value_type::string) return std::nullopt;
        return kv->value.as_string();
    }
    std::optional<std::uint64_t> get_uint(std::string_view key) const {
        const auto* kv = find(key);
        return kv ? kv->value.as_uint() : std::nullopt;
    }
    std::optional<double> get_float(std::string_view key) const {
        const auto* kv = find(key);
        return kv ? kv->value.as_float() : std::nullopt;
    }

    /// general.architecture ("llama", ...), or empty when the file does not say.
    std::string_view architecture() const { return get_string("general.architecture").value_or(std::string_view{}); }
    /// An architecture hyper-parameter such as "block_count" (read as "<arch>.block_count").
    std::optional<std::uint64_t> arch_uint(std::string_view suffix) const {
        return get_uint(std::string(architecture()) + "." + std::string(suffix));
    }

    std::span<const tensor_info> tensors() const noexcept { return tensors_; }
    const tensor_info* find_tensor(std::string_view name) const {
        const auto it = tensor_index_.find(name);
        return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
    }
    /// The tensor called `name`; throws when absent.
    const tensor_info& tensor(std::string_view name) const {
        if (const auto* t = find_tensor(name)) return *t;
        throw error(errc::invalid_argument, source_ + ": no tensor named '" + detail::printable(name) + "'");
    }

private:
    file_bytes file_;
    std::string source_;
    const unsigned char* base_ = nullptr;
    std::size_t size_ = 0;
    std::uint32_t version_ = 0;
    std::uint64_t alignment_ = default_alignment;
    std::uint64_t data_offset_ = 0;
    std::vector<detail::value_node> nodes_;
    std::vector<key_value> kvs_;
    std::vector<std::size_t> kv_nodes_;
    std::unordered_map<std::string_view, std::size_t> kv_index_;
    std::vector<tensor_info> tensors_;
    std::unordered_map<std::string_view, std::size_t> tensor_index_;

    // Metadata arrays of arrays may nest; a bound keeps the parser's recursion shallow.
    static constexpr int max_nesting = 16;
    // Smallest possible encodings, used to refuse counts that cannot fit before allocating for them.
    static constexpr std::uint64_t min_kv_bytes = 8 + 4 + 1;          // key length, type, 1-byte value
    static constexpr std::uint64_t min_tensor_bytes = 8 + 4 + 4 + 8;  // name length, n_dims, type, offset
    static constexpr std::uint64_t min_string_bytes = 8;
    static constexpr std::uint64_t min_array_bytes = 4 + 8;

    std::uint64_t pos_ = 0;

    [[noreturn]] void fail(const std::string& what, std::uint64_t at) const {
        throw error(errc::malformed_file, source_ + ": " + what + " (at byte " + std::to_string(at) + ")");
    }

    std::uint64_t remaining() const noexcept { return size_ - pos_; }

    void need(std::uint64_t n, const char* what) const {
        if (n > remaining())
            fail(std::string("truncated: ") + what + " needs " + std::to_string(n) + " bytes but the file ends " +
                     std::to_string(remaining()) + " bytes later",
                 pos_);
    }

    template <class T>
    T take(const char* what) {
        need(sizeof(T), what);
        const T v = detail::load_le<T>(base_ + pos_);
        pos_ += sizeof(T);
        return v;
    }

    std::string_view take_string(const char* what) {
        const std::uint64_t at = pos_;
        const auto len = take<std::uint64_t>(what);
        if (len > remaining())
            fail(std::string(what) + " has length " + std::to_string(len) + " but only " + std::to_string(remaining()) +
                     " bytes remain",
                 at);
        std::string_view s(reinterpret_cast<const char*>(base_ + pos_), static_cast<std::size_t>(len));
        pos_ += len;
        return s;
    }

    value_type take_type(const char* what) {
        const std::uint64_t at = pos_;
        const auto raw = take<std::uint32_t>(what);
        if (!is_known(raw)) fail(std::string(what) + " is " + std::to_string(raw) + ", not a GGUF value type (0-12)", at);
        return static_cast<value_type>(raw);
    }

    detail::value_node take_value(value_type t, int depth, const std::string& key) {
        detail::value_node n;
        n.type = t;
        if (const std::size_t w = fixed_size(t)) {
            need(w, "a metadata value");
            n.offset = pos_;
            pos_ += w;
            return n;
        }
        if (t == value_type::string) {
            const auto s = take_string("a string value");
            n.offset = static_cast<std::uint64_t>(reinterpret_cast<const unsigned char*>(s.data()) - base_);
            n.count = s.size();
            return n;
        }
        // An array: element type, count, elements.
        if (depth >= max_nesting) fail("metadata '" + key + "' nests arrays deeper than " + std::to_string(max_nesting) + " levels", pos_);
        const std::uint64_t at = pos_;
        n.elem = take_type("an array's element type");
        n.count = take<std::uint64_t>("an array's element count");
        n.offset = pos_;
        const std::size_t w = fixed_size(n.elem);
        const std::uint64_t min_each = w ? w : (n.elem == value_type::string ? min_string_bytes : min_array_bytes);
        if (n.count > remaining() / min_each)
            fail("metadata '" + key + "': array of " + std::to_string(n.count) + " " + std::string(value_type_name(n.elem)) +
                     " values cannot fit in the " + std::to_string(remaining()) + " bytes that remain",
                 at);
        if (w) {
            pos_ += n.count * w;
            return n;
        }
        // Elements of varying size: reserve their nodes as one run, then fill it (nested arrays
        // append their own runs after it).
        n.children = nodes_.size();
        nodes_.resize(nodes_.size() + static_cast<std::size_t>(n.count));
        for (std::uint64_t i = 0; i < n.count; ++i) {
            const auto e = take_value(n.elem, depth + 1, key);
            nodes_[static_cast<std::size_t>(n.children + i)] = e;
        }
        return n;
    }

    void parse(const unsigned char* data, std::size_t size) {
        base_ = data;
        size_ = size;
        pos_ = 0;
        parse_header();
        parse_metadata();
        parse_tensors();
    }

    std::uint64_t n_tensors_ = 0, n_kv_ = 0;

    void parse_header() {
        need(4, "the magic 'GGUF'");
        if (std::memcmp(base_, "GGUF", 4) != 0)
            fail("not a GGUF file: the magic is '" +
                     detail::printable(std::string_view(reinterpret_cast<const char*>(base_), 4)) + "', expected 'GGUF'",
                 0);
        pos_ = 4;
        version_ = take<std::uint32_t>("the version");
        if (version_ != 0 && (version_ & 0xffffu) == 0) {
            char hex[16];
            std::snprintf(hex, sizeof hex, "0x%08x", static_cast<unsigned>(version_));
            fail(std::string("big-endian GGUF files are not supported (the version reads as ") + hex + ")", 4);
        }
        if (version_ == 1) fail("GGUF version 1 is not supported (only versions 2 and 3)", 4);
        if (version_ != 2 && version_ != 3) fail("GGUF version " + std::to_string(version_) + " is not supported (only 2 and 3)", 4);
        n_tensors_ = take<std::uint64_t>("the tensor count");
        n_kv_ = take<std::uint64_t>("the metadata count");
        if (n_kv_ > remaining() / min_kv_bytes)
            fail("metadata count " + std::to_string(n_kv_) + " cannot fit in the " + std::to_string(remaining()) + " bytes that remain", 16);
        if (n_tensors_ > remaining() / min_tensor_bytes)
            fail("tensor count " + std::to_string(n_tensors_) + " cannot fit in the " + std::to_string(remaining()) + " bytes that remain", 8);
    }

    void parse_metadata() {
        kvs_.reserve(static_cast<std::size_t>(n_kv_));
        kv_nodes_.reserve(static_cast<std::size_t>(n_kv_));
        for (std::uint64_t i = 0; i < n_kv_; ++i) {
            const std::uint64_t at = pos_;
            const auto key = take_string("a metadata key");
            if (key.empty()) fail("metadata key " + std::to_string(i) + " is empty", at);
            const std::string shown = detail::printable(key);
            if (const auto* prev = find(key))
                fail("duplicate metadata key '" + shown + "' (first at byte " + std::to_string(prev->offset) + ")", at);
            const auto t = take_type("a metadata value type");
            const auto node = take_value(t, 0, shown);
            kv_nodes_.push_back(nodes_.size());
            nodes_.push_back(node);
            kvs_.push_back({key, {}, at});
            kv_index_.emplace(key, kvs_.size() - 1);
        }
        // Nodes are final: bind the views to them.
        for (std::size_t i = 0; i < kvs_.size(); ++i) kvs_[i].value = value_ref(base_, nodes_.data(), nodes_[kv_nodes_[i]]);
        kv_nodes_ = {};

        if (const auto* kv = find(alignment_key)) {
            if (kv->value.type() != value_type::u32)
                fail("general.alignment must be u32, not " + std::string(value_type_name(kv->value.type())), kv->offset);
            alignment_ = kv->value.get<std::uint32_t>();
            if (!detail::is_power_of_two(alignment_))
                fail("general.alignment " + std::to_string(alignment_) + " is not a power of two", kv->value.offset());
        }
    }

    void parse_tensors() {
        tensors_.reserve(static_cast<std::size_t>(n_tensors_));
        std::vector<std::uint64_t> offset_fields;
        offset_fields.reserve(static_cast<std::size_t>(n_tensors_));
        for (std::uint64_t i = 0; i < n_tensors_; ++i) {
            tensor_info t;
            t.info_offset = pos_;
            t.name = take_string("a tensor name");
            const std::string shown = detail::printable(t.name);
            if (const auto* prev = find_tensor(t.name))
                fail("duplicate tensor name '" + shown + "' (first at byte " + std::to_string(prev->info_offset) + ")", t.info_offset);
            const std::uint64_t dims_at = pos_;
            t.n_dims = take<std::uint32_t>("a tensor's dimension count");
            if (t.n_dims > max_dims)
                fail("tensor '" + shown + "' has " + std::to_string(t.n_dims) + " dimensions; at most 4 are allowed", dims_at);
            std::uint64_t product = 1;
            bool zero = false, overflow = false;
            for (std::uint32_t d = 0; d < t.n_dims; ++d) {
                const std::uint64_t at = pos_;
                const auto ne = take<std::uint64_t>("a tensor dimension");
                if (ne > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                    fail("dimension " + std::to_string(d) + " of tensor '" + shown + "' is negative", at);
                t.ne[d] = static_cast<std::int64_t>(ne);
                if (ne == 0) zero = true;
                else if (product > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / ne) overflow = true;
                else product *= ne;
            }
            if (overflow && !zero) fail("the dimensions of tensor '" + shown + "' multiply past 2^63", dims_at);
            const std::uint64_t type_at = pos_;
            const auto raw = take<std::uint32_t>("a tensor type");
            const type_layout* layout = find_layout(raw);
            if (!layout) fail("tensor '" + shown + "' has unknown type " + std::to_string(raw), type_at);
            t.type = layout->id;
            if (t.ne[0] % layout->block_size != 0)
                fail("row length " + std::to_string(t.ne[0]) + " of tensor '" + shown + "' is not a multiple of " +
                         std::string(layout->name) + "'s block size " + std::to_string(layout->block_size),
                     dims_at);
            // With a zero dimension the others may multiply past 2^63; the count is still 0.
            const std::uint64_t elements = zero ? 0 : product;
            t.elements = static_cast<std::int64_t>(elements);
            const std::uint64_t blocks = elements / layout->block_size;
            if (blocks > std::numeric_limits<std::uint64_t>::max() / layout->type_size ||
                blocks * layout->type_size > std::numeric_limits<std::size_t>::max())
                fail("tensor '" + shown + "' is too large to address", dims_at);
            const std::uint64_t n_bytes = blocks * layout->type_size;
            offset_fields.push_back(pos_);
            t.offset = take<std::uint64_t>("a tensor data offset");
            if (t.offset % alignment_ != 0)
                fail("data of tensor '" + shown + "' at offset " + std::to_string(t.offset) + " is not aligned to " +
                         std::to_string(alignment_) + " bytes",
                     offset_fields.back());
            t.n_bytes = n_bytes;
            tensors_.push_back(t);
            tensor_index_.emplace(t.name, tensors_.size() - 1);
        }

        // The data section begins at the next multiple of the alignment.
        std::uint64_t start = pos_;
        if (!detail::pad_to(pos_, alignment_, start)) fail("the data section offset overflows", pos_);
        data_offset_ = start;
        if (!tensors_.empty() && start > size_)
            fail("the data section would begin at byte " + std::to_string(start) + ", past the end of the file (" +
                     std::to_string(size_) + " bytes)",
                 pos_);

        for (std::size_t i = 0; i < tensors_.size(); ++i) {
            auto& t = tensors_[i];
            const std::uint64_t room = size_ - start;
            const std::uint64_t n_bytes = t.n_bytes;
            if (t.offset > room || n_bytes > room - t.offset)
                fail("data of tensor '" + detail::printable(t.name) + "' (" + std::to_string(n_bytes) + " bytes at offset " +
                         std::to_string(t.offset) + " of the data section at byte " + std::to_string(start) +
                         ") runs past the end of the file (" + std::to_string(size_) + " bytes)",
                     offset_fields[i]);
            t.file_offset = start + t.offset;
            t.bytes = std::span<const std::byte>(reinterpret_cast<const std::byte*>(base_ + t.file_offset), static_cast<std::size_t>(n_bytes));
        }

        // Tensors must not share bytes: a decoder of one would read another's data.
        std::vector<std::size_t> order(tensors_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return tensors_[a].offset < tensors_[b].offset; });
        const tensor_info* prev = nullptr;
        for (const auto i : order) {
            const auto& t = tensors_[i];
            if (t.n_bytes == 0) continue;
            if (prev && prev->offset + prev->n_bytes > t.offset)
                fail("the data of tensors '" + detail::printable(prev->name) + "' and '" + detail::printable(t.name) + "' overlap",
                     offset_fields[i]);
            prev = &t;
        }
    }
};

// ---------------------------------------------------------------------------------------------
// Decoding tensors to f32 through the runtime table.

/// Decodes rows [first_row, first_row + n_rows) of `t` into `out` (n_rows * row_length floats).
/// Throws when the type is not implemented in this build or the range is out of bounds.
inline void decode_rows(const tensor_info& t, std::int64_t first_row, std::int64_t n_rows, std::span<float> out) {
    const std::int64_t rows = t.n_rows();
    if (first_row < 0 || n_rows < 0 || first_row > rows || n_rows > rows - first_row)
        throw error(errc::invalid_argument, "rows " + std::to_string(first_row) + "+" + std::to_string(n_rows) + " are outside tensor '" +
                                                detail::printable(t.name) + "' of " + std::to_string(rows) + " rows");
    const std::int64_t len = t.row_length();
    if (out.size() < static_cast<std::uint64_t>(n_rows * len))
        throw error(errc::invalid_argument, "output buffer of " + std::to_string(out.size()) + " floats is too small for " +
                                                std::to_string(n_rows) + " rows of " + std::to_string(len));
    if (n_rows == 0 || len == 0) return;
    const auto& o = ops(t.type);
    if (!o.dequantize_row)
        throw error(errc::unsupported_type, "dequantizing " + std::string(type_name(t.type)) + " is not implemented");
    const std::size_t rb = row_bytes(t.type, len);
    const std::byte* src = t.bytes.data() + static_cast<std::size_t>(first_row) * rb;
    // A file with a small general.alignment may place data at an address the block structs may not
    // be read from; decode such data through an aligned copy.
    if (reinterpret_cast<std::uintptr_t>(src) % alignof(std::max_align_t) == 0) {
        dequantize(t.type, src, out.data(), n_rows * len);
        return;
    }
    const std::int64_t chunk_rows = std::max<std::int64_t>(1, static_cast<std::int64_t>((std::size_t{1} << 20) / rb));
    std::unique_ptr<std::max_align_t[]> scratch(new std::max_align_t[(std::min(chunk_rows, n_rows) * rb + sizeof(std::max_align_t) - 1) /
                                                                       sizeof(std::max_align_t)]);
    for (std::int64_t r = 0; r < n_rows; r += chunk_rows) {
        const std::int64_t k = std::min(chunk_rows, n_rows - r);
        std::memcpy(scratch.get(), src + static_cast<std::size_t>(r) * rb, static_cast<std::size_t>(k) * rb);
        dequantize(t.type, scratch.get(), out.data() + r * len, k * len);
    }
}

/// The whole tensor as floats, ne[0] contiguous.
inline std::vector<float> decode(const tensor_info& t) {
    std::vector<float> out(static_cast<std::size_t>(t.n_elements()));
    decode_rows(t, 0, t.n_rows(), out);
    return out;
}

} // namespace lowbit::gguf
