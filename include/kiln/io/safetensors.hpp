// Saving and loading models (and optimizer state) in the safetensors format
// (https://github.com/huggingface/safetensors): 8 bytes little-endian header length N, N bytes
// of JSON {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
// "__metadata__": {...}}, then the tensors' bytes. Needs nlohmann-json (3.x) and POSIX.
//
//   kiln::io::save("model.safetensors", model);            // parameters and buffers
//   kiln::io::save("ckpt.safetensors", model, optimizer);  // plus "optimizer.<state name>"
//   kiln::io::load("model.safetensors", model);
//   kiln::io::load("ckpt.safetensors", model, optimizer);
//
// Names are the model's state_dict names (visit_parameters, then visit_buffers), so files
// written by torch (safetensors.torch.save_file(model.state_dict(), ...)) load into a kiln
// model whose layers are named alike, and the other way round. Tensors are written with the
// element type of the model's tensors (F32 for float) and their shapes. Optimizer state goes
// into the same file: each visit_state entry as a 1-D tensor "optimizer.<name>" (e.g.
// "optimizer.exp_avg.fc1.weight", "optimizer.step"). A model-only load ignores "optimizer.*".
//
// save writes path + ".tmp-XXXXXX" in the same directory, fsyncs it and renames it over path:
// on any failure the temporary file is removed and an existing file at path is untouched.
//
// load validates everything before it changes anything: the file structure (header length,
// JSON, each entry's dtype/shape/data_offsets, offsets in range, no overlaps or holes, no
// trailing bytes), that every tensor the model expects is present with exactly its shape and a
// dtype that converts (float reads F32, F64, F16, BF16; double reads F64, F32, F16, BF16;
// integer tensors need their own dtype), that there are no unexpected tensors, and that no
// floating-point value is NaN or infinite. All problems are reported in one error:
//   [safetensors] model.safetensors: fc1.weight has shape [128, 784], the model expects [64, 784]
// A JSON error says where it is (a syntax error, a number beyond double's range, nesting
// deeper than 64 levels, a name given twice):
//   [safetensors] m.safetensors: the header (58 bytes) is not valid JSON: number overflow
//   parsing '1e999' at byte 29 of the header, in x.shape[0]
//
// Single named tensors (io::load_tensor, io::safe_open, io::save_tensors) are in tensors.hpp,
// which reads files with the same checks and writes them with the same atomic save.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/error.hpp"
#include "convert.hpp"
#include "json_check.hpp"
#include "../nn/module.hpp"

