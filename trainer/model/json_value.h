// JsonValue: a small JSON reader for the headers of weight files (safetensors headers, Hugging
// Face config.json). Parses RFC 8259 JSON into a tree of values; numbers are kept as double and,
// when they are integers that fit, as int64 too. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace agreid::trainer {

class JsonValue {
 public:
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };

  // Parses `text` (one JSON value, surrounding white space allowed). Throws InputError
  // "<where>: malformed JSON at byte N (...)" on bad input.
  static JsonValue parse(const std::string& text, const std::string& where);

  Type type() const { return type_; }
  bool isObject() const { return type_ == Type::kObject; }
  bool isArray() const { return type_ == Type::kArray; }
  bool isString() const { return type_ == Type::kString; }
  bool isNumber() const { return type_ == Type::kNumber; }
  // True for a number that is an integer representable as int64.
  bool isInteger() const { return type_ == Type::kNumber && is_integer_; }

  bool boolean() const { return bool_; }
  double number() const { return number_; }
  int64_t integer() const { return integer_; }
  const std::string& string() const { return string_; }
  const std::vector<JsonValue>& array() const { return array_; }
  // Members in key order (duplicate keys: the parse fails).
  const std::map<std::string, JsonValue>& object() const { return object_; }
  // The member `key` of an object, or nullptr when absent (or this is not an object).
  const JsonValue* find(const std::string& key) const;

  // "null", "bool", "number", "string", "array" or "object".
  const char* typeName() const;

 private:
  friend class JsonParser;
  Type type_ = Type::kNull;
  bool bool_ = false;
  bool is_integer_ = false;
  double number_ = 0;
  int64_t integer_ = 0;
  std::string string_;
  std::vector<JsonValue> array_;
  std::map<std::string, JsonValue> object_;
};

}  // namespace agreid::trainer
