// What the examples share: errors (a missing or damaged data file, no Vulkan device, ...) as a
// message on stderr and exit status 1 instead of std::terminate's abort, and running one
// program on the device its command line names.
#pragma once

#include <cstdio>
#include <exception>

#include <kiln/core/device.hpp>
#include <kiln/core/error.hpp>
#if KILN_EXAMPLES_VULKAN  // set by examples/CMakeLists.txt when kiln::vulkan is built
#include <kiln/vulkan.hpp>
#endif

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

/// f.template operator()<kiln::cpu>(), or with vulkan <kiln::vulkan>() followed by releasing the
/// Vulkan context (before the driver's exit handlers run).
template <class F>
int on_device(bool vulkan, F&& f) {
    if (!vulkan) return f.template operator()<kiln::cpu>();
#if KILN_EXAMPLES_VULKAN
    std::printf("device: %s\n", kiln::vk::context::instance().device_name());
    const int rc = f.template operator()<kiln::vulkan>();
    kiln::vk::context::reset();
    return rc;
#else
    std::printf("this build has no Vulkan device (configured with -DKILN_VULKAN=OFF)\n");
    return 1;
#endif
}

}  // namespace kiln_examples
