// The graph arena: where the nodes of a training step live.
//
// Every node a differentiable op creates is placed in the current *generation* of this
// thread's arena (a bump allocator over reused chunks). What a user holds is a small handle
// (ad_node, node<T, S, D>): a pointer to the node's body plus its generation. A generation
// counts the handles that point into it from outside the arena (edges between nodes inside it
// are raw pointers and are not counted); when that count falls to zero nothing can reach the
// generation any more, so its bodies are destroyed and its chunks go back to the pool at once.
// backward() closes the generation it ran on: the next node opens a new one, so a handle kept
// from the last step (`out` read after the optimizer step) keeps its generation alive while
// the next step builds its own. In the steady state the chunk pool covers every step and
// building a graph calls no allocator for its nodes.
//
// A fixed buffer (graph_buffer_scope) replaces the chunk pool for embedded training: one
// generation at a time lives in it, so a new step resets the previous one, and a handle of
// the old step used after that is a runtime error naming the op, never a read of reused memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>

#include "../core/error.hpp"

namespace kiln {

/// Memory figures of this thread's graph arena.
struct graph_arena_stats {
    std::size_t last_step_bytes = 0;    // bytes of node bodies the last freed/reset generation used
    std::size_t peak_step_bytes = 0;    // the most any generation used
    std::size_t chunk_allocations = 0;  // heap blocks the pool ever took (steady state: constant)
    std::size_t live_generations = 0;   // generations with handles still held
};

namespace detail {

struct graph_cleanup {
    void (*fn)(void*);
    void* obj;
    graph_cleanup* next;
};

struct graph_chunk {
    graph_chunk* next;
    std::size_t capacity;
    static constexpr std::size_t header = 64;
    std::byte* data() { return reinterpret_cast<std::byte*>(this) + header; }
};

struct graph_generation {
    std::uint64_t id = 0;  // 0: free; a handle whose id differs was reset
    std::size_t live = 0;  // handles held outside the arena
    bool open = false;     // new nodes go here
    bool in_buffer = false;
    graph_chunk* chunks = nullptr;
    std::byte* cur = nullptr;
    std::byte* end = nullptr;
    std::size_t bytes = 0;
    graph_cleanup* cleanups = nullptr;
    graph_generation* next_free = nullptr;
};

class graph_arena {
public:
    static constexpr std::size_t min_chunk = std::size_t(64) << 10;

    graph_arena() { alive() = true; }
    graph_arena(const graph_arena&) = delete;
    graph_arena& operator=(const graph_arena&) = delete;
    /// Whether this thread's arena exists (a trivially destructible flag, readable after it ended).
    static bool& alive() {
        static thread_local bool on = false;
        return on;
    }
    ~graph_arena() {
        alive() = false;
        // Generations still held (a handle in a static object) are left alone: their memory
        // must stay valid for that handle's destructor.
        while (free_chunks_) {
            graph_chunk* c = free_chunks_;
            free_chunks_ = c->next;
            ::operator delete(c, std::align_val_t{64});
        }
        while (free_records_) {
            graph_generation* g = free_records_;
            free_records_ = g->next_free;
            delete g;
        }
    }

