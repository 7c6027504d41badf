// ctorch_dist.cpp - LibTorch's distributed engine (c10d) behind ctorch.h: a Gloo process group meeting through a
// TCPStore. Kept apart from ctorch.cpp because the c10d headers are slow to compile. The Gloo declarations come
// from Debian's libgloo-dev headers (the wheel ships LibTorch's Gloo compiled in, not its headers); nothing of
// Debian's libgloo is linked. Same rule as ctorch.cpp: every C++ exception is caught into the last error.
#include "ctorch.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct ctorch_tensor_s { at::Tensor t; };
struct ctorch_pg_s {
    c10::intrusive_ptr<c10d::Store> store;
    c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

void ctorch_shim_set_error(const std::string &msg);

#define DGUARD(...)                                                       \
    try {                                                                 \
        __VA_ARGS__;                                                      \
        return 0;                                                         \
    } catch (const c10::Error &e) {                                       \
        ctorch_shim_set_error(e.what_without_backtrace());                \
    } catch (const std::exception &e) {                                   \
        ctorch_shim_set_error(e.what());                                  \
    } catch (...) {                                                       \
        ctorch_shim_set_error("unknown C++ exception in c10d");           \
    }                                                                     \
    return -1;

namespace {
std::vector<at::Tensor> tensors(const ctorch_tensor *ts, int64_t n) {
    std::vector<at::Tensor> v;
    v.reserve(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const at::Tensor &t = ts[i]->t;
        TORCH_CHECK(t.device().is_cpu(), "c10d (Gloo): tensor ", i, " is not on the CPU");
        TORCH_CHECK(t.is_contiguous(), "c10d (Gloo): tensor ", i, " is not contiguous");
        v.push_back(t);
    }
    return v;
}
}  // namespace

extern "C" {

int ctorch_pg_gloo(ctorch_pg *out, const char *host, int port, int rank, int world, int64_t timeout_ms) {
    *out = nullptr;
    DGUARD({
        TORCH_CHECK(world >= 1 && rank >= 0 && rank < world, "rank ", rank, " is not in a group of ", world);
        TORCH_CHECK(port > 0 && port < 65536, "port ", port, " is out of range");
        auto timeout = std::chrono::milliseconds(timeout_ms);
        c10d::TCPStoreOptions o;
        o.port = static_cast<std::uint16_t>(port);
        o.isServer = rank == 0;
        o.numWorkers = static_cast<size_t>(world);
        o.waitWorkers = true;
        o.timeout = timeout;
        auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(host), o);
        c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::PrefixStore>("aidetect", tcp);
        auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
        // Rank 0's address is reachable by every rank; the others bind to the interface that reaches it.
        const char *iface = std::getenv("AIDETECT_GLOO_IFNAME");
        opts->devices.push_back(iface && *iface ? c10d::ProcessGroupGloo::createDeviceForInterface(iface)
                                                : c10d::ProcessGroupGloo::createDefaultDevice());
        auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
        *out = new ctorch_pg_s{store, pg};
    });
}

void ctorch_pg_free(ctorch_pg pg) { delete pg; }

int ctorch_pg_allreduce(ctorch_pg pg, const ctorch_tensor *ts, int64_t n, int op) {
    DGUARD({
        auto v = tensors(ts, n);
        c10d::AllreduceOptions o;
        o.reduceOp = op == 1 ? c10d::ReduceOp::MAX : (op == 2 ? c10d::ReduceOp::MIN : c10d::ReduceOp::SUM);
        pg->pg->allreduce(v, o)->wait();
    });
}

int ctorch_pg_broadcast(ctorch_pg pg, const ctorch_tensor *ts, int64_t n, int root) {
    DGUARD({
        auto v = tensors(ts, n);
        c10d::BroadcastOptions o;
        o.rootRank = root;
        pg->pg->broadcast(v, o)->wait();
    });
}

int ctorch_pg_barrier(ctorch_pg pg) { DGUARD(pg->pg->barrier()->wait()); }

int ctorch_pg_store_set(ctorch_pg pg, const char *key, const uint8_t *data, int64_t n) {
    DGUARD({
        std::vector<uint8_t> v(data, data + n);
        pg->store->set(std::string(key), v);
    });
}

int ctorch_pg_store_get(ctorch_pg pg, const char *key, uint8_t **data, int64_t *n) {
    *data = nullptr;
    *n = 0;
    DGUARD({
        auto v = pg->store->get(std::string(key));
        auto *p = static_cast<uint8_t *>(std::malloc(v.empty() ? 1 : v.size()));
        TORCH_CHECK(p != nullptr, "out of memory");
        if (!v.empty()) std::memcpy(p, v.data(), v.size());
        *data = p;
        *n = static_cast<int64_t>(v.size());
    });
}

}  // extern "C"
