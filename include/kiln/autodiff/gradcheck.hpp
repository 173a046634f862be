// check_gradients: compares backward()'s gradients with float64 central differences. Use it
// for your own layers and ops: f takes the params and returns a scalar differentiable value.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>

#include "node.hpp"

namespace kiln {

struct gradcheck_result {
    bool ok = true;
    double max_error = 0;  // max over elements of |analytic - numeric| / max(1, |analytic|, |numeric|)
    std::string worst;     // where max_error was seen, with both values
};

struct gradcheck_options {
    double eps = 1e-6;
    double tolerance = 1e-6;
};

namespace detail {
template <class F, class... P>
double eval_scalar(F& f, P&... p) {
    return static_cast<double>(f(p...).value().item());
}
}  // namespace detail

/// Central-difference check of every element of every input's gradient.
template <class F, class... P>
gradcheck_result check_gradients(F&& f, gradcheck_options opt, P&... inputs) {
    (inputs.zero_grad(), ...);
    {
        auto y = f(inputs...);
        backward(y);
    }
    gradcheck_result r;
    std::size_t which = 0;
    auto check_one = [&](auto& in) {
        for (std::size_t k = 0; k < in.value().size; ++k) {
            auto& v = in.value()[k];
            const auto saved = v;
            v = saved + opt.eps;
            const double fp = detail::eval_scalar(f, inputs...);
            v = saved - opt.eps;
            const double fm = detail::eval_scalar(f, inputs...);
            v = saved;
            const double numeric = (fp - fm) / (2 * opt.eps);
            const double analytic = static_cast<double>(in.grad()[k]);
            const double err = std::fabs(analytic - numeric) / std::fmax(1.0, std::fmax(std::fabs(analytic), std::fabs(numeric)));
            if (!(err <= r.max_error)) {  // also catches NaN
                r.max_error = err;
                char buf[160];
                std::snprintf(buf, sizeof buf, "input %zu element %zu: analytic %.9g, numeric %.9g", which, k, analytic, numeric);
                r.worst = buf;
            }
        }
        ++which;
    };
    (check_one(inputs), ...);
    r.ok = r.max_error <= opt.tolerance;
    return r;
}
/// With default options (eps 1e-6, tolerance 1e-6).
template <class F, class... P>
gradcheck_result check_gradients(F&& f, P&... inputs) {
    return check_gradients(std::forward<F>(f), gradcheck_options{}, inputs...);
}

}  // namespace kiln
