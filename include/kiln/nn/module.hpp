// The layer conventions every layer and model follows (PyTorch's naming, static shapes):
//
//   template <class F> void visit_parameters(const std::string& prefix, F&& f);
//       calls f(std::string name, param<T, S, D>& p) for each trainable tensor, names in
//       PyTorch's state_dict scheme: prefix + "weight", prefix + "0.bias", "fc1.weight", ...
//   template <class F> void visit_buffers(const std::string& prefix, F&& f);
//       calls f(std::string name, tensor<T, S, D>& t) for non-trainable state (batch norm's
//       running_mean, running_var, ...). Layers without buffers may omit it.
//   void train(bool on = true);  bool training() const;   (dropout, batch norm)
//
// kiln::nn::visit_parameters(model, f) / visit_buffers(model, f) call them with an empty prefix.
// A user module is a plain struct, as in PyTorch: its layers as members, a forward, and one
// line listing the members (C++ cannot enumerate them; the names become PyTorch's names):
//
//   struct net : nn::module<net> {              // gives net(x) and net.predict(x)
//       nn::linear<784, 128> fc1;
//       nn::linear<128, 10> fc2;
//       auto forward(const auto& x) const {
//           auto h = relu(fc1(x));               // named intermediates are safe to return
//           return fc2(h);
//       }
//       KILN_MODULE(fc1, fc2)                    // visit_parameters, visit_buffers, train
//   };
//
// Members may be layers, other modules, params, or std::arrays of them ("blocks.0.weight").
#pragma once

#include <array>
#include <string>
#include <type_traits>
#include <utility>

#include "../autodiff/node.hpp"

