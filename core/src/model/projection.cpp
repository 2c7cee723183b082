// language_projection (Blip2ForConditionalGeneration.language_projection).
#include "model/projection.h"

namespace mblip {

Result<Projection> Projection::load(WeightLoader& w) {
  Projection p;
  MBLIP_ASSIGN_OR_RETURN(p.lin_, w.linear("proj.w"));
  return Result<Projection>(std::move(p));
}

Status Projection::forward(const float* x, size_t rows, std::vector<float>& out, ThreadPool& pool) const {
  out.resize(rows * static_cast<size_t>(lin_.out_features()));
  MBLIP_RETURN_IF_ERROR(lin_.forward(x, rows, out.data(), pool));
  return Status::Ok();
}

Status Projection::forward(const float* x, size_t rows, float* out, ThreadPool& pool) const {
  return lin_.forward(x, rows, out, pool);
}

}  // namespace mblip
