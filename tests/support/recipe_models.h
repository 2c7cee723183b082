// Test helper (compare / outlier tests): a checkpoint directory converted with a weight recipe,
// cached in tmp_dir() like golden_gguf (reused when newer than the test binary; atomic rename).
#pragma once
#include <map>
#include <string>

#include "io/tensor.h"
#include "model/tensor_names.h"

namespace mblip_test {

struct TestRecipe {
  const char* name;                                // "f32", "f16", "q8_0", "default", ...
  mblip::DType weights;
  std::map<mblip::Component, mblip::DType> overrides;
  bool converter_default = false;  // true: the converter's default_recipe() (weights/overrides unused)
};

// The recipes every quality table lists: f32, f16, q8_0, and the converter's default recipe.
const TestRecipe* standard_recipes(size_t* count);

// input_dir converted with `r` into tmp_dir()/<cache_stem>-<r.name>.gguf. Throws
// std::runtime_error on failure.
std::string recipe_gguf_of(const std::string& input_dir, const std::string& cache_stem, const TestRecipe& r);

}  // namespace mblip_test
