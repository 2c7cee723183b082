// wasm builds of sentencepiece: its INFO lines (e.g. "precompiled_charsmap is empty") are not printed;
// warnings and errors still are. Replaces util.cc's GetMinLogLevel (renamed there by cmake/Deps.cmake).
namespace sentencepiece {
namespace logging {
int GetMinLogLevel() { return 1; }  // LOG_WARNING
}  // namespace logging
}  // namespace sentencepiece
