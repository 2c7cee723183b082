// Tokenizer tests: every golden case of ../shared/golden/tokenizer (sentencepiece and HF
// T5Tokenizer results), bad input (invalid UTF-8, corrupt model, bad ids), StreamDecoder.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "support/golden.h"
#include "tokenizer/tokenizer.h"

using mblip::StatusCode;
using mblip::Tokenizer;

namespace {

std::string model_path() { return mblip_test::golden_dir() + "/tokenizer/spiece.model"; }

std::unique_ptr<Tokenizer> load_tokenizer() {
  auto r = Tokenizer::from_bytes(mblip_test::read_file(model_path()));
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::string from_hex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::vector<int32_t> as_ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

// Streams `ids` through a StreamDecoder; returns the concatenated output.
std::string stream(const Tokenizer& tok, const std::vector<int32_t>& ids) {
  mblip::StreamDecoder dec(tok);
  std::string out;
  for (int32_t id : ids) {
    auto r = dec.push(id);
    INFO(r.status().to_string());
    REQUIRE(r.ok());
    out += r.value();
  }
  auto r = dec.finish();
  INFO(r.status().to_string());
  REQUIRE(r.ok());
  return out + r.value();
}

}  // namespace

TEST_CASE("tokenizer: every golden case matches sentencepiece and HF T5Tokenizer", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  const auto doc = mblip_test::read_json(mblip_test::golden_dir() + "/tokenizer/tokenizer_cases.json");
  const auto& cases = doc.at("cases");
  REQUIRE(cases.size() == doc.at("num_cases").get<size_t>());
  size_t n_sp_ids = 0, n_pieces = 0, n_sp_dec = 0, n_hf_ids = 0, n_skip = 0, n_keep = 0;
  for (const auto& c : cases) {
    INFO("case " << c.at("id").dump() << " text " << c.at("text").dump());
    const std::string text = from_hex(c.at("text_utf8_hex").get<std::string>());
    REQUIRE(text == c.at("text").get<std::string>());
    const auto sp_ids = as_ids(c.at("sp_ids"));
    const auto hf_ids = as_ids(c.at("hf_input_ids"));

    auto ids = tok->encode_ids(text);
    REQUIRE(ids.ok());
    n_sp_ids += ids.value() == sp_ids;
    CHECK(ids.value() == sp_ids);

    auto pieces = tok->encode_pieces(text);
    REQUIRE(pieces.ok());
    n_pieces += pieces.value() == c.at("sp_pieces").get<std::vector<std::string>>();
    CHECK(pieces.value() == c.at("sp_pieces").get<std::vector<std::string>>());

    auto sp_dec = tok->decode_sp(sp_ids);
    REQUIRE(sp_dec.ok());
    n_sp_dec += sp_dec.value() == c.at("sp_decoded").get<std::string>();
    CHECK(sp_dec.value() == c.at("sp_decoded").get<std::string>());

    auto prompt = tok->encode_prompt(text);
    REQUIRE(prompt.ok());
    n_hf_ids += prompt.value() == hf_ids;
    CHECK(prompt.value() == hf_ids);
    auto count = tok->count_prompt_tokens(text);
    REQUIRE(count.ok());
    CHECK(count.value() == hf_ids.size());

    auto skip = tok->decode(hf_ids, true);
    REQUIRE(skip.ok());
    n_skip += skip.value() == c.at("hf_decoded_skip_special").get<std::string>();
    CHECK(skip.value() == c.at("hf_decoded_skip_special").get<std::string>());

    auto keep = tok->decode(hf_ids, false);
    REQUIRE(keep.ok());
    n_keep += keep.value() == c.at("hf_decoded_keep_special").get<std::string>();
    CHECK(keep.value() == c.at("hf_decoded_keep_special").get<std::string>());
  }
  const size_t n = cases.size();
  INFO("identical: sp_ids " << n_sp_ids << ", sp_pieces " << n_pieces << ", sp_decoded " << n_sp_dec
       << ", hf_input_ids " << n_hf_ids << ", hf_decoded_skip_special " << n_skip
       << ", hf_decoded_keep_special " << n_keep << " of " << n);
  CHECK(n_sp_ids == n);
  CHECK(n_pieces == n);
  CHECK(n_sp_dec == n);
  CHECK(n_hf_ids == n);
  CHECK(n_skip == n);
  CHECK(n_keep == n);
}

TEST_CASE("tokenizer: special ids and pieces come from the model", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  CHECK(tok->vocab_size() == 8000);
  CHECK(tok->pad_id() == 0);
  CHECK(tok->eos_id() == 1);
  CHECK(tok->unk_id() == 2);
  CHECK(tok->id_to_piece(1) == "</s>");
  CHECK(tok->id_to_piece(3) == "<0x00>");
  CHECK(tok->id_to_piece(259) == "\xE2\x96\x81");
  CHECK(tok->id_to_piece(8000).empty());
  CHECK(tok->id_to_piece(-1).empty());
  // HF: no second eos when the text ends with a literal </s>; blank text gives [eos].
  CHECK(tok->encode_prompt("</s>").value() == std::vector<int32_t>{1});
  CHECK(tok->encode_prompt(" \t\n ").value() == std::vector<int32_t>{1});
  CHECK(tok->encode_prompt("").value() == std::vector<int32_t>{1});
  CHECK(tok->decode({}).value().empty());
  CHECK(tok->decode({1, 0, 2}).value().empty());
}

TEST_CASE("tokenizer: invalid UTF-8 is rejected with the byte offset", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  struct Bad { std::string text; size_t offset; };
  const Bad bad[] = {{"abc\xFF", 3},           {"\x80", 0},
                     {"ok \xC0\xAF", 3},        // overlong '/'
                     {"x\xED\xA0\x80y", 1},     // UTF-16 surrogate
                     {"ab\xE3\x81", 2},         // truncated 3-byte sequence
                     {"\xF4\x90\x80\x80", 0},   // above U+10FFFF
                     {"a\xE3\x81" "b", 1}};
  for (const Bad& b : bad) {
    INFO("offset " << b.offset);
    const std::string where = "offset " + std::to_string(b.offset);
    auto p = tok->encode_prompt(b.text);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == StatusCode::kInvalidArgument);
    CHECK(p.status().message().find(where) != std::string::npos);
    auto i = tok->encode_ids(b.text);
    REQUIRE_FALSE(i.ok());
    CHECK(i.status().code() == StatusCode::kInvalidArgument);
    CHECK_FALSE(tok->encode_pieces(b.text).ok());
    CHECK_FALSE(tok->count_prompt_tokens(b.text).ok());
  }
  // Valid edge cases pass: 4-byte emoji, U+FFFF, NUL.
  CHECK(tok->encode_prompt("\xF0\x9F\x98\x80 \xEF\xBF\xBF").ok());
  CHECK(tok->encode_prompt(std::string("a\0b", 3)).ok());
}

