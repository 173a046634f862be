// Counts every heap allocation of the test binary that includes this header (exactly one TU per
// binary may include it: it replaces the global operator new and delete).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

static int g_allocations = 0;
// Every replaceable form counted, all through one pair (noinline: GCC 12 otherwise pairs the
// inlined aligned_alloc and free across overloads and warns, -Wmismatched-new-delete, falsely).
[[gnu::noinline]] static void* counted_alloc(std::size_t n, std::size_t align) noexcept {
    ++g_allocations;
    return std::aligned_alloc(align, (n + align - 1) / align * align);
}
[[gnu::noinline]] static void counted_free(void* p) noexcept { std::free(p); }
void* operator new(std::size_t n) {
    if (void* p = counted_alloc(n ? n : 1, alignof(std::max_align_t))) return p;
    std::abort();
}
void* operator new(std::size_t n, std::align_val_t a) {
    if (void* p = counted_alloc(n, static_cast<std::size_t>(a))) return p;
    std::abort();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n ? n : 1, alignof(std::max_align_t)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
    return counted_alloc(n, static_cast<std::size_t>(a));
}
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_free(p); }
