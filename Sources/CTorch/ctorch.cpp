// ctorch.cpp - the C++ side of ctorch.h. Each exported body runs inside GUARD(...), which catches every
// C++ exception into the thread-local last error; nothing is thrown across the C boundary.
// Only ATen, autograd and TorchScript headers are used (no <torch/torch.h>, which is slow to compile).
#include "ctorch.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/Utils.h>
#include <ATen/CPUGeneratorImpl.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/jit/api/module.h>
#include <torch/csrc/jit/serialization/import.h>
#include <torch/version.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>
#include <algorithm>

#include <dlfcn.h>
#include <unistd.h>
#include <mutex>

#include <malloc.h>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

struct ctorch_tensor_s { at::Tensor t; };
struct ctorch_module_s { torch::jit::Module m; };
struct ctorch_generator_s { at::Generator g; };
struct ctorch_qlinear_s { c10::IValue packed; };
namespace {
struct SilentWarnings : c10::WarningHandler {
    void process(const c10::Warning &) override {}
} silent_warnings;
}  // namespace

namespace {
thread_local std::string last_error;
thread_local bool has_error = false;
thread_local int catch_depth = 0;
thread_local std::string caught_error;
thread_local bool has_caught = false;

void set_error(const std::string &msg) {
    // LibTorch messages carry a C++ backtrace after the first line on some builds; keep the useful part.
    std::string m = msg;
    auto pos = m.find("\nException raised from");
    if (pos != std::string::npos) m = m.substr(0, pos);
    last_error = m;
    has_error = true;
}

inline const at::Tensor &T(ctorch_tensor h) { return h->t; }
inline ctorch_tensor wrap(at::Tensor t) { return new ctorch_tensor_s{std::move(t)}; }
inline c10::optional<at::Tensor> opt(ctorch_tensor h) {
    if (h == nullptr || !h->t.defined()) return c10::nullopt;
    return h->t;
}
inline at::IntArrayRef arr(const int64_t *p, int64_t n) { return at::IntArrayRef(p, static_cast<size_t>(n)); }
inline at::ScalarType st(int dtype) { return static_cast<at::ScalarType>(dtype); }
inline at::Device dev(int type, int index) {
    return type == 1 ? at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index)) : at::Device(at::kCPU);
}
// Integer tensors take integral scalars as int64 (as Python's `x + 1` does), so their dtype is kept.
inline at::Scalar scalar_for(const at::Tensor &x, double s) {
    return (at::isIntegralType(x.scalar_type(), true) && s == static_cast<double>(static_cast<int64_t>(s)))
               ? at::Scalar(static_cast<int64_t>(s)) : at::Scalar(s);
}
inline at::Reduction::Reduction red(int r) {
    return r == CTORCH_RED_NONE ? at::Reduction::None : (r == CTORCH_RED_SUM ? at::Reduction::Sum : at::Reduction::Mean);
}

// Tune glibc so large activation buffers are reused instead of returned to the OS each step, and use
// every core for intra-op parallelism (AIDETECT_THREADS overrides). Runs once when the library loads.
__attribute__((constructor)) void ctorch_startup() {
    mallopt(M_MMAP_THRESHOLD, 256 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    int n = static_cast<int>(std::thread::hardware_concurrency());
    if (const char *env = std::getenv("AIDETECT_THREADS")) {
        int v = std::atoi(env);
        if (v > 0) n = v;
    }
    if (n > 0) {
        try { at::set_num_threads(n); } catch (...) {}
    }
}
}  // namespace

// For the shim's other translation units (ctorch_dist.cpp).
void ctorch_shim_set_error(const std::string &msg) { set_error(msg); }

#define GUARD(...)                                                        \
    try {                                                                 \
        __VA_ARGS__;                                                      \
        return 0;                                                         \
    } catch (const c10::Error &e) {                                       \
        set_error(e.what_without_backtrace());                            \
    } catch (const std::exception &e) {                                   \
        set_error(e.what());                                              \
    } catch (...) {                                                       \
        set_error("unknown C++ exception in LibTorch");                   \
    }                                                                     \
    return -1;

// Sets *out to a new handle; on failure *out is an undefined tensor so later calls fail cleanly.
#define OUT(expr)                                                         \
    do {                                                                  \
        *out = nullptr;                                                   \
        try {                                                             \
            *out = wrap(expr);                                            \
            return 0;                                                     \
        } catch (const c10::Error &e) {                                   \
            set_error(e.what_without_backtrace());                        \
        } catch (const std::exception &e) {                               \
            set_error(e.what());                                          \
        } catch (...) {                                                   \
            set_error("unknown C++ exception in LibTorch");               \
        }                                                                 \
        *out = wrap(at::Tensor());                                        \
        return -1;                                                        \
    } while (0)

