#include "aggregator/events/rate_baseline.h"

#include <algorithm>
#include <cmath>

namespace faultline::aggregator::events {
namespace {

// Silent minutes of a template searched for one in which its service kept logging: an hour,
// the span after which the tracker forgets idle templates anyway.
constexpr std::int64_t kMaxJudgedSilentMinutes = 60;

double alphaOf(const RateOptions& options) {
  return 2.0 / (static_cast<double>(std::max<std::uint32_t>(options.baseline_minutes, 1)) + 1.0);
}

}  // namespace

bool RateBaseline::isSpike(std::uint64_t count, double baseline, std::uint64_t closed_minutes,
                           const RateOptions& options) {
  if (closed_minutes < options.warmup_minutes || count < options.min_count) {
    return false;
  }
  // A baseline under one line a minute counts as one: "k times almost nothing" is min_count.
  return static_cast<double>(count) >= options.factor * std::max(baseline, 1.0);
}

void RateBaseline::judgeDrop(std::uint64_t count, std::int64_t minute, const RateOptions& options,
                             const ServiceVolume& volume, RateChange& change) {
  if (dropping_) {
    // Back to half the level it dropped from (the decayed baseline would call any trickle a
    // recovery).
    if (count > 0 && static_cast<double>(count) >= 0.5 * drop_baseline_) {
      dropping_ = false;
      change.restored = true;
      change.restored_minute = minute;
      change.restored_count = count;
    }
    return;
  }
  if (options.drop_min_baseline > 0 && closed_minutes_ >= options.warmup_minutes &&
      baseline_ >= options.drop_min_baseline &&
      static_cast<double>(count) <= options.drop_fraction * baseline_ &&
      (!volume || volume(minute) >= options.drop_min_service_volume)) {
    dropping_ = true;
    drop_baseline_ = baseline_;
    drop_minute_ = minute;
    change.dropped = true;
    change.dropped_minute = minute;
    change.dropped_count = count;
  }
}

RateChange RateBaseline::advance(std::int64_t minute, const RateOptions& options,
                                 const ServiceVolume& volume) {
  RateChange change;
  if (!started_ || minute <= minute_) {
    return change;
  }
  const double alpha = alphaOf(options);
  // The current minute closes with its count: judged against the baseline before it, then
  // folded in. A firing spike keeps folding, so a lasting new level becomes the baseline.
  if (firing_ && !isSpike(count_, baseline_, closed_minutes_, options)) {
    firing_ = false;
    change.recovered = true;
  }
  judgeDrop(count_, minute_, options, volume, change);
  baseline_ = closed_minutes_ == 0 ? static_cast<double>(count_)
                                   : alpha * static_cast<double>(count_) + (1 - alpha) * baseline_;
  last_closed_count_ = count_;
  ++closed_minutes_;
  // Empty minutes between: each decays the baseline by (1 - alpha); a silent minute also
  // ends a spike.
  const std::int64_t empty = minute - minute_ - 1;
  if (empty > 0) {
    if (firing_) {
      firing_ = false;
      change.recovered = true;
    }
    // The first silent minute in which the service kept logging starts a drop (without a
    // volume, the first silent minute). Judged against the baseline before the silence.
    const std::int64_t judged = volume ? std::min<std::int64_t>(empty, kMaxJudgedSilentMinutes) : 1;
    for (std::int64_t i = 1; i <= judged && !dropping_; ++i) {
      judgeDrop(0, minute_ + i, options, volume, change);
    }
    // Past a day of silence the decay is complete for any sensible span; cap the exponent.
    const double steps = static_cast<double>(std::min<std::int64_t>(empty, 24 * 60));
    baseline_ *= std::pow(1 - alpha, steps);
    closed_minutes_ += static_cast<std::uint64_t>(std::min<std::int64_t>(empty, 24 * 60));
    last_closed_count_ = 0;
  }
  minute_ = minute;
  count_ = 0;
  return change;
}

RateChange RateBaseline::add(std::int64_t minute, std::uint64_t count, const RateOptions& options,
                             const ServiceVolume& volume) {
  RateChange change;
  if (!started_) {
    started_ = true;
    minute_ = minute;
  } else if (minute > minute_) {
    change = advance(minute, options, volume);
  }
  count_ += count;
  if (!firing_ && isSpike(count_, baseline_, closed_minutes_, options)) {
    firing_ = true;
    change.spiked = true;
  }
  return change;
}

}  // namespace faultline::aggregator::events
