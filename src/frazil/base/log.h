// Structured logging. One line per event: a message plus key=value fields, as text for a
// terminal or as JSON lines (config `log.format: json`). Secrets never go through here:
// callers pass redacted values (see Redact()).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace frazil {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

struct LogField {
  std::string_view key;
  std::string value;
};

// "debug", "info", "warn", "error" (and back; nullopt for anything else).
std::string_view LogLevelName(LogLevel level);
std::optional<LogLevel> ParseLogLevel(std::string_view name);

void SetLogLevel(LogLevel level);
void SetLogJson(bool json);
// Writes to stderr: `2026-11-25T08:00:00.000Z info commit table=raw.users snapshot=12`.
void Log(LogLevel level, std::string_view message, std::initializer_list<LogField> fields = {});

// "user:****" style redaction for secrets in connection strings and URLs.
std::string Redact(std::string_view secret);

}  // namespace frazil