extern "C" {

// ---- errors, runtime ------------------------------------------------------------------------
const char *ctorch_last_error(void) { return has_error ? last_error.c_str() : nullptr; }
void ctorch_clear_error(void) { has_error = false; last_error.clear(); }
void ctorch_catch_push(void) {
    if (catch_depth == 0) { has_caught = false; caught_error.clear(); }
    catch_depth++;
}
char *ctorch_catch_pop(void) {
    if (catch_depth > 0) catch_depth--;
    if (catch_depth == 0 && has_caught) {
        has_caught = false;
        return strdup(caught_error.c_str());
    }
    return nullptr;
}
int ctorch_catch_depth(void) { return catch_depth; }
void ctorch_catch_record(const char *msg) {
    if (!has_caught) { has_caught = true; caught_error = msg ? msg : "unknown error"; }
}

void ctorch_set_num_threads(int n) { try { at::set_num_threads(n); } catch (...) {} }
int ctorch_get_num_threads(void) { return at::get_num_threads(); }
void ctorch_manual_seed(uint64_t seed) {
    try {
        auto gen = at::detail::getDefaultCPUGenerator();
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_current_seed(seed);
    } catch (...) {}
}
// The CPU build links libtorch_cpu only. LibTorch's CUDA backend registers itself when libtorch_cuda.so is loaded, so the
// shim loads it (from the directory libtorch_cpu.so came from, where `scripts/fetch_libtorch.sh cuda` puts it) the first
// time anyone asks about CUDA. Missing libraries or driver leave the engine on the CPU, with the reason kept for --version.
namespace {
std::once_flag cuda_once;
std::string cuda_status = "not checked";
void load_cuda() {
    std::call_once(cuda_once, [] {
        const char *off = std::getenv("AIDETECT_NO_CUDA");
        if (off && *off && std::string(off) != "0") { cuda_status = "disabled by AIDETECT_NO_CUDA"; return; }
        Dl_info info;
        std::string dir;
        if (dladdr(reinterpret_cast<void *>(&at::set_num_threads), &info) && info.dli_fname) {
            dir = info.dli_fname;
            auto slash = dir.rfind('/');
            dir = slash == std::string::npos ? std::string() : dir.substr(0, slash + 1);
        }
        std::string path = dir + "libtorch_cuda.so";
        if (access(path.c_str(), R_OK) != 0) {
            cuda_status = "not installed (scripts/fetch_libtorch.sh cuda)";
            return;
        }
        if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
            const char *e = dlerror();
            cuda_status = std::string("libtorch_cuda.so did not load: ") + (e ? e : "unknown error");
            return;
        }
        try {
            cuda_status = at::hasCUDA() ? "available" : "installed, no GPU or driver visible";
        } catch (const std::exception &e) {
            cuda_status = std::string("installed, unusable: ") + e.what();
        }
    });
}
}  // namespace

int ctorch_cuda_is_available(void) {
    load_cuda();
    try { return at::hasCUDA() ? 1 : 0; } catch (...) { return 0; }
}
int ctorch_cuda_device_count(void) {
    load_cuda();
    try { return at::hasCUDA() ? static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()) : 0; } catch (...) { return 0; }
}
const char *ctorch_cuda_status(void) {
    load_cuda();
    return cuda_status.c_str();
}
void ctorch_set_grad_enabled(int enabled) { c10::GradMode::set_enabled(enabled != 0); }
int ctorch_is_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }
const char *ctorch_version(void) {
    return TORCH_VERSION;
}

// cpuinfo's answer for one capability (a flag such as "avx512_bf16" or "amx_bf16"): 1 yes, 0 no, -1 unknown name.
int ctorch_cpu_capability(const char *name) {
    try {
        auto caps = at::cpu::get_cpu_capabilities();
        auto it = caps.find(name);
        if (it == caps.end() || !it->second.isBool()) return -1;
        return it->second.toBool() ? 1 : 0;
    } catch (...) {
        return -1;
    }
}

// The names of cpuinfo's yes/no capabilities, space-separated, written into buf (cap bytes); returns the length needed.
int64_t ctorch_cpu_capability_names(char *buf, int64_t cap) {
    std::string all;
    try {
        for (auto &kv : at::cpu::get_cpu_capabilities()) {
            if (!kv.second.isBool() || !kv.second.toBool()) continue;
            if (!all.empty()) all += ' ';
            all += kv.first;
        }
    } catch (...) {}
    if (buf && cap > 0) {
        auto n = std::min<int64_t>(cap - 1, (int64_t)all.size());
        memcpy(buf, all.data(), n);
        buf[n] = 0;
    }
    return (int64_t)all.size();
}

// ---- lifetime, info --------------------------------------------------------------------------
void ctorch_tensor_free(ctorch_tensor t) { delete t; }
int ctorch_defined(ctorch_tensor t) { return (t && t->t.defined()) ? 1 : 0; }
int64_t ctorch_dim(ctorch_tensor t) { return t->t.defined() ? t->t.dim() : 0; }
int64_t ctorch_sizes(ctorch_tensor t, int64_t *out, int64_t cap) {
    if (!t->t.defined()) return 0;
    auto s = t->t.sizes();
    for (int64_t i = 0; i < (int64_t)s.size() && i < cap; i++) out[i] = s[i];
    return (int64_t)s.size();
}
int64_t ctorch_strides(ctorch_tensor t, int64_t *out, int64_t cap) {
    if (!t->t.defined()) return 0;
    auto s = t->t.strides();
    for (int64_t i = 0; i < (int64_t)s.size() && i < cap; i++) out[i] = s[i];
    return (int64_t)s.size();
}
int64_t ctorch_numel(ctorch_tensor t) { return t->t.defined() ? t->t.numel() : 0; }
int ctorch_dtype(ctorch_tensor t) { return t->t.defined() ? static_cast<int>(t->t.scalar_type()) : -1; }
int ctorch_device_type(ctorch_tensor t) { return (t->t.defined() && t->t.is_cuda()) ? 1 : 0; }
int ctorch_device_index(ctorch_tensor t) { return (t->t.defined() && t->t.is_cuda()) ? t->t.device().index() : 0; }
int ctorch_requires_grad(ctorch_tensor t) { return (t->t.defined() && t->t.requires_grad()) ? 1 : 0; }
int ctorch_is_contiguous(ctorch_tensor t) { return (t->t.defined() && t->t.is_contiguous()) ? 1 : 0; }
int64_t ctorch_element_size(ctorch_tensor t) { return t->t.defined() ? t->t.element_size() : 0; }

