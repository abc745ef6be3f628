// The people of the synthetic occluded-pedestrian world (design.md §8, docs/synthetic-world.md):
// a person is a set of discrete attributes (stored per sample in the dataset file, with the names
// below) plus identity-specific continuous details (exact hues, a logo patch, body proportions,
// pattern scale), so attributes narrow an identity down but do not settle it. Captions and
// zero-shot readout prompts are generated from the attributes.
//
// Everything here is a pure function of its arguments; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "data/counter_rng.h"

namespace agreid::data {

// Attribute indices, in storage order (WriterOptions::attribute_names).
enum SynthAttribute : int {
  kAttrGender = 0,
  kAttrHairColour,
  kAttrHairLength,
  kAttrHat,
  kAttrUpperColour,
  kAttrUpperType,
  kAttrUpperPattern,
  kAttrLowerColour,
  kAttrLowerType,
  kAttrShoesColour,
  kAttrBagType,
  kAttrBagColour,
  kNumSynthAttributes
};

// Names of the attributes ("gender", "hair_colour", ...) and of each attribute's values
// ("man", "woman"; "black", "brown", ...); value v of attribute a is stored as the integer v.
const std::vector<std::string>& synthAttributeNames();
const std::vector<std::vector<std::string>>& synthAttributeValues();

// A zero-shot readout prompt for one (attribute, value), phrased like the captions, e.g.
// "a photo of a person wearing a red top". readoutPrompts()[a][v] lists them all.
std::string readoutPrompt(int attribute, int value);
std::vector<std::vector<std::string>> readoutPrompts();
// The clause of a readout prompt after its subject ("wearing a red top", "with long hair",
// "carrying no bag"); empty for gender, which is the subject itself ("a woman").
std::string attributeClause(int attribute, int value);

struct Rgb {
  float r = 0, g = 0, b = 0;
};

// Identity-specific details: what tells two people with the same attributes apart.
struct PersonDetails {
  Rgb skin;
  Rgb upper_jitter, lower_jitter, hair_jitter, shoes_jitter, bag_jitter;  // added to the colours
  Rgb pattern_colour;            // second colour of stripes / checks
  double pattern_period = 0.05;  // in person heights
  double pattern_phase = 0.0;
  Rgb hat_colour;
  bool has_logo = false;
  Rgb logo_colour;
  double logo_x = 0, logo_y = 0.3, logo_size = 0.05;  // person units
  double height_scale = 1.0;  // body height relative to the camera's person height
  double width_scale = 1.0;   // shoulders / hips
  double leg_shift = 0.0;     // moves the waist line up or down
  double sleeve_shift = 0.0;  // t-shirt sleeve length
  double hair_volume = 1.0;
  bool bag_on_left = false;  // handbag / shoulder bag side
};

struct Person {
  std::array<int32_t, kNumSynthAttributes> attributes{};
  PersonDetails details;
};

// Body regions the renderer draws the attributes into (each drawn pixel of a person belongs to
// exactly one). kNone marks pixels that are not part of a person.
enum class BodyRegion : uint8_t { kNone = 0, kHead, kUpperBody, kLowerBody, kFeet, kBag };
inline constexpr int kNumBodyRegions = 6;       // kNone included
const char* bodyRegionName(BodyRegion region);  // "head", "upper body", ...

// The region attribute `attribute` of `person` is read from: hair and hat -> head, upper-body
// garment -> upper body, lower-body garment -> lower body, shoes -> feet, bag type and colour ->
// the bag (the upper body for a person without a bag: where one would be carried). Gender has
// no region of its own (kNone): it is read from the whole person.
BodyRegion attributeRegion(int attribute, const Person& person);

// A random person (attributes drawn with gender-dependent frequencies) with random details.
Person samplePerson(CounterRng& rng);
// Fresh details for the same attributes (a look-alike identity).
PersonDetails sampleDetails(const std::array<int32_t, kNumSynthAttributes>& attributes,
                            CounterRng& rng);

// Colour of a named palette entry of an attribute, before details and camera effects.
Rgb attributeColour(int attribute, int value);

// Occluder kinds, for rendering and captions. kPanel is the region occluder
// (synth.region_occluders): a flat panel in front of one body region.
enum class OccluderKind { kNone, kPole, kCar, kPerson, kBush, kBin, kSuitcase, kPanel };
const char* occluderName(OccluderKind kind);  // "a pole", "a car", "another person", ...

// A caption of one image, e.g. "a woman with long black hair wearing a red striped t-shirt and
// blue trousers, carrying a black backpack". `rng` picks one of several phrasings; an occluded
// image may mention its occluder.
std::string caption(const Person& person, OccluderKind occluder, CounterRng& rng);

// A short caption naming 1 to `max_attributes` (1-12) of the person's attributes, drawn at
// random, in the phrasing of the readout prompts, e.g. "a photo of a woman wearing a red top and
// carrying a backpack" (synth.short_captions, synth.short_caption_attributes).
std::string shortCaption(const Person& person, CounterRng& rng, int max_attributes = 3);

}  // namespace agreid::data