    /// The generation new nodes go into (opened on demand).
    graph_generation* current() {
        if (current_ && current_->open) return current_;
        return open_generation();
    }
    /// n bytes aligned to `align` in generation g; `what` names the op for the error message.
    void* allocate(graph_generation* g, std::size_t n, std::size_t align, const char* what) {
        for (;;) {
            if (g->cur) {
                auto addr = reinterpret_cast<std::uintptr_t>(g->cur);
                std::size_t pad = (align - addr % align) % align;
                if (pad + n <= std::size_t(g->end - g->cur)) {
                    void* p = g->cur + pad;
                    g->cur += pad + n;
                    g->bytes += pad + n;
                    return p;
                }
            }
            if (g->in_buffer)
                fail("[autodiff] the graph buffer of %zu bytes is too small: op %s needs %zu more bytes after %zu "
                     "used (give graph_buffer_scope a larger buffer)",
                     buffer_bytes_, what, n + align, g->bytes);
            add_chunk(g, n + align);
        }
    }
    /// Runs fn(obj) when generation g is freed (in reverse order of registration).
    void on_free(graph_generation* g, void (*fn)(void*), void* obj, const char* what) {
        auto* c = static_cast<graph_cleanup*>(allocate(g, sizeof(graph_cleanup), alignof(graph_cleanup), what));
        *c = graph_cleanup{fn, obj, g->cleanups};
        g->cleanups = c;
    }
    static void retain(graph_generation* g) { ++g->live; }
    /// Drops one handle of g; the last one frees it (or recycles the record of a reset one).
    void release(graph_generation* g) {
        if (--g->live != 0) return;
        if (g->id != 0) clear(g);
        g->id = 0;
        g->next_free = free_records_;
        free_records_ = g;
    }
    /// Ends generation g as the place for new nodes (backward() ran on it).
    void close(graph_generation* g) {
        g->open = false;
        if (current_ == g) current_ = nullptr;
        if (g->live == 0 && g->id != 0) {  // opened, never handed out
            ++g->live;
            release(g);
        }
    }
    /// Nodes go into `buffer` (bytes long) instead of the chunk pool, until detach_buffer().
    void attach_buffer(void* buffer, std::size_t bytes) {
        if (current_) close(current_);
        buffer_ = static_cast<std::byte*>(buffer);
        buffer_bytes_ = bytes;
    }
    void detach_buffer() {
        if (buffer_owner_) reset(buffer_owner_);
        if (current_ && current_->in_buffer) current_ = nullptr;
        buffer_ = nullptr;
        buffer_bytes_ = 0;
    }
    graph_arena_stats stats() const { return stats_; }

private:
    graph_generation* open_generation() {
        if (current_) close(current_);
        graph_generation* g = free_records_;
        if (g)
            free_records_ = g->next_free;
        else
            g = new graph_generation;
        *g = graph_generation{};
        g->id = next_id_++;
        g->open = true;
        if (buffer_) {
            if (buffer_owner_) reset(buffer_owner_);  // one step at a time lives in the buffer
            g->in_buffer = true;
            g->cur = buffer_;
            g->end = buffer_ + buffer_bytes_;
            buffer_owner_ = g;
        }
        current_ = g;
        ++stats_.live_generations;
        return g;
    }
    void add_chunk(graph_generation* g, std::size_t need) {
        graph_chunk** best = nullptr;
        for (graph_chunk** c = &free_chunks_; *c; c = &(*c)->next)
            if ((*c)->capacity >= need && (!best || (*c)->capacity < (*best)->capacity)) best = c;
        graph_chunk* chunk;
        if (best) {
            chunk = *best;
            *best = chunk->next;
        } else {
            std::size_t cap = need > min_chunk ? need : min_chunk;
            if (g->chunks && g->chunks->capacity * 2 > cap) cap = g->chunks->capacity * 2;
            chunk = static_cast<graph_chunk*>(::operator new(graph_chunk::header + cap, std::align_val_t{64}));
            chunk->capacity = cap;
            ++stats_.chunk_allocations;
        }
        chunk->next = g->chunks;
        g->chunks = chunk;
        g->cur = chunk->data();
        g->end = chunk->data() + chunk->capacity;
    }
    /// Destroys generation g's nodes; its handles become stale (detected by id).
    void clear(graph_generation* g) {
        for (graph_cleanup* c = g->cleanups; c;) {
            graph_cleanup* next = c->next;  // read first: the cleanup may not touch c, but be safe
            c->fn(c->obj);
            c = next;
        }
        g->cleanups = nullptr;
        while (g->chunks) {
            graph_chunk* c = g->chunks;
            g->chunks = c->next;
            c->next = free_chunks_;
            free_chunks_ = c;
        }
        stats_.last_step_bytes = g->bytes;
        if (g->bytes > stats_.peak_step_bytes) stats_.peak_step_bytes = g->bytes;
        if (buffer_owner_ == g) buffer_owner_ = nullptr;
        if (current_ == g) current_ = nullptr;
        --stats_.live_generations;
    }
    /// A generation in the fixed buffer that a new step displaces while handles still hold
    /// it: its record stays (id 0) so those handles find out, and is recycled by the last one.
    void reset(graph_generation* g) {
        clear(g);
        g->id = 0;
        g->open = false;
        if (g->live == 0) {  // no handle was handed out (an op failed): recycle it now
            g->next_free = free_records_;
            free_records_ = g;
        }
    }

    graph_generation* current_ = nullptr;
    graph_generation* free_records_ = nullptr;
    graph_chunk* free_chunks_ = nullptr;
    graph_generation* buffer_owner_ = nullptr;
    std::byte* buffer_ = nullptr;
    std::size_t buffer_bytes_ = 0;
    std::uint64_t next_id_ = 1;
    graph_arena_stats stats_;
};

/// A param that graph nodes reference remembers the generation of (one of) its live graphs, so
/// that destroying it while such a graph can still run backward is an error, never a dangling read.
struct graph_use {
    graph_generation* g = nullptr;
    std::uint64_t id = 0;
    bool live() const { return g && graph_arena::alive() && g->id == id && g->live > 0; }
    void note(graph_generation* gen) {
        if (!live()) {
            g = gen;
            id = gen->id;
        }
    }
};

inline graph_arena& this_thread_graph_arena() {
    static thread_local graph_arena a;
    return a;
}

}  // namespace detail

/// Memory figures of this thread's graph arena (bytes per step, heap blocks ever taken).
inline graph_arena_stats graph_memory() { return detail::this_thread_graph_arena().stats(); }

/// Puts the nodes of the graphs built on this thread into `buffer` while it lives: no heap for
/// nodes, one step at a time. A too-small buffer is an error that names the bytes it lacked.
class graph_buffer_scope {
public:
    graph_buffer_scope(void* buffer, std::size_t bytes) { detail::this_thread_graph_arena().attach_buffer(buffer, bytes); }
    ~graph_buffer_scope() { detail::this_thread_graph_arena().detach_buffer(); }
    graph_buffer_scope(const graph_buffer_scope&) = delete;
    graph_buffer_scope& operator=(const graph_buffer_scope&) = delete;
};

}  // namespace kiln
