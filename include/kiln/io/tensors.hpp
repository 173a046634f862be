// Single named tensors in safetensors files, the way PyTorch users know them from
// safetensors.torch (save_file, load_file, safe_open):
//
//   kiln::io::save_tensors("t.safetensors", {{"weight", w}, {"steps", steps}});  // atomic, like io::save
//   auto w = kiln::io::load_tensor<float, shape<3, 4>>("t.safetensors", "weight");
//
//   kiln::io::safe_open f("t.safetensors");      // reads and checks the header, maps the data
//   for (const auto& name : f.keys()) ...         // sorted, like safe_open(...).keys()
//   f.info("weight").dtype, f.info("weight").shape  // "F16", {3, 4}
//   auto b = f.get_tensor<double, shape<4>>("bias");
//   f.metadata()                                  // the "__metadata__" strings
//
// The file goes through the same checks as io::load (safetensors.hpp): header length, JSON,
// every entry's dtype/shape/data_offsets, offsets in range, no overlaps, holes or trailing
// bytes; a file with any defect is refused whole, naming the file and the field or offset.
// Shapes are types, so the shape is named when a tensor is read, and it must be exactly the
// stored one. Tensors come back on the CPU; `to<vulkan>(t)` copies one to the GPU. save_tensors
// takes tensors of any device (a GPU tensor is copied to the host first).
//
// Conversions, element type <- stored dtype (anything else is an error naming the file, the
// tensor and both dtypes):
//   float   <- F32, F16, BF16 (exact); F64 rounded to nearest, as torch's .float() (a finite
//              value beyond float's range is an error)
//   double  <- F64, F32, F16, BF16 (exact)
//   float, double <- I64, I32, I16, I8, U64, U32, U16, U8 and BOOL (0, 1), when every value is
//              exact in the target (|v| <= 2^24 for float, 2^53 for double)
//   int64_t, int32_t, int16_t, int8_t, uint8_t <- any integer dtype and BOOL, when every value
//              is in the target's range
//   never   a float dtype into an integer tensor (it would truncate: read it as float and
//           convert), an F8 dtype into anything
// A value that does not convert is an error naming the first one and its element. NaN and
// infinities are kept (io::load of a model refuses them; a mask of -inf is a fine tensor).
// Errors, for example:
//   [safetensors] t.safetensors: weight has shape [4, 3], expected [3, 4]
//   [safetensors] t.safetensors: steps has dtype F32, which does not convert to I64 (...)
//   [safetensors] t.safetensors: no tensor named bias (the file has 2: steps, weight)
#pragma once

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "safetensors.hpp"

namespace kiln::io {

/// A tensor's header entry: name, dtype ("F32"), shape and its data_offsets [begin, end).
using tensor_info = detail::entry;

/// A safetensors file opened for reading, like safetensors' safe_open(path, "pt"): the header
/// is read and checked once (any defect fails here), the data stays mapped until destruction.
class safe_open {
public:
    explicit safe_open(std::string path) : path_(std::move(path)), file_(std::make_unique<detail::mapped_file>(path_)) {
        std::vector<std::string> problems;
        entries_ = detail::parse_header(path_, *file_, data_start_, problems, &metadata_);
        if (!problems.empty()) detail::fail_with(path_, problems);
        std::sort(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
    }

    const std::string& path() const { return path_; }
    /// Every tensor's entry, sorted by name.
    const std::vector<tensor_info>& tensors() const { return entries_; }
    /// The tensors' names, sorted.
    std::vector<std::string> keys() const {
        std::vector<std::string> r;
        for (const auto& e : entries_) r.push_back(e.name);
        return r;
    }
    bool contains(const std::string& name) const { return find(name) != nullptr; }
    /// The entry of tensor `name`; a missing name is an error listing what the file has.
    const tensor_info& info(const std::string& name) const {
        if (const tensor_info* e = find(name)) return *e;
        std::string have;
        for (std::size_t i = 0; i < entries_.size() && have.size() < 400; ++i) have += (i ? ", " : "") + entries_[i].name;
        if (have.size() >= 400 && entries_.size() > 1) have += ", ...";
        fail("[safetensors] %s: no tensor named %s (the file has %zu%s%s)", path_.c_str(), name.c_str(), entries_.size(),
             entries_.empty() ? "" : ": ", have.c_str());
    }
    /// The "__metadata__" entries (a value that is not a string as its JSON text).
    const metadata_map& metadata() const { return metadata_; }

    /// Tensor `name` as a CPU tensor<T, S>, converted from its stored dtype (see the file comment).
    template <class T, class S>
    tensor<T, S> get_tensor(const std::string& name) const {
        const tensor_info& e = info(name);
        const std::vector<std::uint64_t> want(S::extents.begin(), S::extents.end());
        std::vector<std::string> problems;
        if (!detail::reads_into<T>(e.dtype))
            problems.push_back(name + " has dtype " + e.dtype + ", which does not convert to " + detail::dtype_name<T>() +
                               (!detail::is_float_dtype(e.dtype) && !detail::is_int_dtype(e.dtype)
                                    ? " (kiln reads no F8 dtype)"
                                    : " (an integer tensor reads only integer dtypes and BOOL: a float would be truncated)"));
        if (e.shape != want) problems.push_back(name + " has shape " + detail::shape_str(e.shape) + ", expected " + detail::shape_str(want));
        if (!problems.empty()) detail::fail_with(path_, problems);
        tensor<T, S> out(uninitialized);  // every element is written below
        std::string bad = detail::convert_into(out.data(), e.dtype, file_->data() + data_start_ + e.begin, S::size);
        if (!bad.empty()) detail::fail_with(path_, {name + " (" + e.dtype + ", read as " + detail::dtype_name<T>() + ") " + bad});
        return out;
    }

private:
    const tensor_info* find(const std::string& name) const {
        auto it = std::lower_bound(entries_.begin(), entries_.end(), name, [](const auto& e, const std::string& n) { return e.name < n; });
        return it != entries_.end() && it->name == name ? &*it : nullptr;
    }

    std::string path_;
    std::unique_ptr<detail::mapped_file> file_;
    std::uint64_t data_start_ = 0;
    std::vector<tensor_info> entries_;
    metadata_map metadata_;
};

/// Reads tensor `name` of the safetensors file at `path` as a CPU tensor<T, S>.
template <class T, class S>
tensor<T, S> load_tensor(const std::string& path, const std::string& name) {
    return safe_open(path).get_tensor<T, S>(name);
}

/// A tensor to save under a name: {"name", t}. It refers to t, which must outlive the save.
class named_tensor {
public:
    template <class T, class S, class D, class St>
    named_tensor(const std::string& name, const tensor<T, S, D, St>& t)
        // make_slot wants a mutable tensor for loads; saving only reads it.
        : slot_(detail::make_slot(name, const_cast<tensor<T, S, D, St>&>(t))) {}
    const detail::slot& slot() const { return slot_; }

private:
    detail::slot slot_;
};

/// Writes the tensors to `path`, atomically like io::save (a temporary file renamed over it),
/// with "__metadata__" {"format": "pt"} plus `metadata`. Names must be unique.
inline void save_tensors(const std::string& path, const std::vector<named_tensor>& tensors, const metadata_map& metadata = {}) {
    std::vector<detail::slot> slots;
    for (const auto& t : tensors) slots.push_back(t.slot());
    detail::write_file(path, slots, metadata);
}
inline void save_tensors(const std::string& path, std::initializer_list<named_tensor> tensors, const metadata_map& metadata = {}) {
    save_tensors(path, std::vector<named_tensor>(tensors), metadata);
}

}  // namespace kiln::io
