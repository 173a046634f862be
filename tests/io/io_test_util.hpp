// Helpers shared by the io tests: a per-process temporary directory, raw files written byte by
// byte, and the message of the kiln::error a call raises.
#pragma once

#include <kiln/core/error.hpp>

#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <string>
#include <vector>

#ifndef KILN_IO_FIXTURES
#define KILN_IO_FIXTURES "tests/io/fixtures"
#endif

namespace kiln_io_test {
namespace fs = std::filesystem;

inline fs::path temp_dir() {
    fs::path d = fs::temp_directory_path() / ("kiln_safetensors_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
}
inline std::string tmp(const std::string& name) { return (temp_dir() / name).string(); }

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "no error";
}

inline std::vector<char> bytes_of(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}
/// Writes a file: the 8-byte length (of `header`, unless `len` is given; -2 is 2^64 - 2), header, data.
inline std::string write_raw(const std::string& name, const std::string& header, const std::string& data,
                             long long len = -1) {
    std::string path = tmp(name);
    std::ofstream out(path, std::ios::binary);
    std::uint64_t n = len == -1 ? header.size() : std::uint64_t(len);
    for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
    out << header << data;
    return path;
}
template <class T>
inline std::string raw_bytes(std::initializer_list<T> v) {
    std::string s(v.size() * sizeof(T), '\0');
    std::memcpy(s.data(), std::data(v), s.size());
    return s;
}
inline std::vector<std::string> temp_leftovers(const fs::path& dir) {
    std::vector<std::string> r;
    for (const auto& e : fs::directory_iterator(dir))
        if (e.path().filename().string().find(".tmp-") != std::string::npos) r.push_back(e.path().string());
    return r;
}
}  // namespace kiln_io_test