namespace kiln::io {

static_assert(std::endian::native == std::endian::little, "[safetensors] kiln reads and writes it on little-endian hosts");

/// The "__metadata__" of a file: string keys to string values.
using metadata_map = std::map<std::string, std::string>;

namespace detail {

/// A tensor of the model or optimizer: where its elements live and what it must look like.
struct slot {
    std::string name;
    const char* dtype;  ///< of the kiln tensor
    std::vector<std::uint64_t> shape;
    void* data;
    std::size_t numel;
    std::size_t elem_size;
    const char* owner;  ///< "model" or "optimizer"
    std::shared_ptr<void> staging;         ///< host copy of a device tensor
    std::function<void()> write_back = {};  ///< copies the staging back to the device after a load
};

template <class T, class S, class D, class St>
slot make_slot(const std::string& name, tensor<T, S, D, St>& t) {
    if constexpr (std::is_same_v<D, cpu>) {
        return slot{name, dtype_name<T>(), std::vector<std::uint64_t>(S::extents.begin(), S::extents.end()), t.data(),
                    S::size, sizeof(T), "model", nullptr};
    } else {  // a device tensor goes through a host copy (one sync point per file, not per step)
        auto host = std::make_shared<tensor<T, S, cpu>>(to<cpu>(t));
        slot s{name, dtype_name<T>(), std::vector<std::uint64_t>(S::extents.begin(), S::extents.end()), host->data(),
               S::size, sizeof(T), "model", host};
        s.write_back = [&t, host] { t = to<D>(*host); };
        return s;
    }
}

template <class Model>
std::vector<slot> model_slots(Model& m) {
    std::vector<slot> out;
    nn::visit_parameters(m, [&](const std::string& name, auto& p) { out.push_back(make_slot(name, p.value())); });
    nn::visit_buffers(m, [&](const std::string& name, auto& t) { out.push_back(make_slot(name, t)); });
    return out;
}

template <class Opt>
void add_optimizer_slots(std::vector<slot>& out, Opt& opt) {
    // Device state comes as a host copy with its copy-back, run after a load like the model's.
    opt.visit_state([&](const std::string& name, float* data, std::size_t n, std::function<void()> write_back) {
        out.push_back(slot{"optimizer." + name, "F32", {std::uint64_t(n)}, data, n, sizeof(float), "optimizer", nullptr});
        out.back().write_back = std::move(write_back);
    });
}

inline std::string shape_str(const std::vector<std::uint64_t>& s) {
    std::string r = "[";
    for (std::size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
    return r + "]";
}
inline std::string errno_str(int e) { return std::strerror(e); }

/// Reports problems: one line, or a count and the first several (fail's buffer is 1 KiB).
[[noreturn]] inline void fail_with(const std::string& path, const std::vector<std::string>& problems) {
    std::string msg = "[safetensors] " + path + ": ";
    if (problems.size() == 1) {
        msg += problems[0];
    } else {
        msg += std::to_string(problems.size()) + " problems:";
        std::size_t shown = 0;
        for (const auto& p : problems) {
            if (msg.size() + p.size() > 900) break;
            msg += "\n  " + p;
            ++shown;
        }
        if (shown < problems.size()) msg += "\n  ... and " + std::to_string(problems.size() - shown) + " more";
    }
    fail("%s", msg.c_str());
}

// ---------------------------------------------------------------- writing

inline bool write_all(int fd, const void* p, std::size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
        ssize_t w = ::write(fd, c, n > (std::size_t(1) << 30) ? (std::size_t(1) << 30) : n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        c += w;
        n -= std::size_t(w);
    }
    return true;
}

/// Writes the slots' tensors and a "__metadata__" of {"format": "pt"} and `metadata`.
inline void write_file(const std::string& path, const std::vector<slot>& slots, const metadata_map& metadata = {}) {
    std::set<std::string> names;
    for (const auto& s : slots) {
        if (s.name == "__metadata__") fail("[safetensors] %s: a tensor cannot be named __metadata__", path.c_str());
        if (!names.insert(s.name).second) fail("[safetensors] %s: two tensors are named %s", path.c_str(), s.name.c_str());
    }

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    header["__metadata__"] = {{"format", "pt"}};
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
    std::uint64_t offset = 0;
    for (const auto& s : slots) {
        std::uint64_t bytes = s.numel * s.elem_size;
        header[s.name] = {{"dtype", s.dtype}, {"shape", s.shape}, {"data_offsets", {offset, offset + bytes}}};
        offset += bytes;
    }
    std::string text = header.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    text.append((8 - text.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(std::uint64_t(text.size()) >> (8 * i));

    // A fresh temporary file next to the target (O_EXCL; the umask sets its mode).
    static std::atomic<unsigned> counter{0};
    std::string tmp;
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; ++attempt) {
        auto seed = std::uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) * 0x9E3779B97F4A7C15ull ^
                    (std::uint64_t(::getpid()) << 32) ^ counter.fetch_add(1);
        tmp = path + ".tmp-";
        for (int i = 0; i < 6; ++i, seed /= 36) tmp += "0123456789abcdefghijklmnopqrstuvwxyz"[seed % 36];
        fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0) {
        int e = errno;
        fail("[safetensors] %s: cannot create the temporary file %s: %s", path.c_str(), tmp.c_str(), errno_str(e).c_str());
    }
    auto give_up = [&](const char* what, int e) {
        if (fd >= 0) ::close(fd);
        ::unlink(tmp.c_str());
        fail("[safetensors] %s: %s %s failed: %s (nothing was changed)", path.c_str(), what, tmp.c_str(),
             errno_str(e).c_str());
    };
    if (!write_all(fd, len, 8) || !write_all(fd, text.data(), text.size())) give_up("writing", errno);
    for (const auto& s : slots)
        if (!write_all(fd, s.data, s.numel * s.elem_size)) give_up("writing", errno);
    if (::fsync(fd) != 0) give_up("fsync of", errno);
    int c = ::close(fd);
    fd = -1;
    if (c != 0) give_up("closing", errno);
    if (::rename(tmp.c_str(), path.c_str()) != 0) give_up("renaming into place", errno);
    // Make the rename itself durable (best effort: some filesystems refuse fsync on directories).
    std::string dir = std::filesystem::path(path).parent_path().string();
    int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
}

// ---------------------------------------------------------------- reading

/// A read-only memory map of a whole file.
class mapped_file {
public:
    explicit mapped_file(const std::string& path) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            fail("[safetensors] %s: cannot open: %s", path.c_str(), errno_str(e).c_str());
        }
        struct stat st;
        if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd);
            fail("[safetensors] %s: not a regular file", path.c_str());
        }
        size_ = std::size_t(st.st_size);
        if (size_ > 0) {
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p == MAP_FAILED) {
                int e = errno;
                ::close(fd);
                fail("[safetensors] %s: cannot map %zu bytes: %s", path.c_str(), size_, errno_str(e).c_str());
            }
            data_ = static_cast<const unsigned char*>(p);
        }
        ::close(fd);
    }
    ~mapped_file() {
        if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
    }
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;
    const unsigned char* data() const { return data_; }
    std::size_t size() const { return size_; }

