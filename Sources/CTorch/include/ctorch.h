// ctorch.h - a pure-C view of the parts of LibTorch that aidetect uses.
//
// Conventions
// - Opaque handles: `ctorch_tensor` owns one at::Tensor; `ctorch_module` one TorchScript module.
//   Every handle returned through an out-parameter must be released with its `_free` function.
// - Every function returns 0 on success and -1 on failure. On failure the message is kept in a
//   thread-local last error (`ctorch_last_error`) and tensor out-parameters hold an *undefined* tensor,
//   so chained calls keep failing until the caller looks. No C++ exception crosses this header.
// - Shapes are `int64_t` arrays with an explicit length. Dtypes are LibTorch's ScalarType codes
//   (see CTORCH_* below). Devices: type 0 = CPU, 1 = CUDA, with an index.
// - Tensors are NCHW wherever images are involved.
#ifndef CTORCH_H
#define CTORCH_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ctorch_tensor_s *ctorch_tensor;
typedef struct ctorch_module_s *ctorch_module;
typedef struct ctorch_generator_s *ctorch_generator;
/// A Linear layer's weight packed for dynamic INT8 (FBGEMM): int8 weights per output channel, activations quantised per call.
typedef struct ctorch_qlinear_s *ctorch_qlinear_weight;
/// A c10d process group (Gloo) with the TCPStore it met through.
typedef struct ctorch_pg_s *ctorch_pg;

enum {
    CTORCH_U8 = 0, CTORCH_I8 = 1, CTORCH_I16 = 2, CTORCH_I32 = 3, CTORCH_I64 = 4,
    CTORCH_F16 = 5, CTORCH_F32 = 6, CTORCH_F64 = 7, CTORCH_BOOL = 11, CTORCH_BF16 = 15
};

// ---- errors, runtime ------------------------------------------------------------------------
/// The message of the most recent failure on this thread, or NULL.
const char *ctorch_last_error(void);
void ctorch_clear_error(void);
/// Nested "catch" scopes: while depth > 0 the Swift side records failures instead of trapping.
void ctorch_catch_push(void);
/// Pops a scope; returns a malloc'd copy of the first error recorded inside it (caller frees), or NULL.
char *ctorch_catch_pop(void);
int ctorch_catch_depth(void);
/// Records `msg` as the scope's first error if none is recorded yet.
void ctorch_catch_record(const char *msg);

void ctorch_set_num_threads(int n);
int ctorch_get_num_threads(void);
void ctorch_manual_seed(uint64_t seed);
int ctorch_cuda_is_available(void);
int ctorch_cuda_device_count(void);
/// Why CUDA is or is not in use (libtorch_cuda.so not installed, no driver, available...).
const char *ctorch_cuda_status(void);
void ctorch_set_grad_enabled(int enabled);
int ctorch_is_grad_enabled(void);
/// Version string of the linked LibTorch (static storage).
const char *ctorch_version(void);
/// cpuinfo (through LibTorch) on one capability such as "avx512_bf16" or "amx_bf16": 1 yes, 0 no, -1 unknown name.
int ctorch_cpu_capability(const char *name);
/// The CPU's capabilities that are present, space-separated, into buf (cap bytes); returns the full length.
int64_t ctorch_cpu_capability_names(char *buf, int64_t cap);

// ---- lifetime, info --------------------------------------------------------------------------
void ctorch_tensor_free(ctorch_tensor t);
int ctorch_defined(ctorch_tensor t);
int64_t ctorch_dim(ctorch_tensor t);
/// Writes up to `cap` sizes; returns the number of dimensions.
int64_t ctorch_sizes(ctorch_tensor t, int64_t *out, int64_t cap);
int64_t ctorch_strides(ctorch_tensor t, int64_t *out, int64_t cap);
int64_t ctorch_numel(ctorch_tensor t);
int ctorch_dtype(ctorch_tensor t);
int ctorch_device_type(ctorch_tensor t);
int ctorch_device_index(ctorch_tensor t);
int ctorch_requires_grad(ctorch_tensor t);
int ctorch_is_contiguous(ctorch_tensor t);
int64_t ctorch_element_size(ctorch_tensor t);

