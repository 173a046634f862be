// kiln::vk::gemm: a correctness pass against the CPU GEMM, then GFLOP/s for square sizes, timed
// on the GPU with timestamp queries (the pipeline is warmed first: its first use compiles it).
//
//   gemm_vulkan [--check | --check-only] [--configs] [--stats] [--sizes=256,512,...] [benchmark flags]
//
// --check runs the correctness pass (512^3 and 1000x700x300 in every transpose, auto tiles and
// each forced tile) and prints PASS or FAIL; the exit status is 1 on FAIL. --configs also
// times every tile configuration, for tuning pick_gemm_config (KILN_VULKAN_GEMM_CONFIGS, a
// brace list given with -D, replaces the table). --stats, alone, prints the driver's statistics
// for each tile's pipeline through VK_KHR_pipeline_executable_properties (a second VkDevice on
// the same GPU): on NVIDIA register count, binary size and local memory, the latter as
// 2^36 + bytes (an accumulator array in local memory showed as 68719476992). $KILN_BENCH_IR
// names a file for the internal representations a driver offers (NVIDIA: none). Built with
// -DKILN_BENCH_OLD_GEMM='"header"' (defining old_gemm_spirv[], an earlier gemm.comp) --stats
// reports that shader's 8x8 tiles too. The device is the one KILN_VULKAN_DEVICE picks. On a
// CPU device (lavapipe) only small sizes run.
//
// Built normally it reports through Google Benchmark (median of 5 repetitions). Built with
// -DKILN_BENCH_STANDALONE it prints the same numbers without Google Benchmark, which Debian
// ships only as a shared library: that build is the self-contained binary for the H100
// (bench/gemm_vulkan_h100.md).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kiln/device/cpu/kernels/gemm.hpp"
#include "kiln/device/vulkan/vulkan.hpp"

#ifdef KILN_BENCH_OLD_GEMM
#include KILN_BENCH_OLD_GEMM
#endif
#ifndef KILN_BENCH_STANDALONE
#include <benchmark/benchmark.h>
#endif

