// Runs an example's main and turns an error (a missing or damaged data file, no Vulkan device,
// ...) into its message on stderr and exit status 1, instead of std::terminate's abort.
#pragma once

#include <cstdio>
#include <exception>

#include <kiln/core/error.hpp>

namespace kiln_examples {
inline int guarded(int argc, char** argv, int (*run)(int, char**)) {
    try {
        return run(argc, argv);
    } catch (const kiln::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
    }
    return 1;
}
}  // namespace kiln_examples