// ---- creation, data --------------------------------------------------------------------------
/// Copies `nbytes` from `data` into a new CPU tensor of `shape` and `dtype`.
int ctorch_from_data(ctorch_tensor *out, const void *data, size_t nbytes, const int64_t *shape, int64_t ndim, int dtype);
/// Copies the tensor's elements (contiguous, row-major, on CPU, in its own dtype) into `dst` (`nbytes` long).
int ctorch_copy_data(ctorch_tensor t, void *dst, size_t nbytes);
/// For a contiguous CPU tensor: its data pointer (valid while the tensor lives).
int ctorch_data_ptr(ctorch_tensor t, void **out);
int ctorch_item_double(ctorch_tensor t, double *out);
int ctorch_item_int64(ctorch_tensor t, int64_t *out);
/// kind: 0 zeros, 1 ones, 2 empty, 3 rand (U[0,1)), 4 randn.
int ctorch_fill_new(ctorch_tensor *out, int kind, const int64_t *shape, int64_t ndim, int dtype, int device_type, int device_index);
int ctorch_full(ctorch_tensor *out, const int64_t *shape, int64_t ndim, double value, int dtype, int device_type, int device_index);
int ctorch_arange(ctorch_tensor *out, double start, double end, double step, int dtype);
int ctorch_linspace(ctorch_tensor *out, double start, double end, int64_t steps, int dtype);
int ctorch_eye(ctorch_tensor *out, int64_t n, int dtype);
int ctorch_randint(ctorch_tensor *out, int64_t low, int64_t high, const int64_t *shape, int64_t ndim);
int ctorch_randperm(ctorch_tensor *out, int64_t n);
int ctorch_to(ctorch_tensor *out, ctorch_tensor t, int dtype, int device_type, int device_index);
/// A private CPU random generator (same algorithm and seeding as torch.Generator().manual_seed(seed)).
int ctorch_generator_new(ctorch_generator *out, uint64_t seed);
void ctorch_generator_free(ctorch_generator g);
/// In-place draws from `g`: kind 0 uniform_(x, y), 1 normal_(mean x, std y).
int ctorch_random_(ctorch_tensor a, ctorch_generator g, int kind, double x, double y);
/// kind: 3 rand, 4 randn, drawn from `g` (float32 CPU).
int ctorch_random_with(ctorch_tensor *out, ctorch_generator g, int kind, const int64_t *shape, int64_t ndim);

// ---- elementwise -----------------------------------------------------------------------------
enum {
    CTORCH_NEG = 0, CTORCH_ABS, CTORCH_EXP, CTORCH_LOG, CTORCH_SQRT, CTORCH_RSQRT, CTORCH_SIN, CTORCH_COS,
    CTORCH_TANH, CTORCH_SIGMOID, CTORCH_RELU, CTORCH_GELU, CTORCH_SILU, CTORCH_FLOOR, CTORCH_CEIL,
    CTORCH_ROUND, CTORCH_SIGN, CTORCH_CONTIGUOUS, CTORCH_CLONE, CTORCH_DETACH, CTORCH_LOGICAL_NOT,
    CTORCH_ISNAN, CTORCH_SQUARE, CTORCH_RECIPROCAL, CTORCH_ERF, CTORCH_LOG1P, CTORCH_RELU6,
    CTORCH_HARDSWISH, CTORCH_HARDSIGMOID, CTORCH_SOFTPLUS, CTORCH_ISFINITE, CTORCH_GELU_TANH,
    CTORCH_ZEROS_LIKE, CTORCH_ONES_LIKE, CTORCH_RAND_LIKE, CTORCH_RANDN_LIKE, CTORCH_LOG_SIGMOID,
    CTORCH_QUICK_GELU
};
int ctorch_unary(ctorch_tensor *out, int op, ctorch_tensor a);

enum {
    CTORCH_ADD = 0, CTORCH_SUB, CTORCH_MUL, CTORCH_DIV, CTORCH_POW, CTORCH_MAXIMUM, CTORCH_MINIMUM,
    CTORCH_EQ, CTORCH_NE, CTORCH_LT, CTORCH_LE, CTORCH_GT, CTORCH_GE, CTORCH_MATMUL,
    CTORCH_LOGICAL_AND, CTORCH_LOGICAL_OR, CTORCH_ATAN2, CTORCH_REMAINDER, CTORCH_FLOOR_DIVIDE, CTORCH_RSUB
};
int ctorch_binary(ctorch_tensor *out, int op, ctorch_tensor a, ctorch_tensor b);
/// The same ops with a scalar right-hand side (RSUB: scalar - a).
int ctorch_binary_scalar(ctorch_tensor *out, int op, ctorch_tensor a, double s);
int ctorch_clamp(ctorch_tensor *out, ctorch_tensor a, double lo, double hi, int has_lo, int has_hi);
int ctorch_where(ctorch_tensor *out, ctorch_tensor cond, ctorch_tensor a, ctorch_tensor b);
int ctorch_leaky_relu(ctorch_tensor *out, ctorch_tensor a, double slope);
int ctorch_elu(ctorch_tensor *out, ctorch_tensor a, double alpha);

