// mBLIP's language list and lookup. Source: the model card of Gregor/mblip-mt0-xl
// (huggingface.co/Gregor/mblip-mt0-xl, README "Languages": "mBLIP was trained on the following
// 96 languages"), i.e. English plus the 95 machine-translation targets of Gregor/mblip-train.
// Codes are as written there (Google Translate / mC4 style: "iw" Hebrew, "fil" Filipino);
// English names follow the mT5 / Google Translate naming.
#include <algorithm>
#include <cctype>

#include "api/languages.h"

namespace mblip {

const std::vector<Language>& api::mblip_languages() {
  static const std::vector<Language> kLanguages = {
      {"af", "Afrikaans"}, {"am", "Amharic"}, {"ar", "Arabic"}, {"az", "Azerbaijani"},
      {"be", "Belarusian"}, {"bg", "Bulgarian"}, {"bn", "Bengali"}, {"ca", "Catalan"},
      {"ceb", "Cebuano"}, {"cs", "Czech"}, {"cy", "Welsh"}, {"da", "Danish"},
      {"de", "German"}, {"el", "Greek"}, {"en", "English"}, {"eo", "Esperanto"},
      {"es", "Spanish"}, {"et", "Estonian"}, {"eu", "Basque"}, {"fa", "Persian"},
      {"fi", "Finnish"}, {"fil", "Filipino"}, {"fr", "French"}, {"ga", "Irish"},
      {"gd", "Scottish Gaelic"}, {"gl", "Galician"}, {"gu", "Gujarati"}, {"ha", "Hausa"},
      {"hi", "Hindi"}, {"ht", "Haitian Creole"}, {"hu", "Hungarian"}, {"hy", "Armenian"},
      {"id", "Indonesian"}, {"ig", "Igbo"}, {"is", "Icelandic"}, {"it", "Italian"},
      {"iw", "Hebrew"}, {"ja", "Japanese"}, {"jv", "Javanese"}, {"ka", "Georgian"},
      {"kk", "Kazakh"}, {"km", "Khmer"}, {"kn", "Kannada"}, {"ko", "Korean"},
      {"ku", "Kurdish"}, {"ky", "Kyrgyz"}, {"lb", "Luxembourgish"}, {"lo", "Lao"},
      {"lt", "Lithuanian"}, {"lv", "Latvian"}, {"mg", "Malagasy"}, {"mi", "Maori"},
      {"mk", "Macedonian"}, {"ml", "Malayalam"}, {"mn", "Mongolian"}, {"mr", "Marathi"},
      {"ms", "Malay"}, {"mt", "Maltese"}, {"my", "Burmese"}, {"ne", "Nepali"},
      {"nl", "Dutch"}, {"no", "Norwegian"}, {"ny", "Chichewa"}, {"pa", "Punjabi"},
      {"pl", "Polish"}, {"ps", "Pashto"}, {"pt", "Portuguese"}, {"ro", "Romanian"},
      {"ru", "Russian"}, {"sd", "Sindhi"}, {"si", "Sinhala"}, {"sk", "Slovak"},
      {"sl", "Slovenian"}, {"sm", "Samoan"}, {"sn", "Shona"}, {"so", "Somali"},
      {"sq", "Albanian"}, {"sr", "Serbian"}, {"st", "Sesotho"}, {"su", "Sundanese"},
      {"sv", "Swedish"}, {"sw", "Swahili"}, {"ta", "Tamil"}, {"te", "Telugu"},
      {"tg", "Tajik"}, {"th", "Thai"}, {"tr", "Turkish"}, {"uk", "Ukrainian"},
      {"ur", "Urdu"}, {"uz", "Uzbek"}, {"vi", "Vietnamese"}, {"xh", "Xhosa"},
      {"yi", "Yiddish"}, {"yo", "Yoruba"}, {"zh", "Chinese"}, {"zu", "Zulu"},
  };
  return kLanguages;
}

namespace {
std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}
}  // namespace

Result<Language> api::find_language(const std::string& code_or_name) {
  std::string key = lower(trim(code_or_name));
  // Common modern codes for the two legacy ones, and a few alternative names.
  if (key == "he") key = "iw";
  if (key == "tl" || key == "tagalog") key = "fil";
  if (key == "nb" || key == "norwegian bokmal" || key == "norwegian bokmål") key = "no";
  if (key == "farsi") key = "fa";
  if (key == "myanmar") key = "my";
  if (key == "nyanja") key = "ny";
  if (key == "southern sotho" || key == "sotho") key = "st";
  if (key == "panjabi") key = "pa";
  if (key == "gaelic") key = "gd";
  for (const Language& l : mblip_languages()) {
    if (key == l.code || key == lower(l.name)) return l;
  }
  return invalid_argument("unknown language '" + code_or_name +
                          "': use one of mBLIP's 96 languages by code or English name (e.g. 'de' or 'German')");
}

}  // namespace mblip