namespace {

namespace vk = kiln::vk;

struct square_problem {
    std::size_t n;
    vk::device_buffer a, b, c;
    explicit square_problem(std::size_t n_)
        : n(n_), a(n_ * n_ * sizeof(float)), b(n_ * n_ * sizeof(float)), c(n_ * n_ * sizeof(float)) {
        vk::random_uniform(a, 0, n * n, 1, -1.0f, 1.0f);
        vk::random_uniform(b, 0, n * n, 2, -1.0f, 1.0f);
    }
    void run() { vk::gemm(false, false, n, n, n, 1.0f, a, 0, n, 0, b, 0, n, 0, 0.0f, c, 0, n, 0); }
};

/// GPU seconds per GEMM, averaged over a batch of back-to-back GEMMs of at least ~20 ms.
double time_batch(square_problem& p, int& reps) {
    if (reps <= 0) {
        vk::gpu_timer t;
        t.start();
        p.run();
        t.stop();
        double one = std::max(t.seconds(), 1e-7);
        reps = static_cast<int>(std::clamp(0.02 / one, 1.0, 200.0));
    }
    vk::gpu_timer t;
    t.start();
    for (int r = 0; r < reps; ++r) p.run();
    t.stop();
    return t.seconds() / reps;
}

double gflops(std::size_t n, double seconds) { return 2.0 * double(n) * double(n) * double(n) / seconds * 1e-9; }

// --- Correctness ---------------------------------------------------------------------------
bool check_one(bool ta, bool tb, std::size_t M, std::size_t N, std::size_t K, int config) {
    vk::detail::gemm_forced_config() = config;
    std::size_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
    std::vector<float> A(ar * ac), B(br * bc), C(M * N, 0.0f), ref(M * N, 0.0f), mag(M * N, 0.0f);
    std::mt19937 g(7);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (auto& x : A) x = d(g);
    for (auto& x : B) x = d(g);
    std::vector<float> absA(A), absB(B);
    for (auto& x : absA) x = std::fabs(x);
    for (auto& x : absB) x = std::fabs(x);
    kiln::cpu_kernels::gemm<float>(ta, tb, M, N, K, 1.0f, A.data(), ac, B.data(), bc, 0.0f, ref.data(), N);
    kiln::cpu_kernels::gemm<float>(ta, tb, M, N, K, 1.0f, absA.data(), ac, absB.data(), bc, 0.0f, mag.data(), N);
    vk::device_buffer dA(A.size() * 4), dB(B.size() * 4), dC(C.size() * 4);
    vk::upload(dA, A.data(), A.size() * 4);
    vk::upload(dB, B.data(), B.size() * 4);
    vk::gemm(ta, tb, M, N, K, 1.0f, dA, 0, ac, 0, dB, 0, bc, 0, 0.0f, dC, 0, N, 0);
    vk::download(dC, C.data(), C.size() * 4);
    vk::detail::gemm_forced_config() = -1;
    double worst = 0;  // error relative to sum |a||b|, the scale fp32 rounding works at
    for (std::size_t i = 0; i < C.size(); ++i) worst = std::max(worst, std::fabs(double(C[i]) - ref[i]) / (1e-30 + mag[i]));
    bool ok = worst < 1e-5 && std::isfinite(worst);
    std::printf("check %-4s %4zux%4zux%4zu tile %-4s max |err|/sum|ab| %.2e  %s\n", ta ? (tb ? "TT" : "TN") : (tb ? "NT" : "NN"), M, N,
                K, config < 0 ? "auto" : std::to_string(config).c_str(), worst, ok ? "PASS" : "FAIL");
    return ok;
}

bool run_checks(bool small_device) {
    bool ok = true;
    for (bool ta : {false, true})
        for (bool tb : {false, true}) ok &= check_one(ta, tb, 1000, 700, 300, -1);
    ok &= check_one(false, false, 512, 512, 512, -1);
    const auto& lim = vk::context::instance().limits();
    for (std::size_t cfg = 0; cfg < vk::detail::gemm_config_count; ++cfg) {
        if (!vk::detail::gemm_config_fits(vk::detail::gemm_configs[cfg], lim)) continue;
        ok &= check_one(false, false, 512, 512, 512, static_cast<int>(cfg));
        if (!small_device) ok &= check_one(true, true, 1000, 700, 300, static_cast<int>(cfg));
    }
    std::printf("%s\n", ok ? "PASS" : "FAIL");
    return ok;
}

// --- Timing ----------------------------------------------------------------------------------
std::vector<std::size_t> sizes_for(bool small_device, const std::string& list) {
    std::vector<std::size_t> s;
    if (!list.empty()) {
        for (std::size_t at = 0; at < list.size();) {
            std::size_t comma = list.find(',', at);
            s.push_back(std::stoul(list.substr(at, comma - at)));
            at = comma == std::string::npos ? list.size() : comma + 1;
        }
        return s;
    }
    if (small_device) return {256, 512};
    return {256, 512, 1024, 2048, 4096};
}

std::string config_name(int config) {
    if (config < 0) return "auto";
    const auto& c = vk::detail::gemm_configs[config];
    return std::to_string(c.bm) + "x" + std::to_string(c.bn) + "x" + std::to_string(c.bk) + "/" + std::to_string(c.tm) + "x" +
           std::to_string(c.tn) + (c.opt ? "o" + std::to_string(c.opt) : "");
}


// --- Pipeline statistics (VK_KHR_pipeline_executable_properties) ---------------------------
struct stats_device {
    VkInstance inst = VK_NULL_HANDLE;
    VkDevice dev = VK_NULL_HANDLE;
    PFN_vkDestroyInstance destroy_instance = nullptr;
    PFN_vkDestroyDevice destroy_device = nullptr;
    ~stats_device() {
        if (dev) destroy_device(dev, nullptr);
        if (inst) destroy_instance(inst, nullptr);
    }
};

template <class F>
F instance_fn(VkInstance inst, const char* name) { return reinterpret_cast<F>(vk::detail::api().vkGetInstanceProcAddr(inst, name)); }

void print_pipeline_stats() {
    namespace d = vk::detail;
    auto& api = d::api();
    vk::context& ctx = vk::context::instance();
    stats_device sd;
    VkApplicationInfo app{};
    app.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO;
    app.apiVersion = VK_API_VERSION_1_1;
    VkInstanceCreateInfo ici{};
    ici.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO;
    ici.pApplicationInfo = &app;
    if (api.vkCreateInstance(&ici, nullptr, &sd.inst) != VK_SUCCESS) {
        std::printf("stats: vkCreateInstance failed\n");
        return;
    }
    sd.destroy_instance = instance_fn<PFN_vkDestroyInstance>(sd.inst, "vkDestroyInstance");
    sd.destroy_device = instance_fn<PFN_vkDestroyDevice>(sd.inst, "vkDestroyDevice");
    auto enum_pd = instance_fn<PFN_vkEnumeratePhysicalDevices>(sd.inst, "vkEnumeratePhysicalDevices");
    auto get_props = instance_fn<PFN_vkGetPhysicalDeviceProperties>(sd.inst, "vkGetPhysicalDeviceProperties");
    auto enum_ext = instance_fn<PFN_vkEnumerateDeviceExtensionProperties>(sd.inst, "vkEnumerateDeviceExtensionProperties");
    auto get_qf = instance_fn<PFN_vkGetPhysicalDeviceQueueFamilyProperties>(sd.inst, "vkGetPhysicalDeviceQueueFamilyProperties");
    auto create_device = instance_fn<PFN_vkCreateDevice>(sd.inst, "vkCreateDevice");
    auto get_dpa = instance_fn<PFN_vkGetDeviceProcAddr>(sd.inst, "vkGetDeviceProcAddr");
    std::uint32_t n = 0;
    enum_pd(sd.inst, &n, nullptr);
    std::vector<VkPhysicalDevice> pds(n);
    enum_pd(sd.inst, &n, pds.data());
    VkPhysicalDevice pd = VK_NULL_HANDLE;
    for (auto x : pds) {
        VkPhysicalDeviceProperties pp{};
        get_props(x, &pp);
        if (!std::strcmp(pp.deviceName, ctx.device_name())) pd = x;
    }
    if (!pd) {
        std::printf("stats: device not found again\n");
        return;
    }
    enum_ext(pd, nullptr, &n, nullptr);
    std::vector<VkExtensionProperties> exts(n);
    enum_ext(pd, nullptr, &n, exts.data());
    bool has = false;
    for (auto& e : exts) has |= !std::strcmp(e.extensionName, VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME);
    if (!has) {
        std::printf("stats: %s lacks VK_KHR_pipeline_executable_properties\n", ctx.device_name());
        return;
    }
    get_qf(pd, &n, nullptr);
    std::vector<VkQueueFamilyProperties> qf(n);
    get_qf(pd, &n, qf.data());
    std::uint32_t family = 0;
    for (std::uint32_t i = 0; i < n; ++i)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) { family = i; break; }
    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci{};
    qci.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO;
    qci.queueFamilyIndex = family;
    qci.queueCount = 1;
    qci.pQueuePriorities = &prio;
    VkPhysicalDevicePipelineExecutablePropertiesFeaturesKHR feat{};
    feat.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PIPELINE_EXECUTABLE_PROPERTIES_FEATURES_KHR;
    feat.pipelineExecutableInfo = VK_TRUE;
    const char* ext_names[] = {VK_KHR_PIPELINE_EXECUTABLE_PROPERTIES_EXTENSION_NAME};
    VkDeviceCreateInfo dci{};
    dci.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO;
    dci.pNext = &feat;
    dci.queueCreateInfoCount = 1;
    dci.pQueueCreateInfos = &qci;
    dci.enabledExtensionCount = 1;
    dci.ppEnabledExtensionNames = ext_names;
    if (create_device(pd, &dci, nullptr, &sd.dev) != VK_SUCCESS) {
        std::printf("stats: vkCreateDevice failed\n");
        sd.dev = VK_NULL_HANDLE;
        return;
    }
    auto dfn = [&](const char* name) { return get_dpa(sd.dev, name); };
    auto create_module = reinterpret_cast<PFN_vkCreateShaderModule>(dfn("vkCreateShaderModule"));
    auto destroy_module = reinterpret_cast<PFN_vkDestroyShaderModule>(dfn("vkDestroyShaderModule"));
    auto create_dsl = reinterpret_cast<PFN_vkCreateDescriptorSetLayout>(dfn("vkCreateDescriptorSetLayout"));
    auto destroy_dsl = reinterpret_cast<PFN_vkDestroyDescriptorSetLayout>(dfn("vkDestroyDescriptorSetLayout"));
    auto create_pl = reinterpret_cast<PFN_vkCreatePipelineLayout>(dfn("vkCreatePipelineLayout"));
    auto destroy_pl = reinterpret_cast<PFN_vkDestroyPipelineLayout>(dfn("vkDestroyPipelineLayout"));
    auto create_cp = reinterpret_cast<PFN_vkCreateComputePipelines>(dfn("vkCreateComputePipelines"));
    auto destroy_p = reinterpret_cast<PFN_vkDestroyPipeline>(dfn("vkDestroyPipeline"));
    auto get_exec = reinterpret_cast<PFN_vkGetPipelineExecutablePropertiesKHR>(dfn("vkGetPipelineExecutablePropertiesKHR"));
    auto get_stats = reinterpret_cast<PFN_vkGetPipelineExecutableStatisticsKHR>(dfn("vkGetPipelineExecutableStatisticsKHR"));
    auto get_ir = reinterpret_cast<PFN_vkGetPipelineExecutableInternalRepresentationsKHR>(
        dfn("vkGetPipelineExecutableInternalRepresentationsKHR"));
    if (!get_exec || !get_stats) {
        std::printf("stats: entry points missing\n");
        return;
    }
    VkDescriptorSetLayoutBinding b[3];
    for (std::uint32_t i = 0; i < 3; ++i) b[i] = {i, VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1, VK_SHADER_STAGE_COMPUTE_BIT, nullptr};
    VkDescriptorSetLayoutCreateInfo dl{};
    dl.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO;
    dl.bindingCount = 3;
    dl.pBindings = b;
    VkDescriptorSetLayout dsl = VK_NULL_HANDLE;
    create_dsl(sd.dev, &dl, nullptr, &dsl);
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof(d::gemm_push)};
    VkPipelineLayoutCreateInfo pli{};
    pli.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO;
    pli.setLayoutCount = 1;
    pli.pSetLayouts = &dsl;
    pli.pushConstantRangeCount = 1;
    pli.pPushConstantRanges = &range;
    VkPipelineLayout layout = VK_NULL_HANDLE;
    create_pl(sd.dev, &pli, nullptr, &layout);
    VkShaderModuleCreateInfo mci{};
    mci.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO;
    mci.codeSize = d::gemm_shader.code_bytes;
    mci.pCode = d::gemm_shader.code;
    VkShaderModule mod = VK_NULL_HANDLE;
    create_module(sd.dev, &mci, nullptr, &mod);
    const char* ir_path = std::getenv("KILN_BENCH_IR");
    FILE* ir_file = ir_path ? std::fopen(ir_path, "w") : nullptr;
    auto probe = [&](const std::string& label, VkShaderModule module, const std::uint32_t* spec, std::uint32_t nspec) {
        VkSpecializationMapEntry map[16];
        for (std::uint32_t i = 0; i < nspec; ++i) map[i] = {i, i * 4u, 4u};
        VkSpecializationInfo si{nspec, map, nspec * 4u, spec};
        VkComputePipelineCreateInfo ci{};
        ci.sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO;
        ci.flags = VK_PIPELINE_CREATE_CAPTURE_STATISTICS_BIT_KHR | (ir_file ? VK_PIPELINE_CREATE_CAPTURE_INTERNAL_REPRESENTATIONS_BIT_KHR : 0);
        ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
        ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
        ci.stage.module = module;
        ci.stage.pName = "main";
        ci.stage.pSpecializationInfo = &si;
        ci.layout = layout;
        VkPipeline pipe = VK_NULL_HANDLE;
        if (create_cp(sd.dev, VK_NULL_HANDLE, 1, &ci, nullptr, &pipe) != VK_SUCCESS) {
            std::printf("stats %-24s: pipeline creation failed\n", label.c_str());
            return;
        }
        VkPipelineInfoKHR pinfo{};
        pinfo.sType = VK_STRUCTURE_TYPE_PIPELINE_INFO_KHR;
        pinfo.pipeline = pipe;
        std::uint32_t ne = 0;
        get_exec(sd.dev, &pinfo, &ne, nullptr);
        std::vector<VkPipelineExecutablePropertiesKHR> ex(ne);
        for (auto& e : ex) e.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_PROPERTIES_KHR;
        get_exec(sd.dev, &pinfo, &ne, ex.data());
        for (std::uint32_t i = 0; i < ne; ++i) {
            VkPipelineExecutableInfoKHR einfo{};
            einfo.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INFO_KHR;
            einfo.pipeline = pipe;
            einfo.executableIndex = i;
            std::uint32_t ns = 0;
            get_stats(sd.dev, &einfo, &ns, nullptr);
            std::vector<VkPipelineExecutableStatisticKHR> st(ns);
            for (auto& x : st) x.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_STATISTIC_KHR;
            get_stats(sd.dev, &einfo, &ns, st.data());
            std::string line;
            for (auto& x : st) {
                char v[64];
                switch (x.format) {
                    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_BOOL32_KHR: std::snprintf(v, sizeof v, "%s", x.value.b32 ? "yes" : "no"); break;
                    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_INT64_KHR: std::snprintf(v, sizeof v, "%lld", (long long)x.value.i64); break;
                    case VK_PIPELINE_EXECUTABLE_STATISTIC_FORMAT_UINT64_KHR: std::snprintf(v, sizeof v, "%llu", (unsigned long long)x.value.u64); break;
                    default: std::snprintf(v, sizeof v, "%g", x.value.f64); break;
                }
                line += std::string(line.empty() ? "" : ", ") + x.name + " " + v;
            }
            std::printf("stats %-24s [%s]: %s\n", label.c_str(), ex[i].name, line.c_str());
            if (ir_file && get_ir) {
                std::uint32_t nr = 0;
                get_ir(sd.dev, &einfo, &nr, nullptr);
                std::vector<VkPipelineExecutableInternalRepresentationKHR> ir(nr);
                for (auto& r : ir) r.sType = VK_STRUCTURE_TYPE_PIPELINE_EXECUTABLE_INTERNAL_REPRESENTATION_KHR;
                get_ir(sd.dev, &einfo, &nr, ir.data());
                std::vector<std::vector<char>> data(nr);
                for (std::uint32_t r = 0; r < nr; ++r) {
                    data[r].resize(ir[r].dataSize + 1, 0);
                    ir[r].pData = data[r].data();
                }
                get_ir(sd.dev, &einfo, &nr, ir.data());
                for (std::uint32_t r = 0; r < nr; ++r) {
                    std::fprintf(ir_file, "==== %s / %s (%s, %zu bytes)\n", label.c_str(), ir[r].name, ir[r].isText ? "text" : "binary",
                                 ir[r].dataSize);
                    if (ir[r].isText && std::ftell(ir_file) < (12l << 20))
                        std::fwrite(data[r].data(), 1, std::min<std::size_t>(ir[r].dataSize, 2u << 20), ir_file);
                    std::fprintf(ir_file, "\n");
                }
            }
        }
        std::fflush(stdout);
        destroy_p(sd.dev, pipe, nullptr);
    };
    for (std::size_t cfg = 0; cfg < d::gemm_config_count; ++cfg) {
        const d::gemm_config& c = d::gemm_configs[cfg];
        std::uint32_t spec[12] = {(c.bm / c.tm) * (c.bn / c.tn), c.bm, c.bn, c.bk, c.tm, c.tn, 0, 0, 1, 1, 1, c.opt};
        probe(config_name(static_cast<int>(cfg)), mod, spec, 12);
    }
