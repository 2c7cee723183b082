// Comparing two models of the same architecture on one image (`mblip compare`): how far a
// quantized model (test) drifts from a reference (e.g. float32) at every stage, and whether its
// tokens agree. Each model runs its own whole pipeline; stage outputs are compared pairwise.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mblip/mblip.h"
#include "mblip/status.h"

namespace mblip {
inline namespace api {

struct CompareOptions {
  std::string prompt;              // empty: caption_prompt(language)
  std::string language = "English";
  int max_new_tokens = 20;         // greedy path length (1..kMaxNewTokensLimit)
  int threads = 0;                 // worker threads (<= 0: the reference model's setting)
  DecodeOptions decode;            // image decoding (EXIF, pixel limit)
};

// One stage's output of the test model vs the reference model (same shape).
struct StageComparison {
  std::string name;                // "vision", "qformer", "projection", "encoder", "logits0"
  size_t size = 0;                 // number of values compared
  double cosine = 0;               // cosine similarity (1: same direction); both zero: 1
  double max_abs_error = 0;        // max |test - reference|
  double reference_max_abs = 0;    // max |reference| (scale of max_abs_error)
};

struct CompareReport {
  std::string prompt;
  std::vector<int32_t> prompt_tokens;       // fed to both encoders (ends with eos)
  // vision, qformer, projection, encoder, logits0 (decoder step 0, from the decoder start).
  std::vector<StageComparison> stages;
  // Greedy decoding (no logits processors), max_new_tokens tokens or up to eos.
  std::vector<int32_t> reference_tokens, test_tokens;
  std::string reference_text, test_text;
  bool greedy_tokens_agree = false;
  // Teacher forcing: both decoders get [start] + reference_tokens[:-1]; a position agrees when
  // the two argmaxes are equal. positions = reference_tokens.size().
  int teacher_forced_positions = 0;
  int teacher_forced_agree = 0;
  int first_disagreement = -1;              // first position whose argmaxes differ (-1: none)
  // Smallest top-1 minus top-2 logit of the reference along its greedy path (teacher forced):
  // a disagreement where this is tiny is a near tie, not a real error.
  double reference_min_top2_gap = 0;
  double test_min_top2_gap = 0;             // the same for the test model on that path
  double top1_agreement() const {
    return teacher_forced_positions ? static_cast<double>(teacher_forced_agree) / teacher_forced_positions : 1.0;
  }
  const StageComparison* stage(const std::string& name) const {
    for (const auto& s : stages)
      if (s.name == name) return &s;
    return nullptr;
  }
};

// The stage names, in pipeline order.
const std::vector<std::string>& compare_stage_names();

// InvalidArgument (naming the first difference) unless the two models have the same
// architecture: image size, vision / Q-Former / text shapes and layer counts, query count,
// vocabulary and special token ids.
Status check_same_architecture(const Model& test, const Model& reference);

// Decodes and preprocesses the image with the reference model's settings (both models must
// preprocess alike: same size, mean and std), then runs both pipelines.
Result<CompareReport> compare_models(const Model& test, const Model& reference, const uint8_t* image, size_t size,
                                     const CompareOptions& opts = {});
// The same from preprocessed pixel values (1, 3, image_size, image_size).
Result<CompareReport> compare_models_pixels(const Model& test, const Model& reference, const PixelValues& pixels,
                                            const CompareOptions& opts = {});

// Cosine similarity and max abs error of two equally long arrays (in double).
StageComparison compare_arrays(const std::string& name, const float* test, const float* reference, size_t n);

}  // namespace api
}  // namespace mblip
