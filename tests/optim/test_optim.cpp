// Optimizers, schedules and clipping against values torch.optim computed (make_fixtures.py
// wrote fixtures/torch_optim.txt); early stopping against hand-worked sequences.
#include <kiln/optim/optim.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef KILN_OPTIM_FIXTURES
#define KILN_OPTIM_FIXTURES "tests/optim/fixtures"
#endif

namespace {
namespace optim = kiln::optim;
using kiln::param;
using kiln::shape;

/// A tiny model: three parameters, one with a size that fills whole SIMD batches plus a tail.
struct toy {
    param<float, shape<4, 5>> w;
    param<float, shape<4>> b;
    param<float, shape<3>> s;
    template <class F>
    void visit_parameters(const std::string& p, F&& f) {
        f(p + "fc.weight", w);
        f(p + "fc.bias", b);
        f(p + "scale", s);
    }
};
struct big {
    param<float, shape<1001>> p;
    template <class F>
    void visit_parameters(const std::string& pre, F&& f) { f(pre + "p", p); }
};
struct tied {
    param<float, shape<2>> p;
    template <class F>
    void visit_parameters(const std::string& pre, F&& f) {
        f(pre + "embed.weight", p);
        f(pre + "head.weight", p);
    }
};
using values = std::map<std::string, std::vector<float>>;

struct opt_case {
    std::string label, kind;
    int steps = 0;
    std::map<std::string, std::string> opts;
    values expect, state;
    double num(const std::string& k, double dflt) const { return opts.count(k) ? std::stod(opts.at(k)) : dflt; }
};
struct sched_case {
    std::string label, kind;
    int epochs = 0;
    std::map<std::string, std::string> opts;
    std::vector<double> metrics, lrs;
    double num(const std::string& k, double dflt) const { return opts.count(k) ? std::stod(opts.at(k)) : dflt; }
};
struct clip_case {
    std::string label;
    double max_norm = 0, norm_type = 0;
    values grad, clipped;
    float total = 0;
};
struct fixture {
    std::string torch;
    values init, target, curv;
    std::vector<opt_case> cases;
    std::vector<sched_case> scheds;
    std::vector<clip_case> clips;
};

template <class T>
std::vector<T> read_values(std::istringstream& in) {
    std::size_t n;
    in >> n;
    std::vector<T> v(n);
    for (auto& x : v) {
        std::string tok;
        in >> tok;
        x = T(std::strtod(tok.c_str(), nullptr));  // nan, inf and subnormals (std::stod throws on subnormals)
    }
    return v;
}
std::map<std::string, std::string> read_opts(std::istringstream& in) {
    std::map<std::string, std::string> m;
    std::string kv;
    while (in >> kv) {
        auto eq = kv.find('=');
        m[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    return m;
}

const fixture& fix() {
    static const fixture f = [] {
        fixture f;
        std::ifstream file(KILN_OPTIM_FIXTURES "/torch_optim.txt");
        EXPECT_TRUE(file) << "cannot open " KILN_OPTIM_FIXTURES "/torch_optim.txt";
        std::string line;
        opt_case* oc = nullptr;
        sched_case* sc = nullptr;
        clip_case* cc = nullptr;
        while (std::getline(file, line)) {
            std::istringstream in(line);
            std::string tag, name;
            in >> tag;
            if (tag == "torch") {
                in >> f.torch;
            } else if (tag == "init" || tag == "target" || tag == "curv" || tag == "expect" || tag == "state" ||
                       tag == "grad" || tag == "clipped") {
                in >> name;
                auto v = read_values<float>(in);
                values& dst = tag == "init" ? f.init : tag == "target" ? f.target : tag == "curv" ? f.curv
                              : tag == "expect" ? oc->expect : tag == "state" ? oc->state
                              : tag == "grad" ? cc->grad : cc->clipped;
                dst[name] = v;
            } else if (tag == "case") {
                oc = &f.cases.emplace_back();
                in >> oc->label >> oc->kind >> oc->steps;
                oc->opts = read_opts(in);
            } else if (tag == "sched") {
                sc = &f.scheds.emplace_back();
                in >> sc->label >> sc->kind >> sc->epochs;
                sc->opts = read_opts(in);
            } else if (tag == "metrics") {
                sc->metrics = read_values<double>(in);
            } else if (tag == "lrs") {
                sc->lrs = read_values<double>(in);
            } else if (tag == "clip") {
                cc = &f.clips.emplace_back();
                std::string mn, nt;
                in >> cc->label >> mn >> nt;
                cc->max_norm = std::stod(mn);
                cc->norm_type = std::stod(nt);
            } else if (tag == "total") {
                std::string v;
                in >> v;
                cc->total = std::strtof(v.c_str(), nullptr);
            } else if (tag == "end") {
                oc = nullptr, sc = nullptr, cc = nullptr;
            }
        }
        return f;
    }();
    return f;
}

template <class Tensor>
void set(Tensor& t, const std::vector<float>& v) {
    t.copy_from(v.data(), v.size());
}
void set_params(toy& m, const values& v) {
    kiln::nn::visit_parameters(m, [&](const std::string& n, auto& p) { set(p.value(), v.at(n)); });
}
/// grad = curv * (p - target), in float, exactly as make_fixtures.py computes it.
void set_grads(toy& m) {
    kiln::nn::visit_parameters(m, [&](const std::string& n, auto& p) {
        const auto &c = fix().curv.at(n), &t = fix().target.at(n);
        for (std::size_t i = 0; i < c.size(); ++i) p.grad()[i] = c[i] * (p.value()[i] - t[i]);
    });
}
void expect_near_all(const float* got, const std::vector<float>& want, const std::string& what, double rtol = 2e-6) {
    for (std::size_t i = 0; i < want.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 1e-6 + rtol * std::fabs(want[i])) << what << "[" << i << "]";
}

/// Calls f(optimizer&) with the optimizer case c describes, constructed on m.
template <class F>
void with_optimizer(const opt_case& c, toy& m, F&& f) {
    if (c.kind == "sgd") {
        optim::sgd opt(m, {.lr = c.num("lr", 1e-3), .momentum = c.num("momentum", 0), .dampening = c.num("dampening", 0),
                           .nesterov = c.num("nesterov", 0) != 0, .weight_decay = c.num("weight_decay", 0),
                           .maximize = c.num("maximize", 0) != 0});
        f(opt);
    } else if (c.kind == "adam") {
        optim::adam opt(m, {.lr = c.num("lr", 1e-3), .betas = {c.num("beta1", 0.9), c.num("beta2", 0.999)},
                            .eps = c.num("eps", 1e-8), .weight_decay = c.num("weight_decay", 0),
                            .amsgrad = c.num("amsgrad", 0) != 0});
        f(opt);
    } else {
        ASSERT_EQ(c.kind, "adamw");
        optim::adamw opt(m, {.lr = c.num("lr", 1e-3), .betas = {c.num("beta1", 0.9), c.num("beta2", 0.999)},
                             .eps = c.num("eps", 1e-8), .weight_decay = c.num("weight_decay", 1e-2),
                             .amsgrad = c.num("amsgrad", 0) != 0});
        f(opt);
    }
}

template <class Opt>
values state_of(Opt& opt) {
    values s;
    opt.visit_state([&](std::string name, float* d, std::size_t n) { s[name] = std::vector<float>(d, d + n); });
    return s;
}

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const kiln::error& e) {
        return e.what();
    }
    return "no error";
}
}  // namespace

