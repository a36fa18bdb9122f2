// lowbit — GGUF writer (version 3, little-endian).
//
// Collects metadata and tensor descriptions, then writes header, padding and data in one pass.
// Tensor data is either borrowed bytes or a callback that fills the tensor's bytes when its turn
// comes, so a converter holds one tensor at a time. Files are written to a temporary name in the
// target's folder and renamed into place, so a failure never leaves a half-written file under the
// target name.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "../error.hpp"
#include "../format/type_id.hpp"
#include "../runtime.hpp"
#include "common.hpp"
#include "reader.hpp"

#if defined(__unix__) || defined(__APPLE__)
#  include <fcntl.h>
#  include <unistd.h>
#endif

namespace lowbit::gguf {

/// A metadata value to write: a scalar, a string, or an array (of scalars, strings or arrays).
class value {
public:
    value() = default;

    template <class T>
        requires requires { value_type_of<T>::value; }
    static value of(T v) {
        value r;
        r.type_ = value_type_of<T>::value;
        if constexpr (std::is_same_v<T, bool>) r.bytes_.push_back(v ? '\1' : '\0');
        else detail::append_le(r.bytes_, v);
        return r;
    }

    static value string(std::string_view s) {
        value r;
        r.type_ = value_type::string;
        r.bytes_.assign(s);
        return r;
    }

    /// An array of fixed-size values.
    template <class T>
        requires requires { value_type_of<T>::value; }
    static value array_of(std::span<const T> xs) {
        value r;
        r.type_ = value_type::array;
        r.elem_ = value_type_of<T>::value;
        r.count_ = xs.size();
        for (const T& x : xs) {
            if constexpr (std::is_same_v<T, bool>) r.bytes_.push_back(x ? '\1' : '\0');
            else detail::append_le(r.bytes_, x);
        }
        return r;
    }
    template <class T>
    static value array_of(std::initializer_list<T> xs) { return array_of(std::span<const T>(xs.begin(), xs.size())); }

    static value strings(std::span<const std::string> xs) {
        std::vector<value> items;
        items.reserve(xs.size());
        for (const auto& x : xs) items.push_back(string(x));
        return array(value_type::string, std::move(items));
    }

    /// An array whose elements are `items`, all of type `elem` (strings, arrays, or scalars).
    static value array(value_type elem, std::vector<value> items) {
        value r;
        r.type_ = value_type::array;
        r.elem_ = elem;
        r.count_ = items.size();
        for (const auto& it : items)
            if (it.type_ != elem)
                throw error(errc::invalid_argument, "array of " + std::string(value_type_name(elem)) + " given a " +
                                                        std::string(value_type_name(it.type_)) + " element");
        if (fixed_size(elem)) {
            for (const auto& it : items) r.bytes_ += it.bytes_;
        } else {
            r.items_ = std::move(items);
        }
        return r;
    }

    /// A deep copy of a value read from a file.
    static value copy_of(const value_ref& v) {
        value r;
        r.type_ = v.type();
        if (r.type_ == value_type::string) {
            r.bytes_.assign(v.as_string());
        } else if (r.type_ != value_type::array) {
            const auto p = v.payload();
            r.bytes_.assign(reinterpret_cast<const char*>(p.data()), p.size());
        } else {
            r.elem_ = v.element_type();
            r.count_ = v.size();
            if (fixed_size(r.elem_)) {
                const auto p = v.payload();
                r.bytes_.assign(reinterpret_cast<const char*>(p.data()), p.size());
            } else {
                r.items_.reserve(static_cast<std::size_t>(r.count_));
                for (std::uint64_t i = 0; i < r.count_; ++i) r.items_.push_back(copy_of(v[i]));
            }
        }
        return r;
    }

    value_type type() const noexcept { return type_; }