#ifdef KILN_BENCH_OLD_GEMM  // a header defining old_gemm_spirv[] (an earlier gemm.comp), for comparison
    {
        VkShaderModuleCreateInfo oci = mci;
        oci.codeSize = sizeof(old_gemm_spirv);
        oci.pCode = old_gemm_spirv;
        VkShaderModule old_mod = VK_NULL_HANDLE;
        create_module(sd.dev, &oci, nullptr, &old_mod);
        const std::uint32_t olds[][10] = {{256, 128, 64, 16, 8, 4, 0, 0, 1, 1}, {256, 128, 128, 16, 8, 8, 0, 0, 1, 1}, {256, 128, 128, 8, 8, 8, 0, 0, 1, 1}};
        for (auto& o : olds)
            probe("old " + std::to_string(o[1]) + "x" + std::to_string(o[2]) + "x" + std::to_string(o[3]) + "/" + std::to_string(o[4]) +
                      "x" + std::to_string(o[5]), old_mod, o, 10);
        destroy_module(sd.dev, old_mod, nullptr);
    }
#endif
    if (ir_file) std::fclose(ir_file);
    destroy_module(sd.dev, mod, nullptr);
    destroy_pl(sd.dev, layout, nullptr);
    destroy_dsl(sd.dev, dsl, nullptr);
}

