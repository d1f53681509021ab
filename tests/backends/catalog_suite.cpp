#include "error_of.hpp"
#include "store_fixture.hpp"
#include "tessera/core/error.hpp"
#include "tessera/core/manifest_json.hpp"
#include "tessera/store/catalog_watch.hpp"
#include "tessera/store/group_store.hpp"
#include "tessera/store/store_catalog.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace tessera;
using test::error_of;
using test::fresh_store;
using test::model_using;

namespace {

// A store with "user-model" at versions 1 and 3, "other-model" at 1, and a
// "broken" model whose only manifest does not parse.
struct catalog_store : fresh_store {
  catalog_store() {
    tensor_spec spec{dtype::float32, {4, 4}};
    auto id = put_ramp(spec);
    auto m = model_using(st, id, spec);
    REQUIRE_FALSE(st.add_model(m));
    m.version = 3;
    REQUIRE_FALSE(st.add_model(m));
    m.name = "other-model";
    m.version = 1;
    REQUIRE_FALSE(st.add_model(m));
    std::filesystem::create_directories(st.root() + "/models/broken");
    std::ofstream{st.root() + "/models/broken/1.json"} << "{ not json";
  }

  void add(const std::string& name, uint32_t version) {
    auto m = *st.manifests().get("user-model", 1);
    m.name = name;
    m.version = version;
    REQUIRE_FALSE(st.add_model(m));
  }
};

// Waits up to five seconds for `done`.
template <class Done>
bool within_5s(Done done) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!done() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return done();
}

} // namespace

TEST_SUITE("catalog") {
  TEST_CASE("a catalogue answers every lookup as the manifest store does") {
    catalog_store s;
    auto c = store::read_catalog(s.st);
    std::vector<std::pair<std::string, uint32_t>> asks{
        {"user-model", 0}, {"user-model", 1},  {"user-model", 2},
        {"user-model", 3}, {"other-model", 0}, {"nobody", 0},
        {"../x", 0},       {"broken", 0},      {"broken", 1}};
    for (const auto& [name, version] : asks) {
      CAPTURE(name);
      CAPTURE(version);
      auto want = s.st.manifests().get(name, version);
      auto got = c->get(name, version);
      REQUIRE(bool(want) == bool(got));
      if (want) {
        CHECK(to_json_text(*got) == to_json_text(*want));
      } else {
        CHECK(code_of(error_of(got)) == code_of(error_of(want)));
        CHECK(describe(error_of(got)) == describe(error_of(want)));
      }
    }
    CHECK(code_of(error_of(c->get("broken"))) == ec::bad_manifest);
    CHECK(c->versions("user-model") == std::vector<uint32_t>{1, 3});
    std::vector<std::string> latest;
    for (const auto& m : c->list_latest())
      latest.push_back(model_ref(m));
    CHECK(latest == std::vector<std::string>{"other-model:1", "user-model:3"});
  }

  TEST_CASE("groups are planned over the catalogue, and one that cannot be says why") {
    catalog_store s;
    store::group_store groups{s.st.root()};
    REQUIRE_FALSE(groups.put({"pair", {"user-model:1", "other-model:1"}, {}}));
    REQUIRE_FALSE(groups.put({"lost", {"user-model:1", "missing-model:1"}, {}}));
    auto c = store::read_catalog(s.st);
    auto pair = c->plan("pair");
    REQUIRE(pair);
    CHECK((*pair)->members.size() == 2);
    CHECK(c->group_containing("other-model:1")->name == "pair");
    auto lost = c->plan("lost");
    CHECK(code_of(error_of(lost)) == ec::unknown_model);
    CHECK(describe(error_of(lost)).find("group \"lost\"") != std::string::npos);
    CHECK(describe(error_of(lost)).find("missing-model") != std::string::npos);
    CHECK(code_of(error_of(c->plan("none"))) == ec::unknown_model);
    CHECK(c->group_list().size() == 2);
  }

  TEST_CASE("a name read again finds what was stored since; same_as sees each change") {
    catalog_store s;
    auto first = store::read_catalog(s.st);
    CHECK(first->same_as(*store::read_catalog(s.st)));
    s.add("late", 1);
    CHECK(code_of(error_of(first->get("late"))) == ec::unknown_model);
    auto second = store::reread_name(*first, s.st, "late");
    CHECK(second->get("late")->version == 1);
    CHECK_FALSE(second->same_as(*first));
    CHECK(store::reread_name(*second, s.st, "late")->same_as(*second));
    // A version removed, and a group defined, are changes too.
    REQUIRE_FALSE(s.st.manifests().remove("user-model", 3));
    CHECK_FALSE(store::reread_name(*second, s.st, "user-model")->same_as(*second));
    REQUIRE_FALSE(store::group_store{s.st.root()}.put({"pair", {"user-model:1", "late:1"}, {}}));
    auto third = store::reread_groups(*second, s.st);
    CHECK_FALSE(third->same_as(*second));
    CHECK(third->plan("pair"));
  }

  TEST_CASE("the watch reports a model stored, a version added or removed, and a group written") {
    catalog_store s;
    std::atomic<int> calls{0};
    store::catalog_watch watch{s.st.root(), [&] { ++calls; }};
    REQUIRE(watch.watching());
    auto changed = [&](auto change) {
      int before = calls.load();
      change();
      return within_5s([&] { return calls.load() > before; });
    };
    CHECK(changed([&] { s.add("new-model", 1); })); // a folder made, then a file
    CHECK(changed([&] { s.add("new-model", 2); })); // in the folder made since the watch began
    CHECK(changed([&] { REQUIRE_FALSE(s.st.manifests().remove("user-model", 1)); }));
    CHECK(changed([&] {
      REQUIRE_FALSE(
          store::group_store{s.st.root()}.put({"pair", {"user-model:3", "other-model:1"}, {}}));
    }));
    CHECK(changed([&] { REQUIRE_FALSE(store::group_store{s.st.root()}.remove("pair")); }));
    // Nothing else wakes it.
    int settled = calls.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(calls.load() == settled);
  }
}
