#include "trainer/util/json.h"

#include <limits>
#include <set>
#include <vector>

#include "base/error.h"

namespace agreid::trainer {
namespace {

// Deeper documents are refused: no file agreid reads nests more than a few levels, and readers
// that walk the tree recursively stay far from the stack's end.
constexpr int kMaxJsonDepth = 64;

// nlohmann's messages read "[json.exception.parse_error.101] parse error at line 1, column 7:
// syntax error while parsing value - invalid literal; last read: '..'"; keep the part after the
// position, which the byte offset already gives.
std::string shortReason(const std::string& what) {
  const auto column = what.find("column ");
  const auto colon = what.find(": ", column == std::string::npos ? 0 : column);
  std::string reason = colon == std::string::npos ? what : what.substr(colon + 2);
  const auto bracket = reason.find("] ");
  if (reason.rfind("[json.exception.", 0) == 0 && bracket != std::string::npos) {
    reason = reason.substr(bracket + 2);
  }
  return reason;
}

}  // namespace

Json parseJson(const std::string& text, const std::string& where) {
  // One set of keys per open object, to refuse a repeated key (nlohmann keeps the last).
  std::vector<std::set<std::string>> keys;
  const auto callback = [&](int depth, Json::parse_event_t event, Json& parsed) {
    if ((event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) &&
        depth >= kMaxJsonDepth) {
      throw InputError(where + ": malformed JSON (nested deeper than " +
                       std::to_string(kMaxJsonDepth) + " levels)");
    }
    if (event == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == Json::parse_event_t::key &&
               !keys.back().insert(parsed.get<std::string>()).second) {
      throw InputError(where + ": malformed JSON (key '" + parsed.get<std::string>() +
                       "' appears twice in one object)");
    }
    return true;
  };
  try {
    return Json::parse(text, callback);
  } catch (const Json::parse_error& e) {
    throw InputError(where + ": malformed JSON at byte " + std::to_string(e.byte) + " (" +
                     shortReason(e.what()) + ")");
  } catch (const Json::exception& e) {  // a number beyond double's range, for one
    throw InputError(where + ": malformed JSON (" + shortReason(e.what()) + ")");
  }
}

const Json* jsonMember(const Json& object, const std::string& key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<int64_t> jsonInt64(const Json& value) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<uint64_t>();
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(v);
  }
  if (value.is_number_integer()) return value.get<int64_t>();
  return std::nullopt;
}

std::string jsonText(const OrderedJson& value, int indent) {
  return value.dump(indent, ' ', false, OrderedJson::error_handler_t::replace);
}

}  // namespace agreid::trainer
