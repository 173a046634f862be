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
/// Keeps freed tensor blocks (and op scratch, cached_buffer) for reuse, per thread, matched by
/// exact size.
/// kiln's shapes are static, so a training step frees and asks again for the same sizes every
/// iteration: in the steady state a step takes every block from here and calls the heap not
/// at all (tests/autodiff/test_steady_alloc.cpp counts it). Without it, glibc hands blocks above
/// its mmap threshold straight back to the kernel and each step page-faults them in again.
/// Bounded: max_blocks entries and max_total bytes; past either, the oldest block is freed.
/// kiln::empty_cache() hands this thread's blocks back to the heap.
class block_cache {
public:
    static constexpr std::size_t max_blocks = 1024;
    static constexpr std::size_t max_total = std::size_t(1) << 30;
    void* take(std::size_t bytes) {
        for (std::size_t i = n_; i-- > 0;)
            if (e_[i].bytes == bytes) {
                void* p = e_[i].p;
                total_ -= bytes;
                std::memmove(e_ + i, e_ + i + 1, (n_ - i - 1) * sizeof(entry));  // keeps age order
                --n_;
                return p;
            }
        return nullptr;
    }
    bool give(void* p, std::size_t bytes) {
        if (bytes > max_total) return false;
        while (n_ == max_blocks || total_ + bytes > max_total) evict_oldest();
        e_[n_++] = {bytes, p};
        total_ += bytes;
        return true;
    }
    void clear() {
        while (n_) evict_oldest();
    }
    std::size_t cached_bytes() const { return total_; }
    ~block_cache() { clear(); }

private:
    struct entry {
        std::size_t bytes;
        void* p;
    };
    void evict_oldest() {
        ::operator delete(e_[0].p, std::align_val_t{tensor_alignment}, std::nothrow);
        total_ -= e_[0].bytes;
        std::memmove(e_, e_ + 1, (n_ - 1) * sizeof(entry));
        --n_;
    }
    entry e_[max_blocks] = {};
    std::size_t n_ = 0, total_ = 0;
};
inline block_cache& large_blocks() {
    static thread_local block_cache c;
    return c;
}
inline void* allocate_aligned(std::size_t bytes) {
    if (void* p = large_blocks().take(bytes)) return p;
    return ::operator new(bytes, std::align_val_t{tensor_alignment}, std::nothrow);
}
inline void free_aligned(void* p, std::size_t bytes) {
    if (!p) return;
    if (large_blocks().give(p, bytes)) return;
    ::operator delete(p, std::align_val_t{tensor_alignment}, std::nothrow);
}
/// A resizable scratch array an op keeps between its forward and its vjp (max pooling's argmax),
/// drawn from the block cache: in the steady state resizing it calls the heap not at all.
template <class T>
class cached_buffer {
public:
    cached_buffer() = default;
    cached_buffer(const cached_buffer& o) {
        resize(o.n_);
        if (n_) std::memcpy(p_, o.p_, n_ * sizeof(T));
    }
    cached_buffer(cached_buffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
    cached_buffer& operator=(cached_buffer o) noexcept {
        std::swap(p_, o.p_);
        std::swap(n_, o.n_);
        return *this;
    }
    ~cached_buffer() { free_aligned(p_, n_ * sizeof(T)); }
    void resize(std::size_t n) {
        if (n == n_) return;
        free_aligned(p_, n_ * sizeof(T));
        p_ = nullptr, n_ = 0;
        if (n == 0) return;
        p_ = static_cast<T*>(allocate_aligned(n * sizeof(T)));
        if (!p_) fail("[tensor] cannot allocate %zu bytes of op scratch", n * sizeof(T));
        n_ = n;
    }
    T* data() { return p_; }
    const T* data() const { return p_; }
    std::size_t size() const { return n_; }

private:
    T* p_ = nullptr;
    std::size_t n_ = 0;
};
}  // namespace detail

/// Hands the tensor blocks this thread keeps for reuse back to the heap (torch.cuda.empty_cache's
/// counterpart for kiln's CPU tensors); returns the bytes released.
inline std::size_t empty_cache() {
    const std::size_t n = detail::large_blocks().cached_bytes();
    detail::large_blocks().clear();
    return n;
}

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