// ---- creation, data --------------------------------------------------------------------------
int ctorch_from_data(ctorch_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int64_t ndim, int dtype) {
    OUT(([&] {
        auto t = at::empty(arr(shape, ndim), at::TensorOptions().dtype(st(dtype)));
        TORCH_CHECK((size_t)t.nbytes() == nbytes, "from_data: ", nbytes, " bytes given for shape ", t.sizes(),
                    " of ", t.scalar_type(), " (", t.nbytes(), " bytes needed)");
        if (nbytes > 0) std::memcpy(t.data_ptr(), data, nbytes);
        return t;
    })());
}
int ctorch_copy_data(ctorch_tensor t, void *dst, size_t nbytes) {
    GUARD({
        auto c = T(t).detach().to(at::kCPU).contiguous();
        TORCH_CHECK((size_t)c.nbytes() == nbytes, "copy_data: buffer of ", nbytes, " bytes for ", c.nbytes());
        if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
    });
}
int ctorch_data_ptr(ctorch_tensor t, void **out) {
    GUARD({
        TORCH_CHECK(T(t).is_contiguous() && !T(t).is_cuda(), "data_ptr needs a contiguous CPU tensor");
        *out = T(t).data_ptr();
    });
}
int ctorch_item_double(ctorch_tensor t, double *out) { GUARD(*out = T(t).item<double>()); }
int ctorch_item_int64(ctorch_tensor t, int64_t *out) { GUARD(*out = T(t).item<int64_t>()); }
int ctorch_fill_new(ctorch_tensor *out, int kind, const int64_t *shape, int64_t ndim, int dtype, int dt, int di) {
    OUT(([&] {
        auto o = at::TensorOptions().dtype(st(dtype)).device(dev(dt, di));
        auto s = arr(shape, ndim);
        switch (kind) {
            case 0: return at::zeros(s, o);
            case 1: return at::ones(s, o);
            case 2: return at::empty(s, o);
            case 3: return at::rand(s, o);
            default: return at::randn(s, o);
        }
    })());
}
int ctorch_full(ctorch_tensor *out, const int64_t *shape, int64_t ndim, double value, int dtype, int dt, int di) {
    OUT(at::full(arr(shape, ndim), value, at::TensorOptions().dtype(st(dtype)).device(dev(dt, di))));
}
int ctorch_arange(ctorch_tensor *out, double start, double end, double step, int dtype) {
    OUT(at::arange(start, end, step, at::TensorOptions().dtype(st(dtype))));
}
int ctorch_linspace(ctorch_tensor *out, double start, double end, int64_t steps, int dtype) {
    OUT(at::linspace(start, end, steps, at::TensorOptions().dtype(st(dtype))));
}
int ctorch_eye(ctorch_tensor *out, int64_t n, int dtype) { OUT(at::eye(n, at::TensorOptions().dtype(st(dtype)))); }
int ctorch_randint(ctorch_tensor *out, int64_t low, int64_t high, const int64_t *shape, int64_t ndim) {
    OUT(at::randint(low, high, arr(shape, ndim), at::TensorOptions().dtype(at::kLong)));
}
int ctorch_randperm(ctorch_tensor *out, int64_t n) { OUT(at::randperm(n, at::TensorOptions().dtype(at::kLong))); }
int ctorch_to(ctorch_tensor *out, ctorch_tensor t, int dtype, int dt, int di) {
    OUT(T(t).to(dev(dt, di), st(dtype)));
}

int ctorch_generator_new(ctorch_generator *out, uint64_t seed) {
    *out = nullptr;
    GUARD(*out = new ctorch_generator_s{at::make_generator<at::CPUGeneratorImpl>(seed)});
}
void ctorch_generator_free(ctorch_generator g) { delete g; }
int ctorch_random_(ctorch_tensor a, ctorch_generator g, int kind, double x, double y) {
    GUARD({
        if (kind == 0) a->t.uniform_(x, y, g->g);
        else a->t.normal_(x, y, g->g);
    });
}
int ctorch_random_with(ctorch_tensor *out, ctorch_generator g, int kind, const int64_t *shape, int64_t ndim) {
    OUT(kind == 3 ? at::rand(arr(shape, ndim), g->g, at::TensorOptions().dtype(at::kFloat))
                  : at::randn(arr(shape, ndim), g->g, at::TensorOptions().dtype(at::kFloat)));
}

// ---- elementwise -----------------------------------------------------------------------------
// Guided backpropagation (Springenberg et al. 2015): while set on this thread, every ReLU/ReLU6 output that
// takes part in autograd gets a hook that clamps its incoming gradient at 0, so the backward pass of the
// ReLU becomes (x > 0) * max(grad, 0).
static thread_local bool t_guided_relu = false;
int ctorch_set_guided_relu(int on) { int was = t_guided_relu; t_guided_relu = on != 0; return was; }
static at::Tensor guided(at::Tensor y) {
    if (t_guided_relu && y.requires_grad()) y.register_hook([](at::Tensor g) { return g.clamp_min(0); });
    return y;
}

