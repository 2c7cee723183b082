// bench::profile_vision / profile_encoder (mblip/bench.h): a stage of a Session with each op timed
// where it runs (model/op_profile.h), for `mblip bench`'s accounting of the stage. Figures only.
#include "api/pipeline.h"  // first: see the include-order note there

#include <chrono>
#include <cmath>

#include "mblip/bench.h"
#include "model/op_profile.h"

namespace mblip {
namespace bench {

namespace {

// Runs `stage` with Activations::profile set; its op times, then (`total`, the stage's wall time).
template <class F>
Result<std::vector<std::pair<std::string, double>>> profiled(Session::Impl& s, const char* total, F&& stage) {
  MBLIP_RETURN_IF_ERROR(s.act_status);
  OpProfile prof;
  s.act.profile = &prof;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = stage();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  s.act.profile = nullptr;
  MBLIP_RETURN_IF_ERROR(st);
  prof.ms.emplace_back(total, ms);
  return prof.ms;
}

// Fixed inputs in a plausible range (the ops' time does not depend on them).
std::vector<float> wave(size_t n, float amplitude) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = amplitude * std::sin(0.01f * static_cast<float>(i));
  return v;
}

}  // namespace

Result<std::vector<std::pair<std::string, double>>> profile_vision(api::Session& session) {
  Session::Impl& s = session.impl();
  const MBlipModel& model = *s.m.model;
  const size_t side = static_cast<size_t>(model.config().vision.image_size);
  const std::vector<float> px = wave(3 * side * side, 1.5f);
  const float* out = nullptr;
  return profiled(s, "vision stage", [&] { return model.vision(px.data(), s.act, &out, s.pool); });
}

Result<std::vector<std::pair<std::string, double>>> profile_encoder(api::Session& session, size_t len) {
  if (len == 0) return invalid_argument("profile_encoder needs at least one position");
  Session::Impl& s = session.impl();
  const MBlipModel& model = *s.m.model;
  const std::vector<float> embeds = wave(len * static_cast<size_t>(model.config().text.d_model), 0.5f);
  const float* out = nullptr;
  return profiled(s, "encoder stage",
                  [&] { return model.encode_text(embeds.data(), len, nullptr, s.act, &out, s.pool); });
}

}  // namespace bench
}  // namespace mblip
