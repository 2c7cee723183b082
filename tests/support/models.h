// Test helper: golden checkpoints converted to GGUF once per build (shared by all test files).
#pragma once
#include <string>

namespace mblip_test {

// Converts golden/models/<model> with matrix weights of type `weights` ("f32", "f16", "q8_0",
// "q4_0") into tmp_dir()/<model>-<weights>.gguf and returns that path. Reuses the file when it
// is newer than the test binary (the .wasm under node). Written under a unique
// name and renamed, so parallel test processes are safe. Throws std::runtime_error on failure.
std::string golden_gguf(const std::string& model, const std::string& weights = "f32");

// True when `path` exists and is newer than the running test binary (its .wasm under node;
// false when unknown): the rule for reusing a cached converted model.
bool newer_than_binary(const std::string& path);

}  // namespace mblip_test