    /// Appends the encoding (without the type tag) to `out`.
    void encode(std::string& out) const {
        if (type_ == value_type::string) {
            detail::append_le<std::uint64_t>(out, bytes_.size());
            out += bytes_;
        } else if (type_ == value_type::array) {
            detail::append_le(out, static_cast<std::uint32_t>(elem_));
            detail::append_le<std::uint64_t>(out, count_);
            if (fixed_size(elem_)) {
                out += bytes_;
            } else {
                for (const auto& it : items_) it.encode(out);
            }
        } else {
            out += bytes_;
        }
    }

private:
    value_type type_ = value_type::u8;
    value_type elem_ = value_type::u8;
    std::uint64_t count_ = 0;
    std::string bytes_;          ///< scalars and arrays of scalars: the encoded values; strings: the text
    std::vector<value> items_;   ///< arrays of strings or of arrays
    friend class writer;
};

/// Builds a GGUF v3 file.
class writer {
public:
    /// Fills a tensor's bytes (exactly the tensor's size) when the writer reaches it.
    using fill_fn = std::function<void(std::span<std::byte>)>;

    /// Sets `key` (replacing an existing value in place, so the order of keys is kept).
    void set(std::string_view key, value v) {
        if (key.empty()) throw error(errc::invalid_argument, "metadata keys must not be empty");
        if (key == alignment_key) {
            if (v.type() != value_type::u32) throw error(errc::invalid_argument, "general.alignment must be u32");
            const auto a = detail::load_le<std::uint32_t>(reinterpret_cast<const unsigned char*>(v.bytes_.data()));
            if (!detail::is_power_of_two(a))
                throw error(errc::invalid_argument, "general.alignment " + std::to_string(a) + " is not a power of two");
            alignment_ = a;
        }
        for (auto& kv : kvs_)
            if (kv.first == key) {
                kv.second = std::move(v);
                return;
            }
        kvs_.emplace_back(std::string(key), std::move(v));
    }
    template <class T>
        requires requires { value_type_of<T>::value; }
    void set(std::string_view key, T v) { set(key, value::of(v)); }
    void set(std::string_view key, const char* s) { set(key, value::string(s)); }
    void set(std::string_view key, std::string_view s) { set(key, value::string(s)); }

    /// Removes `key`; false when it was not there.
    bool erase(std::string_view key) {
        for (auto it = kvs_.begin(); it != kvs_.end(); ++it)
            if (it->first == key) {
                if (key == alignment_key) alignment_ = default_alignment;
                kvs_.erase(it);
                return true;
            }
        return false;
    }

    const value* find(std::string_view key) const {
        for (const auto& kv : kvs_)
            if (kv.first == key) return &kv.second;
        return nullptr;
    }

    /// Copies every metadata entry of `r`, in its order.
    void copy_metadata(const reader& r) {
        for (const auto& kv : r.metadata()) set(kv.key, value::copy_of(kv.value));
    }

    void set_alignment(std::uint32_t a) { set(alignment_key, value::of(a)); }
    std::uint32_t alignment() const noexcept { return alignment_; }

    /// Adds a tensor whose bytes are borrowed: `data` must stay valid until the file is written.
    void add_tensor(std::string_view name, type_id type, std::span<const std::int64_t> shape, std::span<const std::byte> data) {
        const auto n = check_tensor(name, type, shape);
        if (data.size() != n)
            throw error(errc::invalid_argument, "tensor '" + detail::printable(name) + "' needs " + std::to_string(n) +
                                                    " bytes of data, got " + std::to_string(data.size()));
        push(name, type, shape, n, data, {});
    }

    /// Adds a tensor whose bytes `fill` produces at write time.
    void add_tensor(std::string_view name, type_id type, std::span<const std::int64_t> shape, fill_fn fill) {
        if (!fill) throw error(errc::invalid_argument, "tensor '" + detail::printable(name) + "' has no data source");
        const auto n = check_tensor(name, type, shape);
        push(name, type, shape, n, {}, std::move(fill));
    }

