// bench::profile_vision (mblip/bench.h): the vision stage of a Session with each op timed where it
// runs (model/op_profile.h), for `mblip bench`'s accounting of the stage. Figures only.
#include "api/pipeline.h"  // first: see the include-order note there

#include <chrono>
#include <cmath>

#include "mblip/bench.h"
#include "model/op_profile.h"

namespace mblip {
namespace bench {

Result<std::vector<std::pair<std::string, double>>> profile_vision(api::Session& session) {
  Session::Impl& s = session.impl();
  MBLIP_RETURN_IF_ERROR(s.act_status);
  const MBlipModel& model = *s.m.model;
  const size_t side = static_cast<size_t>(model.config().vision.image_size);
  // Fixed pixel values in the normalized range (the ops' time does not depend on them).
  std::vector<float> px(3 * side * side);
  for (size_t i = 0; i < px.size(); ++i) px[i] = 1.5f * std::sin(0.01f * static_cast<float>(i));
  OpProfile prof;
  s.act.profile = &prof;
  const float* out = nullptr;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = model.vision(px.data(), s.act, &out, s.pool);
  const double total = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  s.act.profile = nullptr;
  MBLIP_RETURN_IF_ERROR(st);
  prof.ms.emplace_back("vision stage", total);
  return prof.ms;
}

}  // namespace bench
}  // namespace mblip
