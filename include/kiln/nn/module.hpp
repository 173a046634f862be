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
// A model that is a plain struct of layers lists its members once:
//
//   struct net {
//       nn::linear<784, 128> fc1; nn::linear<128, 10> fc2;
//       template <class F> void visit_parameters(const std::string& p, F&& f) {
//           nn::visit_members(p, f, "fc1", fc1, "fc2", fc2);
//       }
//   };
#pragma once

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