// ---- in place (optimisers, init) -------------------------------------------------------------
enum {
    CTORCH_IP_ADD = 0,      // a += alpha * b
    CTORCH_IP_MUL,          // a *= b
    CTORCH_IP_COPY,         // a <- b
    CTORCH_IP_ADDCMUL,      // a += alpha * b * c
    CTORCH_IP_ADDCDIV,      // a += alpha * b / c
    CTORCH_IP_LERP          // a += alpha * (b - a)
};
int ctorch_inplace(int op, ctorch_tensor a, ctorch_tensor b, ctorch_tensor c, double alpha);
enum { CTORCH_IPS_MUL = 0, CTORCH_IPS_ADD, CTORCH_IPS_FILL, CTORCH_IPS_UNIFORM, CTORCH_IPS_NORMAL, CTORCH_IPS_BERNOULLI };
/// Scalar in-place ops: mul_(x), add_(x), fill_(x), uniform_(x, y), normal_(x, y), bernoulli_(x).
int ctorch_inplace_scalar(int op, ctorch_tensor a, double x, double y);
int ctorch_clamp_(ctorch_tensor a, double lo, double hi);
/// In-place activations (autograd-safe where PyTorch's are): op 0 relu_, 1 relu6 (hardtanh_ 0..6), 2 sigmoid_, 3 tanh_.
int ctorch_activation_(ctorch_tensor a, int op);
int ctorch_zero_(ctorch_tensor a);

// ---- reductions ------------------------------------------------------------------------------
enum {
    CTORCH_SUM = 0, CTORCH_MEAN, CTORCH_AMAX, CTORCH_AMIN, CTORCH_ARGMAX, CTORCH_ARGMIN, CTORCH_PROD,
    CTORCH_STD, CTORCH_VAR, CTORCH_LOGSUMEXP, CTORCH_NORM2, CTORCH_ANY, CTORCH_ALL, CTORCH_NORM1
};
/// Reduces over `dims` (ndims == 0: over all elements). ARGMAX/ARGMIN take at most one dim.
int ctorch_reduce(ctorch_tensor *out, int op, ctorch_tensor a, const int64_t *dims, int64_t ndims, int keepdim);
int ctorch_softmax(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int log);
int ctorch_cumsum(ctorch_tensor *out, ctorch_tensor a, int64_t dim);
int ctorch_sort(ctorch_tensor *values, ctorch_tensor *indices, ctorch_tensor a, int64_t dim, int descending);
/* Eigen-decomposition of a symmetric matrix (lower triangle used): ascending eigenvalues, eigenvectors as columns. */
int ctorch_linalg_eigh(ctorch_tensor *values, ctorch_tensor *vectors, ctorch_tensor a);
int ctorch_topk(ctorch_tensor *values, ctorch_tensor *indices, ctorch_tensor a, int64_t k, int64_t dim, int largest);

