// mblip-convert CLI: Hugging Face BLIP-2 / mBLIP checkpoint directory -> one GGUF model file.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "convert.h"
#include "recipe.h"

namespace {

const char* kUsage =
    "usage: mblip-convert HF_DIR OUT.gguf [options]\n"
    "\n"
    "Converts a Hugging Face Blip2ForConditionalGeneration checkpoint with a T5/mT5 language\n"
    "model (e.g. Gregor/mblip-mt0-xl) into one GGUF file for mblip.cpp.\n"
    "HF_DIR holds config.json, preprocessor_config.json, spiece.model, optionally\n"
    "generation_config.json, and the weights as model.safetensors, sharded safetensors\n"
    "(model.safetensors.index.json), pytorch_model.bin or sharded .bin (pytorch_model.bin.index.json).\n"
    "\n"
    "options:\n"
    "  --weights T        type of all matrix weights: f32, f16, q8_0, q4_0. Without --weights the\n"
    "                     default recipe: q4_0, with q8_0 for the ViT attention, Q-Former,\n"
    "                     projection, token embedding, decoder self-attention v/o and\n"
    "                     cross-attention v (mt0-xl 3.34 GB; loads within the 4 GB wasm32\n"
    "                     address space); the options below apply on top of it\n"
    "  --vision T         override for the ViT matrix weights\n"
    "  --qformer T        override for the Q-Former matrix weights\n"
    "  --projection T     override for language_projection\n"
    "  --text T           override for the T5 encoder and decoder matrix weights\n"
    "  --embeddings T     override for the shared token embedding (also the head when tied)\n"
    "  --lm-head T        override for the untied lm_head\n"
    "  --tensor GLOB=T    type for the matrix weights whose GGUF name matches GLOB (* and ?),\n"
    "                     e.g. 't.*.ffn.wo=q8_0'; repeatable, the last match wins\n"
    "  --dequantized      round every matrix weight to its type and store it back as f32\n"
    "                     (measures the format's own loss; float kernels only)\n"
    "  --from FORMAT      read 'safetensors' or 'bin' weights (default auto: safetensors first)\n"
    "  --force            overwrite OUT.gguf if it exists\n"
    "  -q, --quiet        no progress output\n"
    "  -h, --help         this help\n"
    "\n"
    "Norms, biases, position/class/query embeddings, relative attention biases and the patch\n"
    "convolution always stay f32. q8_0/q4_0 need rows that are a multiple of 32 elements;\n"
    "other tensors fall back to f16 (reported). The output is written to OUT.gguf.tmp and\n"
    "renamed when complete, so a failed conversion leaves no OUT.gguf.\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace mblip;
  ConvertOptions opts;
  opts.weights = DType::Q4_0;  // default recipe (docs/model-file.md "Quantization recipe")
  bool weights_given = false;
  bool quiet = false;
  TensorRules user_rules;
  std::vector<std::string> positional;
  auto type_arg = [&](int& i, const char* flag, DType& dst) -> bool {
    if (i + 1 >= argc) { std::fprintf(stderr, "mblip-convert: %s needs a type (f32, f16, q8_0, q4_0)\n", flag); return false; }
    auto t = dtype_from_name(argv[++i]);
    if (!t.ok()) { std::fprintf(stderr, "mblip-convert: %s: %s\n", flag, t.status().message().c_str()); return false; }
    dst = t.value();
    return true;
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    DType t{};
    if (a == "-h" || a == "--help") { std::fputs(kUsage, stdout); return 0; }
    else if (a == "--force") opts.force = true;
    else if (a == "-q" || a == "--quiet") quiet = true;
    else if (a == "--weights") { if (!type_arg(i, "--weights", opts.weights)) return 2; weights_given = true; }
    else if (a == "--vision") { if (!type_arg(i, "--vision", t)) return 2; opts.overrides[Component::kVision] = t; }
    else if (a == "--qformer") { if (!type_arg(i, "--qformer", t)) return 2; opts.overrides[Component::kQFormer] = t; }
    else if (a == "--projection") { if (!type_arg(i, "--projection", t)) return 2; opts.overrides[Component::kProjection] = t; }
    else if (a == "--text") {
      if (!type_arg(i, "--text", t)) return 2;
      opts.overrides[Component::kTextEncoder] = t;
      opts.overrides[Component::kTextDecoder] = t;
    }
    else if (a == "--embeddings") { if (!type_arg(i, "--embeddings", t)) return 2; opts.overrides[Component::kEmbeddings] = t; }
    else if (a == "--lm-head") { if (!type_arg(i, "--lm-head", t)) return 2; opts.overrides[Component::kLmHead] = t; }
    else if (a == "--tensor") {
      if (i + 1 >= argc) { std::fprintf(stderr, "mblip-convert: --tensor needs GLOB=TYPE\n"); return 2; }
      Recipe tmp;
      Status st = tmp.set_option("tensor", argv[++i]);
      if (!st.ok()) { std::fprintf(stderr, "mblip-convert: %s\n", st.message().c_str()); return 2; }
      user_rules.push_back(tmp.tensors.back());
    }
    else if (a == "--dequantized") opts.store_dequantized = true;
    else if (a == "--from") {
      if (i + 1 >= argc) { std::fprintf(stderr, "mblip-convert: --from needs safetensors or bin\n"); return 2; }
      opts.source_format = argv[++i];
    }
    else if (a.size() > 1 && a[0] == '-') { std::fprintf(stderr, "mblip-convert: unknown option '%s' (see --help)\n", a.c_str()); return 2; }
    else positional.push_back(a);
  }
  // No --weights: the default recipe (tools/convert/recipe.h default_recipe(); explicit per-component
  // options still win). An explicit --weights means "everything at that type" plus the overrides given.
  {
    Recipe given;
    given.weights = opts.weights;
    given.overrides = opts.overrides;
    given.tensors = user_rules;
    set_recipe(opts, resolve_cli_recipe(given, weights_given));
  }
  if (positional.size() != 2) {
    std::fprintf(stderr, "mblip-convert: expected HF_DIR and OUT.gguf\n\n%s", kUsage);
    return 2;
  }
  opts.input_dir = positional[0];
  opts.output_path = positional[1];
  const bool tty = isatty(fileno(stderr));
  opts.log = [&](const std::string& m) {
    if (tty && !quiet) std::fputc('\n', stderr);
    if (!quiet || m.rfind("warning", 0) == 0) std::fprintf(stderr, "%s\n", m.c_str());
  };
  double last_print = -1;
  opts.on_tensor = [&](const ConvertProgress& p) {
    if (quiet) return;
    const bool last = p.index == p.total;
    if (!tty && !last && p.elapsed_s - last_print < 2.0) return;  // a line every ~2 s in logs
    last_print = p.elapsed_s;
    std::fprintf(stderr, "%s[%zu/%zu] %-22s %-5s %9.1f MB written  %6.1f s%s", tty ? "\r" : "", p.index, p.total,
                 p.name.c_str(), dtype_name(p.type), p.bytes_written / 1048576.0, p.elapsed_s,
                 (tty && !last) ? "\x1b[K" : "\n");
    std::fflush(stderr);
  };
  Status st = convert_checkpoint(opts);
  if (!st.ok()) {
    std::fprintf(stderr, "%smblip-convert: error: %s\n", tty && !quiet ? "\n" : "", st.to_string().c_str());
    return 1;
  }
  return 0;
}