int ctorch_unary(ctorch_tensor *out, int op, ctorch_tensor a) {
    OUT(([&]() -> at::Tensor {
        const auto &x = T(a);
        switch (op) {
            case CTORCH_NEG: return at::neg(x);
            case CTORCH_ABS: return at::abs(x);
            case CTORCH_EXP: return at::exp(x);
            case CTORCH_LOG: return at::log(x);
            case CTORCH_SQRT: return at::sqrt(x);
            case CTORCH_RSQRT: return at::rsqrt(x);
            case CTORCH_SIN: return at::sin(x);
            case CTORCH_COS: return at::cos(x);
            case CTORCH_TANH: return at::tanh(x);
            case CTORCH_SIGMOID: return at::sigmoid(x);
            case CTORCH_RELU: return guided(at::relu(x));
            case CTORCH_GELU: return at::gelu(x);
            case CTORCH_GELU_TANH: return at::gelu(x, "tanh");
            case CTORCH_QUICK_GELU: return x * at::sigmoid(x * 1.702);
            case CTORCH_SILU: return at::silu(x);
            case CTORCH_FLOOR: return at::floor(x);
            case CTORCH_CEIL: return at::ceil(x);
            case CTORCH_ROUND: return at::round(x);
            case CTORCH_SIGN: return at::sign(x);
            case CTORCH_CONTIGUOUS: return x.contiguous();
            case CTORCH_CLONE: return x.clone();
            case CTORCH_DETACH: return x.detach();
            case CTORCH_LOGICAL_NOT: return at::logical_not(x);
            case CTORCH_ISNAN: return at::isnan(x);
            case CTORCH_ISFINITE: return at::isfinite(x);
            case CTORCH_SQUARE: return at::square(x);
            case CTORCH_RECIPROCAL: return at::reciprocal(x);
            case CTORCH_ERF: return at::erf(x);
            case CTORCH_LOG1P: return at::log1p(x);
            case CTORCH_RELU6: return guided(at::hardtanh(x, 0.0, 6.0));
            case CTORCH_HARDSWISH: return at::hardswish(x);
            case CTORCH_HARDSIGMOID: return at::hardsigmoid(x);
            case CTORCH_SOFTPLUS: return at::softplus(x);
            case CTORCH_LOG_SIGMOID: return at::log_sigmoid(x);
            case CTORCH_ZEROS_LIKE: return at::zeros_like(x);
            case CTORCH_ONES_LIKE: return at::ones_like(x);
            case CTORCH_RAND_LIKE: return at::rand_like(x);
            case CTORCH_RANDN_LIKE: return at::randn_like(x);
        }
        TORCH_CHECK(false, "unknown unary op ", op);
    })());
}

static at::Tensor binary_op(int op, const at::Tensor &x, const at::Tensor &y) {
    switch (op) {
        case CTORCH_ADD: return at::add(x, y);
        case CTORCH_SUB: return at::sub(x, y);
        case CTORCH_MUL: return at::mul(x, y);
        case CTORCH_DIV: return at::div(x, y);
        case CTORCH_POW: return at::pow(x, y);
        case CTORCH_MAXIMUM: return at::maximum(x, y);
        case CTORCH_MINIMUM: return at::minimum(x, y);
        case CTORCH_EQ: return at::eq(x, y);
        case CTORCH_NE: return at::ne(x, y);
        case CTORCH_LT: return at::lt(x, y);
        case CTORCH_LE: return at::le(x, y);
        case CTORCH_GT: return at::gt(x, y);
        case CTORCH_GE: return at::ge(x, y);
        case CTORCH_MATMUL: return at::matmul(x, y);
        case CTORCH_LOGICAL_AND: return at::logical_and(x, y);
        case CTORCH_LOGICAL_OR: return at::logical_or(x, y);
        case CTORCH_ATAN2: return at::atan2(x, y);
        case CTORCH_REMAINDER: return at::remainder(x, y);
        case CTORCH_FLOOR_DIVIDE: return at::div(x, y, "floor");
        case CTORCH_RSUB: return at::sub(y, x);
    }
    TORCH_CHECK(false, "unknown binary op ", op);
}

int ctorch_binary(ctorch_tensor *out, int op, ctorch_tensor a, ctorch_tensor b) { OUT(binary_op(op, T(a), T(b))); }

int ctorch_binary_scalar(ctorch_tensor *out, int op, ctorch_tensor a, double s) {
    OUT(([&]() -> at::Tensor {
        const auto &x = T(a);
        at::Scalar sc = scalar_for(x, s);
        switch (op) {
            case CTORCH_ADD: return at::add(x, sc);
            case CTORCH_SUB: return at::sub(x, sc);
            case CTORCH_MUL: return at::mul(x, sc);
            case CTORCH_DIV: return at::div(x, sc);
            case CTORCH_POW: return at::pow(x, sc);
            case CTORCH_MAXIMUM: return at::clamp_min(x, sc);
            case CTORCH_MINIMUM: return at::clamp_max(x, sc);
            case CTORCH_EQ: return at::eq(x, sc);
            case CTORCH_NE: return at::ne(x, sc);
            case CTORCH_LT: return at::lt(x, sc);
            case CTORCH_LE: return at::le(x, sc);
            case CTORCH_GT: return at::gt(x, sc);
            case CTORCH_GE: return at::ge(x, sc);
            case CTORCH_REMAINDER: return at::remainder(x, sc);
            case CTORCH_FLOOR_DIVIDE: return at::div(x, at::scalar_tensor(sc, x.options()), "floor");
            case CTORCH_RSUB: return at::rsub(x, sc);
        }
        TORCH_CHECK(false, "binary op ", op, " has no scalar form");
    })());
}
int ctorch_clamp(ctorch_tensor *out, ctorch_tensor a, double lo, double hi, int has_lo, int has_hi) {
    OUT(at::clamp(T(a), has_lo ? c10::optional<at::Scalar>(lo) : c10::nullopt,
                  has_hi ? c10::optional<at::Scalar>(hi) : c10::nullopt));
}
int ctorch_where(ctorch_tensor *out, ctorch_tensor c, ctorch_tensor a, ctorch_tensor b) { OUT(at::where(T(c), T(a), T(b))); }
int ctorch_leaky_relu(ctorch_tensor *out, ctorch_tensor a, double slope) { OUT(at::leaky_relu(T(a), slope)); }
int ctorch_elu(ctorch_tensor *out, ctorch_tensor a, double alpha) { OUT(at::elu(T(a), alpha)); }