namespace kiln::nn {

template <class M>
concept has_buffers = requires(M& m) { m.visit_buffers(std::string{}, [](const std::string&, auto&) {}); };
template <class M>
concept has_train_flag = requires(M& m) { m.train(true); };

/// Calls f(name, param&) for every trainable tensor of m.
template <class M, class F>
void visit_parameters(M& m, F&& f) {
    m.visit_parameters(std::string{}, f);
}
/// Calls f(name, tensor&) for every buffer (non-trainable state) of m.
template <class M, class F>
void visit_buffers(M& m, F&& f) {
    if constexpr (has_buffers<M>) m.visit_buffers(std::string{}, f);
}

namespace detail {
template <class F>
void visit_members_impl(const std::string&, F&) {}
template <class F, class M, class... Rest>
void visit_members_impl(const std::string& prefix, F& f, const char* name, M& m, Rest&... rest) {
    m.visit_parameters(prefix + name + ".", f);
    visit_members_impl(prefix, f, rest...);
}
template <class F>
void visit_member_buffers_impl(const std::string&, F&) {}
template <class F, class M, class... Rest>
void visit_member_buffers_impl(const std::string& prefix, F& f, const char* name, M& m, Rest&... rest) {
    if constexpr (has_buffers<M>) m.visit_buffers(prefix + name + ".", f);
    visit_member_buffers_impl(prefix, f, rest...);
}
}  // namespace detail

/// visit_parameters for a struct of named members: ("fc1", fc1, "fc2", fc2, ...).
template <class F, class... Members>
void visit_members(const std::string& prefix, F& f, Members&... members) {
    detail::visit_members_impl(prefix, f, members...);
}
/// visit_buffers for a struct of named members.
template <class F, class... Members>
void visit_member_buffers(const std::string& prefix, F& f, Members&... members) {
    detail::visit_member_buffers_impl(prefix, f, members...);
}

/// Parameters as graph leaves: forward builds a differentiable graph.
struct use_params {
    template <class P>
    const P& operator()(const P& p) const { return p; }
};
/// Parameters as their values: forward computes plain tensors (inference, no graph).
struct use_values {
    template <class P>
    const auto& operator()(const P& p) const { return p.value(); }
};

/// Base of layers and user modules (CRTP): PyTorch's call syntax and inference.
template <class Derived>
struct module {
    /// forward(x...) as a node<T, S, D>: model(x), model(src, tgt). The graph's type is erased
    /// at the module's boundary, so type depth (compile time) grows per module, not per model.
    template <class... X>
    auto operator()(X&&... x) const {
        return as_node(self().forward(std::forward<X>(x)...));
    }
    /// Inference, plain tensors out: forward(x..., use_values{}) where forward takes an access
    /// policy (no graph at all), else forward under no_grad.
    template <class... X>
    auto predict(const X&... x) const {
        if constexpr (requires { self().forward(x..., use_values{}); }) {
            return eval(self().forward(x..., use_values{}));
        } else {
            no_grad off;
            auto y = self().forward(x...);
            if constexpr (ad_expression<decltype(y)>)
                return eval(y.value());
            else
                return eval(std::move(y));
        }
    }

private:
    const Derived& self() const { return static_cast<const Derived&>(*this); }
};

namespace detail {
template <class X>
struct is_param : std::false_type {};
template <class T, class S, class D>
struct is_param<param<T, S, D>> : std::true_type {};
template <class X>
struct is_std_array : std::false_type {};
template <class X, std::size_t N>
struct is_std_array<std::array<X, N>> : std::true_type {};

/// The next name of a stringified member list "fc1, fc2, blocks".
inline std::string next_member_name(const char*& names) {
    while (*names == ',' || *names == ' ' || *names == '\n' || *names == '\t') ++names;
    const char* start = names;
    while (*names && *names != ',' && *names != ' ' && *names != '\n' && *names != '\t') ++names;
    return std::string(start, names);
}
template <class F, class M>
void visit_member_parameters(const std::string& name, F& f, M& m) {
    if constexpr (is_param<M>::value) {
        f(name, m);
    } else if constexpr (is_std_array<M>::value) {
        for (std::size_t i = 0; i < m.size(); ++i) visit_member_parameters(name + "." + std::to_string(i), f, m[i]);
    } else if constexpr (requires { m.visit_parameters(name, f); }) {
        m.visit_parameters(name + ".", f);
    }
}
template <class F, class M>
void visit_member_buffers(const std::string& name, F& f, M& m) {
    if constexpr (is_std_array<M>::value) {
        for (std::size_t i = 0; i < m.size(); ++i) visit_member_buffers(name + "." + std::to_string(i), f, m[i]);
    } else if constexpr (!is_param<M>::value && has_buffers<M>) {
        m.visit_buffers(name + ".", f);
    }
}
template <class M>
void train_member(bool on, M& m) {
    if constexpr (is_std_array<M>::value) {
        for (auto& e : m) train_member(on, e);
    } else if constexpr (has_train_flag<M>) {
        m.train(on);
    }
}
template <class F, class... M>
void visit_named_parameters(const std::string& prefix, const char* names, F& f, M&... m) {
    ((visit_member_parameters(prefix + next_member_name(names), f, m)), ...);
}
template <class F, class... M>
void visit_named_buffers(const std::string& prefix, const char* names, F& f, M&... m) {
    ((visit_member_buffers(prefix + next_member_name(names), f, m)), ...);
}
}  // namespace detail

/// Total number of trainable scalars in m.
template <class M>
std::size_t parameter_count(M& m) {
    std::size_t n = 0;
    visit_parameters(m, [&](const std::string&, auto& p) { n += std::remove_cvref_t<decltype(p)>::shape_type::size; });
    return n;
}

/// Sets every gradient of m to zero.
template <class M>
void zero_grad(M& m) {
    visit_parameters(m, [](const std::string&, auto& p) { p.zero_grad(); });
}

}  // namespace kiln::nn

/// Inside a module's struct: lists its members once, giving visit_parameters (PyTorch's names:
/// "fc1.weight"), visit_buffers and train(bool). A macro because only the preprocessor can turn
/// a member's name into the string a checkpoint needs.
#define KILN_MODULE(...)                                                                         \
    template <class KilnF>                                                                       \
    void visit_parameters(const std::string& kiln_prefix, KilnF&& kiln_f) {                      \
        ::kiln::nn::detail::visit_named_parameters(kiln_prefix, #__VA_ARGS__, kiln_f, __VA_ARGS__); \
    }                                                                                            \
    template <class KilnF>                                                                       \
    void visit_buffers(const std::string& kiln_prefix, KilnF&& kiln_f) {                         \
        ::kiln::nn::detail::visit_named_buffers(kiln_prefix, #__VA_ARGS__, kiln_f, __VA_ARGS__); \
    }                                                                                            \
    void train(bool kiln_on = true) {                                                            \
        [&](auto&... kiln_m) { (::kiln::nn::detail::train_member(kiln_on, kiln_m), ...); }(__VA_ARGS__); \
    }                                                                                            \
    void eval_mode() { train(false); }
