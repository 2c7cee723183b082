// recipe_gguf_of: convert a checkpoint directory with a recipe once per build (see recipe_models.h).
#include "support/recipe_models.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>

#include "convert/convert.h"
#include "convert/recipe.h"
#include "support/golden.h"
#include "support/models.h"

namespace mblip_test {

const TestRecipe* standard_recipes(size_t* count) {
  static const TestRecipe kRecipes[] = {
      {"f32", mblip::DType::F32, {}},
      {"f16", mblip::DType::F16, {}},
      {"q8_0", mblip::DType::Q8_0, {}},
      {"default", mblip::DType::Q4_0, {}, /*converter_default=*/true},
  };
  *count = sizeof(kRecipes) / sizeof(kRecipes[0]);
  return kRecipes;
}

std::string recipe_gguf_of(const std::string& input_dir, const std::string& cache_stem, const TestRecipe& r) {
  static std::mutex mu;
  static std::set<std::string> done;
  std::lock_guard<std::mutex> lock(mu);
  const std::string out = tmp_dir() + "/" + cache_stem + "-" + r.name + ".gguf";
  if (done.count(out) || newer_than_binary(out)) {
    done.insert(out);
    return out;
  }
  std::random_device rd;
  const std::string unique = out + "." + std::to_string(::getpid()) + "." + std::to_string(rd()) + "." +
                             std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  mblip::ConvertOptions o;
  o.input_dir = input_dir;
  o.output_path = unique;
  o.weights = r.weights;
  o.overrides = r.overrides;
  if (r.converter_default) mblip::set_recipe(o, mblip::default_recipe());
  mblip::Status st = mblip::convert_checkpoint(o);
  if (!st.ok()) throw std::runtime_error("recipe_gguf_of(" + input_dir + ", " + r.name + "): " + st.to_string());
  if (std::rename(unique.c_str(), out.c_str()) != 0) {
    std::remove(unique.c_str());
    throw std::runtime_error("recipe_gguf_of: cannot rename to " + out);
  }
  done.insert(out);
  return out;
}

}  // namespace mblip_test
