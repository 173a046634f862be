// Runtime errors (bad files, wrong runtime sizes, allocation failures) go through one
// user-settable handler. With exceptions the default throws kiln::error; without them
// (-fno-exceptions) it prints to stderr and aborts. Shape errors never get here: they are
// compile errors.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstdarg>
#include <cstring>

#include "../config.hpp"

#if KILN_HAS_EXCEPTIONS
#include <stdexcept>
#include <string>
#endif

namespace kiln {

#if KILN_HAS_EXCEPTIONS
/// The exception kiln throws for runtime errors; what() starts with "[op or reader]".
class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};
#endif

/// A handler receives the full message; if it returns, kiln aborts (the failed operation
/// cannot produce a valid result).
using error_handler = void (*)(const char* message);

namespace detail {
inline void default_error_handler(const char* message) {
#if KILN_HAS_EXCEPTIONS
    throw error(message);
#else
    std::fputs(message, stderr);
    std::fputc('\n', stderr);
#endif
}
inline error_handler& current_handler() {
    static error_handler h = &default_error_handler;
    return h;
}
}  // namespace detail

/// Installs h (nullptr restores the default) and returns the previous handler.
inline error_handler set_error_handler(error_handler h) {
    error_handler old = detail::current_handler();
    detail::current_handler() = h ? h : &detail::default_error_handler;
    return old;
}

/// Reports a runtime error: formats like printf, calls the handler, aborts if it returns.
[[noreturn]] inline void fail(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
[[noreturn]] inline void fail(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    detail::current_handler()(buf);
    std::abort();
}

}  // namespace kiln