private:
    const unsigned char* data_ = nullptr;
    std::size_t size_ = 0;
};

/// One header entry that parsed.
struct entry {
    std::string name;
    std::string dtype;
    const dtype_info* info;  ///< nullptr for an unknown dtype
    std::vector<std::uint64_t> shape;
    std::uint64_t begin, end;
};

inline std::string brief(const nlohmann::json& j, bool shorten = true) {
    std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return shorten && s.size() > 40 ? s.substr(0, 37) + "..." : s;
}
inline bool as_u64(const nlohmann::json& j, std::uint64_t& out) {
    if (!j.is_number_unsigned()) return false;  // nlohmann stores non-negative integers as unsigned
    out = j.get<std::uint64_t>();
    return true;
}


/// Parses and checks the file's structure; problems go to `problems`, fatal ones fail at once.
/// The "__metadata__" goes to `metadata` if given (a value that is not a string as its JSON).
inline std::vector<entry> parse_header(const std::string& path, const mapped_file& f, std::uint64_t& data_start,
                                       std::vector<std::string>& problems, metadata_map* metadata = nullptr) {
    const char* p = path.c_str();
    if (f.size() < 8) fail("[safetensors] %s: the file is %zu bytes, shorter than the 8-byte header length", p, f.size());
    std::uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= std::uint64_t(f.data()[i]) << (8 * i);
    if (n > f.size() - 8)
        fail("[safetensors] %s: the header length %llu goes beyond the end of the file (%zu bytes)", p,
             static_cast<unsigned long long>(n), f.size());
    data_start = 8 + n;
    const char* text = reinterpret_cast<const char*>(f.data() + 8);
    json_checker check;  // first pass: syntax, numbers, nesting and duplicate names, with where
    if (!nlohmann::json::sax_parse(text, text + n, &check) || !check.problem.empty())
        fail("[safetensors] %s: the header (%llu bytes) %s", p, static_cast<unsigned long long>(n), check.problem.c_str());
    nlohmann::json header = nlohmann::json::parse(text, text + n, nullptr, false);  // cannot fail now
    if (header.is_discarded()) fail("[safetensors] %s: the header (%llu bytes) is not valid JSON", p, static_cast<unsigned long long>(n));
    if (!header.is_object()) fail("[safetensors] %s: the header is not a JSON object (it is %s)", p, header.type_name());

    const std::uint64_t data_size = f.size() - data_start;
    std::vector<entry> entries;
    bool dropped = false;  // an entry without a usable range: holes and trailing bytes are then unknowable
    for (const auto& [name, v] : header.items()) {
        if (name == "__metadata__") {
            if (!v.is_object()) problems.push_back("__metadata__ is not an object: " + brief(v));
            else if (metadata)
                for (const auto& [k, mv] : v.items()) (*metadata)[k] = mv.is_string() ? mv.get<std::string>() : brief(mv, false);
            continue;
        }
        if (!v.is_object()) {
            problems.push_back(name + " is not an object: " + brief(v));
            dropped = true;
            continue;
        }
        entry e{name, {}, nullptr, {}, 0, 0};
        bool ok = true;
        auto need = [&](const char* field) -> const nlohmann::json* {
            auto it = v.find(field);
            if (it == v.end()) {
                problems.push_back(name + " has no " + field);
                ok = false;
                return nullptr;
            }
            return &*it;
        };
        if (auto* d = need("dtype")) {
            if (!d->is_string()) {
                problems.push_back(name + " has a dtype that is not a string: " + brief(*d));
                ok = false;
            } else {
                e.dtype = d->get<std::string>();
                e.info = find_dtype(e.dtype);
                if (!e.info) problems.push_back(name + " has unknown dtype " + e.dtype);
            }
        }
        if (auto* s = need("shape")) {
            bool good = s->is_array();
            for (std::size_t i = 0; good && i < s->size(); ++i) good = as_u64((*s)[i], e.shape.emplace_back());
            if (!good) {
                problems.push_back(name + " has a shape that is not an array of non-negative integers: " + brief(*s));
                ok = false;
            }
        }
        if (auto* o = need("data_offsets")) {
            if (!(o->is_array() && o->size() == 2 && as_u64((*o)[0], e.begin) && as_u64((*o)[1], e.end))) {
                problems.push_back(name + " has data_offsets that are not two non-negative integers: " + brief(*o));
                ok = false;
            }
        }
        if (!ok) {
            dropped = true;
            continue;
        }
        const std::string range = "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
        if (e.begin > e.end || e.end > data_size) {
            problems.push_back(name + " has " + range + " outside the data section of " + std::to_string(data_size) + " bytes");
            dropped = true;
            continue;
        }
        if (e.info) {
            std::uint64_t bytes = e.info->size;
            bool overflow = false;
            for (auto d : e.shape) overflow |= __builtin_mul_overflow(bytes, d, &bytes);
            if (overflow || bytes != e.end - e.begin) {
                problems.push_back(name + " has " + range + " (" + std::to_string(e.end - e.begin) + " bytes), but " + e.dtype +
                                   " " + shape_str(e.shape) + " needs " + (overflow ? std::string("more") : std::to_string(bytes)));
                dropped = true;
                continue;
            }
        }
        entries.push_back(std::move(e));
    }
    // The tensors must tile the data section: no overlaps, no holes, nothing after the last.
    std::vector<const entry*> order;
    for (const auto& e : entries) order.push_back(&e);
    std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
    std::uint64_t cursor = 0;
    const entry* prev = nullptr;
    auto span = [](const entry* e) { return " (bytes " + std::to_string(e->begin) + ".." + std::to_string(e->end) + ")"; };
    for (const entry* e : order) {
        if (e->begin < cursor)
            problems.push_back(e->name + span(e) + " overlaps " + prev->name + span(prev));
        else if (e->begin > cursor && !dropped)
            problems.push_back("bytes " + std::to_string(cursor) + ".." + std::to_string(e->begin) +
                               " of the data section belong to no tensor");
        if (e->end >= cursor) cursor = e->end, prev = e;
    }
    if (!dropped && cursor < data_size)
        problems.push_back(std::to_string(data_size - cursor) + " bytes of trailing data after the last tensor (the data section is " +
                           std::to_string(data_size) + " bytes, the tensors end at " + std::to_string(cursor) + ")");
    return entries;
}

