#pragma once

// The maths behind "a log template's rate jumped well above its recent baseline": per-minute
// line counts of one (service, template), an exponentially weighted moving average of the
// closed minutes as the baseline, and a spike rule with hysteresis. Pure: time only enters as
// the minute numbers the caller passes in (the lines' own event times), so tests control it.

#include <cstdint>
#include <functional>

namespace faultline::aggregator::events {

struct RateOptions {
  /// A minute is a spike when its count is at least factor x baseline...
  double factor = 5.0;
  /// ...and at least this many lines (a template going from 1 to 6 lines is not news).
  std::uint64_t min_count = 50;
  /// The EWMA's span in minutes: alpha = 2 / (span + 1), the usual "N-period" EWMA.
  std::uint32_t baseline_minutes = 30;
  /// Closed minutes a baseline needs before it may fire (a new template has no history).
  std::uint32_t warmup_minutes = 10;
  /// A closed minute at or below this fraction of the baseline is a drop: a template that went
  /// (nearly) quiet while its service kept logging, as when a code path starts failing before
  /// it logs...
  double drop_fraction = 0.2;
  /// ...judged only for baselines of at least this many lines a minute (sparser templates are
  /// not expected every minute). 0: drops are not judged.
  double drop_min_baseline = 10.0;
  /// ...and only in a minute in which the template's service logged at least this fraction of
  /// its own usual lines (ServiceVolume): a whole service going quiet (a gap in collection, a
  /// dip in traffic) takes every template down with it and is not a drop of any one of them.
  double drop_min_service_volume = 0.2;
};

/// The lines a template's service logged in a minute over its usual lines a minute (1: as
/// usual, 0: silent). Empty: not known, every minute counts as usual.
using ServiceVolume = std::function<double(std::int64_t minute)>;

/// What one call changed. Both can be set: the previous spike ended in a closed minute and a
/// new one started in the current minute.
struct RateChange {
  bool recovered = false;  // a firing spike fell back below the rule in a closed minute
  bool spiked = false;     // the current minute crossed the rule
  bool restored = false;   // a drop ended: a closed minute came back to half its old baseline
  bool dropped = false;    // a closed minute fell to drop_fraction of the baseline or below
  std::int64_t restored_minute = 0;  // the closed minutes that decided restored / dropped
  std::int64_t dropped_minute = 0;
  std::uint64_t restored_count = 0;  // and their counts
  std::uint64_t dropped_count = 0;
};

/// One rate's state. Not thread-safe (the caller's tracker locks). Minutes are unix minutes.
class RateBaseline {
 public:
  /// Adds `count` lines seen in `minute`. Minutes before the current one count in the
  /// current one (late lines must not reopen closed minutes); a later minute first closes the
  /// current one and any empty minutes between.
  RateChange add(std::int64_t minute, std::uint64_t count, const RateOptions& options,
                 const ServiceVolume& volume = {});

  /// Closes every minute before `minute` (no lines arrived for them): may recover a spike and
  /// start or end a drop.
  RateChange advance(std::int64_t minute, const RateOptions& options,
                     const ServiceVolume& volume = {});

  /// True when `count` in one minute is a spike against `baseline` after warm-up.
  static bool isSpike(std::uint64_t count, double baseline, std::uint64_t closed_minutes,
                      const RateOptions& options);

  double baseline() const { return baseline_; }
  std::uint64_t currentCount() const { return count_; }
  std::int64_t currentMinute() const { return minute_; }
  bool firing() const { return firing_; }
  /// In a drop: since the closed minute dropMinute(), against the baseline it had then.
  bool dropping() const { return dropping_; }
  double dropBaseline() const { return drop_baseline_; }
  std::int64_t dropMinute() const { return drop_minute_; }
  std::uint64_t closedMinutes() const { return closed_minutes_; }
  /// The count of the last minute closed by add/advance (the one a recovery was judged on).
  std::uint64_t lastClosedCount() const { return last_closed_count_; }

 private:
  bool started_ = false;
  std::int64_t minute_ = 0;
  std::uint64_t count_ = 0;
  double baseline_ = 0.0;
  std::uint64_t closed_minutes_ = 0;
  std::uint64_t last_closed_count_ = 0;
  bool firing_ = false;
  bool dropping_ = false;
  double drop_baseline_ = 0.0;
  std::int64_t drop_minute_ = 0;

  /// Starts or ends a drop on closing `minute` with `count` lines (before the baseline folds
  /// it in). A drop starts only in a minute the service kept logging in (`volume`).
  void judgeDrop(std::uint64_t count, std::int64_t minute, const RateOptions& options,
                 const ServiceVolume& volume, RateChange& change);
};

}  // namespace faultline::aggregator::events
