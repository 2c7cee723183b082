// language_projection: Q-Former hidden size -> T5 d_model (nn.Linear with bias).
#pragma once
#include <vector>

#include "model/config.h"
#include "model/layers.h"

namespace mblip {

class Projection {
 public:
  // proj.w {d_model, qformer hidden} and proj.b (declared in tensor_table.cpp).
  static Result<Projection> load(WeightLoader& w);
  // x: rows x in -> out (rows x d_model).
  Status forward(const float* x, size_t rows, std::vector<float>& out, ThreadPool& pool) const;
  // The same into out (rows x d_model floats).
  Status forward(const float* x, size_t rows, float* out, ThreadPool& pool) const;
  int64_t out_features() const { return lin_.out_features(); }

 private:
  ops::Linear lin_;
};

}  // namespace mblip
