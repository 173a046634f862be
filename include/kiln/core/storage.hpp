// Storage policies: where a CPU tensor's elements live. All give 64-byte aligned memory.
//   inline_storage  - inside the tensor object (small tensors, no allocation at all)
//   heap_storage    - one aligned heap block (large tensors: an 8192x1024 weight never
//                     touches the stack)
//   auto_storage    - inline up to 4 KiB, heap above (the default)
//   arena_storage   - bump-allocated from the arena a kiln::arena_scope installed; for
//                     embedded apps that hand kiln one buffer for everything
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <type_traits>

#include "error.hpp"

namespace kiln {

inline constexpr std::size_t tensor_alignment = 64;

/// A caller-provided buffer that arena_storage tensors are carved from; never frees piecemeal.
class arena {
public:
    arena(void* buffer, std::size_t bytes) : base_(static_cast<std::byte*>(buffer)), cap_(bytes) {}
    /// Returns 64-byte aligned memory for n bytes or reports "[arena] out of memory".
    void* allocate(std::size_t n) {
        auto addr = reinterpret_cast<std::uintptr_t>(base_ + used_);
        std::size_t pad = (tensor_alignment - addr % tensor_alignment) % tensor_alignment;
        if (pad + n > cap_ - used_)
            fail("[arena] out of memory: need %zu bytes, %zu of %zu used", n + pad, used_, cap_);
        void* p = base_ + used_ + pad;
        used_ += pad + n;
        return p;
    }
    std::size_t used() const { return used_; }
    std::size_t capacity() const { return cap_; }
    /// A mark to release back to (everything allocated after it is freed at once).
    std::size_t mark() const { return used_; }
    void release(std::size_t m) { used_ = m < used_ ? m : used_; }
    void reset() { used_ = 0; }

private:
    std::byte* base_;
    std::size_t cap_, used_ = 0;
};

namespace detail {
inline arena*& current_arena() {
    static thread_local arena* a = nullptr;
    return a;
}
}  // namespace detail

/// Makes `a` the arena that arena_storage tensors created on this thread use, until destroyed.
class arena_scope {
public:
    explicit arena_scope(arena& a) : prev_(detail::current_arena()) { detail::current_arena() = &a; }
    ~arena_scope() { detail::current_arena() = prev_; }
    arena_scope(const arena_scope&) = delete;
    arena_scope& operator=(const arena_scope&) = delete;

private:
    arena* prev_;
};

struct inline_storage {
    template <class T, std::size_t N>
    struct buffer {
        alignas(tensor_alignment) T v[N == 0 ? 1 : N];
        T* data() { return v; }
        const T* data() const { return v; }
        buffer() = default;
        buffer(const buffer&) = default;
        buffer& operator=(const buffer&) = default;
    };
};

namespace detail {
/// Keeps recently freed large blocks for reuse. glibc hands blocks above its mmap threshold
/// (at most 32 MiB) straight back to the kernel, so a training step that frees and reallocates
/// its large tensors every iteration would page-fault all of them in again each step.
class block_cache {
public:
    static constexpr std::size_t min_bytes = std::size_t(1) << 20;  // smaller blocks: plain malloc
    static constexpr std::size_t max_blocks = 64;
    static constexpr std::size_t max_total = std::size_t(1) << 30;
    void* take(std::size_t bytes) {
        for (std::size_t i = n_; i-- > 0;)
            if (e_[i].bytes == bytes) {
                void* p = e_[i].p;
                total_ -= bytes;
                e_[i] = e_[--n_];
                return p;
            }
        return nullptr;
    }
    bool give(void* p, std::size_t bytes) {
        if (n_ == max_blocks || total_ + bytes > max_total) return false;
        e_[n_++] = {bytes, p};
        total_ += bytes;
        return true;
    }
    ~block_cache() {
        for (std::size_t i = 0; i < n_; ++i) ::operator delete(e_[i].p, std::align_val_t{tensor_alignment}, std::nothrow);
    }

private:
    struct entry {
        std::size_t bytes;
        void* p;
    };
    entry e_[max_blocks] = {};
    std::size_t n_ = 0, total_ = 0;
};
inline block_cache& large_blocks() {
    static thread_local block_cache c;
    return c;
}
inline void* allocate_aligned(std::size_t bytes) {
    if (bytes >= block_cache::min_bytes)
        if (void* p = large_blocks().take(bytes)) return p;
    return ::operator new(bytes, std::align_val_t{tensor_alignment}, std::nothrow);
}
inline void free_aligned(void* p, std::size_t bytes) {
    if (!p) return;
    if (bytes >= block_cache::min_bytes && large_blocks().give(p, bytes)) return;
    ::operator delete(p, std::align_val_t{tensor_alignment}, std::nothrow);
}
}  // namespace detail

struct heap_storage {
    template <class T, std::size_t N>
    struct buffer {
        T* p;
        buffer() : p(allocate()) {}
        buffer(const buffer& o) : p(allocate()) { std::memcpy(p, o.p, N * sizeof(T)); }
        buffer(buffer&& o) noexcept : p(o.p) { o.p = nullptr; }
        buffer& operator=(const buffer& o) {
            if (this != &o) std::memcpy(p, o.p, N * sizeof(T));
            return *this;
        }
        buffer& operator=(buffer&& o) noexcept {
            std::swap(p, o.p);
            return *this;
        }
        ~buffer() { detail::free_aligned(p, N * sizeof(T) + 1); }
        T* data() { return p; }
        const T* data() const { return p; }

    private:
        static T* allocate() {
            static_assert(std::is_trivially_copyable_v<T>, "[tensor] element type must be trivially copyable");
            void* m = detail::allocate_aligned(N * sizeof(T) + 1);
            if (!m) fail("[tensor] cannot allocate %zu bytes", N * sizeof(T));
            return static_cast<T*>(m);
        }
    };
};

struct arena_storage {
    template <class T, std::size_t N>
    struct buffer {
        T* p;
        buffer() : p(allocate()) {}
        buffer(const buffer& o) : p(allocate()) { std::memcpy(p, o.p, N * sizeof(T)); }
        buffer(buffer&& o) noexcept : p(o.p) {}
        buffer& operator=(const buffer& o) {
            if (this != &o) std::memcpy(p, o.p, N * sizeof(T));
            return *this;
        }
        buffer& operator=(buffer&& o) noexcept {
            std::swap(p, o.p);
            return *this;
        }
        T* data() { return p; }
        const T* data() const { return p; }

    private:
        static T* allocate() {
            arena* a = detail::current_arena();
            if (!a) fail("[arena] an arena_storage tensor was created with no kiln::arena_scope active");
            return static_cast<T*>(a->allocate(N * sizeof(T)));
        }
    };
};

/// Inline up to `Bytes`, heap above.
template <std::size_t Bytes = 4096>
struct auto_storage_t {
    template <class T, std::size_t N>
    using buffer = std::conditional_t<(N * sizeof(T) <= Bytes), inline_storage::buffer<T, N>,
                                      heap_storage::buffer<T, N>>;
};
using auto_storage = auto_storage_t<>;

}  // namespace kiln
