#include "data/synth_world.h"

#include <algorithm>
#include <cmath>

#include "base/check.h"

namespace agreid::data {
namespace {

const std::vector<std::string> kGarmentColours = {"black", "white",  "grey",   "red",  "blue",
                                                  "green", "yellow", "purple", "pink", "orange"};

Rgb namedColour(const std::string& name) {
  if (name == "black") return {28, 28, 32};
  if (name == "white") return {236, 236, 232};
  if (name == "grey") return {128, 128, 132};
  if (name == "red") return {205, 32, 38};
  if (name == "blue") return {38, 72, 196};
  if (name == "green") return {38, 150, 62};
  if (name == "yellow") return {238, 212, 42};
  if (name == "purple") return {122, 48, 160};
  if (name == "pink") return {242, 134, 184};
  if (name == "orange") return {242, 128, 28};
  if (name == "brown") return {104, 64, 32};
  if (name == "blonde") return {222, 190, 112};
  return {128, 128, 128};
}

// Index drawn from unnormalised weights.
int32_t pick(CounterRng& rng, std::initializer_list<double> weights) {
  double total = 0;
  for (double w : weights) total += w;
  double u = rng.uniform() * total;
  int32_t i = 0;
  for (double w : weights) {
    if (u < w) return i;
    u -= w;
    ++i;
  }
  return i - 1;
}

Rgb jitter(CounterRng& rng, double sigma, double limit) {
  auto one = [&] { return static_cast<float>(std::clamp(rng.normal() * sigma, -limit, limit)); };
  Rgb c;
  c.r = one();
  c.g = one();
  c.b = one();
  return c;
}

Rgb paletteColour(CounterRng& rng) {
  return namedColour(kGarmentColours[rng.below(kGarmentColours.size())]);
}

const std::string& valueName(const Person& p, int attribute) {
  return synthAttributeValues()[attribute][p.attributes[attribute]];
}

}  // namespace

const std::vector<std::string>& synthAttributeNames() {
  static const std::vector<std::string> names = {
      "gender",        "hair_colour",  "hair_length", "hat",          "upper_colour", "upper_type",
      "upper_pattern", "lower_colour", "lower_type",  "shoes_colour", "bag_type",     "bag_colour"};
  return names;
}

const std::vector<std::vector<std::string>>& synthAttributeValues() {
  static const std::vector<std::vector<std::string>> values = {
      {"man", "woman"},
      {"black", "brown", "blonde", "grey"},
      {"short", "long"},
      {"none", "cap", "beanie"},
      kGarmentColours,
      {"t-shirt", "jacket", "coat"},
      {"plain", "striped", "checked"},
      kGarmentColours,
      {"trousers", "shorts", "skirt"},
      {"black", "white", "brown", "red"},
      {"none", "backpack", "handbag", "shoulder bag"},
      {"none", "black", "brown", "red", "blue", "green", "white"},
  };
  return values;
}

namespace {
// "a red top", "an orange top": the indefinite article English puts before `phrase`.
std::string withArticle(const std::string& phrase) {
  const bool vowel = !phrase.empty() && std::string("aeiou").find(phrase[0]) != std::string::npos;
  return (vowel ? "an " : "a ") + phrase;
}
}  // namespace

std::string attributeClause(int attribute, int value) {
  AGREID_CHECK(attribute >= 0 && attribute < kNumSynthAttributes, "attribute ", attribute);
  const auto& names = synthAttributeValues()[attribute];
  AGREID_CHECK(value >= 0 && value < static_cast<int>(names.size()), "value ", value);
  const std::string& v = names[value];
  switch (attribute) {
    case kAttrGender:
      return "";
    case kAttrHairColour:
    case kAttrHairLength:
      return "with " + v + " hair";
    case kAttrHat:
      return value == 0 ? "without a hat" : "wearing " + withArticle(v);
    case kAttrUpperColour:
    case kAttrUpperPattern:
      return "wearing " + withArticle(v + " top");
    case kAttrUpperType:
      return "wearing " + withArticle(v);
    case kAttrLowerColour:
      return "wearing " + v + " bottoms";
    case kAttrLowerType:
      return "wearing " + (v == "skirt" ? std::string("a skirt") : v);
    case kAttrShoesColour:
      return "wearing " + v + " shoes";
    case kAttrBagType:
      return value == 0 ? "carrying no bag" : "carrying " + withArticle(v);
    case kAttrBagColour:
      return value == 0 ? "carrying no bag" : "carrying " + withArticle(v + " bag");
    default:
      break;
  }
  AGREID_CHECK(false, "unhandled attribute ", attribute);
  return "";
}

std::string readoutPrompt(int attribute, int value) {
  if (attribute == kAttrGender) {
    AGREID_CHECK(value >= 0 && value < 2, "value ", value);
    return "a photo of a " + synthAttributeValues()[kAttrGender][value];
  }
  return "a photo of a person " + attributeClause(attribute, value);
}

std::string shortCaption(const Person& p, CounterRng& rng, int max_attributes) {
  AGREID_CHECK(max_attributes >= 1 && max_attributes <= kNumSynthAttributes,
               "short caption attributes must be in [1, ", kNumSynthAttributes, "], got ",
               max_attributes);
  // 1 to max_attributes distinct attributes, drawn without replacement.
  std::array<int, kNumSynthAttributes> order{};
  for (int a = 0; a < kNumSynthAttributes; ++a) order[a] = a;
  const int count = 1 + static_cast<int>(rng.below(static_cast<uint64_t>(max_attributes)));
  for (int i = 0; i < count; ++i) {
    const int j = i + static_cast<int>(rng.below(kNumSynthAttributes - i));
    std::swap(order[i], order[j]);
  }
  std::string subject = "a person";
  std::vector<std::string> clauses;
  for (int i = 0; i < count; ++i) {
    const int a = order[i];
    if (a == kAttrGender) {
      subject = "a " + valueName(p, kAttrGender);
      continue;
    }
    std::string clause = attributeClause(a, p.attributes[a]);
    if (std::find(clauses.begin(), clauses.end(), clause) == clauses.end())
      clauses.push_back(std::move(clause));
  }
  std::string s = "a photo of " + subject;
  for (size_t i = 0; i < clauses.size(); ++i) {
    s += i == 0 ? " " : (i + 1 == clauses.size() ? " and " : ", ");
    s += clauses[i];
  }
  return s;
}

std::vector<std::vector<std::string>> readoutPrompts() {
  std::vector<std::vector<std::string>> out(kNumSynthAttributes);
  for (int a = 0; a < kNumSynthAttributes; ++a)
    for (int v = 0; v < static_cast<int>(synthAttributeValues()[a].size()); ++v)
      out[a].push_back(readoutPrompt(a, v));
  return out;
}

Rgb attributeColour(int attribute, int value) {
  return namedColour(synthAttributeValues()[attribute][value]);
}

PersonDetails sampleDetails(const std::array<int32_t, kNumSynthAttributes>& attributes,
                            CounterRng& rng) {
  PersonDetails d;
  const double t = std::pow(rng.uniform(), 1.3);
  d.skin = {static_cast<float>(236 - 130 * t), static_cast<float>(196 - 124 * t),
            static_cast<float>(166 - 114 * t)};
  d.upper_jitter = jitter(rng, 10, 20);
  d.lower_jitter = jitter(rng, 10, 20);
  d.hair_jitter = jitter(rng, 8, 16);
  d.shoes_jitter = jitter(rng, 8, 16);
  d.bag_jitter = jitter(rng, 8, 16);
  // Second colour of stripes/checks: any garment colour other than the garment's own.
  int32_t second = static_cast<int32_t>(rng.below(kGarmentColours.size() - 1));
  if (second >= attributes[kAttrUpperColour]) ++second;
  d.pattern_colour = namedColour(kGarmentColours[second]);
  d.pattern_period = rng.uniform(0.035, 0.06);
  d.pattern_phase = rng.uniform();
  d.hat_colour = paletteColour(rng);
  d.has_logo = rng.bernoulli(0.5);
  d.logo_colour = paletteColour(rng);
  d.logo_x = rng.uniform(-0.06, 0.06);
  d.logo_y = rng.uniform(0.24, 0.36);
  d.logo_size = rng.uniform(0.035, 0.06);
  d.height_scale = rng.uniform(0.93, 1.03);
  d.width_scale = rng.uniform(0.9, 1.12);
  d.leg_shift = rng.uniform(-0.025, 0.025);
  d.sleeve_shift = rng.uniform(-0.02, 0.03);
  d.hair_volume = rng.uniform(0.9, 1.15);
  d.bag_on_left = rng.bernoulli(0.5);
  return d;
}

Person samplePerson(CounterRng& rng) {
  Person p;
  auto& a = p.attributes;
  a[kAttrGender] = pick(rng, {1, 1});
  const bool woman = a[kAttrGender] == 1;
  a[kAttrHairColour] = pick(rng, {0.4, 0.3, 0.2, 0.1});
  a[kAttrHairLength] = woman ? pick(rng, {0.3, 0.7}) : pick(rng, {0.85, 0.15});
  a[kAttrHat] = pick(rng, {0.7, 0.15, 0.15});
  a[kAttrUpperColour] = static_cast<int32_t>(rng.below(kGarmentColours.size()));
  a[kAttrUpperType] = pick(rng, {0.45, 0.35, 0.2});
  a[kAttrUpperPattern] = pick(rng, {0.6, 0.2, 0.2});
  a[kAttrLowerColour] = static_cast<int32_t>(rng.below(kGarmentColours.size()));
  a[kAttrLowerType] = woman ? pick(rng, {0.5, 0.2, 0.3}) : pick(rng, {0.75, 0.25, 0.0});
  a[kAttrShoesColour] = pick(rng, {1, 1, 1, 1});
  a[kAttrBagType] = pick(rng, {0.35, 0.25, 0.2, 0.2});
  a[kAttrBagColour] = a[kAttrBagType] == 0 ? 0 : 1 + static_cast<int32_t>(rng.below(6));
  p.details = sampleDetails(a, rng);
  return p;
}

const char* bodyRegionName(BodyRegion region) {
  switch (region) {
    case BodyRegion::kNone:
      return "whole person";
    case BodyRegion::kHead:
      return "head";
    case BodyRegion::kUpperBody:
      return "upper body";
    case BodyRegion::kLowerBody:
      return "lower body";
    case BodyRegion::kFeet:
      return "feet";
    case BodyRegion::kBag:
      return "bag";
  }
  return "?";
}

BodyRegion attributeRegion(int attribute, const Person& person) {
  switch (attribute) {
    case kAttrHairColour:
    case kAttrHairLength:
    case kAttrHat:
      return BodyRegion::kHead;
    case kAttrUpperColour:
    case kAttrUpperType:
    case kAttrUpperPattern:
      return BodyRegion::kUpperBody;
    case kAttrLowerColour:
    case kAttrLowerType:
      return BodyRegion::kLowerBody;
    case kAttrShoesColour:
      return BodyRegion::kFeet;
    case kAttrBagType:
    case kAttrBagColour:
      return person.attributes[kAttrBagType] == 0 ? BodyRegion::kUpperBody : BodyRegion::kBag;
    default:
      return BodyRegion::kNone;
  }
}

const char* occluderName(OccluderKind kind) {
  switch (kind) {
    case OccluderKind::kNone:
      return "nothing";
    case OccluderKind::kPole:
      return "a pole";
    case OccluderKind::kCar:
      return "a car";
    case OccluderKind::kPerson:
      return "another person";
    case OccluderKind::kBush:
      return "a bush";
    case OccluderKind::kBin:
      return "a bin";
    case OccluderKind::kSuitcase:
      return "a suitcase";
    case OccluderKind::kPanel:
      return "a panel";
  }
  return "something";
}

std::string caption(const Person& p, OccluderKind occluder, CounterRng& rng) {
  const std::string subject = p.attributes[kAttrGender] == 0 ? "a man" : "a woman";
  const std::string hair =
      valueName(p, kAttrHairLength) + " " + valueName(p, kAttrHairColour) + " hair";
  std::string upper = valueName(p, kAttrUpperColour);
  if (p.attributes[kAttrUpperPattern] != 0) upper += " " + valueName(p, kAttrUpperPattern);
  upper = withArticle(upper + " " + valueName(p, kAttrUpperType));
  const std::string& lower_type = valueName(p, kAttrLowerType);
  const std::string lower = lower_type == "skirt"
                                ? withArticle(valueName(p, kAttrLowerColour) + " skirt")
                                : valueName(p, kAttrLowerColour) + " " + lower_type;
  const std::string shoes = valueName(p, kAttrShoesColour) + " shoes";
  const bool has_bag = p.attributes[kAttrBagType] != 0;
  const std::string bag =
      has_bag ? withArticle(valueName(p, kAttrBagColour) + " " + valueName(p, kAttrBagType)) : "";
  const bool has_hat = p.attributes[kAttrHat] != 0;
  const std::string hat = has_hat ? withArticle(valueName(p, kAttrHat)) : "";

  std::string s;
  switch (rng.below(4)) {
    case 0:
      s = subject + " with " + hair + (has_hat ? " and " + hat : "") + " wearing " + upper + ", " +
          lower + " and " + shoes + (has_bag ? ", carrying " + bag : "");
      break;
    case 1:
      s = subject + " in " + upper + " and " + lower + ", with " + hair +
          (has_hat ? ", wearing " + hat : "") + (has_bag ? ", carrying " + bag : "");
      break;
    case 2:
      s = "a photo of " + subject + " wearing " +
          withArticle(valueName(p, kAttrUpperColour) + " top") + " and " +
          valueName(p, kAttrLowerColour) + " bottoms with " + shoes +
          (has_bag ? ", carrying " + withArticle(valueName(p, kAttrBagColour) + " bag")
                   : ", carrying no bag");
      break;
    default:
      s = subject + " wearing " + lower + ", " + upper + " and " + shoes + ", " + hair +
          (has_hat ? ", " + hat : "") + (has_bag ? ", with " + bag : "");
      break;
  }
  if (occluder != OccluderKind::kNone && rng.bernoulli(0.7)) {
    s += ", partly hidden behind ";
    s += occluderName(occluder);
  }
  return s;
}

}  // namespace agreid::data