/// Whether a kiln tensor of dtype `want` can be read from a stored tensor of dtype `have`.
inline bool converts(const char* want, const std::string& have) {
    if (have == want) return true;
    return (std::strcmp(want, "F32") == 0 || std::strcmp(want, "F64") == 0) && is_float_dtype(have);
}

/// Copies a checked entry (converts, check_finite) into the slot.
inline void copy_into(const slot& s, const entry& e, const unsigned char* src) {
    if (e.dtype == s.dtype) std::memcpy(s.data, src, s.numel * s.elem_size);
    else if (std::strcmp(s.dtype, "F32") == 0) convert_into(static_cast<float*>(s.data), e.dtype, src, s.numel);
    else convert_into(static_cast<double*>(s.data), e.dtype, src, s.numel);  // F64 from a narrower float
}

/// Describes the non-finite values of a float tensor (after conversion to the slot's type).
inline std::string check_finite(const slot& s, const entry& e, const unsigned char* src) {
    if (!is_float_dtype(e.dtype)) return {};
    std::size_t bad = 0, first = 0;
    double first_value = 0;
    const bool to_f32 = std::strcmp(s.dtype, "F32") == 0;
    for_each_element(e.dtype, src, s.numel, [&](std::size_t i, auto v) {
        const double d = double(v);
        if (!std::isfinite(to_f32 ? double(float(d)) : d) && bad++ == 0) first = i, first_value = d;
    });
    if (bad == 0) return {};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", first_value);
    std::string what = std::isfinite(first_value) ? std::string(buf) + ", beyond the float range" : std::string(buf);
    return s.name + " holds " + std::to_string(bad) + " non-finite value" + (bad > 1 ? "s" : "") + ", the first (" + what +
           ") at element " + std::to_string(first);
}

