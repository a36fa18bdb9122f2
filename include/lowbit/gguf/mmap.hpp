// lowbit — the bytes of a file, memory-mapped where the platform allows it, read into an aligned
// buffer otherwise. The bytes never move for the life of the object, so views into them stay valid
// when the owner is moved.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <new>
#include <string>

#include "../error.hpp"

#if defined(__unix__) || defined(__APPLE__)
#  include <fcntl.h>
#  include <sys/mman.h>
#  include <sys/stat.h>
#  include <unistd.h>
#  define LOWBIT_GGUF_HAS_MMAP 1
#else
#  define LOWBIT_GGUF_HAS_MMAP 0
#endif

namespace lowbit::gguf {

enum class load_mode {
    automatic,  ///< map the file, fall back to reading it when mapping is refused
    map,        ///< map or fail
    read,       ///< read the whole file into memory
};

/// Read-only bytes of a whole file. Move-only.
class file_bytes {
public:
    file_bytes() = default;
    file_bytes(const file_bytes&) = delete;
    file_bytes& operator=(const file_bytes&) = delete;
    file_bytes(file_bytes&& o) noexcept { swap(o); }
    file_bytes& operator=(file_bytes&& o) noexcept {
        file_bytes tmp(std::move(o));
        swap(tmp);
        return *this;
    }
    ~file_bytes() { release(); }

    static file_bytes open(const std::filesystem::path& path, load_mode mode = load_mode::automatic) {
        file_bytes f;
#if LOWBIT_GGUF_HAS_MMAP
        if (mode != load_mode::read) {
            if (f.try_map(path)) return f;
            if (mode == load_mode::map)
                throw error(errc::io_error, path.string() + ": cannot memory-map: " + std::strerror(errno));
        }
#else
        if (mode == load_mode::map) throw error(errc::io_error, path.string() + ": memory mapping is not available here");
#endif
        f.read_all(path);
        return f;
    }

    const unsigned char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool mapped() const noexcept { return mapped_; }

private:
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
    bool mapped_ = false;
    static constexpr std::align_val_t buffer_alignment{64};

    void swap(file_bytes& o) noexcept {
        std::swap(data_, o.data_);
        std::swap(size_, o.size_);
        std::swap(mapped_, o.mapped_);
    }

    void release() noexcept {
        if (!data_) return;
#if LOWBIT_GGUF_HAS_MMAP
        if (mapped_) {
            ::munmap(const_cast<unsigned char*>(data_), size_);
            data_ = nullptr;
            return;
        }
#endif
        ::operator delete(const_cast<unsigned char*>(data_), buffer_alignment);
        data_ = nullptr;
    }

#if LOWBIT_GGUF_HAS_MMAP
    // False (errno set) when the file cannot be mapped: an empty file, a pipe, a refusing system.
    // A file that cannot even be opened is an error either way.
    bool try_map(const std::filesystem::path& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) throw error(errc::io_error, path.string() + ": cannot open: " + std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
            static_cast<std::uint64_t>(st.st_size) > SIZE_MAX) {
            const int saved = errno;
            ::close(fd);
            errno = saved ? saved : EINVAL;
            return false;
        }
        const auto n = static_cast<std::size_t>(st.st_size);
        void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd, 0);
        const int saved = errno;
        ::close(fd);
        errno = saved;
        if (p == MAP_FAILED) return false;
        data_ = static_cast<const unsigned char*>(p);
        size_ = n;
        mapped_ = true;
        return true;
    }
#endif

    void read_all(const std::filesystem::path& path) {
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.string().c_str(), "rb"), &std::fclose);
        if (!f) throw error(errc::io_error, path.string() + ": cannot open: " + std::strerror(errno));
        std::string chunk(1 << 16, '\0');
        std::size_t cap = 0, len = 0;
        unsigned char* buf = nullptr;
        auto grow = [&](std::size_t need) {
            std::size_t next = cap ? cap : (1 << 16);
            while (next < need) next *= 2;
            auto* nb = static_cast<unsigned char*>(::operator new(next, buffer_alignment));
            if (len) std::memcpy(nb, buf, len);
            if (buf) ::operator delete(buf, buffer_alignment);
            buf = nb;
            cap = next;
        };
        try {
            for (;;) {
                const std::size_t got = std::fread(chunk.data(), 1, chunk.size(), f.get());
                if (got) {
                    if (len + got > cap) grow(len + got);
                    std::memcpy(buf + len, chunk.data(), got);
                    len += got;
                }
                if (got < chunk.size()) break;
            }
            if (std::ferror(f.get())) throw error(errc::io_error, path.string() + ": read error: " + std::strerror(errno));
        } catch (...) {
            if (buf) ::operator delete(buf, buffer_alignment);
            throw;
        }
        if (!buf) grow(1); // an empty file still gets a valid (empty) range
        data_ = buf;
        size_ = len;
        mapped_ = false;
    }
};

} // namespace lowbit::gguf
