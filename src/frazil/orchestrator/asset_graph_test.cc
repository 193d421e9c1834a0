#include "frazil/orchestrator/asset_graph.h"

#include <gtest/gtest.h>

namespace frazil::orchestrator {
namespace {

using Strings = std::vector<std::string>;

Asset Source(std::string key) {
  Asset a;
  a.key = std::move(key);
  a.kind = AssetKind::kSource;
  return a;
}

Asset Model(std::string key, Strings deps) {
  Asset a;
  a.key = std::move(key);
  a.kind = AssetKind::kModel;
  a.deps = std::move(deps);
  return a;
}

AssetGraph MustMake(std::vector<Asset> assets) {
  auto g = AssetGraph::Make(std::move(assets));
  EXPECT_TRUE(g) << g.error().ToString();
  return g ? std::move(*g) : AssetGraph();
}

Strings Keys(const AssetGraph& g) {
  Strings out;
  for (const auto& a : g.assets()) out.push_back(a.key);
  return out;
}

TEST(AssetGraphTest, TopologicalOrderUpstreamFirstTiesByKey) {
  // Given in an order that is neither topological nor sorted.
  auto g = MustMake({Model("m.d", {"m.b", "m.c"}), Model("m.c", {"raw.x"}), Model("m.b", {"raw.y", "raw.x"}),
                     Source("raw.y"), Source("raw.x"), Model("m.a", {})});
  EXPECT_EQ(Keys(g), (Strings{"m.a", "raw.x", "m.c", "raw.y", "m.b", "m.d"}));
  for (const auto& a : g.assets()) {
    for (const auto& d : a.deps) EXPECT_LT(g.Order(d), g.Order(a.key)) << d << " -> " << a.key;
  }
  EXPECT_EQ(g.Order("m.d"), 5);
  EXPECT_EQ(g.Order("nope"), -1);
  ASSERT_NE(g.Find("m.b"), nullptr);
  EXPECT_EQ(g.Find("m.b")->deps, (Strings{"raw.x", "raw.y"}));  // sorted
  EXPECT_EQ(g.Find("nope"), nullptr);
  EXPECT_EQ(g.Dependents("raw.x"), (Strings{"m.b", "m.c"}));
  EXPECT_TRUE(g.Dependents("m.d").empty());
  EXPECT_TRUE(g.Dependents("nope").empty());
}

TEST(AssetGraphTest, DuplicateDependencyIsOneEdge) {
  auto g = MustMake({Source("raw.x"), Model("m.a", {"raw.x", "raw.x"})});
  EXPECT_EQ(g.Find("m.a")->deps, (Strings{"raw.x"}));
  EXPECT_EQ(g.Dependents("raw.x"), (Strings{"m.a"}));
}

TEST(AssetGraphTest, EmptyGraph) {
  auto g = MustMake({});
  EXPECT_TRUE(g.assets().empty());
  EXPECT_TRUE(g.WithDownstream({"x"}).empty());
}

TEST(AssetGraphTest, CycleNamesTheAssetsOnIt) {
  auto g = AssetGraph::Make({Source("raw.x"), Model("m.a", {"raw.x", "m.c"}), Model("m.b", {"m.a"}),
                             Model("m.c", {"m.b"}), Model("m.after", {"m.c"}), Model("m.ok", {"raw.x"})});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().kind, ErrorKind::kInvalidArgument);
  const std::string& msg = g.error().message;
  EXPECT_NE(msg.find("cycle"), std::string::npos) << msg;
  for (const char* k : {"m.a", "m.b", "m.c"}) EXPECT_NE(msg.find(k), std::string::npos) << msg;
  // Downstream of the cycle but not on it.
  EXPECT_EQ(msg.find("m.after"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("m.ok"), std::string::npos) << msg;
}

TEST(AssetGraphTest, TwoAssetCycle) {
  auto g = AssetGraph::Make({Model("m.a", {"m.b"}), Model("m.b", {"m.a"})});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("m.a"), std::string::npos) << g.error().message;
  EXPECT_NE(g.error().message.find("m.b"), std::string::npos) << g.error().message;
}

TEST(AssetGraphTest, SelfDependency) {
  auto g = AssetGraph::Make({Model("m.a", {"m.a"})});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(g.error().message.find("m.a"), std::string::npos);
}

TEST(AssetGraphTest, UnknownDependency) {
  auto g = AssetGraph::Make({Source("raw.x"), Model("m.a", {"raw.x", "raw.missing"})});
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(g.error().message.find("raw.missing"), std::string::npos) << g.error().message;
  EXPECT_NE(g.error().message.find("m.a"), std::string::npos) << g.error().message;
}

TEST(AssetGraphTest, DuplicateAndEmptyKeys) {
  auto dup = AssetGraph::Make({Source("raw.x"), Model("raw.x", {})});
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kInvalidArgument);
  EXPECT_NE(dup.error().message.find("raw.x"), std::string::npos);
  auto empty = AssetGraph::Make({Source("")});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::kInvalidArgument);
}

TEST(AssetGraphTest, SourceWithDependencies) {
  Asset s = Source("raw.y");
  s.deps = {"raw.x"};
  auto g = AssetGraph::Make({Source("raw.x"), s});
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("raw.y"), std::string::npos);
}

TEST(AssetGraphTest, WithDownstreamAndUpstream) {
  // raw.x -> a -> b -> d ; raw.y -> c -> d ; e independent
  auto g = MustMake({Source("raw.x"), Source("raw.y"), Model("m.a", {"raw.x"}), Model("m.b", {"m.a"}),
                     Model("m.c", {"raw.y"}), Model("m.d", {"m.b", "m.c"}), Model("m.e", {})});
  EXPECT_EQ(g.WithDownstream({"m.a"}), (Strings{"m.a", "m.b", "m.d"}));
  EXPECT_EQ(g.WithDownstream({"raw.y"}), (Strings{"raw.y", "m.c", "m.d"}));
  EXPECT_EQ(g.WithDownstream({"m.d", "m.a"}), (Strings{"m.a", "m.b", "m.d"}));
  EXPECT_EQ(g.WithDownstream({"raw.x", "raw.y"}), (Strings{"raw.x", "m.a", "m.b", "raw.y", "m.c", "m.d"}));
  EXPECT_EQ(g.WithDownstream({"unknown", "m.e"}), (Strings{"m.e"}));
  EXPECT_EQ(g.WithDownstream({}), Strings{});

  EXPECT_EQ(g.Upstream("m.d"), (std::set<std::string>{"m.a", "m.b", "m.c", "raw.x", "raw.y"}));
  EXPECT_EQ(g.Upstream("m.b"), (std::set<std::string>{"m.a", "raw.x"}));
  EXPECT_TRUE(g.Upstream("raw.x").empty());
  EXPECT_TRUE(g.Upstream("m.e").empty());
  EXPECT_TRUE(g.Upstream("unknown").empty());
}

TEST(AssetGraphTest, KindNames) {
  EXPECT_EQ(AssetKindName(AssetKind::kSource), "source");
  EXPECT_EQ(AssetKindName(AssetKind::kModel), "model");
}

}  // namespace
}  // namespace frazil::orchestrator
