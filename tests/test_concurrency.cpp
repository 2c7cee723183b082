// Several Sessions of one loaded Model in parallel threads give exactly the tokens and scores
// of the same work done one at a time (Model is immutable and shared; Sessions own scratch,
// activations and the kernels' per-call state), and one Session makes progress while another
// is stopped in the middle of a generation (nothing shared is held across calls).
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mblip/mblip.h"
#include "support/golden.h"
#include "support/models.h"

using namespace mblip;

namespace {
std::shared_ptr<Model> load_tiny(const char* weights) {
  auto loaded = Model::load_file(mblip_test::golden_gguf("tiny-mt5", weights));
  INFO(loaded.status().to_string());
  CHECK(loaded.ok());
  return loaded.ok() ? loaded.value() : nullptr;
}
}  // namespace

TEST_CASE("concurrency: 3 sessions in parallel threads equal a sequential run", "[concurrency][slow]") {
  MBLIP_REQUIRE_GOLDEN();
  std::shared_ptr<Model> model = load_tiny("f32");
  REQUIRE(model);
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

#if !defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__)
TEST_CASE("concurrency: a Session runs a whole caption while another is stopped mid-generation",
          "[concurrency]") {
  MBLIP_REQUIRE_GOLDEN();
  std::shared_ptr<Model> model = load_tiny("q4_0");
  REQUIRE(model);
  const std::string image = mblip_test::golden_dir() + "/images/files/chelsea_progressive.jpg";
  GenerateOptions opts;
  opts.max_new_tokens = 6;
  opts.num_beams = 2;  // several decoder rows: the beam path of every kernel
  auto caption = [&](Session& s, const Callbacks& cb, std::vector<int32_t>* tokens) -> std::string {
    auto e = s.embed_image_file(image);
    if (!e.ok()) return e.status().to_string();
    auto r = s.generate(e.value(), "Caption in English:", opts, cb);
    if (!r.ok()) return r.status().to_string();
    *tokens = r.value().tokens();
    return "";
  };
  // Reference: one Session, nothing else running.
  std::vector<int32_t> expect;
  {
    auto s = model->new_session();
    REQUIRE(s.ok());
    REQUIRE(caption(*s.value(), {}, &expect).empty());
  }
  // A stops in its first token callback (inside generate: its vision, encoder and first decoder
  // step have run on the shared kernels) until B has run a whole caption on the same Model.
  std::mutex mu;
  std::condition_variable cv;
  bool b_done = false, a_waited = false, a_timed_out = false;
  std::vector<int32_t> ta, tb;
  std::string ea, eb;
  std::thread a([&] {
    auto s = model->new_session();
    if (!s.ok()) { ea = s.status().to_string(); return; }
    Callbacks cb;
    cb.on_token = [&](const TokenEvent&) {
      std::unique_lock<std::mutex> lock(mu);
      if (!a_waited) {
        a_waited = true;
        cv.notify_all();
        a_timed_out = !cv.wait_for(lock, std::chrono::seconds(120), [&] { return b_done; });
      }
      return true;
    };
    ea = caption(*s.value(), cb, &ta);
  });
  std::thread b([&] {
    auto s = model->new_session();
    if (!s.ok()) { eb = s.status().to_string(); return; }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::seconds(120), [&] { return a_waited; });  // A is mid-generation
    }
    eb = caption(*s.value(), {}, &tb);
    std::lock_guard<std::mutex> lock(mu);
    b_done = true;
    cv.notify_all();
  });
  a.join();
  b.join();
  INFO("A: " << ea << " B: " << eb);
  CHECK(ea.empty());
  CHECK(eb.empty());
  CHECK(a_waited);
  CHECK_FALSE(a_timed_out);  // B finished while A was stopped
  CHECK(ta == expect);
  CHECK(tb == expect);
}
#endif
