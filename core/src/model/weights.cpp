// WeightLoader and Embedding (see weights.h).
#include "model/weights.h"

#include <cstring>

#include "io/quant.h"

namespace mblip {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "(";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + ")";
}

Status Embedding::lookup(int64_t id, float* out) const {
  if (id < 0 || id >= rows_)
    return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary of " + std::to_string(rows_));
  dequantize_row(type_, bytes_.data() + static_cast<size_t>(id) * row_bytes_, out, cols_);
  return Status::Ok();
}

Result<const GgufTensorInfo*> WeightLoader::find(const std::string& name, const std::vector<int64_t>* shape) const {
  const GgufTensorInfo* t = file_.tensor(name);
  if (!t) return model_load_error("tensor '" + name + "' is missing from the model file");
  if (shape && t->view.shape != *shape)
    return model_load_error("tensor '" + name + "' has shape " + shape_str(t->view.shape) + ", expected " +
                            shape_str(*shape));
  return t;
}

Result<ops::Linear> WeightLoader::linear(const std::string& wn, const std::string& bn, int64_t out, int64_t in,
                                              bool keep) {
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* w, find(wn, nullptr));
  TensorView view = w->view;
  int64_t rest = 1;
  for (size_t i = 1; i < view.shape.size(); ++i) rest *= view.shape[i];
  if (view.shape.size() < 2 || view.shape[0] != out || rest != in)
    return model_load_error("tensor '" + wn + "' has shape " + shape_str(view.shape) + ", expected (" +
                            std::to_string(out) + ", " + std::to_string(in) + ")");
  view.shape = {out, in};
  const TensorView* bias = nullptr;
  if (!bn.empty()) {
    const std::vector<int64_t> bs = {out};
    MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* b, find(bn, &bs));
    if (b->view.type != DType::F32) return model_load_error("bias '" + bn + "' must be f32");
    bias = &b->view;
  }
  MBLIP_ASSIGN_OR_RETURN(auto kernel, make_linear(view, bias, opts_));
  if (!keep) {
    file_.release(*w);
    if (!bn.empty()) release(bn);
  }
  return ops::Linear(std::move(kernel));
}

Result<std::vector<float>> WeightLoader::floats(const std::string& name, const std::vector<int64_t>& shape) {
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, &shape));
  const TensorView& v = t->view;
  if (v.type != DType::F32 && v.type != DType::F16)
    return model_load_error("tensor '" + name + "' must be f32 or f16, not " + dtype_name(v.type));
  const int64_t n = v.numel();
  MBLIP_ASSIGN_OR_RETURN(size_t nb, dtype_bytes(v.type, n));
  if (!v.data || v.nbytes != nb) return model_load_error("tensor '" + name + "' has a wrong byte size");
  std::vector<float> out(static_cast<size_t>(n));
  if (v.type == DType::F32)
    std::memcpy(out.data(), v.data, nb);
  else
    dequantize_row(v.type, v.data, out.data(), n);
  file_.release(*t);
  return out;
}

Result<Embedding> WeightLoader::embedding(const std::string& name, int64_t rows, int64_t cols, bool keep) {
  const std::vector<int64_t> shape = {rows, cols};
  MBLIP_ASSIGN_OR_RETURN(const GgufTensorInfo* t, find(name, &shape));
  const TensorView& v = t->view;
  auto rb = dtype_bytes(v.type, cols);
  if (!rb.ok()) return model_load_error("embedding '" + name + "': " + rb.status().message());
  if (!v.data || v.nbytes != rb.value() * static_cast<size_t>(rows))
    return model_load_error("embedding '" + name + "' has a wrong byte size");
  Embedding e(v.type, rows, cols, std::vector<uint8_t>(v.data, v.data + v.nbytes), rb.value());
  if (!keep) file_.release(*t);
  return e;
}

void WeightLoader::release(const std::string& name) {
  if (const GgufTensorInfo* t = file_.tensor(name)) file_.release(*t);
}

}  // namespace mblip
