// Status / Result basics, and that golden data is visible to the test binary.
#include <catch2/catch.hpp>

#include "mblip/status.h"
#include "support/golden.h"

using namespace mblip;

static Result<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("value must be positive, got " + std::to_string(v));
  return v;
}

static Status twice(int v, int* out) {
  MBLIP_ASSIGN_OR_RETURN(int x, parse_positive(v));
  *out = 2 * x;
  return Status::Ok();
}

TEST_CASE("Status carries code and message", "[status]") {
  int out = 0;
  REQUIRE(twice(4, &out).ok());
  REQUIRE(out == 8);
  Status st = twice(-1, &out);
  REQUIRE_FALSE(st.ok());
  REQUIRE(st.code() == StatusCode::kInvalidArgument);
  REQUIRE(st.to_string() == "InvalidArgument: value must be positive, got -1");
  REQUIRE(st.with_context("option --beams").message() == "option --beams: value must be positive, got -1");
}

TEST_CASE("golden data is readable from the test binary", "[golden]") {
  MBLIP_REQUIRE_GOLDEN();
  auto npy = mblip_test::load_npy(mblip_test::golden_dir() + "/images/chelsea/resized_rgb_u8.npy");
  REQUIRE(npy.shape == std::vector<int64_t>{224, 224, 3});
  REQUIRE(npy.as_u8().size() == 224 * 224 * 3);
}