// ---- in place --------------------------------------------------------------------------------
int ctorch_inplace(int op, ctorch_tensor a, ctorch_tensor b, ctorch_tensor c, double alpha) {
    GUARD({
        auto &x = a->t;
        switch (op) {
            case CTORCH_IP_ADD: x.add_(T(b), alpha); break;
            case CTORCH_IP_MUL: x.mul_(T(b)); break;
            case CTORCH_IP_COPY: x.copy_(T(b)); break;
            case CTORCH_IP_ADDCMUL: x.addcmul_(T(b), T(c), alpha); break;
            case CTORCH_IP_ADDCDIV: x.addcdiv_(T(b), T(c), alpha); break;
            case CTORCH_IP_LERP: x.lerp_(T(b), alpha); break;
            default: TORCH_CHECK(false, "unknown in-place op ", op);
        }
    });
}
int ctorch_inplace_scalar(int op, ctorch_tensor a, double x, double y) {
    GUARD({
        auto &t = a->t;
        switch (op) {
            case CTORCH_IPS_MUL: t.mul_(scalar_for(t, x)); break;
            case CTORCH_IPS_ADD: t.add_(scalar_for(t, x)); break;
            case CTORCH_IPS_FILL: t.fill_(scalar_for(t, x)); break;
            case CTORCH_IPS_UNIFORM: t.uniform_(x, y); break;
            case CTORCH_IPS_NORMAL: t.normal_(x, y); break;
            case CTORCH_IPS_BERNOULLI: t.bernoulli_(x); break;
            default: TORCH_CHECK(false, "unknown in-place scalar op ", op);
        }
    });
}
int ctorch_clamp_(ctorch_tensor a, double lo, double hi) { GUARD(a->t.clamp_(lo, hi)); }
int ctorch_zero_(ctorch_tensor a) { GUARD(a->t.zero_()); }
int ctorch_activation_(ctorch_tensor a, int op) {
    GUARD({
        switch (op) {
            case 0: at::relu_(a->t); break;
            case 1: at::hardtanh_(a->t, 0.0, 6.0); break;
            case 2: a->t.sigmoid_(); break;
            case 3: a->t.tanh_(); break;
            default: TORCH_CHECK(false, "unknown in-place activation ", op);
        }
        if (op <= 1) guided(a->t);
    });
}

// ---- reductions ------------------------------------------------------------------------------
int ctorch_reduce(ctorch_tensor *out, int op, ctorch_tensor a, const int64_t *dims, int64_t nd, int keepdim) {
    OUT(([&]() -> at::Tensor {
        const auto &x = T(a);
        bool all = nd == 0;
        auto d = arr(dims, nd);
        bool k = keepdim != 0;
        switch (op) {
            case CTORCH_SUM: return all ? x.sum() : x.sum(d, k);
            case CTORCH_MEAN: return all ? x.mean() : x.mean(d, k);
            case CTORCH_AMAX: return all ? x.max() : x.amax(d, k);
            case CTORCH_AMIN: return all ? x.min() : x.amin(d, k);
            case CTORCH_ARGMAX: return all ? x.argmax() : x.argmax(dims[0], k);
            case CTORCH_ARGMIN: return all ? x.argmin() : x.argmin(dims[0], k);
            case CTORCH_PROD: {
                if (all) return x.prod();
                at::Tensor r = x;
                for (int64_t i = nd - 1; i >= 0; i--) r = r.prod(dims[i], k);
                return r;
            }
            case CTORCH_STD: return all ? x.std() : x.std(d, true, k);
            case CTORCH_VAR: return all ? x.var() : x.var(d, true, k);
            case CTORCH_LOGSUMEXP: {
                if (all) return at::logsumexp(x.flatten(), {0}, false);
                return at::logsumexp(x, d, k);
            }
            case CTORCH_NORM2: return all ? x.norm() : at::norm(x, 2, d, k);
            case CTORCH_NORM1: return all ? x.abs().sum() : x.abs().sum(d, k);
            case CTORCH_ANY: {
                if (all) return x.any();
                at::Tensor r = x;
                for (int64_t i = nd - 1; i >= 0; i--) r = r.any(dims[i], k);
                return r;
            }
            case CTORCH_ALL: {
                if (all) return x.all();
                at::Tensor r = x;
                for (int64_t i = nd - 1; i >= 0; i--) r = r.all(dims[i], k);
                return r;
            }
        }
        TORCH_CHECK(false, "unknown reduction ", op);
    })());
}
int ctorch_softmax(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int log) {
    OUT(log ? at::log_softmax(T(a), dim) : at::softmax(T(a), dim));
}
int ctorch_cumsum(ctorch_tensor *out, ctorch_tensor a, int64_t dim) { OUT(at::cumsum(T(a), dim)); }
int ctorch_sort(ctorch_tensor *values, ctorch_tensor *indices, ctorch_tensor a, int64_t dim, int descending) {
    *values = nullptr; *indices = nullptr;
    try {
        auto r = at::sort(T(a), dim, descending != 0);
        *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r));
        return 0;
    } catch (const c10::Error &e) { set_error(e.what_without_backtrace()); }
    catch (const std::exception &e) { set_error(e.what()); }
    *values = wrap(at::Tensor()); *indices = wrap(at::Tensor());
    return -1;
}
int ctorch_linalg_eigh(ctorch_tensor *values, ctorch_tensor *vectors, ctorch_tensor a) {
    *values = nullptr; *vectors = nullptr;
    try {
        auto r = at::linalg_eigh(T(a));
        *values = wrap(std::get<0>(r)); *vectors = wrap(std::get<1>(r));
        return 0;
    } catch (const c10::Error &e) { set_error(e.what_without_backtrace()); }
    catch (const std::exception &e) { set_error(e.what()); }
    *values = wrap(at::Tensor()); *vectors = wrap(at::Tensor());
    return -1;
}
int ctorch_topk(ctorch_tensor *values, ctorch_tensor *indices, ctorch_tensor a, int64_t k, int64_t dim, int largest) {
    *values = nullptr; *indices = nullptr;
    try {
        auto r = at::topk(T(a), k, dim, largest != 0, true);
        *values = wrap(std::get<0>(r)); *indices = wrap(std::get<1>(r));
        return 0;
    } catch (const c10::Error &e) { set_error(e.what_without_backtrace()); }
    catch (const std::exception &e) { set_error(e.what()); }
    *values = wrap(at::Tensor()); *indices = wrap(at::Tensor());
    return -1;
}

