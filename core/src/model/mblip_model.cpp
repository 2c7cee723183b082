// MBlipModel (transformers Blip2ForConditionalGeneration: vision_model -> qformer ->
// language_projection -> T5 encoder/decoder), see mblip_model.h.
#include "model/mblip_model.h"

#include <algorithm>
#include <string>

namespace mblip {

// One pass: every tower takes its weights by name from the built WeightLoader.
Status MBlipModel::load_towers(WeightLoader& w) {
  const ModelConfig& c = cfg_;
  MBLIP_ASSIGN_OR_RETURN(vision_, VisionTower::load(w, c.vision));
  MBLIP_ASSIGN_OR_RETURN(qformer_, QFormer::load(w, c.qformer, c.num_query_tokens));
  MBLIP_ASSIGN_OR_RETURN(proj_, Projection::load(w));
  MBLIP_ASSIGN_OR_RETURN(shared_, w.embedding("t.emb"));
  MBLIP_ASSIGN_OR_RETURN(encoder_, T5Encoder::load(w, c.text));
  MBLIP_ASSIGN_OR_RETURN(decoder_, T5Decoder::load(w, c.text, &shared_));
  return w.check_all_taken();
}

Result<std::unique_ptr<MBlipModelBuilder>> MBlipModelBuilder::create(const GgufFile& header,
                                                                     const ModelLoadOptions& opts) {
  std::unique_ptr<MBlipModelBuilder> b(new MBlipModelBuilder(header, opts));
  b->model_.reset(new MBlipModel());
  MBLIP_ASSIGN_OR_RETURN(b->model_->cfg_, read_config(header));
  MBLIP_RETURN_IF_ERROR(b->model_->cfg_.validate());
  const ModelConfig& c = b->model_->cfg_;
  b->cfg_ = c;
  if (c.qformer.encoder_hidden_size != c.vision.hidden_size)
    return model_load_error("qformer encoder_hidden_size (" + std::to_string(c.qformer.encoder_hidden_size) +
                            ") must equal the vision hidden_size (" + std::to_string(c.vision.hidden_size) + ")");
  // Every declared tensor's name, shape and type is checked now, before any tensor byte is read.
  MBLIP_RETURN_IF_ERROR(b->weights_.plan(expected_tensors(c)));
  return b;
}

Status MBlipModelBuilder::add_file_tensors(GgufFile& file, const std::function<void(double)>& progress) {
  std::vector<const GgufTensorInfo*> order;
  uint64_t total = 0, done = 0;
  for (const GgufTensorInfo& t : file.tensors()) {
    order.push_back(&t);
    total += t.view.nbytes;
  }
  std::sort(order.begin(), order.end(),
            [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
  double reported = 0;
  for (const GgufTensorInfo* t : order) {
    done += t->view.nbytes;
    if (!wants(t->view.name)) continue;
    MBLIP_RETURN_IF_ERROR(add_tensor(TensorBytes(t->view, [&file, t] { file.release(*t); },
                                                 [&file, t](size_t off, size_t n) { file.release_part(*t, off, n); })));
    const double f = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
    if (progress && f - reported >= 0.005 && f < 1.0) {
      reported = f;
      progress(f);
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<MBlipModel>> MBlipModelBuilder::finish() {
  if (!model_) return internal_error("MBlipModelBuilder::finish called twice");
  MBLIP_RETURN_IF_ERROR(weights_.finish_builds());
  MBLIP_RETURN_IF_ERROR(model_->load_towers(weights_));
  return std::move(model_);
}

Result<std::unique_ptr<MBlipModel>> MBlipModel::load(std::unique_ptr<GgufFile> file, const ModelLoadOptions& opts) {
  if (!file) return invalid_argument("no model file");
  MBLIP_ASSIGN_OR_RETURN(auto builder, MBlipModelBuilder::create(*file, opts));
  MBLIP_RETURN_IF_ERROR(builder->add_file_tensors(*file));
  MBLIP_ASSIGN_OR_RETURN(auto model, builder->finish());
  builder.reset();
  file.reset();  // every weight now lives in its kernel: nothing is held twice
  return Result<std::unique_ptr<MBlipModel>>(std::move(model));
}

Status MBlipModel::vision(const float* pixels, std::vector<float>& out, ThreadPool& pool) const {
  if (!pixels) return invalid_argument("no pixel values");
  return vision_.forward(pixels, out, pool);
}

Status MBlipModel::qformer(const float* vision_states, std::vector<float>& out, ThreadPool& pool) const {
  if (!vision_states) return invalid_argument("no vision states");
  return qformer_.forward(vision_states, static_cast<size_t>(cfg_.vision.num_positions()), out, pool);
}

Status MBlipModel::project(const float* qformer_out, std::vector<float>& out, ThreadPool& pool) const {
  if (!qformer_out) return invalid_argument("no Q-Former output");
  return proj_.forward(qformer_out, static_cast<size_t>(cfg_.num_query_tokens), out, pool);
}

Status MBlipModel::encode_image(const float* pixels, std::vector<float>& queries, ThreadPool& pool) const {
  std::vector<float> v, q;
  MBLIP_RETURN_IF_ERROR(vision(pixels, v, pool));
  MBLIP_RETURN_IF_ERROR(qformer(v.data(), q, pool));
  return project(q.data(), queries, pool);
}

Status MBlipModel::build_encoder_input(const std::vector<float>& queries, const std::vector<int32_t>& ids,
                                       const std::vector<float>& prompt_mask, std::vector<float>& embeds,
                                       std::vector<float>& mask01) const {
  const size_t d = static_cast<size_t>(cfg_.text.d_model), nq = static_cast<size_t>(cfg_.num_query_tokens);
  if (queries.size() != nq * d)
    return invalid_argument("expected " + std::to_string(nq) + " x " + std::to_string(d) + " projected queries, got " +
                            std::to_string(queries.size()) + " floats");
  if (!prompt_mask.empty() && prompt_mask.size() != ids.size())
    return invalid_argument("prompt mask length " + std::to_string(prompt_mask.size()) + " differs from " +
                            std::to_string(ids.size()) + " prompt tokens");
  embeds.assign(queries.begin(), queries.end());  // queries first
  embeds.resize((nq + ids.size()) * d);
  for (size_t i = 0; i < ids.size(); ++i)  // shared embedding, unscaled
    MBLIP_RETURN_IF_ERROR(shared_.lookup(ids[i], embeds.data() + (nq + i) * d));
  mask01.assign(nq, 1.0f);
  for (size_t i = 0; i < ids.size(); ++i) mask01.push_back(prompt_mask.empty() ? 1.0f : prompt_mask[i]);
  return Status::Ok();
}

Status MBlipModel::encode_text(const std::vector<float>& embeds, const std::vector<float>& mask01,
                               std::vector<float>& out, ThreadPool& pool) const {
  const size_t d = static_cast<size_t>(cfg_.text.d_model);
  if (embeds.empty() || embeds.size() % d != 0)
    return invalid_argument("encoder input must be a non-empty multiple of d_model floats");
  const size_t len = embeds.size() / d;
  if (!mask01.empty() && mask01.size() != len)
    return invalid_argument("encoder mask length " + std::to_string(mask01.size()) + " differs from " +
                            std::to_string(len) + " positions");
  return encoder_.forward(embeds.data(), len, mask01.empty() ? nullptr : mask01.data(), out, pool);
}

Result<std::unique_ptr<T5DecoderSession>> MBlipModel::new_decoder(const std::vector<float>& enc_out,
                                                                  const std::vector<float>& mask01,
                                                                  ThreadPool& pool, size_t capacity) const {
  const size_t d = static_cast<size_t>(cfg_.text.d_model);
  if (enc_out.empty() || enc_out.size() % d != 0)
    return invalid_argument("encoder output must be a non-empty multiple of d_model floats");
  const size_t len = enc_out.size() / d;
  if (!mask01.empty() && mask01.size() != len)
    return invalid_argument("encoder mask length " + std::to_string(mask01.size()) + " differs from " +
                            std::to_string(len) + " positions");
  return decoder_->new_session(enc_out.data(), len, mask01.empty() ? nullptr : mask01.data(), pool, capacity);
}

Status MBlipModel::vision(const float* pixels, Activations& act, const float** out, ThreadPool& pool) const {
  if (!pixels) return invalid_argument("no pixel values");
  return vision_.forward(pixels, act, out, pool);
}

Status MBlipModel::qformer(const float* vision_states, Activations& act, const float** out, ThreadPool& pool) const {
  if (!vision_states) return invalid_argument("no vision states");
  return qformer_.forward(vision_states, static_cast<size_t>(cfg_.vision.num_positions()), act, out, pool);
}

Status MBlipModel::project(const float* qformer_out, float* out, ThreadPool& pool) const {
  if (!qformer_out || !out) return invalid_argument("no Q-Former output");
  return proj_.forward(qformer_out, static_cast<size_t>(cfg_.num_query_tokens), out, pool);
}

Status MBlipModel::encode_text(const float* embeds, size_t len, const float* mask01, Activations& act,
                               const float** out, ThreadPool& pool) const {
  if (!embeds || len == 0) return invalid_argument("encoder input must be a non-empty multiple of d_model floats");
  return encoder_.forward(embeds, len, mask01, act, out, pool);
}

Result<T5DecoderSession*> MBlipModel::decoder_for(const float* enc_out, size_t len, const float* mask01,
                                                  Activations& act, ThreadPool& pool, size_t capacity) const {
  if (!enc_out || len == 0) return invalid_argument("encoder output must be a non-empty multiple of d_model floats");
  T5DecoderSession* d = act.decoder.get();
  if (d && &d->decoder() == decoder_.get() && &d->pool() == &pool) {
    Status s = d->restart(enc_out, len, mask01, capacity);
    if (!s.ok()) act.decoder.reset();
    MBLIP_RETURN_IF_ERROR(s);
    return d;
  }
  MBLIP_ASSIGN_OR_RETURN(act.decoder, decoder_->new_session(enc_out, len, mask01, pool, capacity));
  return act.decoder.get();
}

}  // namespace mblip
