#include "frazil/orchestrator/time_zone.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "frazil/base/random.h"

namespace frazil {
namespace {

using namespace std::chrono;
using Kind = LocalTimeLookup::Kind;

sys_seconds Utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}
local_seconds Local(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return local_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

TimeZone MustLoad(const std::string& name) {
  auto zone = TimeZone::Load(name);
  EXPECT_TRUE(zone) << zone.error().ToString();
  return zone ? *zone : TimeZone::Utc();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A TZif file built by hand (RFC 8536), for footers and defects the system files lack.
struct TestType {
  int32_t utoff;
  bool dst;
  std::string abbr;
};
std::string BuildTzif(const std::vector<std::pair<int64_t, uint8_t>>& transitions,
                      const std::vector<TestType>& types, const std::string& footer,
                      char version = '2', uint32_t leapcnt = 0) {
  auto put32 = [](std::string& out, uint32_t v) {
    for (int i = 3; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
  };
  std::string chars;
  std::vector<uint8_t> abbr_index;
  for (const TestType& t : types) {
    abbr_index.push_back(static_cast<uint8_t>(chars.size()));
    chars += t.abbr + '\0';
  }
  auto block = [&](int time_size) {
    std::string out = "TZif";
    out += version;
    out += std::string(15, '\0');
    for (uint32_t c : {0u, 0u, leapcnt, static_cast<uint32_t>(transitions.size()),
                       static_cast<uint32_t>(types.size()), static_cast<uint32_t>(chars.size())}) {
      put32(out, c);
    }
    for (const auto& [at, type] : transitions) {
      if (time_size == 8) put32(out, static_cast<uint32_t>(static_cast<uint64_t>(at) >> 32));
      put32(out, static_cast<uint32_t>(at));
    }
    for (const auto& [at, type] : transitions) out += static_cast<char>(type);
    for (size_t i = 0; i < types.size(); ++i) {
      put32(out, static_cast<uint32_t>(types[i].utoff));
      out += static_cast<char>(types[i].dst);
      out += static_cast<char>(abbr_index[i]);
    }
    out += chars;
    out += std::string(leapcnt * (time_size + 4), '\0');
    return out;
  };
  if (version == '\0') return block(4);
  return block(4) + block(8) + "\n" + footer + "\n";
}

TEST(TimeZoneTest, Utc) {
  for (const TimeZone& utc : {MustLoad("UTC"), TimeZone::Utc(), TimeZone()}) {
    EXPECT_EQ(utc.UtcOffset(Utc(2024, 7, 1)), seconds(0));
    EXPECT_EQ(utc.UtcOffset(Utc(2400, 1, 1)), seconds(0));
    EXPECT_EQ(utc.Format(Utc(2024, 3, 31, 2, 30)), "2024-03-31T02:30:00+00:00");
    LocalTimeLookup l = utc.FromLocal(Local(2024, 3, 31, 2, 30));
    EXPECT_EQ(l.kind, Kind::kUnique);
    EXPECT_EQ(l.earliest, Utc(2024, 3, 31, 2, 30));
  }
  EXPECT_EQ(MustLoad("UTC").name(), "UTC");
  EXPECT_EQ(FormatUtc(Utc(2024, 3, 31, 1)), "2024-03-31T01:00:00Z");
}

TEST(TimeZoneTest, BerlinOffsetsAndAbbreviations) {
  TimeZone berlin = MustLoad("Europe/Berlin");
  EXPECT_EQ(berlin.name(), "Europe/Berlin");
  ZoneOffset winter = berlin.Lookup(Utc(2024, 1, 15));
  EXPECT_EQ(winter.utc_offset, hours(1));
  EXPECT_FALSE(winter.is_dst);
  EXPECT_EQ(winter.abbreviation, "CET");
  ZoneOffset summer = berlin.Lookup(Utc(2024, 7, 1));
  EXPECT_EQ(summer.utc_offset, hours(2));
  EXPECT_TRUE(summer.is_dst);
  EXPECT_EQ(summer.abbreviation, "CEST");
  // 2024-03-31 01:00Z: 02:00 CET becomes 03:00 CEST.
  EXPECT_EQ(berlin.UtcOffset(Utc(2024, 3, 31, 0, 59, 59)), hours(1));
  EXPECT_EQ(berlin.UtcOffset(Utc(2024, 3, 31, 1)), hours(2));
  EXPECT_EQ(berlin.Format(Utc(2024, 3, 31, 1)), "2024-03-31T03:00:00+02:00");
  EXPECT_EQ(berlin.ToLocal(Utc(2024, 10, 27, 0, 30)), Local(2024, 10, 27, 2, 30));
  EXPECT_EQ(berlin.ToLocal(Utc(2024, 10, 27, 1, 30)), Local(2024, 10, 27, 2, 30));
  // Before 1893 Berlin kept local mean time, +00:53:28.
  EXPECT_EQ(berlin.Format(Utc(1880, 1, 1)), "1880-01-01T00:53:28+00:53:28");
}

TEST(TimeZoneTest, BerlinGapAndOverlap) {
  TimeZone berlin = MustLoad("Europe/Berlin");
  LocalTimeLookup gap = berlin.FromLocal(Local(2024, 3, 31, 2, 30));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.earliest, Utc(2024, 3, 31, 1));  // the instant the gap ends (03:00 CEST)
  EXPECT_EQ(berlin.FromLocal(Local(2024, 3, 31, 2)).kind, Kind::kGap);
  LocalTimeLookup before = berlin.FromLocal(Local(2024, 3, 31, 1, 59, 59));
  EXPECT_EQ(before.kind, Kind::kUnique);
  EXPECT_EQ(before.earliest, Utc(2024, 3, 31, 0, 59, 59));
  LocalTimeLookup after = berlin.FromLocal(Local(2024, 3, 31, 3));
  EXPECT_EQ(after.kind, Kind::kUnique);
  EXPECT_EQ(after.earliest, Utc(2024, 3, 31, 1));

  LocalTimeLookup twice = berlin.FromLocal(Local(2024, 10, 27, 2, 30));
  EXPECT_EQ(twice.kind, Kind::kOverlap);
  EXPECT_EQ(twice.earliest, Utc(2024, 10, 27, 0, 30));  // 02:30 CEST
  EXPECT_EQ(twice.latest, Utc(2024, 10, 27, 1, 30));    // 02:30 CET
  EXPECT_EQ(berlin.FromLocal(Local(2024, 10, 27, 2)).kind, Kind::kOverlap);
  LocalTimeLookup three = berlin.FromLocal(Local(2024, 10, 27, 3));
  EXPECT_EQ(three.kind, Kind::kUnique);
  EXPECT_EQ(three.earliest, Utc(2024, 10, 27, 2));
}

TEST(TimeZoneTest, NewYork) {
  TimeZone ny = MustLoad("America/New_York");
  EXPECT_EQ(ny.UtcOffset(Utc(2024, 1, 1)), hours(-5));
  EXPECT_EQ(ny.UtcOffset(Utc(2024, 7, 1)), hours(-4));
  LocalTimeLookup gap = ny.FromLocal(Local(2024, 3, 10, 2, 30));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.earliest, Utc(2024, 3, 10, 7));
  LocalTimeLookup twice = ny.FromLocal(Local(2024, 11, 3, 1, 30));
  EXPECT_EQ(twice.kind, Kind::kOverlap);
  EXPECT_EQ(twice.earliest, Utc(2024, 11, 3, 5, 30));
  EXPECT_EQ(twice.latest, Utc(2024, 11, 3, 6, 30));
  EXPECT_EQ(ny.Format(twice.latest), "2024-11-03T01:30:00-05:00");
}

TEST(TimeZoneTest, LordHoweHalfHourDst) {
  // +10:30 standard, +11:00 in summer: the clocks move by 30 minutes.
  TimeZone lh = MustLoad("Australia/Lord_Howe");
  EXPECT_EQ(lh.UtcOffset(Utc(2024, 7, 1)), hours(10) + minutes(30));
  EXPECT_EQ(lh.UtcOffset(Utc(2025, 1, 1)), hours(11));
  LocalTimeLookup gap = lh.FromLocal(Local(2024, 10, 6, 2, 15));
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.earliest, Utc(2024, 10, 5, 15, 30));
  EXPECT_EQ(lh.Format(gap.earliest), "2024-10-06T02:30:00+11:00");
  EXPECT_EQ(lh.FromLocal(Local(2024, 10, 6, 2, 30)).kind, Kind::kUnique);
  LocalTimeLookup twice = lh.FromLocal(Local(2025, 4, 6, 1, 45));
  EXPECT_EQ(twice.kind, Kind::kOverlap);
  EXPECT_EQ(twice.earliest, Utc(2025, 4, 5, 14, 45));
  EXPECT_EQ(twice.latest, Utc(2025, 4, 5, 15, 15));
  EXPECT_EQ(lh.Format(twice.latest), "2025-04-06T01:45:00+10:30");
}

TEST(TimeZoneTest, FooterRuleAfterTheLastTransition) {
  // The files record transitions up to 2037; later instants come from the footer
  // "CET-1CEST,M3.5.0,M10.5.0/3". Check every year's changes on both sides of 2037.
  TimeZone berlin = MustLoad("Europe/Berlin");
  for (int y = 2000; y <= 2500; ++y) {
    sys_seconds spring = sys_days(year(y) / March / Sunday[last]) + hours(1);
    sys_seconds autumn = sys_days(year(y) / October / Sunday[last]) + hours(1);
    ASSERT_EQ(berlin.UtcOffset(spring - seconds(1)), hours(1)) << y;
    ASSERT_EQ(berlin.UtcOffset(spring), hours(2)) << y;
    ASSERT_EQ(berlin.UtcOffset(autumn - seconds(1)), hours(2)) << y;
    ASSERT_EQ(berlin.UtcOffset(autumn), hours(1)) << y;
  }
  EXPECT_EQ(berlin.Lookup(Utc(2400, 7, 1)).abbreviation, "CEST");
  TimeZone ny = MustLoad("America/New_York");
  LocalTimeLookup gap = ny.FromLocal(Local(2150, 3, 8, 2, 30));  // second Sunday of March
  EXPECT_EQ(gap.kind, Kind::kGap);
  EXPECT_EQ(gap.earliest, Utc(2150, 3, 8, 7));
  // Far outside the calendar range the rule is evaluated at the edge, without overflow.
  EXPECT_EQ(ny.UtcOffset(sys_seconds(seconds(int64_t{1} << 60))), hours(-5));
}

TEST(TimeZoneTest, FooterOnlyFiles) {
  // No transitions: the footer decides everything, including a rule across the new year.
  std::string bytes =
      BuildTzif({}, {{37800, false, "+1030"}}, "<+1030>-10:30<+11>-11,M10.1.0,M4.1.0");
  auto lh = TimeZone::FromTzif("Test/LordHowe", bytes, "test");
  ASSERT_TRUE(lh) << lh.error().ToString();
  EXPECT_EQ(lh->UtcOffset(Utc(2025, 1, 1)), hours(11));
  EXPECT_EQ(lh->UtcOffset(Utc(2025, 7, 1)), hours(10) + minutes(30));
  EXPECT_EQ(lh->FromLocal(Local(2024, 10, 6, 2, 15)).earliest, Utc(2024, 10, 5, 15, 30));

  // DST all year (RFC 8536 §3.3.1's example), and Julian-day rules.
  auto always = TimeZone::FromTzif(
      "Test/Always", BuildTzif({}, {{-18000, false, "EST"}}, "EST5EDT,0/0,J365/25"), "test");
  ASSERT_TRUE(always) << always.error().ToString();
  for (sys_seconds t : {Utc(2023, 12, 31, 23, 59), Utc(2024, 1, 1, 5), Utc(2024, 6, 1)}) {
    EXPECT_EQ(always->UtcOffset(t), hours(-4)) << FormatUtc(t);
  }
  auto julian = TimeZone::FromTzif(
      "Test/Julian", BuildTzif({}, {{0, false, "AAA"}}, "AAA0BBB-1,J60/1,300"), "test");
  ASSERT_TRUE(julian) << julian.error().ToString();
  // J60 is March 1 even in leap years; day 300 (zero-based) is October 27 in 2024.
  EXPECT_EQ(julian->UtcOffset(Utc(2024, 3, 1, 0, 59)), hours(0));
  EXPECT_EQ(julian->UtcOffset(Utc(2024, 3, 1, 1)), hours(1));
  EXPECT_EQ(julian->UtcOffset(Utc(2024, 10, 27, 0, 59)), hours(1));
  EXPECT_EQ(julian->UtcOffset(Utc(2024, 10, 27, 1)), hours(0));
}

TEST(TimeZoneTest, VersionOneFile) {
  std::string bytes = BuildTzif({{1000, 1}}, {{0, false, "AAA"}, {3600, true, "BBB"}}, "", '\0');
  auto zone = TimeZone::FromTzif("Test/V1", bytes, "test");
  ASSERT_TRUE(zone) << zone.error().ToString();
  EXPECT_EQ(zone->UtcOffset(sys_seconds(seconds(999))), seconds(0));
  EXPECT_EQ(zone->Lookup(sys_seconds(seconds(1000))).abbreviation, "BBB");
  EXPECT_EQ(zone->UtcOffset(Utc(2400, 1, 1)), hours(1));  // no footer: the last type stays
}

TEST(TimeZoneTest, EveryTruncationIsCorrupt) {
  std::string bytes = ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  ASSERT_GT(bytes.size(), 1000u);
  ASSERT_TRUE(TimeZone::FromTzif("Europe/Berlin", bytes, "berlin.tzif"));
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto zone = TimeZone::FromTzif("Europe/Berlin", bytes.substr(0, n), "berlin.tzif");
    ASSERT_FALSE(zone) << "prefix of " << n << " bytes parsed";
    ASSERT_EQ(zone.error().kind, ErrorKind::kCorrupt) << zone.error().ToString();
    ASSERT_NE(zone.error().message.find("berlin.tzif"), std::string::npos);
  }
}

