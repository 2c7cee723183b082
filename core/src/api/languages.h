// The 96 languages mBLIP (Gregor/mblip-mt0-xl) was trained on: code + English name, used for
// `--lang`, the prompt templates and the demo. Declared in the public API (mblip/mblip.h).
#pragma once
#include "mblip/mblip.h"

namespace mblip {

// Number of entries of mblip_languages().
constexpr size_t kNumMBlipLanguages = 96;

}  // namespace mblip