// ---- shape -----------------------------------------------------------------------------------
int ctorch_reshape(ctorch_tensor *out, ctorch_tensor a, const int64_t *shape, int64_t ndim);
int ctorch_permute(ctorch_tensor *out, ctorch_tensor a, const int64_t *dims, int64_t ndim);
int ctorch_transpose(ctorch_tensor *out, ctorch_tensor a, int64_t d0, int64_t d1);
int ctorch_expand(ctorch_tensor *out, ctorch_tensor a, const int64_t *shape, int64_t ndim);
int ctorch_repeat(ctorch_tensor *out, ctorch_tensor a, const int64_t *reps, int64_t ndim);
int ctorch_squeeze(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int all);
int ctorch_unsqueeze(ctorch_tensor *out, ctorch_tensor a, int64_t dim);
int ctorch_flatten(ctorch_tensor *out, ctorch_tensor a, int64_t start, int64_t end);
int ctorch_cat(ctorch_tensor *out, const ctorch_tensor *ts, int64_t n, int64_t dim, int stack);
int ctorch_slice(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int64_t start, int64_t end, int64_t step);
int ctorch_select(ctorch_tensor *out, ctorch_tensor a, int64_t dim, int64_t index);
int ctorch_index_select(ctorch_tensor *out, ctorch_tensor a, int64_t dim, ctorch_tensor index);
int ctorch_gather(ctorch_tensor *out, ctorch_tensor a, int64_t dim, ctorch_tensor index);
int ctorch_masked_fill(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor mask, double value);
int ctorch_flip(ctorch_tensor *out, ctorch_tensor a, const int64_t *dims, int64_t ndim);
int ctorch_roll(ctorch_tensor *out, ctorch_tensor a, const int64_t *shifts, const int64_t *dims, int64_t n);
/// mode: 0 constant, 1 reflect, 2 replicate, 3 circular. `pads` as in torch.nn.functional.pad.
int ctorch_pad(ctorch_tensor *out, ctorch_tensor a, const int64_t *pads, int64_t npads, int mode, double value);
int ctorch_tril(ctorch_tensor *out, ctorch_tensor a, int64_t diagonal, int upper);
int ctorch_one_hot(ctorch_tensor *out, ctorch_tensor a, int64_t classes);
/// A strided view of `a`'s storage (then copied to a fresh contiguous tensor when `copy` is set).
int ctorch_as_strided(ctorch_tensor *out, ctorch_tensor a, const int64_t *size, const int64_t *stride, int64_t ndim,
                      int64_t offset, int copy);

// ---- neural-network functional ops -----------------------------------------------------------
int ctorch_linear(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b /*nullable*/);
/// Packs w [out, in] (+ bias) for dynamic INT8: symmetric int8 per output channel (quantized::linear_prepack).
int ctorch_qlinear_pack(ctorch_qlinear_weight *out, ctorch_tensor w, ctorch_tensor b /*nullable*/);
/// y = x W^T + b with x quantised to uint8 per call (quantized::linear_dynamic, reduced range as PyTorch's x86 default).
int ctorch_qlinear(ctorch_tensor *out, ctorch_qlinear_weight q, ctorch_tensor x);
void ctorch_qlinear_free(ctorch_qlinear_weight q);
/// softmax(q k^T / sqrt(d) + mask) v over the last two axes (LibTorch's fused kernels; mask nullable, additive).
int ctorch_sdpa(ctorch_tensor *out, ctorch_tensor q, ctorch_tensor k, ctorch_tensor v, ctorch_tensor mask /*nullable*/);
int ctorch_conv2d(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b /*nullable*/,
                  const int64_t *stride, const int64_t *padding, const int64_t *dilation, int64_t groups);
int ctorch_conv_transpose2d(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor w, ctorch_tensor b,
                            const int64_t *stride, const int64_t *padding, const int64_t *output_padding,
                            int64_t groups, const int64_t *dilation);
int ctorch_max_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *kernel, const int64_t *stride,
                      const int64_t *padding, const int64_t *dilation, int ceil_mode);
int ctorch_avg_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *kernel, const int64_t *stride,
                      const int64_t *padding, int ceil_mode, int count_include_pad);
int ctorch_adaptive_pool2d(ctorch_tensor *out, ctorch_tensor x, const int64_t *size, int max);
int ctorch_batch_norm(ctorch_tensor *out, ctorch_tensor x, ctorch_tensor weight, ctorch_tensor bias,
                      ctorch_tensor running_mean, ctorch_tensor running_var, int training,
                      double momentum, double eps);
int ctorch_layer_norm(ctorch_tensor *out, ctorch_tensor x, const int64_t *shape, int64_t ndim,
                      ctorch_tensor weight, ctorch_tensor bias, double eps);
int ctorch_group_norm(ctorch_tensor *out, ctorch_tensor x, int64_t groups, ctorch_tensor weight,
                      ctorch_tensor bias, double eps);
