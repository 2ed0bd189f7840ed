// The fused CPU steps of SuperSGD, SuperRMSprop and SuperAdam: one parallel pass over all the
// tensors of a parameter list, in one call.
//
// The same algebra as every other path: the coefficients are superaccel.rules' named tuples,
// passed as rows of doubles in their field order.  Each update declares its fields once (the
// *_FIELDS lists below), which gives both the struct the row is read through and the names
// the module exports (`fields(name)`), which the tests hold equal to the Python tuples.
//
// Conventions shared with the compiled (Inductor) kernels:
// - coefficients come from the host as rows of doubles (one shared row, or one per tensor) and
//   are used in the compute type: float for float, bfloat16 and float16 tensors, double for
//   double, as torch's fused kernels;
// - a complex tensor is its (real, imaginary) pairs, as torch.view_as_real;
// - tensors that are not contiguous are left alone and their indices returned, for the caller's
//   single-tensor path.

#include <torch/extension.h>

#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <string>
#include <cmath>
#include <vector>

namespace {

using TensorList = std::vector<at::Tensor>;
using Rows = std::vector<std::vector<double>>;

template <int N>
using Pointers = std::array<void*, N>;

// The coefficient rows, field by field: superaccel.rules.SgdCoefficients, RmspropCoefficients
// and AdamCoefficients, in their order.
#define SGD_FIELDS(X) X(undo) X(step) X(momentum) X(weight_decay)
#define RMSPROP_FIELDS(X) X(undo) X(step) X(momentum) X(alpha) X(one_minus_alpha) X(eps) X(weight_decay)
#define ADAM_FIELDS(X)                                                                                  \
  X(scale) X(undo) X(undo_rsqrt_bc2) X(step) X(rsqrt_bc2) X(eps) X(one_minus_beta1) X(beta2) \
      X(one_minus_beta2) X(weight_decay)

#define AS_MEMBER(name) T name;
#define AS_NAME(name) #name,
#define AS_ONE(name) +1

// The elementwise updates.  `c` is a row of coefficients in the compute type `T`; the pointers
// are one element range of a parameter, its gradient and its state buffers.

struct SgdUpdate {
  static constexpr int kTensors = 3;  // param, grad, momentum buffer
  static constexpr int kCoefficients = 0 SGD_FIELDS(AS_ONE);
  static std::vector<std::string> names() { return {SGD_FIELDS(AS_NAME)}; }
  template <typename T>
  struct Coefficients {
    SGD_FIELDS(AS_MEMBER)
  };
  template <typename S, typename T>
  static void apply(const Coefficients<T>& c, S* __restrict__ p, const S* __restrict__ g, S* __restrict__ b,
                    int64_t n, bool maximize, bool decays) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T param = T(p[j]), buf = T(b[j]);
      T grad = maximize ? -T(g[j]) : T(g[j]);
      if (decays) grad += c.weight_decay * param;
      const T buf_new = c.momentum * buf + grad;
      p[j] = S(param + c.undo * buf + c.step * buf_new);
      b[j] = S(buf_new);
    }
  }
};

struct RmspropUpdate {
  static constexpr int kTensors = 4;  // param, grad, square_avg, momentum buffer
  static constexpr int kCoefficients = 0 RMSPROP_FIELDS(AS_ONE);
  static std::vector<std::string> names() { return {RMSPROP_FIELDS(AS_NAME)}; }
  template <typename T>
  struct Coefficients {
    RMSPROP_FIELDS(AS_MEMBER)
  };
  template <typename S, typename T>
  static void apply(const Coefficients<T>& c, S* __restrict__ p, const S* __restrict__ g, S* __restrict__ r,
                    S* __restrict__ b, int64_t n, bool maximize, bool decays) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T param = T(p[j]), buf = T(b[j]);
      T grad = maximize ? -T(g[j]) : T(g[j]);
      if (decays) grad += c.weight_decay * param;
      const T square_avg = c.alpha * T(r[j]) + c.one_minus_alpha * grad * grad;
      const T buf_new = c.momentum * buf + grad / std::sqrt(square_avg + c.eps);
      p[j] = S(param + c.undo * buf + c.step * buf_new);
      r[j] = S(square_avg);
      b[j] = S(buf_new);
    }
  }
};

struct AdamUpdate {
  static constexpr int kTensors = 4;  // param, grad, exp_avg, exp_avg_sq
  static constexpr int kCoefficients = 0 ADAM_FIELDS(AS_ONE);
  static std::vector<std::string> names() { return {ADAM_FIELDS(AS_NAME)}; }
  template <typename T>
  struct Coefficients {
    ADAM_FIELDS(AS_MEMBER)
  };
  template <typename S, typename T>
  static void apply(const Coefficients<T>& c, S* __restrict__ p, const S* __restrict__ g, S* __restrict__ m,
                    S* __restrict__ v, int64_t n, bool maximize, bool decays) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T param = T(p[j]), exp_avg = T(m[j]), exp_avg_sq = T(v[j]);
      T grad = maximize ? -T(g[j]) : T(g[j]);
      if (decays) grad += c.weight_decay * param;
      const T exp_avg_new = exp_avg + c.one_minus_beta1 * (grad - exp_avg);
      const T exp_avg_sq_new = c.beta2 * exp_avg_sq + c.one_minus_beta2 * grad * grad;
      p[j] = S(c.scale * param + c.undo * exp_avg / (std::sqrt(exp_avg_sq) * c.undo_rsqrt_bc2 + c.eps) +
               c.step * exp_avg_new / (std::sqrt(exp_avg_sq_new) * c.rsqrt_bc2 + c.eps));
      m[j] = S(exp_avg_new);
      v[j] = S(exp_avg_sq_new);
    }
  }
};

