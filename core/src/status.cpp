// Status helpers: code names and message formatting.
#include "mblip/status.h"

namespace mblip {

const char* status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "Ok";
    case StatusCode::kInvalidArgument: return "InvalidArgument";
    case StatusCode::kModelLoad: return "ModelLoad";
    case StatusCode::kImageDecode: return "ImageDecode";
    case StatusCode::kTokenizer: return "Tokenizer";
    case StatusCode::kIo: return "Io";
    case StatusCode::kOutOfMemory: return "OutOfMemory";
    case StatusCode::kCancelled: return "Cancelled";
    case StatusCode::kUnsupported: return "Unsupported";
    case StatusCode::kInternal: return "Internal";
  }
  return "Unknown";
}

std::string Status::to_string() const {
  if (ok()) return "Ok";
  return std::string(status_code_name(code_)) + ": " + message_;
}

Status Status::with_context(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

}  // namespace mblip