    /// Convenience: an F32 tensor copied from `values`.
    void add_f32(std::string_view name, std::span<const std::int64_t> shape, std::span<const float> values) {
        const auto n = check_tensor(name, type_id::f32, shape);
        if (values.size() * sizeof(float) != n)
            throw error(errc::invalid_argument, "tensor '" + detail::printable(name) + "' needs " + std::to_string(n / 4) +
                                                    " floats, got " + std::to_string(values.size()));
        std::string encoded;
        encoded.reserve(static_cast<std::size_t>(n));
        for (const float x : values) detail::append_le(encoded, x);
        add_tensor(name, type_id::f32, shape, [encoded = std::move(encoded)](std::span<std::byte> out) {
            std::memcpy(out.data(), encoded.data(), encoded.size());
        });
    }

    std::size_t tensor_count() const noexcept { return tensors_.size(); }

    /// The whole file in memory.
    std::vector<std::byte> to_bytes() const {
        std::vector<std::byte> out;
        emit([&](const void* p, std::size_t n) {
            const auto* b = static_cast<const std::byte*>(p);
            out.insert(out.end(), b, b + n);
        });
        return out;
    }

    /// Writes the file to `path` atomically (temporary file in the same folder, then rename).
    void write(const std::filesystem::path& path) const {
        std::filesystem::path tmp;
        std::FILE* f = open_temporary(path, tmp);
        try {
            emit([&](const void* p, std::size_t n) {
                if (n && std::fwrite(p, 1, n, f) != n)
                    throw error(errc::io_error, tmp.string() + ": write failed: " + std::strerror(errno));
            });
            if (std::fflush(f) != 0) throw error(errc::io_error, tmp.string() + ": write failed: " + std::strerror(errno));
#if defined(__unix__) || defined(__APPLE__)
            ::fsync(::fileno(f));
#endif
            const int rc = std::fclose(f);
            f = nullptr;
            if (rc != 0) throw error(errc::io_error, tmp.string() + ": close failed: " + std::strerror(errno));
            std::error_code ec;
            std::filesystem::rename(tmp, path, ec);
            if (ec) throw error(errc::io_error, "cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
        } catch (...) {
            if (f) std::fclose(f);
            std::error_code ec;
            std::filesystem::remove(tmp, ec);
            throw;
        }
    }

private:
    struct tensor_entry {
        std::string name;
        type_id type;
        std::vector<std::int64_t> shape;
        std::uint64_t n_bytes;
        std::span<const std::byte> data;
        fill_fn fill;
    };
    std::vector<std::pair<std::string, value>> kvs_;
    std::vector<tensor_entry> tensors_;
    std::uint32_t alignment_ = default_alignment;

    std::uint64_t check_tensor(std::string_view name, type_id type, std::span<const std::int64_t> shape) const {
        const std::string shown = detail::printable(name);
        if (name.size() > max_tensor_name)
            throw error(errc::invalid_argument, "tensor name '" + shown + "' is longer than " + std::to_string(max_tensor_name) +
                                                    " bytes, which readers of the reference refuse");
        for (const auto& t : tensors_)
            if (t.name == name) throw error(errc::invalid_argument, "duplicate tensor name '" + shown + "'");
        const auto* layout = find_layout(type);
        if (!layout) throw error(errc::unsupported_type, "tensor '" + shown + "': not a GGUF tensor type");
        if (shape.empty() || shape.size() > max_dims)
            throw error(errc::invalid_argument, "tensor '" + shown + "' has " + std::to_string(shape.size()) + " dimensions; 1 to 4 are allowed");
        std::uint64_t elements = 1;
        for (const auto ne : shape) {
            if (ne < 0) throw error(errc::invalid_argument, "tensor '" + shown + "' has a negative dimension");
            const auto u = static_cast<std::uint64_t>(ne);
            if (u && elements > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) / u)
                throw error(errc::invalid_argument, "the dimensions of tensor '" + shown + "' multiply past 2^63");
            elements *= u;
        }
        if (shape[0] % layout->block_size != 0)
            throw error(errc::invalid_argument, "row length " + std::to_string(shape[0]) + " of tensor '" + shown + "' is not a multiple of " +
                                                    std::string(layout->name) + "'s block size " + std::to_string(layout->block_size));
        const std::uint64_t blocks = elements / layout->block_size;
        if (blocks > std::numeric_limits<std::size_t>::max() / layout->type_size)
            throw error(errc::invalid_argument, "tensor '" + shown + "' is too large");
        return blocks * layout->type_size;
    }