template <typename Update, typename S, typename T, size_t... I>
void apply_range(const typename Update::template Coefficients<T>& c, const Pointers<Update::kTensors>& ptrs, int64_t begin, int64_t n, bool maximize,
                 bool decays, std::index_sequence<I...>) {
  Update::apply(c, (static_cast<S*>(ptrs[I]) + begin)..., n, maximize, decays);
}

// One step of `Update` over aligned lists (param, grad, buffers...) of one dtype and device.
template <typename Update>
std::vector<int64_t> fused_step(const std::vector<TensorList>& lists, const Rows& rows, bool maximize, bool decays) {
  constexpr int N = Update::kTensors;
  TORCH_CHECK(lists.size() == N, "expected ", N, " tensor lists, got ", lists.size());
  const TensorList& params = lists[0];
  const size_t count = params.size();
  for (const auto& list : lists) TORCH_CHECK(list.size() == count, "tensor lists of different lengths");
  TORCH_CHECK(rows.size() == 1 || rows.size() == count, "expected 1 or ", count, " coefficient rows");
  for (const auto& row : rows) TORCH_CHECK(row.size() == Update::kCoefficients, "bad coefficient row");
  if (count == 0) return {};
  const at::ScalarType dtype = params[0].scalar_type();

  // the tensors to update, their element ranges laid end to end, and the rest (skipped)
  std::vector<int64_t> skipped, index, starts{0};
  std::vector<Pointers<N>> pointers;
  for (size_t i = 0; i < count; ++i) {
    bool ok = true;
    for (const auto& list : lists) {
      const at::Tensor& t = list[i];
      TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == dtype, "tensors of one dtype on the CPU expected");
      TORCH_CHECK(t.numel() == params[i].numel(), "a state tensor and its parameter differ in size");
      ok = ok && t.is_contiguous();
    }
    if (!ok) {
      skipped.push_back(static_cast<int64_t>(i));
      continue;
    }
    Pointers<N> ptrs;
    for (int k = 0; k < N; ++k) ptrs[k] = lists[k][i].data_ptr();
    pointers.push_back(ptrs);
    index.push_back(static_cast<int64_t>(i));
    starts.push_back(starts.back() + params[i].numel() * (params[i].is_complex() ? 2 : 1));
  }
  const int64_t total = starts.back();
  if (total == 0) return skipped;

  const at::ScalarType real = c10::toRealValueType(dtype);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, real, "superaccel_fused_step", [&] {
    using S = scalar_t;
    using T = at::opmath_type<S>;
    using Coefficients = typename Update::template Coefficients<T>;
    static_assert(sizeof(Coefficients) == Update::kCoefficients * sizeof(T), "a row is its fields, unpadded");
    std::vector<Coefficients> coefficients(rows.size());
    for (size_t i = 0; i < rows.size(); ++i)  // field by field, in the order of the *_FIELDS list
      std::transform(rows[i].begin(), rows[i].end(), reinterpret_cast<T*>(&coefficients[i]),
                     [](double value) { return static_cast<T>(value); });
    const bool shared = rows.size() == 1;
    at::parallel_for(0, total, at::internal::GRAIN_SIZE, [&](int64_t begin, int64_t end) {
      // the tensor that holds element `begin`, then on through the tensors the range spans
      size_t k = std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin() - 1;
      while (begin < end) {
        const int64_t stop = std::min(end, starts[k + 1]);
        const Coefficients& c = coefficients[shared ? 0 : index[k]];
        apply_range<Update, S, T>(c, pointers[k], begin - starts[k], stop - begin, maximize, decays,
                                  std::make_index_sequence<N>{});
        begin = stop;
        ++k;
      }
    });
  });
  return skipped;
}

}  // namespace

std::vector<std::string> fields(const std::string& update) {
  if (update == "sgd") return SgdUpdate::names();
  if (update == "rmsprop") return RmspropUpdate::names();
  if (update == "adam") return AdamUpdate::names();
  TORCH_CHECK(false, "no fused update named ", update);
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("sgd", &fused_step<SgdUpdate>, "SuperSGD step (lists: params, grads, momentum buffers)");
  m.def("rmsprop", &fused_step<RmspropUpdate>, "SuperRMSprop step (lists: params, grads, square_avgs, buffers)");
  m.def("adam", &fused_step<AdamUpdate>, "SuperAdam step (lists: params, grads, exp_avgs, exp_avg_sqs)");
  m.def("fields", &fields, "the coefficient row's field names of an update, in order");
}
