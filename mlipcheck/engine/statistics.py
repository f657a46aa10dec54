"""Statistics the checks share: bootstrap intervals, mean absolute error, a slope through the
origin, and calibration of an uncertainty against errors."""
from __future__ import annotations

import numpy as np


def bootstrap_interval(per_frame, statistic, samples, confidence, seed) -> tuple[float, float]:
    """Percentile bootstrap of statistic(list of per-frame arrays) over frames."""
    rng = np.random.default_rng(seed)
    n = len(per_frame)
    values = [statistic([per_frame[i] for i in rng.integers(0, n, n)]) for _ in range(samples)]
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(values, tail)), float(np.quantile(values, 1.0 - tail))


def mae(chunks):
    return float(np.mean(np.abs(np.concatenate([np.ravel(c) for c in chunks]))))


def slope(x, y) -> float | None:
    x, y = np.ravel(x), np.ravel(y)
    denominator = float(x @ x)
    return float(x @ y) / denominator if denominator > 0 else None


def calibration(residuals, sigmas, bins: int = 10) -> dict:
    """Whether a committee's spread can be read as an error bar (Tran et al., Mach. Learn.: Sci.
    Technol. 1, 025006 (2020); Levi et al., Sensors 22, 5540 (2022)), per force component:
    - miscalibration area: the mean over confidence levels p of |observed - p|, where observed is
      the share of |residual| <= z_p sigma (z_p the two-sided Gaussian quantile); 0 when the
      spread is a calibrated Gaussian error bar, towards 0.5 when over- or under-confident;
    - ENCE: over `bins` equal-count bins of sigma, the mean of |RMV - RMSE| / RMV (root mean
      variance against root mean squared error in the bin); 0 when calibrated;
    - the spread's scale relative to the error (RMSE / RMV over everything)."""
    from scipy.stats import norm

    r, s = np.abs(np.ravel(residuals)), np.ravel(sigmas)
    keep = s > 0
    r, s = r[keep], s[keep]
    if len(r) < 2 * bins:
        return {"calibration_points": int(len(r))}
    levels = np.linspace(0.01, 0.99, 99)
    observed = np.array([np.mean(r <= norm.ppf((1 + p) / 2) * s) for p in levels])
    order = np.argsort(s)
    ence = np.mean([abs(np.sqrt(np.mean(s[b] ** 2)) - np.sqrt(np.mean(r[b] ** 2))) / np.sqrt(np.mean(s[b] ** 2))
                    for b in np.array_split(order, bins)])
    return {"miscalibration_area": float(np.mean(np.abs(observed - levels))), "ence": float(ence),
            "error_over_spread": float(np.sqrt(np.mean(r ** 2)) / np.sqrt(np.mean(s ** 2))),
            "calibration_points": int(len(r))}