#ifdef KILN_BENCH_STANDALONE
void run_timings(const std::vector<std::size_t>& sizes, const std::vector<int>& configs) {
    std::printf("%-8s %-20s %12s %12s %10s\n", "n", "tile", "median ms", "GFLOP/s", "min..max");
    for (int config : configs) {
        vk::detail::gemm_forced_config() = config;
        for (std::size_t n : sizes) {
            square_problem p(n);
            p.run();  // warm: compiles the pipeline
            vk::synchronize();
            int reps = 0;
            std::vector<double> t;
            for (int r = 0; r < 7; ++r) t.push_back(time_batch(p, reps));
            std::sort(t.begin(), t.end());
            double med = t[t.size() / 2];
            std::printf("%-8zu %-20s %12.4f %12.1f %4.0f..%-5.0f\n", n, config_name(config).c_str(), med * 1e3, gflops(n, med),
                        gflops(n, t.back()), gflops(n, t.front()));
            std::fflush(stdout);
        }
    }
    vk::detail::gemm_forced_config() = -1;
}
#else
void bm_gemm(benchmark::State& st, int config) {
    vk::detail::gemm_forced_config() = config;
    square_problem p(static_cast<std::size_t>(st.range(0)));
    p.run();
    vk::synchronize();
    int reps = 0;
    double total = 0;
    for (auto _ : st) {
        double s = time_batch(p, reps);
        st.SetIterationTime(s);
        total += s;
    }
    st.counters["GFLOP/s"] = gflops(p.n, total / double(st.iterations()));
    st.SetLabel(vk::context::instance().device_name());
    vk::detail::gemm_forced_config() = -1;
}
void run_timings(const std::vector<std::size_t>& sizes, const std::vector<int>& configs) {
    for (int config : configs) {
        auto* b = benchmark::RegisterBenchmark(("gemm_vulkan/" + config_name(config)).c_str(), bm_gemm, config);
        for (std::size_t n : sizes) b->Arg(static_cast<std::int64_t>(n));
        b->UseManualTime()->Unit(benchmark::kMillisecond)->Repetitions(5)->ReportAggregatesOnly(true)->MinTime(0.2);
    }
    benchmark::RunSpecifiedBenchmarks();
}
#endif

}  // namespace

