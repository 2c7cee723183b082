// Wall time of each op inside a stage's real forward, summed over its calls: `mblip bench` shows it
// beside the ops timed alone (where the weights stay in cache), so that a stage's time is accounted
// for where it runs. Off unless a caller sets Activations::profile: an OpTimer then costs a branch.
// Op names begin like those of the isolated table (api/bench_probes.cpp, e.g. "vit qkv linear" /
// "vit qkv linear 257x1408->4224 (q8_0)"): `mblip bench` pairs them by that prefix.
#pragma once
#include <chrono>
#include <string>
#include <utility>
#include <vector>

namespace mblip {

struct OpProfile {
  std::vector<std::pair<std::string, double>> ms;  // (op, milliseconds) in first-call order
  void add(const char* op, double t) {
    for (auto& e : ms)
      if (e.first == op) {
        e.second += t;
        return;
      }
    ms.emplace_back(op, t);
  }
};

// Adds the wall time of its scope to `p` under `op` (nothing when p is null). Every op it wraps
// returns only when its work is done (pooled work included), so the scopes do not overlap.
class OpTimer {
 public:
  OpTimer(OpProfile* p, const char* op) : p_(p), op_(op) {
    if (p_) t0_ = std::chrono::steady_clock::now();
  }
  ~OpTimer() {
    if (p_) p_->add(op_, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0_).count());
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  OpProfile* p_;
  const char* op_;
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace mblip
