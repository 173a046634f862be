// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed (zlib reads both).
// Every defect is reported with the file and the byte offset: a missing file, corrupt gzip
// data, a bad magic, an unsupported element type, dimensions that differ from what the caller
// expects, and data shorter or longer than the dimensions say.
#pragma once

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace kiln::data {

/// An IDX array of unsigned bytes: its dimensions and its row-major data.
struct idx_array {
    std::vector<std::uint32_t> dims;
    std::vector<std::uint8_t> values;
    /// Number of items (the first dimension).
    std::size_t count() const { return dims.empty() ? 0 : dims[0]; }
    /// Bytes per item (product of the other dimensions).
    std::size_t item_size() const {
        std::size_t s = 1;
        for (std::size_t i = 1; i < dims.size(); ++i) s *= dims[i];
        return s;
    }
};

namespace detail {
inline std::vector<std::uint8_t> read_all(const std::string& path, const char* tag) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) fail("[%s] %s: cannot open (%s)", tag, path.c_str(), std::strerror(errno));
    std::vector<std::uint8_t> out;
    std::uint8_t buf[1 << 16];
    for (;;) {
        int n = gzread(f, buf, sizeof buf);
        if (n < 0) {
            int code = 0;
            std::string msg = gzerror(f, &code);
            gzclose(f);
            fail("[%s] %s: corrupt compressed data after %zu bytes (%s)", tag, path.c_str(), out.size(), msg.c_str());
        }
        if (n == 0) break;
        out.insert(out.end(), buf, buf + n);
    }
    int code = 0;
    const char* msg = gzerror(f, &code);
    if (code != Z_OK && code != Z_BUF_ERROR) {
        std::string m = msg;
        gzclose(f);
        fail("[%s] %s: corrupt compressed data after %zu bytes (%s)", tag, path.c_str(), out.size(), m.c_str());
    }
    gzclose(f);
    return out;
}
inline std::uint32_t big_endian32(const std::uint8_t* p) {
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
}
}  // namespace detail

/// Reads an unsigned-byte IDX file. `item_dims`, when given, are the dimensions every item
/// must have (e.g. {28, 28} for images, {} for labels with `rank` 1).
inline idx_array read_idx(const std::string& path, std::size_t rank, std::initializer_list<std::uint32_t> item_dims = {}) {
    const std::vector<std::uint8_t> bytes = detail::read_all(path, "idx");
    const char* p = path.c_str();
    if (bytes.empty()) fail("[idx] %s: empty file (expected a 4-byte IDX magic at offset 0)", p);
    if (bytes.size() < 4) fail("[idx] %s: truncated header: need 4 bytes at offset 0, file has %zu", p, bytes.size());
    if (bytes[0] != 0 || bytes[1] != 0)
        fail("[idx] %s: expected magic 0x0000 at offset 0, found 0x%02x%02x", p, bytes[0], bytes[1]);
    if (bytes[2] != 0x08)
        fail("[idx] %s: element type 0x%02x at offset 2 is not supported (expected 0x08, unsigned byte)", p, bytes[2]);
    if (bytes[3] != rank) fail("[idx] %s: expected %zu dimensions at offset 3, found %u", p, rank, unsigned(bytes[3]));
    const std::size_t header = 4 + 4 * rank;
    if (bytes.size() < header)
        fail("[idx] %s: truncated header: need %zu bytes for %zu dimensions, file has %zu", p, header, rank, bytes.size());
    idx_array a;
    std::size_t total = 1;
    for (std::size_t i = 0; i < rank; ++i) {
        std::uint32_t d = detail::big_endian32(bytes.data() + 4 + 4 * i);
        if (i > 0 && item_dims.size() == rank - 1 && d != item_dims.begin()[i - 1])
            fail("[idx] %s: dimension %zu at offset %zu is %u, expected %u", p, i, 4 + 4 * i, d, item_dims.begin()[i - 1]);
        a.dims.push_back(d);
        total *= d;
    }
    if (bytes.size() - header != total)
        fail("[idx] %s: expected %zu data bytes from offset %zu, found %zu (file %s)", p, total, header,
             bytes.size() - header, bytes.size() - header < total ? "truncated" : "has trailing bytes");
    a.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
    return a;
}

}  // namespace kiln::data

// The typed MNIST / Fashion-MNIST datasets (load_mnist, as_table) live in datasets.hpp; they
// were defined here before, so this header still brings them.
#include "datasets.hpp"