TEST(Optim, FixtureLoaded) {
    EXPECT_FALSE(fix().torch.empty());
    EXPECT_EQ(fix().cases.size(), 10u);
    EXPECT_EQ(fix().scheds.size(), 6u);
    EXPECT_EQ(fix().clips.size(), 5u);
}

TEST(Optim, ParametersAndStateMatchTorch) {
    for (const auto& c : fix().cases) {
        SCOPED_TRACE(c.label);
        toy m;
        set_params(m, fix().init);
        with_optimizer(c, m, [&](auto& opt) {
            for (int i = 0; i < c.steps; ++i) {
                opt.zero_grad();
                set_grads(m);
                opt.step();
            }
            EXPECT_EQ(opt.steps(), std::size_t(c.steps));
            kiln::nn::visit_parameters(m, [&](const std::string& n, auto& p) {
                expect_near_all(p.value().data(), c.expect.at(n), n);
            });
            values s = state_of(opt);
            EXPECT_EQ(s.size(), c.state.size());
            for (const auto& [name, want] : c.state) {
                ASSERT_TRUE(s.count(name)) << name;
                ASSERT_EQ(s[name].size(), want.size()) << name;
                expect_near_all(s[name].data(), want, name);
            }
        });
    }
}

TEST(Optim, RestoredStateContinuesExactly) {
    for (const auto& c : fix().cases) {
        SCOPED_TRACE(c.label);
        toy a;
        set_params(a, fix().init);
        values params, state;
        with_optimizer(c, a, [&](auto& opt) {
            for (int i = 0; i < 5; ++i) set_grads(a), opt.step();
            state = state_of(opt);
        });
        kiln::nn::visit_parameters(a, [&](const std::string& n, auto& p) {
            params[n].assign(p.value().begin(), p.value().end());
        });
        toy b;  // a fresh model and optimizer, resumed from the saved parameters and state
        set_params(b, params);
        with_optimizer(c, b, [&](auto& opt) {
            std::size_t visited = 0;
            opt.visit_state([&](const std::string& name, float* d, std::size_t n) {
                ASSERT_EQ(state.at(name).size(), n);
                std::copy(state[name].begin(), state[name].end(), d);
                ++visited;
            });
            EXPECT_EQ(visited, state.size());
            EXPECT_EQ(opt.steps(), 5u);
            for (int i = 5; i < c.steps; ++i) set_grads(b), opt.step();
        });
        kiln::nn::visit_parameters(b, [&](const std::string& n, auto& p) {
            expect_near_all(p.value().data(), c.expect.at(n), n);
        });
    }
}

