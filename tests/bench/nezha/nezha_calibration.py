"""Confidence calibration of the AI runbook answers on the Nezha day (issue 8).

- A fault's incident: nezha_score.match_incident (the same as the RCA score). Faults without an
  incident are left out (counted). Two faults matched to one incident share its answer.
- The answer: POST /v1/incidents/{id}/runbook (the provider the aggregator routes to; offline by
  default) and its `confidence`.
- Right: the answer's most likely cause (the incident's first RCA candidate, which the offline
  summary names as "Most likely cause") is the injected service: the first service of
  nezha_score.ranking is the fault's service, i.e. the fault is found at 1. Nothing else in the
  answer (steps, retrieved passages) is judged.
- Reliability table: confidence cut into equal-width bins; per bin the count, the mean
  confidence and the observed accuracy (share right).
- Brier score: mean of (confidence - right)^2 (0 is perfect; lower is better). ECE: sum over the
  bins of count / total x |accuracy - mean confidence|.
- Baselines on the same answers: "base rate", every answer given the observed share right (the
  best constant; it is fitted on the data it scores, so it is optimistic) and "rca", the top
  candidate's own RCA confidence as the probability.
"""
from nezha_score import match_incident, ranking

BINS = 5


def plan(faults, incidents):
    """[(fault, incident or None)] in fault order."""
    return [(f, match_incident(f["time"], incidents)) for f in faults]


def is_right(fault, incident):
    """The answer names the injected service as the most likely cause."""
    return ranking(incident)[:1] == [fault["service"]]


def brier(pairs):
    """pairs: [(confidence, right as bool)] -> mean squared error, None when empty."""
    if not pairs:
        return None
    return sum((c - (1.0 if y else 0.0)) ** 2 for c, y in pairs) / len(pairs)


def reliability(pairs, bins=BINS):
    """[(low, high, count, mean confidence or None, accuracy or None)] for equal-width bins of
    [0, 1]; a confidence of 1 falls in the last bin."""
    rows = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(c, y) for c, y in pairs
                  if low <= c < high or (b == bins - 1 and c >= high)]
        n = len(inside)
        rows.append((low, high, n, sum(c for c, _ in inside) / n if n else None,
                     sum(1 for _, y in inside if y) / n if n else None))
    return rows


def ece(pairs, bins=BINS):
    """Expected calibration error over equal-width bins; None when empty."""
    if not pairs:
        return None
    total = len(pairs)
    return sum(n / total * abs(acc - conf)
               for _, _, n, conf, acc in reliability(pairs, bins) if n)


def score(records, out=print, bins=BINS, unmatched=0):
    """records: [{fault, incident_id, confidence, right, rca}] (rca: the top candidate's RCA
    confidence, 0 without one). Prints a line per fault, the reliability table, Brier and ECE
    with the baselines; returns {n, right, base_rate, brier, ece, brier_base, brier_rca,
    ece_rca, mean_confidence, table}."""
    for r in records:
        f = r["fault"]
        out(f"{f['time_text']}  truth={f['service']:<32} incident={r['incident_id']}  "
            f"confidence={r['confidence']:.3f}  rca={r['rca']:.3f}  "
            f"right={'yes' if r['right'] else 'no'}")
    pairs = [(float(r["confidence"]), bool(r["right"])) for r in records]
    n = len(pairs)
    right = sum(1 for _, y in pairs if y)
    base = right / n if n else 0.0
    table = reliability(pairs, bins)
    out(f"answers: {n} ({unmatched} faults without an incident left out); right: {right}")
    out("confidence bin  count  mean confidence  accuracy")
    for low, high, count, conf, acc in table:
        out(f"[{low:.1f}, {high:.1f}{']' if high >= 1 else ')'}    {count:>5}  "
            f"{'-' if conf is None else f'{conf:.3f}':>15}  "
            f"{'-' if acc is None else f'{acc:.3f}':>8}")
    rca_pairs = [(float(r["rca"]), bool(r["right"])) for r in records]
    result = {"n": n, "right": right, "base_rate": base, "brier": brier(pairs),
              "ece": ece(pairs, bins), "brier_base": brier([(base, y) for _, y in pairs]),
              "brier_rca": brier(rca_pairs), "ece_rca": ece(rca_pairs, bins),
              "mean_confidence": sum(c for c, _ in pairs) / n if n else None, "table": table}

    def fmt(x):
        return "n/a" if x is None else f"{x:.3f}"

    out(f"calibration over {n} answers: mean confidence={fmt(result['mean_confidence'])} "
        f"accuracy={base:.3f} Brier={fmt(result['brier'])} ECE={fmt(result['ece'])} "
        f"(base rate Brier={fmt(result['brier_base'])}; rca confidence Brier="
        f"{fmt(result['brier_rca'])} ECE={fmt(result['ece_rca'])})")
    return result