int ctorch_dropout(ctorch_tensor *out, ctorch_tensor x, double p, int training);
int ctorch_embedding(ctorch_tensor *out, ctorch_tensor weight, ctorch_tensor indices);
/// mode: 0 nearest, 1 bilinear, 2 bicubic. Exactly one of size / scale is used (size when non-NULL).
int ctorch_interpolate(ctorch_tensor *out, ctorch_tensor x, const int64_t *size, double scale_h,
                       double scale_w, int mode, int align_corners, int antialias);
int ctorch_pixel_shuffle(ctorch_tensor *out, ctorch_tensor x, int64_t factor);

enum { CTORCH_RED_NONE = 0, CTORCH_RED_MEAN = 1, CTORCH_RED_SUM = 2 };
int ctorch_cross_entropy(ctorch_tensor *out, ctorch_tensor logits, ctorch_tensor target, ctorch_tensor weight,
                         int reduction, double label_smoothing);
int ctorch_nll_loss(ctorch_tensor *out, ctorch_tensor logp, ctorch_tensor target, int reduction);
int ctorch_bce_with_logits(ctorch_tensor *out, ctorch_tensor logits, ctorch_tensor target,
                           ctorch_tensor pos_weight /*nullable*/, int reduction);
int ctorch_bce(ctorch_tensor *out, ctorch_tensor probs, ctorch_tensor target, int reduction);
int ctorch_mse(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor b, int reduction);
int ctorch_smooth_l1(ctorch_tensor *out, ctorch_tensor a, ctorch_tensor b, int reduction, double beta);

// ---- autograd --------------------------------------------------------------------------------
int ctorch_set_requires_grad(ctorch_tensor t, int flag);
/// grad may be NULL (scalar output).
int ctorch_backward(ctorch_tensor t, ctorch_tensor grad, int retain_graph);
/// The accumulated gradient (undefined when none).
int ctorch_grad(ctorch_tensor *out, ctorch_tensor t);
int ctorch_set_grad(ctorch_tensor t, ctorch_tensor grad /*nullable: clears*/);
/// d(sum(outputs * grad_outputs))/d(inputs); results written into `out` (n_in handles).
int ctorch_autograd_grad(ctorch_tensor *out, const ctorch_tensor *outputs, const ctorch_tensor *grad_outputs,
                         int64_t n_out, const ctorch_tensor *inputs, int64_t n_in, int retain_graph, int create_graph);
/// Registers a backward hook on a non-leaf tensor that replaces its gradient by clamp(grad, min=0).
/// (Guided backpropagation.)
int ctorch_register_relu_guide_hook(ctorch_tensor t);
/// Guided backpropagation on this thread: ReLU/ReLU6 outputs clamp their incoming gradient at 0 while on.
/// Returns the previous setting.
int ctorch_set_guided_relu(int on);

// ---- TorchScript -----------------------------------------------------------------------------
int ctorch_jit_load(ctorch_module *out, const char *path);
void ctorch_module_free(ctorch_module m);
int ctorch_module_eval(ctorch_module m);
/// Runs forward with `n` tensor inputs; the output must be a tensor (or a tuple whose first item is).
int ctorch_module_forward(ctorch_tensor *out, ctorch_module m, const ctorch_tensor *inputs, int64_t n);

// ---- distributed (c10d) ------------------------------------------------------------------------
/// Joins a Gloo process group of `world` processes that meet through a TCPStore at host:port (rank 0 serves
/// it; the others connect). `timeout_ms` bounds the meeting and every collective.
int ctorch_pg_gloo(ctorch_pg *out, const char *host, int port, int rank, int world, int64_t timeout_ms);
void ctorch_pg_free(ctorch_pg pg);
/// In-place all-reduce of `n` dense CPU tensors; op 0 sum, 1 max, 2 min.
int ctorch_pg_allreduce(ctorch_pg pg, const ctorch_tensor *ts, int64_t n, int op);
/// In-place broadcast of `n` dense CPU tensors from `root`.
int ctorch_pg_broadcast(ctorch_pg pg, const ctorch_tensor *ts, int64_t n, int root);
int ctorch_pg_barrier(ctorch_pg pg);
/// Key-value store of the group (bytes); `get` waits for the key and returns a malloc'd copy (caller frees).
int ctorch_pg_store_set(ctorch_pg pg, const char *key, const uint8_t *data, int64_t n);
int ctorch_pg_store_get(ctorch_pg pg, const char *key, uint8_t **data, int64_t *n);

#ifdef __cplusplus
}
#endif
#endif