// ---- shape -----------------------------------------------------------------------------------
int ctorch_reshape(ctorch_tensor *out, ctorch_tensor a, const int64_t *s, int64_t n) { OUT(T(a).reshape(arr(s, n))); }
int ctorch_permute(ctorch_tensor *out, ctorch_tensor a, const int64_t *d, int64_t n) { OUT(T(a).permute(arr(d, n))); }
int ctorch_transpose(ctorch_tensor *out, ctorch_tensor a, int64_t d0, int64_t d1) { OUT(T(a).transpose(d0, d1)); }
int ctorch_expand(ctorch_tensor *out, ctorch_tensor a, const int64_t *s, int64_t n) { OUT(T(a).expand(arr(s, n))); }
int ctorch_repeat(ctorch_tensor *out, ctorch_tensor a, const int64_t *r, int64_t n) { OUT(T(a).repeat(arr(r, n))); }
int ctorch_squeeze(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int all) { OUT(all ? T(a).squeeze() : T(a).squeeze(dim)); }
int ctorch_unsqueeze(ctorch_tensor *out, ctorch_tensor a, int64_t dim) { OUT(T(a).unsqueeze(dim)); }
int ctorch_flatten(ctorch_tensor *out, ctorch_tensor a, int64_t s, int64_t e) { OUT(T(a).flatten(s, e)); }
int ctorch_cat(ctorch_tensor *out, const ctorch_tensor *ts, int64_t n, int64_t dim, int stack) {
    OUT(([&] {
        std::vector<at::Tensor> v;
        v.reserve(n);
        for (int64_t i = 0; i < n; i++) v.push_back(T(ts[i]));
        return stack ? at::stack(v, dim) : at::cat(v, dim);
    })());
}
int ctorch_slice(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step) {
    OUT(T(a).slice(dim, start, end, step));
}
int ctorch_select(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int64_t index) { OUT(T(a).select(dim, index)); }
int ctorch_index_select(ctorch_tensor *out, ctorch_tensor a, int64_t dim, ctorch_tensor idx) { OUT(T(a).index_select(dim, T(idx))); }
int ctorch_gather(ctorch_tensor *out, ctorch_tensor a, int64_t dim, ctorch_tensor idx) { OUT(T(a).gather(dim, T(idx))); }
int ctorch_masked_fill(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor mask, double v) { OUT(T(a).masked_fill(T(mask), v)); }
int ctorch_flip(ctorch_tensor *out, ctorch_tensor a, const int64_t *d, int64_t n) { OUT(T(a).flip(arr(d, n))); }
int ctorch_roll(ctorch_tensor *out, ctorch_tensor a, const int64_t *s, const int64_t *d, int64_t n) {
    OUT(T(a).roll(arr(s, n), arr(d, n)));
}
int ctorch_pad(ctorch_tensor *out, ctorch_tensor a, const int64_t *pads, int64_t n, int mode, double value) {
    OUT(([&] {
        static const char *modes[] = {"constant", "reflect", "replicate", "circular"};
        TORCH_CHECK(mode >= 0 && mode <= 3, "unknown pad mode ", mode);
        return at::pad(T(a), arr(pads, n), modes[mode], mode == 0 ? c10::optional<double>(value) : c10::nullopt);
    })());
}
int ctorch_tril(ctorch_tensor *out, ctorch_tensor a, int64_t diagonal, int upper) {
    OUT(upper ? at::triu(T(a), diagonal) : at::tril(T(a), diagonal));
}
int ctorch_one_hot(ctorch_tensor *out, ctorch_tensor a, int64_t classes) { OUT(at::one_hot(T(a), classes)); }
int ctorch_as_strided(ctorch_tensor *out, ctorch_tensor a, const int64_t *size, const int64_t *stride, int64_t n,
                      int64_t offset, int copy) {
    OUT(([&] {
        auto v = T(a).as_strided(arr(size, n), arr(stride, n), offset);
        return copy ? v.clone(at::MemoryFormat::Contiguous) : v;
    })());
}