TEST(Optim, LongParametersMatchAScalarReference) {
    // 1001 elements: many full SIMD batches and a tail; compare with a plain double loop.
    big m;
    std::vector<double> ref(1001), mom(1001), v(1001);
    for (std::size_t i = 0; i < 1001; ++i) ref[i] = m.p.value()[i] = std::sin(0.37 * double(i));
    optim::adam opt(m, {.lr = 0.01, .weight_decay = 0.1});
    for (int t = 1; t <= 4; ++t) {
        for (std::size_t i = 0; i < 1001; ++i) m.p.grad()[i] = m.p.value()[i] * float(t) - 0.3f;
        opt.step();
        for (std::size_t i = 0; i < 1001; ++i) {
            double g = ref[i] * t - 0.3 + 0.1 * ref[i];
            mom[i] = 0.9 * mom[i] + 0.1 * g;
            v[i] = 0.999 * v[i] + 0.001 * g * g;
            double denom = std::sqrt(v[i]) / std::sqrt(1 - std::pow(0.999, t)) + 1e-8;
            ref[i] -= 0.01 / (1 - std::pow(0.9, t)) * mom[i] / denom;
        }
    }
    for (std::size_t i = 0; i < 1001; ++i) EXPECT_NEAR(m.p.value()[i], ref[i], 1e-5) << i;
}

TEST(Optim, ZeroGradLrAndSlots) {
    toy m;
    optim::sgd opt(m, {.lr = 0.5});
    set_params(m, fix().init);
    set_grads(m);
    ASSERT_EQ(opt.slots().size(), 3u);
    EXPECT_EQ(opt.slots()[0].name, "fc.weight");
    EXPECT_EQ(opt.slots()[0].size, 20u);
    EXPECT_EQ(opt.slots()[1].offset % 16, 0u);
    opt.zero_grad();
    for (float g : m.w.grad()) EXPECT_EQ(g, 0.f);
    for (float g : m.s.grad()) EXPECT_EQ(g, 0.f);
    EXPECT_EQ(opt.lr(), 0.5);
    opt.set_lr(0.25);
    EXPECT_EQ(opt.lr(), 0.25);
    m.b.grad().fill(2.f);
    float before = m.b.value()[0];
    opt.step();
    EXPECT_FLOAT_EQ(m.b.value()[0], before - 0.5f);
    // No momentum: the state is just the step counter.
    values s = state_of(opt);
    ASSERT_EQ(s.size(), 1u);
    EXPECT_EQ(s["step"][0], 1.f);
}

