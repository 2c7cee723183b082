// plan_task(): prompt templates and the mBLIP authors' defaults (from the model card / DESIGN),
// options by name as every frontend passes them, the sampling rule, and errors naming the fault.
#include <catch2/catch.hpp>

#include "mblip/mblip.h"

using namespace mblip;

namespace {

TaskPlan plan_ok(const TaskRequest& r) {
  auto p = plan_task(r);
  INFO(p.status().message());
  REQUIRE(p.ok());
  return p.value();
}

std::string plan_error(const TaskRequest& r) {
  auto p = plan_task(r);
  REQUIRE_FALSE(p.ok());
  CHECK(p.status().code() == StatusCode::kInvalidArgument);
  return p.status().message();
}

}  // namespace

TEST_CASE("task: caption and ask follow the authors' templates and defaults", "[task]") {
  TaskRequest cap;
  cap.lang = "de";
  const TaskPlan c = plan_ok(cap);
  CHECK(c.prompt == "Caption in German:");
  CHECK(c.language.code == "de");
  CHECK(c.options.num_beams == 5);
  CHECK(c.options.max_new_tokens == 50);
  CHECK(c.options.length_penalty == 1.0);
  CHECK(c.decode.apply_exif);

  TaskRequest ask;
  ask.task = Task::kAsk;
  ask.lang = "French";
  ask.question = "What is this?";
  const TaskPlan a = plan_ok(ask);
  CHECK(a.prompt == "Question: What is this? Short answer in French:");
  CHECK(a.options.num_beams == 5);
  CHECK(a.options.max_new_tokens == 10);
  CHECK(a.options.length_penalty == -1.0);

  cap.prompt = "A photo of";
  CHECK(plan_ok(cap).prompt == "A photo of");
  cap.lang = "English";
  cap.prompt.clear();
  CHECK(plan_ok(cap).prompt == task_prompt(Task::kCaption, "English"));
}

TEST_CASE("task: options by snake_case or camelCase name override the defaults", "[task]") {
  TaskRequest r;
  r.options = {{"max_new_tokens", "30"}, {"numBeams", "3"}, {"lengthPenalty", "-0.5"},
               {"early_stopping", "never"}, {"repetition_penalty", "1.25"}, {"noRepeatNgramSize", "2"}};
  const TaskPlan p = plan_ok(r);
  CHECK(p.options.max_new_tokens == 30);
  CHECK(p.options.num_beams == 3);
  CHECK(p.options.length_penalty == -0.5);
  CHECK(p.options.early_stopping == EarlyStopping::kNever);
  CHECK(p.options.repetition_penalty == 1.25);
  CHECK(p.options.no_repeat_ngram_size == 2);
  r.options = {{"earlyStopping", "true"}, {"seed", "123456789012"}};
  const TaskPlan q = plan_ok(r);
  CHECK(q.options.early_stopping == EarlyStopping::kTrue);
  CHECK(q.options.seed == 123456789012ULL);
}

TEST_CASE("task: sampling uses one beam unless beams are given explicitly", "[task]") {
  TaskRequest r;
  r.options = {{"do_sample", "true"}, {"top_k", "5"}};
  const TaskPlan p = plan_ok(r);
  CHECK(p.options.do_sample);
  CHECK(p.options.num_beams == 1);
  CHECK(p.options.top_k == 5);
  r.options = {{"doSample", "true"}, {"numBeams", "4"}};
  CHECK_THAT(plan_error(r), Catch::Contains("beam sampling"));
  r.options = {{"doSample", "false"}};
  CHECK(plan_ok(r).options.num_beams == 5);
}

TEST_CASE("task: bad requests are rejected with messages naming the fault", "[task]") {
  TaskRequest r;
  r.options = {{"max_new_tokens", "abc"}};
  CHECK_THAT(plan_error(r), Catch::Contains("max_new_tokens") && Catch::Contains("abc"));
  r.options = {{"maxNewTokens", "1.5"}};
  CHECK_THAT(plan_error(r), Catch::Contains("integer"));
  r.options = {{"max_new_tokens", "0"}};
  CHECK_THAT(plan_error(r), Catch::Contains("max_new_tokens must be in 1.."));
  r.options = {{"max_new_tokens", "99999999999999999999"}};
  CHECK_THAT(plan_error(r), Catch::Contains("max_new_tokens"));
  r.options = {{"temperature", "nan"}};
  CHECK_THAT(plan_error(r), Catch::Contains("temperature"));
  r.options = {{"top_p", "1.5"}};
  CHECK_THAT(plan_error(r), Catch::Contains("top_p"));
  r.options = {{"do_sample", "yes"}};
  CHECK_THAT(plan_error(r), Catch::Contains("true or false"));
  r.options = {{"early_stopping", "sometimes"}};
  CHECK_THAT(plan_error(r), Catch::Contains("never"));
  r.options = {{"seed", "-1"}};
  CHECK_THAT(plan_error(r), Catch::Contains("seed"));
  r.options = {{"beams", "3"}};
  CHECK_THAT(plan_error(r), Catch::Contains("unknown generation option 'beams'"));
  r.options.clear();
  r.lang = "Klingon";
  CHECK_THAT(plan_error(r), Catch::Contains("Klingon"));
  r.lang = "en";
  r.question = "why?";
  CHECK_THAT(plan_error(r), Catch::Contains("ask"));
  TaskRequest a;
  a.task = Task::kAsk;
  CHECK_THAT(plan_error(a), Catch::Contains("question"));
  a.question = "What?";
  a.prompt = "x";
  CHECK_THAT(plan_error(a), Catch::Contains("prompt"));
  TaskRequest d;
  d.decode.max_pixels = 0;
  CHECK_THAT(plan_error(d), Catch::Contains("max_pixels"));
}
