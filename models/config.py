"""Evidence settings: thresholds for reading a night and the rates for the cost context."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NightRules:
    """How a night is read from the sensors. Defaults are general, not fitted to one home."""

    # The sleep search reaches this far before the night window and after it: people go to bed early
    # and get up late, and a night must not borrow the next evening.
    lead_hours: float = 6.0
    tail_hours: float = 7.0
    # Bed-pad flicker (turning over) shorter than this is not a bed exit.
    min_exit_s: float = 60.0
    # A bed occupation shorter than this (sitting on the bed) does not start or end the sleep period.
    min_bed_stay_s: float = 300.0
    # A night broken inside the window continues if the resident is back in bed within this long.
    rejoin_hours: float = 6.0
    # After the window only a time up shorter than this (then back to sleep) is still part of the night.
    short_exit_min: float = 60.0
    # PIR method: quiet this long after bedroom motion means the resident has settled in bed.
    pir_settle_s: float = 900.0
    # Below this share of the night window with working sensors the night is 'unknown'.
    min_coverage: float = 0.8
    # A door exit shorter than this (a door opened and closed) is not time out of the flat.
    min_door_exit_s: float = 60.0
    # Motion seen within this many seconds after the front door closes means the resident is inside.
    door_settle_s: float = 120.0


@dataclass(frozen=True, slots=True)
class CostRates:
    """Hourly rates of night-time support (Essex 2024/25 by default) and the night length they pay."""

    waking_night_hourly: float = 21.72
    sleep_in_hourly: float = 12.84
    hours_per_night: float = 10.0
    currency: str = "GBP"

    @property
    def waking_night(self) -> float:
        """Cost of one waking night."""
        return round(self.waking_night_hourly * self.hours_per_night, 2)

    @property
    def sleep_in(self) -> float:
        """Cost of one sleep-in night."""
        return round(self.sleep_in_hourly * self.hours_per_night, 2)


@dataclass(frozen=True, slots=True)
class BaselineRules:
    """Routine-change flags: each feature against the resident's own recent nights (median/MAD)."""

    baseline_nights: int = 28
    min_baseline_nights: int = 10
    recent_nights: int = 14
    # A night is "unusual" when it is this many robust standard deviations from the median...
    z_threshold: float = 3.0
    # ...and the feature is flagged when at least this many of the recent nights are unusual.
    min_unusual_nights: int = 5


@dataclass(frozen=True, slots=True)
class DetectorRules:
    """The change detector (models/detector.py): how much history, how wide a window, how rare a flag."""

    # Days of history a model learns from, ending `guard_days` before it is trained, so a change that is
    # just beginning is not learnt as usual.
    training_days: int = 56
    guard_days: int = 7
    # Fewer complete days than this -> "not enough data", never a guess.
    min_training_days: int = 21
    retrain_every_days: int = 7
    window_days: int = 7
    # A suggestion opens only when this many consecutive days' windows are beyond the threshold.
    persist_days: int = 3
    min_window_days: int = 4
    # Per resident: the threshold is set so that the resident's own usual weeks cross it this often.
    target_false_flags_per_60_days: float = 0.25
    calibration_draws: int = 2000
    # "mahalanobis": distance over all features together; "max": the largest single-feature shift in
    # the robust covariance's units (stronger when a change shows in a few features only).
    statistic: str = "mahalanobis"
    # Share of each calibration window's days drawn from anywhere in training (the rest are consecutive).
    calibration_mix: float = 0.5
    min_threshold: float = 0.0
    support_fraction: float = 0.75
    ridge: float = 0.05
    # A single day's value counts at most this many robust SDs from usual (robust to the odd bad night).
    clip_z: float = 4.0
    # Explanations name features whose recent mean is at least this many robust SDs from usual.
    explain_z: float = 1.5
    explain_top: int = 4


@dataclass(frozen=True, slots=True)
class EvidenceConfig:
    """Everything the evidence code is configured with, passed down from the entry point."""

    night: NightRules = NightRules()
    costs: CostRates = CostRates()
    baseline: BaselineRules = BaselineRules()
    detector: DetectorRules = DetectorRules()
    alerts_run: str = "live"
