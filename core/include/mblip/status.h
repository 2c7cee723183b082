// Status and Result<T>: how every fallible core function reports failure (never abort/exit).
// Codes map one-to-one to typed errors in the JS package (see web/src/errors.js).
#pragma once
#include <string>
#include <utility>
#include <variant>

namespace mblip {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad option / out-of-range value / bad prompt
  kModelLoad,        // model file corrupt, truncated, unsupported, wrong shapes
  kImageDecode,      // image bytes unreadable, too large, zero size
  kTokenizer,        // tokenizer model or text problem
  kIo,               // file not found, read/write failure
  kOutOfMemory,      // allocation would exceed the limit
  kCancelled,        // generation cancelled by the caller
  kUnsupported,      // valid input this build cannot handle
  kInternal,         // a bug: please report
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ModelLoad: <message>"
  std::string to_string() const;
  // Returns a copy whose message is prefixed with `context: `.
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(StatusCode::kInvalidArgument, std::move(m)); }
inline Status model_load_error(std::string m) { return Status(StatusCode::kModelLoad, std::move(m)); }
inline Status image_decode_error(std::string m) { return Status(StatusCode::kImageDecode, std::move(m)); }
inline Status tokenizer_error(std::string m) { return Status(StatusCode::kTokenizer, std::move(m)); }
inline Status io_error(std::string m) { return Status(StatusCode::kIo, std::move(m)); }
inline Status out_of_memory(std::string m) { return Status(StatusCode::kOutOfMemory, std::move(m)); }
inline Status cancelled(std::string m) { return Status(StatusCode::kCancelled, std::move(m)); }
inline Status unsupported(std::string m) { return Status(StatusCode::kUnsupported, std::move(m)); }
inline Status internal_error(std::string m) { return Status(StatusCode::kInternal, std::move(m)); }

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(implicit)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(implicit); must not be ok
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace mblip

#define MBLIP_CONCAT_INNER(a, b) a##b
#define MBLIP_CONCAT(a, b) MBLIP_CONCAT_INNER(a, b)

// Returns early from the enclosing function when `expr` (a Status) is not ok.
#define MBLIP_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::mblip::Status _mblip_st = (expr);              \
    if (!_mblip_st.ok()) return _mblip_st;           \
  } while (0)

// `MBLIP_ASSIGN_OR_RETURN(auto x, f());` -- unwraps a Result<T> or returns its Status.
#define MBLIP_ASSIGN_OR_RETURN(lhs, expr) \
  MBLIP_ASSIGN_OR_RETURN_IMPL(MBLIP_CONCAT(_mblip_res_, __LINE__), lhs, expr)
#define MBLIP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