    void push(std::string_view name, type_id type, std::span<const std::int64_t> shape, std::uint64_t n, std::span<const std::byte> data,
              fill_fn fill) {
        tensors_.push_back({std::string(name), type, {shape.begin(), shape.end()}, n, data, std::move(fill)});
    }

    static std::uint64_t padded(std::uint64_t x, std::uint64_t a) {
        std::uint64_t r = x;
        if (!detail::pad_to(x, a, r)) throw error(errc::invalid_argument, "file size overflows");
        return r;
    }

    template <class Put>
    void emit(Put&& put) const {
        std::string head;
        head += "GGUF";
        detail::append_le<std::uint32_t>(head, 3);
        detail::append_le<std::uint64_t>(head, tensors_.size());
        detail::append_le<std::uint64_t>(head, kvs_.size());
        for (const auto& [key, v] : kvs_) {
            detail::append_le<std::uint64_t>(head, key.size());
            head += key;
            detail::append_le(head, static_cast<std::uint32_t>(v.type()));
            v.encode(head);
        }
        std::uint64_t offset = 0;
        for (const auto& t : tensors_) {
            detail::append_le<std::uint64_t>(head, t.name.size());
            head += t.name;
            detail::append_le(head, static_cast<std::uint32_t>(t.shape.size()));
            for (const auto ne : t.shape) detail::append_le<std::uint64_t>(head, static_cast<std::uint64_t>(ne));
            detail::append_le(head, static_cast<std::uint32_t>(t.type));
            detail::append_le<std::uint64_t>(head, offset);
            offset = padded(offset + t.n_bytes, alignment_);
        }
        const std::vector<char> zeros(alignment_, '\0');
        head.append(static_cast<std::size_t>(padded(head.size(), alignment_) - head.size()), '\0');
        put(head.data(), head.size());
        std::vector<std::byte> buffer;
        for (const auto& t : tensors_) {
            if (t.fill) {
                buffer.assign(static_cast<std::size_t>(t.n_bytes), std::byte{0});
                t.fill(std::span<std::byte>(buffer));
                put(buffer.data(), buffer.size());
            } else {
                put(t.data.data(), t.data.size());
            }
            put(zeros.data(), static_cast<std::size_t>(padded(t.n_bytes, alignment_) - t.n_bytes));
        }
    }

    // A new file next to `path`, created exclusively under a random name (so concurrent writers
    // never share one) with the permissions the user's umask gives new files.
    static std::FILE* open_temporary(const std::filesystem::path& path, std::filesystem::path& tmp) {
        std::random_device rd;
        for (int attempt = 0; attempt < 100; ++attempt) {
            char suffix[32];
            std::snprintf(suffix, sizeof suffix, ".tmp-%08x", static_cast<unsigned>(rd()));
            tmp = path;
            tmp += suffix;
#if defined(__unix__) || defined(__APPLE__)
            const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd < 0) {
                if (errno == EEXIST) continue;
                throw error(errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
            }
            std::FILE* f = ::fdopen(fd, "wb");
            if (!f) {
                ::close(fd);
                std::filesystem::remove(tmp);
                throw error(errc::io_error, "cannot open " + tmp.string() + ": " + std::strerror(errno));
            }
            return f;
#else
            std::error_code ec;
            if (std::filesystem::exists(tmp, ec)) continue;
            std::FILE* f = std::fopen(tmp.string().c_str(), "wb");
            if (!f) throw error(errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
            return f;
#endif
        }
        throw error(errc::io_error, "cannot find a free temporary name next to " + path.string());
    }
};

} // namespace lowbit::gguf