// ---- neural-network functional ops -----------------------------------------------------------
int ctorch_linear(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b) { OUT(at::linear(T(x), T(w), opt(b))); }
int ctorch_qlinear_pack(ctorch_qlinear_weight *out, ctorch_tensor w, ctorch_tensor b) {
    *out = nullptr;
    GUARD({
        // Quantised tensors are only the packing's input here; LibTorch 2.15 warns that creating them is deprecated.
        c10::WarningUtils::WarningHandlerGuard quiet(&silent_warnings);
        auto weight = T(w).detach().to(at::kFloat).contiguous();
        TORCH_CHECK(weight.dim() == 2, "qlinear_pack: weight must be [out, in], got ", weight.sizes());
        auto scales = (weight.abs().amax({1}).clamp_min(1e-12) / 127.0).to(at::kDouble);
        auto zero_points = at::zeros({weight.size(0)}, at::kLong);
        auto qweight = at::quantize_per_channel(weight, scales, zero_points, 0, at::kQInt8);
        // oneDNN's dynamic INT8 GEMM measured about 9% faster than FBGEMM's on AVX2 (bench/RESULTS.md); FBGEMM otherwise.
        static const bool engine_set = [] {
            const auto &engines = at::globalContext().supportedQEngines();
            const char *want = std::getenv("AIDETECT_QENGINE");
            auto pick = (want && std::string(want) == "fbgemm") ? at::QEngine::FBGEMM : at::QEngine::ONEDNN;
            if (std::find(engines.begin(), engines.end(), pick) == engines.end()) pick = at::QEngine::FBGEMM;
            at::globalContext().setQEngine(pick);
            return true;
        }();
        (void)engine_set;
        static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_prepack", "");
        torch::jit::Stack stack;
        stack.emplace_back(qweight);
        if (b != nullptr && b->t.defined()) stack.emplace_back(T(b).detach().to(at::kFloat).contiguous());
        else stack.emplace_back(c10::IValue());
        op.callBoxed(&stack);
        *out = new ctorch_qlinear_s{stack.at(0)};
    });
}
int ctorch_qlinear(ctorch_tensor *out, ctorch_qlinear_weight q, ctorch_tensor x) {
    OUT(([&] {
        static auto op = c10::Dispatcher::singleton().findSchemaOrThrow("quantized::linear_dynamic", "");
        torch::jit::Stack stack;
        stack.emplace_back(T(x).to(at::kFloat).contiguous());
        stack.emplace_back(q->packed);
        stack.emplace_back(true);  // reduce_range: 7-bit activations, as PyTorch's x86 dynamic quantisation
        op.callBoxed(&stack);
        return stack.at(0).toTensor();
    })());
}
void ctorch_qlinear_free(ctorch_qlinear_weight q) { delete q; }
int ctorch_sdpa(ctorch_tensor *out, ctorch_tensor q, ctorch_tensor k, ctorch_tensor v, ctorch_tensor mask) {
    OUT(at::scaled_dot_product_attention(T(q), T(k), T(v), opt(mask)));
}
int ctorch_conv2d(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b, const int64_t *stride,
                  const int64_t *padding, const int64_t *dilation, int64_t groups) {
    OUT(at::conv2d(T(x), T(w), opt(b), arr(stride, 2), arr(padding, 2), arr(dilation, 2), groups));
}
int ctorch_conv_transpose2d(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b, const int64_t *stride,
                            const int64_t *padding, const int64_t *output_padding, int64_t groups, const int64_t *dilation) {
    OUT(at::conv_transpose2d(T(x), T(w), opt(b), arr(stride, 2), arr(padding, 2), arr(output_padding, 2), groups,
                             arr(dilation, 2)));
}
int ctorch_max_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *k, const int64_t *s, const int64_t *p,
                      const int64_t *d, int ceil_mode) {
    OUT(at::max_pool2d(T(x), arr(k, 2), arr(s, 2), arr(p, 2), arr(d, 2), ceil_mode != 0));
}
int ctorch_avg_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *k, const int64_t *s, const int64_t *p,
                      int ceil_mode, int count_include_pad) {
    OUT(at::avg_pool2d(T(x), arr(k, 2), arr(s, 2), arr(p, 2), ceil_mode != 0, count_include_pad != 0));
}
int ctorch_adaptive_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *size, int max) {
    OUT(max ? std::get<0>(at::adaptive_max_pool2d(T(x), arr(size, 2))) : at::adaptive_avg_pool2d(T(x), arr(size, 2)));
}
int ctorch_batch_norm(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b, ctorch_tensor rm,
                      ctorch_tensor rv, int training, double momentum, double eps) {
    OUT(at::batch_norm(T(x), opt(w), opt(b), opt(rm), opt(rv), training != 0, momentum, eps, true));
}
int ctorch_layer_norm(ctorch_tensor *out, ctorch_tensor x, const int64_t *shape, int64_t n, ctorch_tensor w,
                      ctorch_tensor b, double eps) {
    OUT(at::layer_norm(T(x), arr(shape, n), opt(w), opt(b), eps, true));
}
int ctorch_group_norm(ctorch_tensor *out, ctorch_tensor x, int64_t groups, ctorch_tensor w, ctorch_tensor b, double eps) {
    OUT(at::group_norm(T(x), groups, opt(w), opt(b), eps, true));
}
int ctorch_dropout(ctorch_tensor *out, ctorch_tensor x, double p, int training) { OUT(at::dropout(T(x), p, training != 0)); }
int ctorch_embedding(ctorch_tensor *out, ctorch_tensor w, ctorch_tensor idx) { OUT(at::embedding(T(w), T(idx))); }
int ctorch_interpolate(ctorch_tensor *out, ctorch_tensor x, const int64_t *size, double sh, double sw, int mode,
                       int align_corners, int antialias) {
    OUT(([&]() -> at::Tensor {
        const auto &in = T(x);
        TORCH_CHECK(in.dim() == 4, "interpolate expects NCHW input, got ", in.dim(), " dims");
        int64_t oh, ow;
        if (size) { oh = size[0]; ow = size[1]; }
        else { oh = (int64_t)std::floor(in.size(2) * sh); ow = (int64_t)std::floor(in.size(3) * sw); }
        std::vector<int64_t> os = {oh, ow};
        c10::optional<double> h = size ? c10::nullopt : c10::optional<double>(sh);
        c10::optional<double> w = size ? c10::nullopt : c10::optional<double>(sw);
        bool ac = align_corners != 0;
        switch (mode) {
            case 0: return at::upsample_nearest2d(in, os, h, w);
            case 1: return antialias ? at::_upsample_bilinear2d_aa(in, os, ac, h, w) : at::upsample_bilinear2d(in, os, ac, h, w);
            case 2: return antialias ? at::_upsample_bicubic2d_aa(in, os, ac, h, w) : at::upsample_bicubic2d(in, os, ac, h, w);
        }
        TORCH_CHECK(false, "unknown interpolation mode ", mode);
    })());
}
int ctorch_pixel_shuffle(ctorch_tensor *out, ctorch_tensor x, int64_t f) { OUT(at::pixel_shuffle(T(x), f)); }