TEST_CASE("tokenizer: corrupt model bytes give a kTokenizer error", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string good = mblip_test::read_file(model_path());
  std::vector<std::string> bad = {"", "not a sentencepiece model", std::string(64, '\xFF'),
                                  good.substr(0, 10), good.substr(0, good.size() / 2),
                                  good.substr(0, good.size() - 1)};
  std::string garbage(4096, '\0');
  std::mt19937 rng(7);
  for (char& ch : garbage) ch = static_cast<char>(rng() & 0xFF);
  bad.push_back(garbage);
  for (size_t i = 0; i < bad.size(); ++i) {
    INFO("corrupt model #" << i << " (" << bad[i].size() << " bytes)");
    auto r = Tokenizer::from_bytes(bad[i]);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == StatusCode::kTokenizer);
    CHECK_FALSE(r.status().message().empty());
  }
}

TEST_CASE("tokenizer: bit flips in the model bytes never crash", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  const std::string good = mblip_test::read_file(model_path());
  std::mt19937 rng(11);
  for (int t = 0; t < 24; ++t) {
    std::string b = good;
    const size_t pos = rng() % b.size();
    b[pos] = static_cast<char>(b[pos] ^ (1 + rng() % 255));
    INFO("flip at byte " << pos);
    auto r = Tokenizer::from_bytes(b);
    if (!r.ok()) {
      CHECK(r.status().code() == StatusCode::kTokenizer);
      continue;
    }
    // A flip that still parses gives some model; using it must stay well-defined.
    auto ids = r.value()->encode_prompt("Hello w\xC3\xB6rld \xE6\x97\xA5\xE6\x9C\xAC </s> test.");
    if (ids.ok()) {
      auto text = r.value()->decode(ids.value());
      CHECK((text.ok() || text.status().code() == StatusCode::kTokenizer));
    }
  }
}

