// Writes a valid sentencepiece unigram ModelProto (serialized protobuf bytes) with exactly
// `vocab_size` pieces, mT5-style ids (pad 0, eos 1, unk 2, byte pieces 3..258, "▁" 259), so a
// synthetic model's head can only produce ids the tokenizer can decode.
#pragma once
#include <cstdint>
#include <string>

namespace mblip {

// vocab_size must be >= 300. Deterministic for a given (vocab_size, seed).
std::string make_synthetic_spm_model(int64_t vocab_size, uint64_t seed);

}  // namespace mblip