int ctorch_cross_entropy(ctorch_tensor *out, ctorch_tensor logits, ctorch_tensor target, ctorch_tensor weight,
                         int reduction, double ls) {
    OUT(at::cross_entropy_loss(T(logits), T(target), opt(weight), red(reduction), -100, ls));
}
int ctorch_nll_loss(ctorch_tensor *out, ctorch_tensor logp, ctorch_tensor target, int reduction) {
    OUT(at::nll_loss(T(logp), T(target), {}, red(reduction)));
}
int ctorch_bce_with_logits(ctorch_tensor *out, ctorch_tensor logits, ctorch_tensor target, ctorch_tensor pw, int reduction) {
    OUT(at::binary_cross_entropy_with_logits(T(logits), T(target), {}, opt(pw), red(reduction)));
}
int ctorch_bce(ctorch_tensor *out, ctorch_tensor probs, ctorch_tensor target, int reduction) {
    OUT(at::binary_cross_entropy(T(probs), T(target), {}, red(reduction)));
}
int ctorch_mse(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor b, int reduction) { OUT(at::mse_loss(T(a), T(b), red(reduction))); }
int ctorch_smooth_l1(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor b, int reduction, double beta) {
    OUT(at::smooth_l1_loss(T(a), T(b), red(reduction), beta));
}

// ---- autograd --------------------------------------------------------------------------------
int ctorch_set_requires_grad(ctorch_tensor t, int r) { GUARD(t->t.set_requires_grad(r != 0)); }
int ctorch_backward(ctorch_tensor t, ctorch_tensor grad, int retain_graph) {
    GUARD(T(t).backward(grad ? T(grad) : at::Tensor(), retain_graph ? c10::optional<bool>(true) : c10::nullopt));
}
int ctorch_grad(ctorch_tensor *out, ctorch_tensor t) { OUT(T(t).grad()); }
int ctorch_set_grad(ctorch_tensor t, ctorch_tensor g) {
    GUARD(t->t.mutable_grad() = (g ? T(g) : at::Tensor()));
}
int ctorch_autograd_grad(ctorch_tensor *out, const ctorch_tensor *outputs, const ctorch_tensor *grad_outputs,
                         int64_t n_out, const ctorch_tensor *inputs, int64_t n_in, int retain_graph, int create_graph) {
    for (int64_t i = 0; i < n_in; i++) out[i] = nullptr;
    try {
        std::vector<at::Tensor> o, go, in;
        for (int64_t i = 0; i < n_out; i++) {
            o.push_back(T(outputs[i]));
            go.push_back(grad_outputs ? T(grad_outputs[i]) : at::Tensor());
        }
        for (int64_t i = 0; i < n_in; i++) in.push_back(T(inputs[i]));
        auto r = torch::autograd::grad(o, in, go, retain_graph ? c10::optional<bool>(true) : c10::nullopt,
                                       create_graph != 0, true);
        for (int64_t i = 0; i < n_in; i++) out[i] = wrap(r[i]);
        return 0;
    } catch (const c10::Error &e) { set_error(e.what_without_backtrace()); }
    catch (const std::exception &e) { set_error(e.what()); }
    for (int64_t i = 0; i < n_in; i++) if (!out[i]) out[i] = wrap(at::Tensor());
    return -1;
}
int ctorch_register_relu_guide_hook(ctorch_tensor t) {
    GUARD(t->t.register_hook([](at::Tensor g) { return g.clamp_min(0); }));
}

// ---- TorchScript -----------------------------------------------------------------------------
int ctorch_jit_load(ctorch_module *out, const char *path) {
    *out = nullptr;
    GUARD(*out = new ctorch_module_s{torch::jit::load(std::string(path))});
}
void ctorch_module_free(ctorch_module m) { delete m; }
int ctorch_module_eval(ctorch_module m) { GUARD(m->m.eval()); }
int ctorch_module_forward(ctorch_tensor *out, ctorch_module m, const ctorch_tensor *inputs, int64_t n) {
    OUT(([&] {
        std::vector<c10::IValue> in;
        for (int64_t i = 0; i < n; i++) in.emplace_back(T(inputs[i]));
        auto r = m->m.forward(in);
        if (r.isTuple()) {
            auto elems = r.toTuple()->elements();
            TORCH_CHECK(!elems.empty() && elems[0].isTensor(), "TorchScript forward returned a tuple without a tensor");
            return elems[0].toTensor();
        }
        TORCH_CHECK(r.isTensor(), "TorchScript forward returned ", r.tagKind(), ", not a tensor");
        return r.toTensor();
    })());
}

}  // extern "C"
