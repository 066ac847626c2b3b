"""Retrieval scoring on the Nezha day (issue 8): for each fault, is the earlier fault with the
same root-cause service among the incidents GET /v1/incidents/{id}/similar ranks first?

- A fault's incident: nezha_score.match_incident (the same as the RCA score).
- Its similar list, as the aggregator ranks it, keeping only incidents that began before the
  fault's incident (the index is built after the replay: later incidents are dropped so that no
  answer comes from the future).
- Relevant: an incident matched to an earlier fault whose root-cause (injected) service is the
  same. Any other hit (another service's fault, an incident no fault matched) is not relevant.
- Scored over the faults that have at least one relevant earlier incident: precision@3
  (relevant among the first 3 / 3), hit@3 (at least one in the first 3), MRR (1 / rank of the
  first relevant, 0 when none is listed). "chance" is the precision@3 of 3 earlier incidents
  drawn at random (relevant / earlier), for scale.
- "reachable": the scored faults whose own incident and at least one relevant incident both
  list the injected service among their services; only there can the words of the incidents
  connect them. The same three figures are printed for that subset.
"""
from nezha_score import match_incident, parse_time


def plan(faults, incidents):
    """[(fault, incident, earlier relevant ids, earlier incident count)] in fault order;
    incident None when no incident matches the fault."""
    matched = [(f, match_incident(f["time"], incidents)) for f in faults]
    out = []
    for i, (f, inc) in enumerate(matched):
        if inc is None:
            out.append((f, None, set(), 0))
            continue
        start = parse_time(inc["first_event_at"])
        relevant = {str(prev_inc["id"]) for prev, prev_inc in matched[:i]
                    if prev_inc is not None and prev["service"] == f["service"] and
                    str(prev_inc["id"]) != str(inc["id"]) and
                    parse_time(prev_inc["first_event_at"]) < start}
        earlier = sum(1 for other in incidents if parse_time(other["first_event_at"]) < start)
        out.append((f, inc, relevant, earlier))
    return out


def score(planned, similar_of, first_event_at, out=print, k=3, services_of=None):
    """similar_of(incident id) -> hit ids best first; first_event_at(id) -> unix s or None;
    services_of(id) -> the incident's services (for "reachable"; None: not reported).
    Prints a line per fault and the summary; returns {p_at_k, hit_at_k, mrr, chance, scored,
    reachable: {p_at_k, hit_at_k, mrr, scored}}."""
    p_sum = hit_sum = rr_sum = chance_sum = 0.0
    scored = 0
    sub = {"p": 0.0, "hit": 0.0, "rr": 0.0, "n": 0}
    for f, inc, relevant, earlier in planned:
        if inc is None or not relevant:
            out(f"{f['time_text']}  truth={f['service']:<32} incident="
                f"{inc['id'] if inc else '-'}  (no earlier fault of this service: not scored)")
            continue
        start = parse_time(inc["first_event_at"])
        hits = [h for h in similar_of(str(inc["id"]))
                if (first_event_at(h) or float("inf")) < start]
        top = hits[:k]
        good = [h for h in top if h in relevant]
        rank = next((n + 1 for n, h in enumerate(hits) if h in relevant), None)
        scored += 1
        if services_of is not None and f["service"] in services_of(str(inc["id"])) and any(
                f["service"] in services_of(r) for r in relevant):
            sub["n"] += 1
            sub["p"] += len(good) / k
            sub["hit"] += 1 if good else 0
            sub["rr"] += 1.0 / rank if rank else 0.0
        p_sum += len(good) / k
        hit_sum += 1 if good else 0
        rr_sum += 1.0 / rank if rank else 0.0
        chance_sum += min(1.0, len(relevant) / earlier) if earlier else 0.0
        out(f"{f['time_text']}  truth={f['service']:<32} incident={inc['id']}  "
            f"relevant={len(relevant)}  top{k}_relevant={len(good)}  first_relevant_rank="
            f"{rank or '-'}")
    n = scored or 1
    result = {"p_at_k": p_sum / n, "hit_at_k": hit_sum / n, "mrr": rr_sum / n,
              "chance": chance_sum / n, "scored": scored}
    out(f"retrieval over {scored} faults with an earlier fault of the same service: "
        f"P@{k}={result['p_at_k']:.3f} hit@{k}={result['hit_at_k']:.3f} "
        f"MRR={result['mrr']:.3f} (chance P@{k}={result['chance']:.3f})")
    if services_of is not None:
        m = sub["n"] or 1
        result["reachable"] = {"p_at_k": sub["p"] / m, "hit_at_k": sub["hit"] / m,
                               "mrr": sub["rr"] / m, "scored": sub["n"]}
        out(f"reachable (the injected service is among the services of the fault's incident and "
            f"of a relevant one): {sub['n']} of {scored}: P@{k}={sub['p'] / m:.3f} "
            f"hit@{k}={sub['hit'] / m:.3f} MRR={sub['rr'] / m:.3f}")
    return result