inline void read_file(const std::string& path, const std::vector<slot>& slots, bool with_optimizer) {
    mapped_file f(path);
    std::uint64_t data_start = 0;
    std::vector<std::string> problems;
    std::vector<entry> entries = parse_header(path, f, data_start, problems);
    if (!problems.empty()) fail_with(path, problems);  // structure first: the rest relies on it

    auto find = [&](const std::string& name) -> const entry* {
        for (const auto& e : entries)
            if (e.name == name) return &e;
        return nullptr;
    };
    const unsigned char* data = f.data() + data_start;
    const bool file_has_optimizer =
        std::any_of(entries.begin(), entries.end(), [](const entry& e) { return e.name.rfind("optimizer.", 0) == 0; });
    std::vector<const entry*> matched(slots.size(), nullptr);
    bool missing_optimizer_reported = false;
    for (std::size_t i = 0; i < slots.size(); ++i) {
        const slot& s = slots[i];
        const entry* e = find(s.name);
        const std::string expects = std::string("the ") + s.owner + " expects ";
        if (!e) {
            if (std::strcmp(s.owner, "optimizer") == 0 && !file_has_optimizer) {
                if (!missing_optimizer_reported)
                    problems.push_back("the file holds no optimizer state (no optimizer.* tensors): was it saved without the optimizer?");
                missing_optimizer_reported = true;
            } else {
                problems.push_back("missing " + s.name + " (" + expects + s.dtype + " " + shape_str(s.shape) + ")");
            }
            continue;
        }
        bool ok = true;
        if (!converts(s.dtype, e->dtype)) {
            problems.push_back(s.name + " has dtype " + e->dtype + ", " + expects + s.dtype +
                               (std::strcmp(s.dtype, "F32") == 0 || std::strcmp(s.dtype, "F64") == 0
                                    ? " (F32, F64, F16 and BF16 convert)" : ""));
            ok = false;
        }
        if (e->shape != s.shape) {
            problems.push_back(s.name + " has shape " + shape_str(e->shape) + ", " + expects + shape_str(s.shape));
            ok = false;
        }
        if (!ok) continue;
        std::string nonfinite = check_finite(s, *e, data + e->begin);
        if (!nonfinite.empty()) problems.push_back(std::move(nonfinite));
        matched[i] = e;
    }
    for (const auto& e : entries) {
        if (!with_optimizer && e.name.rfind("optimizer.", 0) == 0) continue;
        bool known = std::any_of(slots.begin(), slots.end(), [&](const slot& s) { return s.name == e.name; });
        if (!known)
            problems.push_back("unexpected " + e.name + " (" + e.dtype + " " + shape_str(e.shape) + "), which the " +
                               (with_optimizer ? "model and optimizer do" : "model does") + " not have");
    }
    if (!problems.empty()) fail_with(path, problems);
    for (std::size_t i = 0; i < slots.size(); ++i) copy_into(slots[i], *matched[i], data + matched[i]->begin);
    for (const auto& sl : slots)
        if (sl.write_back) sl.write_back();
}

}  // namespace detail

/// Writes every parameter and buffer of `model` to `path` (atomically: see the file comment).
template <class Model>
void save(const std::string& path, Model& model) {
    detail::write_file(path, detail::model_slots(model));
}
/// Writes the model and the optimizer's state ("optimizer.<name>" tensors) to one file.
template <class Model, class Opt>
void save(const std::string& path, Model& model, Opt& optimizer) {
    auto slots = detail::model_slots(model);
    detail::add_optimizer_slots(slots, optimizer);
    detail::write_file(path, slots);
}

/// Reads every parameter and buffer of `model` from `path`; on any problem reports them all
/// and leaves the model unchanged. "optimizer.*" tensors in the file are ignored.
template <class Model>
void load(const std::string& path, Model& model) {
    detail::read_file(path, detail::model_slots(model), false);
}
/// Reads the model and the optimizer's state; all or nothing, like load(path, model).
template <class Model, class Opt>
void load(const std::string& path, Model& model, Opt& optimizer) {
    auto slots = detail::model_slots(model);
    detail::add_optimizer_slots(slots, optimizer);
    detail::read_file(path, slots, true);
}

}  // namespace kiln::io
