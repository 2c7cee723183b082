// Several Sessions of one loaded Model in parallel threads give exactly the tokens and scores
// of the same work done one at a time (Model is immutable and shared; Sessions own scratch).
#include <catch2/catch.hpp>

#include <string>
#include <thread>
#include <vector>

#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;

TEST_CASE("concurrency: 3 sessions in parallel threads equal a sequential run", "[concurrency][slow]") {
  MBLIP_REQUIRE_GOLDEN();
  auto loaded = Model::load_file(mblip_test::golden_gguf("tiny-mt5", "f32"));
  INFO(loaded.status().to_string());
  REQUIRE(loaded.ok());
  std::shared_ptr<Model> model = loaded.value();
  const std::string dir = mblip_test::golden_dir() + "/images/files/";
  struct Job { std::string image, prompt; GenerateOptions opts; };
  std::vector<Job> jobs(3);
  jobs[0] = {dir + "chelsea_progressive.jpg", "Caption in English:", {}};
  jobs[0].opts.max_new_tokens = 12;
  jobs[1] = {dir + "astronaut_baseline.jpg", "Question: what is this? Short answer in German:", task_defaults(Task::kAsk)};
  jobs[2] = {dir + "rocket_exif_orient6.jpg", "Caption in Japanese:", task_defaults(Task::kCaption)};
  jobs[2].opts.max_new_tokens = 16;

  struct Out { std::vector<int32_t> tokens; double score = 0; std::string error; };
  auto run = [&](const Job& j, Out& out) {
    auto s = model->new_session();
    if (!s.ok()) { out.error = s.status().to_string(); return; }
    for (int rep = 0; rep < 2; ++rep) {  // the second round reuses the session's scratch
      auto e = s.value()->embed_image_file(j.image);
      if (!e.ok()) { out.error = e.status().to_string(); return; }
      auto r = s.value()->generate(e.value(), j.prompt, j.opts);
      if (!r.ok()) { out.error = r.status().to_string(); return; }
      if (rep == 1 && (r.value().tokens() != out.tokens || r.value().score() != out.score)) out.error = "repeat differs";
      out.tokens = r.value().tokens();
      out.score = r.value().score();
    }
  };
  std::vector<Out> seq(jobs.size()), par(jobs.size());
  for (size_t k = 0; k < jobs.size(); ++k) run(jobs[k], seq[k]);
  std::vector<std::thread> threads;
  for (size_t k = 0; k < jobs.size(); ++k) threads.emplace_back([&, k] { run(jobs[k], par[k]); });
  for (auto& t : threads) t.join();
  for (size_t k = 0; k < jobs.size(); ++k) {
    INFO("job " << k << ": " << seq[k].error << " / " << par[k].error);
    CHECK(seq[k].error.empty());
    CHECK(par[k].error.empty());
    CHECK_FALSE(seq[k].tokens.empty());
    CHECK(par[k].tokens == seq[k].tokens);
    CHECK(par[k].score == seq[k].score);
  }
}
