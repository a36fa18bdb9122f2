// Helpers shared by the GGUF subcommands: argument checks, printing of values and sizes, and an
// output file that only appears under its name once it is complete.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include <lowbit/lowbit.hpp>
#include <lowbit/gguf/reader.hpp>

#include "commands.hpp"

namespace lowbit_cli {

/// Runs `body` and turns a lowbit::error or another exception into a message and exit status 1
/// (a bad or unreadable file, or an operation that failed on it).
template <class F>
int guarded(const char* command, F&& body) {
    try {
        return body();
    } catch (const std::exception& e) {
        std::string_view what = e.what();
        if (what.starts_with("lowbit: ")) what.remove_prefix(8);  // lowbit::error's own prefix
        std::fprintf(stderr, "lowbit %s: %.*s\n", command, static_cast<int>(what.size()), what.data());
        return failure;
    }
}

/// A metadata value as gguf-dump shows it: strings quoted, arrays cut after `max_items`.
inline std::string format_value(const lowbit::gguf::value_ref& v, std::size_t max_items = 8) {
    using lowbit::gguf::value_type;
    char b[64];
    switch (v.type()) {
    case value_type::string: {
        const auto s = v.as_string();
        std::string out = "\"";
        for (std::size_t i = 0; i < s.size() && i < 120; ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            if (c == '"' || c == '\\') { out += '\\'; out += static_cast<char>(c); }
            else if (c < 0x20 || c == 0x7f) { std::snprintf(b, sizeof b, "\\x%02x", c); out += b; }
            else out += static_cast<char>(c);  // UTF-8 passes through
        }
        if (s.size() > 120) out += "...";
        return out + "\"";
    }
    case value_type::array: {
        std::string out = "[";
        const auto n = v.size();
        for (std::uint64_t i = 0; i < n && i < max_items; ++i) {
            if (i) out += ", ";
            out += format_value(v[i], max_items);
        }
        if (n > max_items) out += ", ... (" + std::to_string(n) + " in all)";
        return out + "]";
    }
    case value_type::f32: case value_type::f64:
        std::snprintf(b, sizeof b, "%.9g", *v.as_float());
        return b;
    case value_type::boolean: return v.get<bool>() ? "true" : "false";
    case value_type::i8: case value_type::i16: case value_type::i32: case value_type::i64: return std::to_string(*v.as_int());
    default: return std::to_string(*v.as_uint());
    }
}

/// "array of string" style type description of a value.
inline std::string format_type(const lowbit::gguf::value_ref& v) {
    if (!v.is_array()) return std::string(lowbit::gguf::value_type_name(v.type()));
    std::string inner = v.size() ? format_type(v[0]) : std::string(lowbit::gguf::value_type_name(v.element_type()));
    return "[" + inner + "]";
}

inline std::string format_shape(std::span<const std::int64_t> shape) {
    std::string out;
    for (std::size_t i = 0; i < shape.size(); ++i) out += (i ? " x " : "") + std::to_string(shape[i]);
    return out.empty() ? "scalar" : out;
}

/// 1536 -> "1.50 KiB".
inline std::string format_bytes(std::uint64_t n) {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    int u = 0;
    while (v >= 1024 && u < 4) { v /= 1024; ++u; }
    char b[32];
    std::snprintf(b, sizeof b, u ? "%.2f %s" : "%.0f %s", v, units[u]);
    return b;
}

/// A file written under a temporary name beside `target` and renamed into place by commit();
/// removed if the object dies uncommitted.
class staged_file {
public:
    explicit staged_file(std::filesystem::path target) : target_(std::move(target)) {
        std::random_device rd;
        temp_ = target_;
        temp_ += ".tmp-" + std::to_string(rd());
        file_ = std::fopen(temp_.string().c_str(), "wbx");
        if (!file_) throw lowbit::error(lowbit::errc::io_error, "cannot create " + temp_.string() + ": " + std::strerror(errno));
    }
    staged_file(const staged_file&) = delete;
    staged_file& operator=(const staged_file&) = delete;
    ~staged_file() {
        if (file_) std::fclose(file_);
        if (!committed_) {
            std::error_code ec;
            std::filesystem::remove(temp_, ec);
        }
    }

    void write(const void* p, std::size_t n) {
        if (n && std::fwrite(p, 1, n, file_) != n)
            throw lowbit::error(lowbit::errc::io_error, "cannot write " + temp_.string() + ": " + std::strerror(errno));
    }

    void commit() {
        const int rc = std::fclose(file_);
        file_ = nullptr;
        if (rc != 0) throw lowbit::error(lowbit::errc::io_error, "cannot write " + temp_.string() + ": " + std::strerror(errno));
        std::error_code ec;
        std::filesystem::rename(temp_, target_, ec);
        if (ec) throw lowbit::error(lowbit::errc::io_error, "cannot rename " + temp_.string() + " to " + target_.string() + ": " + ec.message());
        committed_ = true;
    }

private:
    std::filesystem::path target_, temp_;
    std::FILE* file_ = nullptr;
    bool committed_ = false;
};

} // namespace lowbit_cli
