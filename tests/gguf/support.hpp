// Helpers of the GGUF tests: the reference files and a byte-level builder for files that the
// writer would refuse to produce (malformed ones).
#pragma once

#include <cstdint>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "../support.hpp"

namespace lowbit_test {

inline std::filesystem::path gguf_dir() { return data_dir() / "gguf"; }

/// The reference tiny llama model. It is stored as .tar.xz (as raw F32 it is just over 8 MiB);
/// CMake unpacks it at configure time (tests/gguf_cli.cmake). Other builds (meson) get it
/// unpacked here, once per process, into a private temporary folder, with the system's tar.
inline std::filesystem::path tiny_llama() {
    namespace fs = std::filesystem;
#ifdef LOWBIT_GGUF_TINY_LLAMA
    if (fs::exists(LOWBIT_GGUF_TINY_LLAMA)) return LOWBIT_GGUF_TINY_LLAMA;
#endif
    struct unpacked {
        fs::path dir, file;
        unpacked() {
            const auto archive = gguf_dir() / "tiny-llama-f32.gguf.tar.xz";
            dir = fs::temp_directory_path() / ("lowbit-test-gguf-" + std::to_string(std::random_device{}()));
            fs::create_directories(dir);
            file = dir / "tiny-llama-f32.gguf";
            const std::string cmd = "tar -xJf \"" + archive.string() + "\" -C \"" + dir.string() + "\"";
            if (std::system(cmd.c_str()) != 0 || !fs::exists(file))
                throw std::runtime_error("cannot unpack " + archive.string() + " (needs tar with xz support)");
        }
        ~unpacked() {
            std::error_code ec;
            fs::remove_all(dir, ec);
        }
    };
    static const unpacked once;
    return once.file;
}

/// Little-endian bytes, appended field by field.
struct raw_file {
    std::vector<unsigned char> bytes;

    template <class T>
    raw_file& put(T v) {
        unsigned char b[sizeof(T)];
        std::memcpy(b, &v, sizeof(T));
        bytes.insert(bytes.end(), b, b + sizeof(T));
        return *this;
    }
    raw_file& u8(std::uint8_t v) { return put(v); }
    raw_file& u32(std::uint32_t v) { return put(v); }
    raw_file& u64(std::uint64_t v) { return put(v); }
    raw_file& str(std::string_view s) {
        u64(s.size());
        bytes.insert(bytes.end(), s.begin(), s.end());
        return *this;
    }
    raw_file& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
        bytes.insert(bytes.end(), {'G', 'G', 'U', 'F'});
        return u32(version).u64(n_tensors).u64(n_kv);
    }
    /// A tensor description: name, dims, type, offset.
    raw_file& tensor(std::string_view name, std::vector<std::uint64_t> ne, std::uint32_t type, std::uint64_t offset) {
        str(name).u32(static_cast<std::uint32_t>(ne.size()));
        for (auto n : ne) u64(n);
        return u32(type).u64(offset);
    }
    raw_file& pad(std::size_t a) {
        while (bytes.size() % a) bytes.push_back(0);
        return *this;
    }
    raw_file& zeros(std::size_t n) {
        bytes.insert(bytes.end(), n, 0);
        return *this;
    }
};

} // namespace lowbit_test
