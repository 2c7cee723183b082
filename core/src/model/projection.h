// language_projection: Q-Former hidden size -> T5 d_model (nn.Linear with bias).
#pragma once
#include <vector>

#include "model/config.h"
#include "model/layers.h"

namespace mblip {

class Projection {
 public:
  static Result<Projection> load(WeightLoader& w, int64_t in, int64_t out);
  // x: rows x in -> out (rows x d_model).
  Status forward(const float* x, size_t rows, std::vector<float>& out, ThreadPool& pool) const;
  int64_t out_features() const { return lin_.out_features(); }

 private:
  ops::Linear lin_;
};

}  // namespace mblip
