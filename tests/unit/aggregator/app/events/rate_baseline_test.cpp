// The rate-spike maths with minutes the test chooses (no clock involved).
#include "aggregator/events/rate_baseline.h"

#include <doctest/doctest.h>

using faultline::aggregator::events::RateBaseline;
using faultline::aggregator::events::RateChange;
using faultline::aggregator::events::RateOptions;

namespace {

RateOptions options() {
  RateOptions o;
  o.factor = 5;
  o.min_count = 50;
  o.baseline_minutes = 9;  // alpha = 0.2
  o.warmup_minutes = 5;
  return o;
}

/// Feeds `per_minute` lines in each of `minutes` minutes starting at `start`.
void steady(RateBaseline& rate, std::int64_t start, int minutes, std::uint64_t per_minute) {
  for (int m = 0; m < minutes; ++m) {
    RateChange change = rate.add(start + m, per_minute, options());
    REQUIRE_FALSE(change.spiked);
  }
}

}  // namespace

TEST_CASE("rate baseline: the EWMA of closed minutes, seeded by the first") {
  RateBaseline rate;
  rate.add(100, 20, options());
  CHECK(rate.closedMinutes() == 0);
  CHECK(rate.baseline() == doctest::Approx(0.0));
  rate.add(101, 30, options());  // closes minute 100: the seed
  CHECK(rate.closedMinutes() == 1);
  CHECK(rate.baseline() == doctest::Approx(20.0));
  rate.add(102, 10, options());  // closes 101: 0.2 * 30 + 0.8 * 20
  CHECK(rate.baseline() == doctest::Approx(22.0));
  CHECK(rate.currentCount() == 10);
  // Lines of an earlier minute (late) count in the current one; closed minutes stay closed.
  rate.add(100, 5, options());
  CHECK(rate.currentCount() == 15);
  CHECK(rate.currentMinute() == 102);
  // Three empty minutes after 102: 102 closes with 15, then 103..105 decay by 0.8 each.
  rate.advance(106, options());
  CHECK(rate.baseline() == doctest::Approx((0.2 * 15 + 0.8 * 22.0) * 0.8 * 0.8 * 0.8));
  CHECK(rate.closedMinutes() == 6);
}

TEST_CASE("rate baseline: fires at factor x baseline and min count, only after warm-up") {
  SUBCASE("no spike before warm-up, however many lines") {
    RateBaseline rate;
    steady(rate, 0, 3, 10);
    CHECK_FALSE(rate.add(3, 10'000, options()).spiked);
  }
  SUBCASE("a spike in the current minute fires once, while it grows") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);                             // baseline 20 after warm-up
    CHECK(rate.add(10, 60, options()).spiked == false);  // 60 < 5 x 20
    RateChange crossing = rate.add(10, 40, options());   // 100 = 5 x 20
    CHECK(crossing.spiked);
    CHECK(rate.firing());
    CHECK_FALSE(rate.add(10, 500, options()).spiked);  // already firing: no second event
  }
  SUBCASE("a quiet template needs min_count, not 5 x almost nothing") {
    RateBaseline rate;
    steady(rate, 0, 10, 0);
    CHECK_FALSE(rate.add(10, 49, options()).spiked);
    CHECK(rate.add(10, 1, options()).spiked);  // 50 lines, baseline < 1 counts as 1
  }
}

TEST_CASE("rate baseline: recovers when a closed minute falls back, or the lines stop") {
  SUBCASE("falls back") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    REQUIRE(rate.add(10, 400, options()).spiked);
    // Minute 10 closes still a spike (400 >= 5 x 20): firing goes on; baseline 0.2*400+0.8*20.
    RateChange next = rate.add(11, 30, options());
    CHECK_FALSE(next.recovered);
    CHECK(rate.baseline() == doctest::Approx(96.0));
    // Minute 11 (30 lines) closes under 5 x 96: recovered.
    RateChange back = rate.add(12, 20, options());
    CHECK(back.recovered);
    CHECK_FALSE(back.spiked);
    CHECK_FALSE(rate.firing());
    CHECK(rate.lastClosedCount() == 30);
  }
  SUBCASE("stops: an empty minute ends it") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    REQUIRE(rate.add(10, 400, options()).spiked);
    CHECK_FALSE(rate.advance(11, options()).recovered);  // minute 10 closed, still a spike
    CHECK(rate.advance(13, options()).recovered);        // 11 and 12 were silent
  }
  SUBCASE("a recovery and a new spike in one call") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    REQUIRE(rate.add(10, 400, options()).spiked);
    rate.add(11, 10, options());  // closes 10 (spike), minute 11 quiet so far
    RateChange both = rate.add(12, 5000, options());
    CHECK(both.recovered);
    CHECK(both.spiked);
    CHECK(rate.firing());
  }
  SUBCASE("a lasting new level becomes the baseline and resolves") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    REQUIRE(rate.add(10, 200, options()).spiked);
    bool recovered = false;
    for (int m = 11; m < 30 && !recovered; ++m) {
      recovered = rate.add(m, 200, options()).recovered;
    }
    CHECK(recovered);
    CHECK_FALSE(rate.firing());
  }
}

TEST_CASE("rate baseline: a clock jump of years decays without looping or overflowing") {
  RateBaseline rate;
  steady(rate, 0, 10, 20);
  rate.advance(std::int64_t{60} * 24 * 365 * 30, options());
  CHECK(rate.baseline() < 1e-6);
  CHECK(rate.closedMinutes() <= 10 + 24 * 60 + 1);
}

TEST_CASE("rate baseline: a drop starts only in a minute its service kept logging in") {
  RateOptions o = options();
  o.drop_fraction = 0.2;
  o.drop_min_baseline = 10;
  o.drop_min_service_volume = 0.5;
  // The service was silent in minutes 10 and 11, logged a third of its usual lines in 12 and
  // as usual from 13 on.
  const faultline::aggregator::events::ServiceVolume volume = [](std::int64_t minute) {
    if (minute == 10 || minute == 11) {
      return 0.0;
    }
    return minute == 12 ? 0.3 : 1.0;
  };
  SUBCASE("silent minutes and a quiet minute of the service start no drop") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    const RateChange change = rate.advance(13, o, volume);  // closes 9 (20 lines), 10..12 silent
    CHECK_FALSE(change.dropped);
    CHECK_FALSE(rate.dropping());
    // Minute 13 without the template's lines while the service logged as usual: a drop.
    const RateChange later = rate.advance(14, o, volume);
    CHECK(later.dropped);
    CHECK(later.dropped_minute == 13);
  }
  SUBCASE("the first silent minute in which the service logged starts it") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    const RateChange change = rate.advance(15, o, volume);  // 10..14 silent for the template
    CHECK(change.dropped);
    CHECK(change.dropped_minute == 13);
  }
  SUBCASE("a minute with few lines while the service was quiet is no drop either") {
    RateBaseline rate;
    steady(rate, 0, 12, 20);
    rate.add(12, 1, o, volume);
    CHECK_FALSE(rate.advance(13, o, volume).dropped);  // 12: 1 line, service at 0.3
  }
  SUBCASE("without a volume, the first silent minute decides, as before") {
    RateBaseline rate;
    steady(rate, 0, 10, 20);
    const RateChange change = rate.advance(13, o);
    CHECK(change.dropped);
    CHECK(change.dropped_minute == 10);
  }
}