TEST(Optim, TiedWeightIsUpdatedOnce) {
    tied m;
    optim::sgd opt(m, {.lr = 1.0});
    ASSERT_EQ(opt.slots().size(), 1u);
    EXPECT_EQ(opt.slots()[0].name, "embed.weight");
    m.p.grad().fill(1.f);
    opt.step();
    EXPECT_EQ(m.p.value()[0], -1.f);
}

TEST(Optim, InvalidOptionsAreReported) {
    toy m;
    EXPECT_EQ(error_of([&] { optim::sgd o(m, {.lr = 0.1, .nesterov = true}); }),
              "[sgd] nesterov momentum requires a momentum and zero dampening (momentum 0, dampening 0)");
    EXPECT_EQ(error_of([&] { optim::sgd o(m, {.lr = -1}); }), "[sgd] invalid learning rate: -1");
    EXPECT_EQ(error_of([&] { optim::adam o(m, {.betas = {1.0, 0.999}}); }), "[adam] invalid beta parameter at index 0: 1");
    EXPECT_EQ(error_of([&] { optim::adamw o(m, {.eps = -1}); }), "[adamw] invalid epsilon value: -1");
    optim::sgd o(m);
    EXPECT_EQ(error_of([&] { optim::step_lr s(o, 0); }), "[step_lr] step_size must be positive");
}

TEST(Schedules, LrSequencesMatchTorch) {
    static_assert(optim::lr_settable<optim::sgd<toy>> && optim::lr_settable<optim::adamw<toy>>);
    for (const auto& c : fix().scheds) {
        SCOPED_TRACE(c.label);
        toy m;
        optim::sgd opt(m, {.lr = 0.1});
        std::vector<double> got;
        if (c.kind == "step_lr") {
            optim::step_lr s(opt, std::size_t(c.num("step_size", 1)), c.num("gamma", 0.1));
            for (int e = 0; e < c.epochs; ++e) opt.step(), s.step(), got.push_back(opt.lr());
            EXPECT_EQ(s.last_epoch(), std::size_t(c.epochs));
        } else if (c.kind == "cosine_annealing") {
            optim::cosine_annealing s(opt, std::size_t(c.num("T_max", 1)), c.num("eta_min", 0));
            for (int e = 0; e < c.epochs; ++e) opt.step(), s.step(), got.push_back(s.last_lr());
        } else {
            ASSERT_EQ(c.kind, "reduce_lr_on_plateau");
            auto str = [&](const char* k, const char* d) { return c.opts.count(k) ? c.opts.at(k) : std::string(d); };
            optim::reduce_lr_on_plateau s(
                opt, {.mode = str("mode", "min") == "min" ? optim::mode::min : optim::mode::max,
                      .factor = c.num("factor", 0.1), .patience = std::size_t(c.num("patience", 10)),
                      .threshold = c.num("threshold", 1e-4),
                      .threshold_mode = str("threshold_mode", "rel") == "rel" ? optim::threshold_mode::rel
                                                                              : optim::threshold_mode::abs,
                      .cooldown = std::size_t(c.num("cooldown", 0)), .min_lr = c.num("min_lr", 0)});
            for (int e = 0; e < c.epochs; ++e) opt.step(), s.step(c.metrics.at(e)), got.push_back(opt.lr());
        }
        ASSERT_EQ(got.size(), c.lrs.size());
        for (std::size_t e = 0; e < got.size(); ++e) EXPECT_NEAR(got[e], c.lrs[e], 1e-15 + 1e-13 * c.lrs[e]) << "epoch " << e;
    }
}

TEST(Schedules, PlateauStateAndFactorCheck) {
    toy m;
    optim::adam opt(m, {.lr = 1.0});
    optim::reduce_lr_on_plateau s(opt, {.factor = 0.5, .patience = 0, .cooldown = 2, .min_lr = 0.3});
    s.step(1.0);
    EXPECT_EQ(s.best(), 1.0);
    s.step(2.0);  // bad > patience 0: lr 0.5, cooldown 2
    EXPECT_EQ(opt.lr(), 0.5);
    EXPECT_TRUE(s.in_cooldown());
    s.step(3.0), s.step(3.0);  // cooldown
    EXPECT_EQ(opt.lr(), 0.5);
    s.step(3.0);  // floor at min_lr
    EXPECT_EQ(opt.lr(), 0.3);
    s.step(3.0), s.step(3.0), s.step(3.0);
    EXPECT_EQ(opt.lr(), 0.3);
    EXPECT_EQ(error_of([&] { optim::reduce_lr_on_plateau bad(opt, {.factor = 1.0}); }),
              "[reduce_lr_on_plateau] factor should be < 1.0, got 1");
}