TEST(TimeZoneTest, FlippedBytesNeverCrash) {
  // Every single-byte corruption either fails cleanly or yields a zone that answers.
  std::string bytes = ReadFile("/usr/share/zoneinfo/America/New_York");
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0xa5);
    auto zone = TimeZone::FromTzif("America/New_York", bad, "ny.tzif");
    if (!zone) {
      ASSERT_TRUE(zone.error().kind == ErrorKind::kCorrupt ||
                  zone.error().kind == ErrorKind::kUnsupported)
          << zone.error().ToString();
      continue;
    }
    for (sys_seconds t : {Utc(1900, 1, 1), Utc(2024, 11, 3, 6), Utc(2300, 3, 1)}) {
      LocalTimeLookup l = zone->FromLocal(zone->ToLocal(t));
      ASSERT_TRUE(l.earliest <= t && t <= l.latest) << i << " " << FormatUtc(t);
      (void)zone->Format(t);
    }
  }
}

TEST(TimeZoneTest, EveryInstantRoundTrips) {
  // ToLocal then FromLocal finds the instant again, as the earlier or later of an overlap.
  for (const char* name : {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe"}) {
    TimeZone zone = MustLoad(name);
    for (sys_seconds t = Utc(2024, 1, 1); t < Utc(2025, 1, 1); t += minutes(15)) {
      LocalTimeLookup l = zone.FromLocal(zone.ToLocal(t));
      ASSERT_NE(l.kind, Kind::kGap) << name << " " << FormatUtc(t);
      ASSERT_TRUE(l.earliest == t || l.latest == t) << name << " " << FormatUtc(t);
    }
  }
}

TEST(TimeZoneTest, CorruptFiles) {
  std::vector<TestType> types = {{0, false, "AAA"}, {3600, true, "BBB"}};
  auto expect_corrupt = [](const std::string& bytes, const std::string& what) {
    auto zone = TimeZone::FromTzif("Test/Bad", bytes, "bad.tzif");
    ASSERT_FALSE(zone) << what;
    EXPECT_EQ(zone.error().kind, ErrorKind::kCorrupt) << zone.error().ToString();
    EXPECT_NE(zone.error().message.find(what), std::string::npos) << zone.error().message;
  };
  std::string good = BuildTzif({{1000, 1}}, types, "AAA0BBB-1,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(TimeZone::FromTzif("Test/Good", good, "good.tzif"));
  expect_corrupt("TZxf" + good.substr(4), "not a TZif file");
  expect_corrupt(BuildTzif({{1000, 2}}, types, ""), "local time type 2");
  expect_corrupt(BuildTzif({{1000, 1}, {1000, 0}}, types, ""), "not ascending");
  expect_corrupt(BuildTzif({}, {{100000, false, "AAA"}}, ""), "bad local time type 0");
  expect_corrupt(BuildTzif({}, {}, ""), "inconsistent counts");
  expect_corrupt(good + "x", "after the TZ string footer");
  expect_corrupt(BuildTzif({}, types, "AAA0BBB"), "bad TZ string footer 'AAA0BBB'");
  expect_corrupt(BuildTzif({}, types, "AAA0BBB,M13.1.0,M10.5.0"), "bad TZ string footer");
  expect_corrupt(BuildTzif({}, types, "AAA0BBB,M3.5.0,M10.5.0/200"), "bad TZ string footer");
  expect_corrupt(BuildTzif({}, types, "A0"), "bad TZ string footer");
  std::string wrong_version = good;
  wrong_version[4] = '1';
  expect_corrupt(wrong_version, "unknown TZif version");

  auto leap = TimeZone::FromTzif("right/UTC", BuildTzif({}, types, "", '2', 1), "leap.tzif");
  ASSERT_FALSE(leap);
  EXPECT_EQ(leap.error().kind, ErrorKind::kUnsupported) << leap.error().ToString();
}

class TimeZoneFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("frazil-tz-" + NewUuid());
    std::filesystem::create_directories(dir_ / "Europe");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(TimeZoneFilesTest, TruncatedCopyNamesTheFile) {
  std::string bytes = ReadFile("/usr/share/zoneinfo/Europe/Berlin");
  std::ofstream(dir_ / "Europe" / "Berlin", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto zone = TimeZone::Load("Europe/Berlin", dir_.string());
  ASSERT_FALSE(zone);
  EXPECT_EQ(zone.error().kind, ErrorKind::kCorrupt);
  EXPECT_NE(zone.error().message.find((dir_ / "Europe" / "Berlin").string()), std::string::npos)
      << zone.error().message;
  EXPECT_NE(zone.error().message.find("truncated"), std::string::npos) << zone.error().message;

  std::ofstream(dir_ / "Europe" / "Paris", std::ios::binary) << bytes;  // a good copy loads
  auto copy = TimeZone::Load("Europe/Paris", dir_.string());
  ASSERT_TRUE(copy) << copy.error().ToString();
  EXPECT_EQ(copy->UtcOffset(Utc(2024, 7, 1)), hours(2));
}

TEST_F(TimeZoneFilesTest, UnknownZonesAndBadNames) {
  auto unknown = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(unknown.error().message.find("unknown time zone 'Mars/Olympus_Mons'"),
            std::string::npos)
      << unknown.error().message;

  auto folder = TimeZone::Load("Europe");
  ASSERT_FALSE(folder);
  EXPECT_EQ(folder.error().kind, ErrorKind::kNotFound) << folder.error().ToString();

  for (const char* bad : {"", "/etc/localtime", "../etc/passwd", "Europe/../../etc/passwd",
                          "Europe/Berlin/", "Europe//Berlin", "Europe/Ber lin"}) {
    auto zone = TimeZone::Load(bad);
    ASSERT_FALSE(zone) << bad;
    EXPECT_EQ(zone.error().kind, ErrorKind::kInvalidArgument) << bad;
  }

  // Without the database the error says how to get it, and nothing falls back to UTC.
  for (const char* name : {"Europe/Berlin", "UTC"}) {
    auto missing = TimeZone::Load(name, (dir_ / "no-zoneinfo").string());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
    EXPECT_NE(missing.error().message.find("install the tzdata package"), std::string::npos)
        << missing.error().message;
  }
}

TEST(TimeZoneTest, NowSecondsFromTheInjectedClock) {
  ManualClock clock(1'700'000'000'999);
  EXPECT_EQ(NowSeconds(clock), sys_seconds(seconds(1'700'000'000)));
  clock.SetMillis(-1);
  EXPECT_EQ(NowSeconds(clock), sys_seconds(seconds(-1)));
}

}  // namespace
}  // namespace frazil
