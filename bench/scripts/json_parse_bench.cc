// Parses an Open Inference Protocol infer request's JSON and converts its
// data to float32, with the three JSON libraries Debian bookworm has:
// RapidJSON (SAX, numbers as text, in situ, std::from_chars: what
// server/oip_json.cc does), simdjson 3.0 (On-Demand, raw_json_token +
// from_chars) and nlohmann-json 3.11 (DOM, get<float>, through a double).
// Not part of the build (it needs libsimdjson-dev and nlohmann-json3-dev):
//
//   g++ -O2 -std=c++17 bench/scripts/json_parse_bench.cc -o /tmp/json_bench \
//       -lsimdjson && flock /tmp/build.lock /tmp/json_bench
#include <charconv>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "rapidjson/reader.h"
#include "simdjson.h"

std::string Body(int n) {
  std::string s = "{\"inputs\":[{\"name\":\"input\",\"shape\":[" +
                  std::to_string(n) + "],\"datatype\":\"FP32\",\"data\":[";
  for (int i = 0; i < n; ++i) {
    char b[32];
    float v = (i % 97 - 48) * 0.137f;
    s += (i ? "," : "") + std::string(b, std::to_chars(b, b + 32, v).ptr);
  }
  return s + "]}]}";
}

struct Sax : rapidjson::BaseReaderHandler<rapidjson::UTF8<>, Sax> {
  std::vector<float>* out;
  bool RawNumber(const char* s, rapidjson::SizeType n, bool) {
    float v;
    std::from_chars(s, s + n, v);
    out->push_back(v);
    return true;
  }
};

template <typename F>
double Time(int iters, F f) {
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) f();
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now() - t0)
             .count() /
         iters;
}

int main() {
  for (int n : {16, 65536}) {
    const std::string body = Body(n);
    const int iters = n == 16 ? 200000 : 200;
    std::vector<float> out;
    out.reserve(n);
    double rj = Time(iters, [&] {
      std::string copy = body;
      out.clear();
      rapidjson::Reader r;
      rapidjson::InsituStringStream ss(copy.data());
      Sax h;
      h.out = &out;
      r.Parse<rapidjson::kParseInsituFlag |
              rapidjson::kParseNumbersAsStringsFlag>(ss, h);
    });
    simdjson::ondemand::parser parser;
    double sj = Time(iters, [&] {
      simdjson::padded_string p(body);
      out.clear();
      auto doc = parser.iterate(p);
      for (auto input : doc["inputs"]) {
        for (auto v : input["data"]) {
          std::string_view t = v.raw_json_token();
          float f;
          std::from_chars(t.data(), t.data() + t.size(), f);
          out.push_back(f);
        }
      }
    });
    double nl = Time(iters, [&] {
      out.clear();
      auto j = nlohmann::json::parse(body);
      for (auto& v : j["inputs"][0]["data"]) out.push_back(v.get<float>());
    });
    std::printf(
        "%d elements (%zu bytes): RapidJSON SAX %.2f us, simdjson On-Demand "
        "%.2f us, nlohmann DOM %.2f us\n",
        n, body.size(), rj, sj, nl);
  }
}