TEST(EarlyStopping, MinModeWithPatience) {
    optim::early_stopping stop({.patience = 2});
    EXPECT_FALSE(stop.should_stop(1.0));
    EXPECT_TRUE(stop.improved());
    EXPECT_FALSE(stop.should_stop(0.8));
    EXPECT_FALSE(stop.should_stop(0.9));
    EXPECT_FALSE(stop.improved());
    EXPECT_EQ(stop.epochs_without_improvement(), 1u);
    EXPECT_FALSE(stop.should_stop(0.7));  // improvement resets the count
    EXPECT_FALSE(stop.should_stop(0.7));  // equal is not better
    EXPECT_TRUE(stop.should_stop(0.75));
    EXPECT_TRUE(stop.stopped());
    EXPECT_EQ(stop.best(), 0.7);
    EXPECT_EQ(stop.best_epoch(), 3u);
    EXPECT_EQ(stop.epochs(), 6u);
    stop.reset();
    EXPECT_FALSE(stop.stopped());
    EXPECT_EQ(stop.best(), std::numeric_limits<double>::infinity());
}

TEST(EarlyStopping, MaxModeMinDeltaAndNaN) {
    optim::early_stopping stop({.patience = 3, .min_delta = 0.01, .mode = optim::mode::max});
    EXPECT_TRUE(stop.improved_on(0.5));
    EXPECT_FALSE(stop.improved_on(0.505));  // within min_delta
    EXPECT_TRUE(stop.improved_on(0.52));
    EXPECT_FALSE(stop.improved_on(std::nan("")));
    EXPECT_FALSE(stop.improved_on(0.525));
    EXPECT_FALSE(stop.stopped());
    EXPECT_TRUE(stop.should_stop(0.3));
    EXPECT_EQ(stop.best(), 0.52);
    EXPECT_EQ(stop.best_epoch(), 2u);
    optim::early_stopping zero({.patience = 0});
    EXPECT_FALSE(zero.should_stop(1.0));
    EXPECT_TRUE(zero.should_stop(1.0));
}

TEST(Clip, GradNormMatchesTorch) {
    for (const auto& c : fix().clips) {
        SCOPED_TRACE(c.label);
        for (bool via_optimizer : {false, true}) {
            toy m;
            optim::sgd opt(m);
            kiln::nn::visit_parameters(m, [&](const std::string& n, auto& p) { set(p.grad(), c.grad.at(n)); });
            float total = via_optimizer ? optim::clip_grad_norm(opt, c.max_norm, c.norm_type)
                                        : optim::clip_grad_norm(m, c.max_norm, c.norm_type);
            EXPECT_NEAR(total, c.total, 2e-6 * c.total);
            kiln::nn::visit_parameters(m, [&](const std::string& n, auto& p) {
                expect_near_all(p.grad().data(), c.clipped.at(n), n, 1e-6);
            });
        }
    }
}

TEST(Clip, NonFiniteNorm) {
    toy m;
    m.w.grad()[3] = std::numeric_limits<float>::infinity();
    EXPECT_EQ(error_of([&] { optim::clip_grad_norm(m, 1.0, 2.0, true); }),
              "[clip_grad_norm] the total norm of order 2 of the gradients is non-finite (inf), so they cannot be clipped");
    m.w.grad()[3] = std::nanf("");
    EXPECT_EQ(optim::clip_grad_norm(m, 1.0, 0.0), 1.f);  // norm 0: the count of non-zeros (NaN != 0)
    EXPECT_TRUE(std::isnan(optim::clip_grad_norm(m, 1.0, std::numeric_limits<double>::infinity())));
    EXPECT_TRUE(std::isnan(m.b.grad()[0]));  // like torch: a NaN norm spreads to every gradient
}
