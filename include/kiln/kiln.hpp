// Umbrella header: core, ops, executors and the CPU device. Vulkan and io are opt-in headers.
#pragma once

#include "config.hpp"
#include "core/creation.hpp"
#include "core/print.hpp"
#include "core/random.hpp"
#include "core/tensor.hpp"
#include "core/xtensor.hpp"
#include "exec/thread_pool.hpp"
#include "ops/primitive/binary.hpp"
#include "ops/primitive/matmul.hpp"
#include "ops/primitive/movement.hpp"
#include "ops/primitive/reduce.hpp"
#include "ops/primitive/unary.hpp"
#include "ops/primitive/where.hpp"