TEST_CASE("tokenizer: out-of-range ids are an error, not a crash", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  for (const std::vector<int32_t>& ids : {std::vector<int32_t>{5, 8000}, std::vector<int32_t>{-1},
                                          std::vector<int32_t>{250111, 1}}) {
    for (bool skip : {true, false}) {
      auto r = tok->decode(ids, skip);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() == StatusCode::kInvalidArgument);
      CHECK(r.status().message().find("token id") != std::string::npos);
    }
    auto s = tok->decode_sp(ids);
    REQUIRE_FALSE(s.ok());
    CHECK(s.status().code() == StatusCode::kInvalidArgument);
  }
  CHECK(tok->decode({5, 8000}).status().message().find("8000") != std::string::npos);
  mblip::StreamDecoder dec(*tok);
  CHECK(dec.push(8000).status().code() == StatusCode::kInvalidArgument);
  CHECK(dec.push(-3).status().code() == StatusCode::kInvalidArgument);
  CHECK(dec.ids().empty());
}

TEST_CASE("tokenizer: StreamDecoder pieces concatenate to decode() on golden ids", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  const auto doc = mblip_test::read_json(mblip_test::golden_dir() + "/tokenizer/tokenizer_cases.json");
  size_t n = 0;
  for (const auto& c : doc.at("cases")) {
    INFO("case " << c.at("id").dump());
    const auto hf_ids = as_ids(c.at("hf_input_ids"));
    CHECK(stream(*tok, hf_ids) == c.at("hf_decoded_skip_special").get<std::string>());
    const auto sp_ids = as_ids(c.at("sp_ids"));
    CHECK(stream(*tok, sp_ids) == tok->decode(sp_ids).value());
    // As generate() produces them: decoder start (pad) first, eos last.
    std::vector<int32_t> gen = {0};
    gen.insert(gen.end(), sp_ids.begin(), sp_ids.end());
    gen.push_back(1);
    CHECK(stream(*tok, gen) == tok->decode(gen).value());
    ++n;
  }
  CHECK(n == doc.at("num_cases").get<size_t>());
}

TEST_CASE("tokenizer: StreamDecoder property on random and clean-up-heavy ids", "[tokenizer]") {
  MBLIP_REQUIRE_GOLDEN();
  auto tok = load_tokenizer();
  // Pieces that interact with clean-up (" n't", " 's", " .", ...), spaces and byte fallback.
  const std::vector<std::string> wanted = {"\xE2\x96\x81", "'", "\xE2\x96\x81'", "n", "\xE2\x96\x81n",
                                           "t", "'t", "s", "m", "ve", "re", "v", "r", ".",
                                           "\xE2\x96\x81.", ",", "?", "!", "\xE2\x96\x81?", "e"};
  std::vector<int32_t> pool;
  for (int32_t id = 0; id < tok->vocab_size(); ++id) {
    for (const auto& w : wanted) {
      if (tok->id_to_piece(id) == w) pool.push_back(id);
    }
  }
  REQUIRE(pool.size() >= 10);
  std::mt19937 rng(20240607);
  for (int trial = 0; trial < 1000; ++trial) {
    std::vector<int32_t> ids(1 + rng() % 24);
    for (auto& id : ids) {
      const uint32_t kind = rng() % 10;
      if (kind < 4) id = pool[rng() % pool.size()];
      else if (kind < 7) id = 3 + static_cast<int32_t>(rng() % 256);        // byte pieces
      else if (kind < 8) id = static_cast<int32_t>(rng() % 3);              // pad / eos / unk
      else id = static_cast<int32_t>(rng() % tok->vocab_size());
    }
    std::string listing;
    for (int32_t id : ids) listing += std::to_string(id) + " ";
    INFO("trial " << trial << " ids " << listing);
    CHECK(stream(*tok, ids) == tok->decode(ids).value());
  }
  // Hand-made: clean-up patterns completed by the next token, CJK via byte pieces.
  for (const char* text : {"I don 't know , it 's fine . you 're ok ' yes ' n't", "a ' ' b",
                           "\xF0\x9F\x98\x80 \xE9\xBE\x98 ?  !", "x n't 'm 've 're 's"}) {
    const auto ids = tok->encode_ids(text).value();
    CHECK(stream(*tok, ids) == tok->decode(ids).value());
  }
}
