// Devices are policy types: a tensor's (and a model's) template argument picks where it lives
// and which kernels run.
#pragma once

namespace kiln {

/// Host memory, xsimd kernels, the thread-pool executor.
struct cpu {
    static constexpr const char* name = "cpu";
};

}  // namespace kiln