int main(int argc, char** argv) {
    bool check = false, check_only = false, all_configs = false, stats = false;
    std::string sizes;
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--check")) check = true;
        else if (!std::strcmp(argv[i], "--check-only")) check = check_only = true;
        else if (!std::strcmp(argv[i], "--configs")) all_configs = true;
        else if (!std::strcmp(argv[i], "--stats")) stats = true;
        else if (!std::strncmp(argv[i], "--sizes=", 8)) sizes = argv[i] + 8;
        else rest.push_back(argv[i]);
    }
    try {
        vk::context& ctx = vk::context::instance();
        bool small_device = ctx.is_cpu();
        std::printf("device: %s (%s), %u compute units reported, push descriptors %s\n", ctx.device_name(), ctx.device_type(),
                    ctx.compute_units(), ctx.push_descriptors() ? "yes" : "no");
        bool ok = true;
        if (stats) {  // alone: the second VkDevice is gone before anything else runs
            print_pipeline_stats();
            vk::context::reset();  // see below
            return 0;
        }
        if (check) ok = run_checks(small_device);
        if (!check_only) {
            std::vector<int> configs = {-1};
            if (all_configs)
                for (std::size_t c = 0; c < vk::detail::gemm_config_count; ++c)
                    if (vk::detail::gemm_config_fits(vk::detail::gemm_configs[c], ctx.limits())) configs.push_back(static_cast<int>(c));
#ifndef KILN_BENCH_STANDALONE
            int rest_argc = static_cast<int>(rest.size());
            benchmark::Initialize(&rest_argc, rest.data());
#endif
            run_timings(sizes_for(small_device, sizes), configs);
        }
        if (ctx.validation_messages()) {
            std::printf("FAIL: %zu validation messages\n", ctx.validation_messages());
            ok = false;
        }
        // Destroy the context now: left to static destruction it ran after the NVIDIA driver's
        // exit handlers and crashed (SIGSEGV at exit on the H100).
        vk::context::reset();
        return ok ? 0 : 1;
    } catch (const kiln::error& e) {
        std::fprintf(stderr, "%s\nFAIL\n", e.what());
        return 2;
    }
}
