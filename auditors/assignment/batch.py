"""Batch assignment (DESIGN §5): for many applications at once, minimize the highest load ratio
(active engagements / capacity) across auditors while meeting every seat and domain-coverage
constraint, vectorized with numpy; applications that cannot be served are listed with why."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import numpy as np
from django.utils import timezone
from django.utils.translation import gettext as _

from auditors import conflicts
from auditors.assignment.facts import Facts, load
from auditors.assignment.suggestions import domains_text
from auditors.conflicts import AuditorFacts
from certification.releases.models import Application

# --- batch -------------------------------------------------------------------------------------
#
# The batch works on arrays: rows are the applications with open seats, columns the
# active auditors (``facts.auditors`` order). Domains are bit masks over the flagged
# domains of the batch; tiers a boolean mask per tier.

# The batch score of an (application, auditor) pair, higher is better: minus the load
# ratio the auditor would reach with the seat (0 to 1), minus a quarter per earlier
# engagement with the organization (rotation), minus 0.3 per accredited flagged domain
# the application does not need (versatile auditors are kept for the applications that
# need them). Coverage itself is a constraint: the chosen auditors cover every domain.
LOAD_WEIGHT = np.float32(1.0)
ROTATION_WEIGHT = np.float32(0.25)
UNUSED_WEIGHT = np.float32(0.3)


def score(unused, load_after, rotation):
    """The batch score, elementwise over numpy arrays that broadcast together (the full
    matrix, one application's row, or scalars). It is linear in the load: the greedy
    updates a row by ``LOAD_WEIGHT * (load before - load now)`` as auditors take seats."""
    result = np.multiply(load_after, -LOAD_WEIGHT, dtype=np.float32)
    result = np.subtract(result, np.multiply(unused, UNUSED_WEIGHT, dtype=np.float32), dtype=np.float32)
    return np.subtract(result, np.multiply(rotation, ROTATION_WEIGHT, dtype=np.float32), dtype=np.float32)


def score_matrix(auditor_domains: np.ndarray, app_remaining: np.ndarray, load_after: np.ndarray,
                 rotation: np.ndarray) -> np.ndarray:
    """``score`` for every (application, auditor) pair: an (applications x auditors)
    float32 matrix. Domains are bit masks (the flagged domains of the batch); unused are
    the auditor's bits outside the application's still uncovered flagged domains."""
    unused = np.bitwise_count(auditor_domains[None, :] & ~app_remaining[:, None])
    return score(unused, load_after[None, :], rotation)


def _mask_dtype(n: int):
    for dtype in (np.uint8, np.uint16, np.uint32, np.uint64):
        if n <= np.iinfo(dtype).bits:
            return dtype
    raise ValueError("More than 64 distinct flagged domains in one batch.")


@dataclass
class BatchArrays:
    """The facts of a batch as arrays (see ``batch_arrays``)."""

    app_ids: list[int]  # rows: the applications with open seats
    seats: np.ndarray  # (M,) open seats
    remaining: np.ndarray  # (M,) bit mask of the flagged domains no seat holder or offer covers yet
    tier_row: np.ndarray  # (M,) index into ``tier_values``
    tier_values: list[int]
    rotation: np.ndarray  # (M, N) uint8: the auditor's earlier engagements with the organization
    domain_names: list[str]  # bit -> domain
    auditors: list[AuditorFacts]  # columns
    acc_ids: np.ndarray  # (N,)
    capacity: np.ndarray  # (N,)
    active: np.ndarray  # (N,) active engagements
    domains: np.ndarray  # (N,) bit mask of accredited domains (the flagged ones only)
    load_after: np.ndarray  # (N,) float32: load ratio with one more engagement
    problems: dict[int, str] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.app_ids), len(self.auditors)


def batch_arrays(facts: Facts) -> BatchArrays:
    """Rows for the applications of ``facts`` with an open seat, columns for its auditors."""
    rows: list[tuple[int, int, frozenset[str]]] = []
    for app_id, app in facts.apps.items():
        state = facts.states[app_id]
        held = [facts.by_id[a].domains for a in (*state.engaged, *state.open_offers) if a in facts.by_id]
        remaining = app.flagged_domains - frozenset().union(*held)
        open_seats = max(app.seats - len(state.engaged) - len(state.open_offers), 0)
        if open_seats:
            rows.append((app_id, open_seats, remaining))
    names = sorted(frozenset().union(*(r for _a, _k, r in rows)))
    bit = {name: 1 << n for n, name in enumerate(names)}
    dtype = _mask_dtype(len(names))

    def mask(domains) -> int:
        return sum(bit.get(d, 0) for d in domains)

    auditors = facts.auditors
    n = len(auditors)
    masks: dict[frozenset[str], int] = {}
    capacity = np.fromiter((a.capacity for a in auditors), np.int64, n)
    active = np.fromiter((a.active_engagements for a in auditors), np.int64, n)
    tier_values = sorted({facts.apps[a].tier for a, _k, _r in rows})
    col = {a.accreditation_id: i for i, a in enumerate(auditors)}
    rotation = np.zeros((len(rows), n), np.uint8)
    rot_rows, rot_cols, rot_n = [], [], []
    for r, (app_id, _k, _rem) in enumerate(rows):
        for acc, count in facts.apps[app_id].engagements_with_org.items():
            if acc in col and count:
                rot_rows.append(r)
                rot_cols.append(col[acc])
                rot_n.append(min(count, 255))
    rotation[rot_rows, rot_cols] = rot_n
    return BatchArrays(
        app_ids=[a for a, _k, _r in rows],
        seats=np.fromiter((k for _a, k, _r in rows), np.int64, len(rows)),
        remaining=np.fromiter((mask(r) for _a, _k, r in rows), dtype, len(rows)),
        tier_row=np.fromiter((tier_values.index(facts.apps[a].tier) for a, _k, _r in rows), np.int64, len(rows)),
        tier_values=tier_values, rotation=rotation, domain_names=names, auditors=auditors,
        acc_ids=np.fromiter((a.accreditation_id for a in auditors), np.int64, n),
        capacity=capacity, active=active,
        domains=np.fromiter((masks[a.domains] if a.domains in masks else masks.setdefault(a.domains, mask(a.domains))
                             for a in auditors), dtype, n),
        load_after=((active + 1) / np.maximum(capacity, 1)).astype(np.float32),
    )


def _excluded_pairs(arrays: BatchArrays, facts: Facts, today: date) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of the pairs ``evaluate`` excludes for a reason other than tier or
    capacity: a seat, an offer, a removal or a past offer on the application, or a blocking
    conflict (the rules of ``conflicts.check``). Indexes built once, keyed by organization
    id or name, user and email domain, then looked up per application: no loop over pairs."""
    auditors = arrays.auditors
    col = {a.accreditation_id: i for i, a in enumerate(auditors)}
    cutoff = conflicts._years_before(today, conflicts.COOLING_OFF_YEARS)
    # Keys naming the batch's applicants (organization ids and normalized names), and
    # the users who are members of them or contributed to the releases.
    app_keys: dict[int, list] = {}
    people: set[int] = set()
    for app_id in arrays.app_ids:
        app = facts.apps[app_id]
        app_keys[app_id] = [app.organization_id,
                            *{conflicts.normalize_name(x) for x in app.organization_names if x} - {""}]
        people.update(app.member_user_ids, app.contributor_user_ids)
    wanted = set().union(*app_keys.values())

    # Each index is built from the few distinct values (firms, sets of email domains)
    # or from the auditors that matter (members, affiliations with an applicant).
    current_aff: dict = defaultdict(list)  # organization id (int) or normalized name (str) -> columns
    recent_aff: dict = defaultdict(list)
    for i, aff in [(i, aff) for i, a in enumerate(auditors) if a.affiliations for aff in a.affiliations]:
        key = aff.organization_id if aff.organization_id is not None else conflicts.normalize_name(
            aff.organization_name)
        if key not in wanted:
            continue
        if (aff.started_on is None or aff.started_on <= today) and (aff.ended_on is None or aff.ended_on >= today):
            current_aff[key].append(i)
        elif aff.ended_on is not None and aff.ended_on > cutoff:
            recent_aff[key].append(i)
    users: dict[int, list[int]] = defaultdict(list)
    for i, user_id in [(i, a.user_id) for i, a in enumerate(auditors) if a.user_id in people]:
        users[user_id].append(i)
    firm: dict = defaultdict(list)
    firms = [(a.firm_organization_id, a.firm) for a in auditors]
    firm_keys = {}
    for firm_id, firm_name in set(firms):
        keys = [k for k in (firm_id, conflicts.normalize_name(firm_name)) if k is not None and k in wanted]
        if keys:
            firm_keys[(firm_id, firm_name)] = keys
    if firm_keys:
        for i, pair in [(i, pair) for i, pair in enumerate(firms) if pair in firm_keys]:
            for key in firm_keys[pair]:
                firm[key].append(i)
    email_sets = [a.email_domains for a in auditors]
    exact: dict[str, list[frozenset]] = defaultdict(list)  # email domain -> sets of email domains with it
    under: dict[str, list[frozenset]] = defaultdict(list)  # domain -> sets with it or a subdomain of it
    for domains in set(email_sets):
        for d in {conflicts.normalize_domain(d) for d in domains}:
            if not d or conflicts.is_free_mail(d):
                continue
            exact[d].append(domains)
            labels = d.split(".")
            for k in range(len(labels)):
                under[".".join(labels[k:])].append(domains)
    shared_sets: dict[int, list[frozenset]] = {}
    for app_id in arrays.app_ids:
        found = []
        for b in facts.apps[app_id].organization_domains:
            b = conflicts.normalize_domain(b)
            if not b or conflicts.is_free_mail(b):
                continue
            found.extend(under.get(b, ()))
            labels = b.split(".")
            for k in range(1, len(labels)):
                found.extend(exact.get(".".join(labels[k:]), ()))
        shared_sets[app_id] = found
    by_email: dict[frozenset, list[int]] = defaultdict(list)
    needed = {domains for found in shared_sets.values() for domains in found}
    if needed:
        for i, domains in [(i, domains) for i, domains in enumerate(email_sets) if domains in needed]:
            by_email[domains].append(i)

    cols: list[int] = []
    counts: list[int] = []
    for app_id in arrays.app_ids:
        app, state, keys = facts.apps[app_id], facts.states[app_id], app_keys[app_id]
        start = len(cols)
        # Seats, offers, removals on this application.
        cols.extend(col[acc] for acc in (*state.engaged, *state.open_offers, *state.ended, *state.past_offers)
                    if acc in col)
        # Hard conflicts.
        for key in keys:
            cols.extend(current_aff.get(key, ()))
            cols.extend(firm.get(key, ()))
        for uid in (*app.member_user_ids, *app.contributor_user_ids):
            cols.extend(users.get(uid, ()))
        cols.extend(col[acc] for acc in app.declared if acc in col)
        # Potential conflicts, unless staff overrode them.
        potential: dict[str, list[int]] = {
            conflicts.RECENT_AFFILIATION: [i for key in keys for i in recent_aff.get(key, ())],
            conflicts.SHARED_EMAIL_DOMAIN: [i for domains in shared_sets[app_id] for i in by_email[domains]],
            conflicts.REPEAT_AUDITOR: [],
        }
        if len(app.last_certified) >= conflicts.ROTATION_RELEASES:
            last = app.last_certified[: conflicts.ROTATION_RELEASES]
            potential[conflicts.REPEAT_AUDITOR] = [col[acc] for acc, ids in app.audited.items()
                                                   if acc in col and all(x in ids for x in last)]
        for code, found in potential.items():
            if app.overrides:
                found = [i for i in found if not app.overrides.get(auditors[i].accreditation_id, {}).get(code)]
            cols.extend(found)
        counts.append(len(cols) - start)
    rows = np.repeat(np.arange(len(arrays.app_ids)), counts)
    return rows, np.asarray(cols, dtype=np.int64)


@dataclass
class Eligibility:
    """Which pairs ``evaluate`` finds eligible, kept as a mask per tier (accredited for it
    with spare capacity) and the sorted flat indices (row * N + column) of the pairs
    excluded for another reason: a seat, an offer, a removal or a past offer on the
    application, or a blocking conflict."""

    arrays: BatchArrays
    by_tier: np.ndarray  # (len(tier_values), N) bool
    excluded: np.ndarray  # sorted unique int64

    def row(self, r: int) -> np.ndarray:
        n = self.arrays.shape[1]
        mask = self.by_tier[self.arrays.tier_row[r]].copy()
        lo, hi = np.searchsorted(self.excluded, [r * n, (r + 1) * n])
        mask[self.excluded[lo:hi] - r * n] = False
        return mask

    def counts(self) -> np.ndarray:
        """Eligible auditors per row."""
        m, n = self.arrays.shape
        tier_row = self.arrays.tier_row
        rows, cols = np.divmod(self.excluded, n) if n else (self.excluded, self.excluded)
        was_eligible = self.by_tier[tier_row[rows], cols]
        return self.by_tier.sum(axis=1)[tier_row] - np.bincount(rows[was_eligible], minlength=m)

    def dense(self) -> np.ndarray:
        """The (M, N) bool matrix (for tests and small batches)."""
        mask = self.by_tier[self.arrays.tier_row]
        mask.reshape(-1)[self.excluded] = False
        return mask


def eligibility(arrays: BatchArrays, facts: Facts, today: date) -> Eligibility:
    """The pairs ``evaluate`` finds eligible: accredited for the tier, spare capacity, not
    already seated, offered or removed, no past offer, no blocking conflict."""
    m, n = arrays.shape
    by_tier = np.array([[t in a.tiers for a in arrays.auditors] for t in arrays.tier_values], dtype=bool)
    by_tier = by_tier.reshape(len(arrays.tier_values), n) & (arrays.capacity > arrays.active)[None, :]
    rows, cols = _excluded_pairs(arrays, facts, today)
    return Eligibility(arrays, by_tier, np.unique(rows * n + cols))


@lru_cache(maxsize=4096)
def _covering_multisets(remaining: int, k: int, available: tuple[tuple[int, int], ...]) -> tuple:
    """The multisets of ``k`` classes covering ``remaining``: ((pattern, how many), ...) each,
    from the available classes ((pattern, members), ...)."""
    members = dict(available)
    found = []
    for combo in itertools.combinations_with_replacement(sorted(members), k):
        union = 0
        for p in combo:
            union |= p
        taken = tuple(sorted((p, combo.count(p)) for p in set(combo)))
        if union & remaining == remaining and all(members[p] >= m for p, m in taken):
            found.append(taken)
    return tuple(found)


def _choose(remaining: int, k: int, classes: dict[int, list]) -> tuple[tuple[int, int], ...] | None:
    """The best ``k`` members from ``classes`` (pattern: the bits of ``remaining`` its
    members cover -> members' scores, best first) whose patterns together cover
    ``remaining``: ((pattern, how many), ...), highest total score; None if none do.
    Members of one class are interchangeable for coverage, so trying multisets of
    classes is exact."""
    best, best_total = None, None
    for taken in _covering_multisets(remaining, k, tuple(sorted((p, len(v)) for p, v in classes.items()))):
        total = sum(sum(classes[p][:m]) for p, m in taken)
        if best_total is None or total > best_total:
            best, best_total = taken, total
    return best


def _classes(domains: np.ndarray, remaining: int) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """Columns ordered by the bits of ``remaining`` they cover, and (pattern, start, end)."""
    patterns = domains & domains.dtype.type(remaining)
    order = np.argsort(patterns, kind="stable")
    values, starts = np.unique(patterns[order], return_index=True)
    ends = [*starts[1:].tolist(), len(order)]
    return order, [(int(v), s, e) for v, s, e in zip(values.tolist(), starts.tolist(), ends)]


def _problem(arrays: BatchArrays, eligible: Eligibility, r: int, groups: np.ndarray, inverse: np.ndarray) -> str:
    """Why no set of eligible auditors can serve row ``r`` even with every capacity free
    (the reasons of ``find_cover``); "" when one can."""
    k, remaining = int(arrays.seats[r]), int(arrays.remaining[r])
    row = eligible.row(r)
    n = int(np.count_nonzero(row))
    if n < k:
        return _("Only %(n)d eligible auditor(s) for %(k)d open seat(s).") % {"n": n, "k": k}
    if not remaining:
        return ""
    classes: dict[int, list] = defaultdict(list)
    for g, members in zip(groups.tolist(), np.bincount(inverse[row], minlength=len(groups)).tolist()):
        if members:
            classes[g & remaining].extend([0] * min(members, k))
    union = 0
    for p in classes:
        union |= p
    missing = [name for b, name in enumerate(arrays.domain_names) if remaining & ~union & (1 << b)]
    if missing:
        return _("No eligible auditor is accredited in %(d)s.") % {"d": domains_text(missing)}
    if _choose(remaining, k, classes) is None:
        flagged = [name for b, name in enumerate(arrays.domain_names) if remaining & (1 << b)]
        return _("No %(k)d eligible auditors together cover every flagged domain (%(d)s).") % {
            "k": k, "d": domains_text(flagged)}
    return ""


def _greedy(order: list[int], scores: np.ndarray, eligible: Eligibility, threshold: float,
            classes: dict[int, tuple], max_failures: int) -> dict[int, list[int]] | None:
    """Assign applications (rows, most constrained first) one by one, each to the best
    ``k`` auditors by score whose load ratio stays within ``threshold`` and within
    capacity, together covering the flagged domains. ``scores`` is -inf where a pair is
    excluded (``Eligibility.excluded``). Returns {application: accreditation ids}, or
    None as soon as more than ``max_failures`` applications fail."""
    arrays = eligible.arrays
    capacity = arrays.capacity
    limit = _limits(arrays, threshold)
    used = arrays.active.copy()
    # Added to a row of ``scores``, one row per tier: -inf where the auditor is not
    # accredited for the tier or one more seat would pass the limit, else the change
    # of the load term since the scores were computed.
    tier_penalty = np.where(eligible.by_tier, np.float32(0), np.float32(-np.inf)).astype(np.float32)
    deltas = tier_penalty + np.where(used + 1 <= limit, np.float32(0), np.float32(-np.inf)).astype(np.float32)
    load_after, acc_ids, tier_row = arrays.load_after, arrays.acc_ids, arrays.tier_row
    assignments: dict[int, list[int]] = {}
    failures = 0
    for r in order:
        k, remaining = int(arrays.seats[r]), int(arrays.remaining[r])
        key = scores[r] + deltas[tier_row[r]]
        chosen: list[int] | None = []
        if not remaining:
            for _seat in range(k):
                i = int(key.argmax())
                if key[i] == -np.inf:
                    chosen = None
                    break
                chosen.append(i)
                key[i] = -np.inf
        else:
            perm, bounds = classes[remaining]
            ordered = key[perm]
            members: dict[int, list[float]] = {}
            columns: dict[int, list[int]] = {}
            for pattern, start, end in bounds:
                segment = ordered[start:end]
                for _seat in range(min(k, end - start)):
                    j = int(segment.argmax())
                    if segment[j] == -np.inf:
                        break
                    members.setdefault(pattern, []).append(float(segment[j]))
                    columns.setdefault(pattern, []).append(int(perm[start + j]))
                    segment[j] = -np.inf
            picked = _choose(remaining, k, members)
            chosen = None if picked is None else [i for p, m in picked for i in columns[p][:m]]
        if chosen is None:
            failures += 1
            if failures > max_failures:
                return None
            continue
        for i in chosen:
            used[i] += 1
            change = (-np.inf if used[i] + 1 > limit[i]
                      else LOAD_WEIGHT * (load_after[i] - np.float32((used[i] + 1) / capacity[i])))
            deltas[:, i] = tier_penalty[:, i] + np.float32(change)
        assignments[arrays.app_ids[r]] = [int(acc_ids[i]) for i in chosen]
    return assignments


def _limits(arrays: BatchArrays, threshold: float) -> np.ndarray:
    """Engagements each auditor may reach under a load-ratio ceiling (never past capacity)."""
    capacity = arrays.capacity
    return np.minimum(capacity, np.floor(threshold * capacity + 1e-9)).astype(np.int64)


def _lowest(eligible: Eligibility, ratios: list[float], rows: list[int], seats: int | None = None) -> int:
    """The index of the first ceiling in ``ratios`` whose free capacity could hold ``rows``:
    in all, per tier and per tier and flagged domain (seats needing it); or, given
    ``seats``, only that many seats in all. A lower bound; the last index if none holds."""
    arrays = eligible.arrays
    n = arrays.shape[1]
    pools, needs = [np.ones(n, bool)], [int(arrays.seats[rows].sum()) if seats is None else seats]
    if seats is None:
        tier_row, remaining = arrays.tier_row[rows], arrays.remaining[rows]
        for t in range(len(arrays.tier_values)):
            in_tier = tier_row == t
            pools.append(eligible.by_tier[t])
            needs.append(int(arrays.seats[rows][in_tier].sum()))
            for bit in range(len(arrays.domain_names)):
                flag = arrays.domains.dtype.type(1 << bit)
                pools.append(eligible.by_tier[t] & ((arrays.domains & flag) != 0))
                needs.append(int(np.count_nonzero(in_tier & ((remaining & flag) != 0))))
    pool_matrix, need = np.array(pools, dtype=np.int64), np.array(needs, dtype=np.int64)
    for i, threshold in enumerate(ratios):
        if (pool_matrix @ np.maximum(_limits(arrays, threshold) - arrays.active, 0) >= need).all():
            return i
    return len(ratios) - 1


@dataclass
class BatchProposal:
    assignments: dict[int, list[int]]  # application id -> accreditation ids
    unservable: dict[int, str]
    max_load_ratio: float
    loads: dict[int, tuple[int, int]]  # accreditation id -> (engagements after the batch, capacity)

    def to_dict(self) -> dict:
        return {
            "assignments": [{"application": a, "auditors": accs} for a, accs in sorted(self.assignments.items())],
            "unservable": [{"application": a, "reason": r} for a, r in sorted(self.unservable.items())],
            "max_load_ratio": round(self.max_load_ratio, 4),
            "loads": [{"accreditation": acc, "engagements": n, "capacity": c}
                      for acc, (n, c) in sorted(self.loads.items())],
        }


def propose_batch(apps: list[Application], today: date | None = None, facts: Facts | None = None) -> BatchProposal:
    """Offers for many applications at once, minimizing the highest load ratio.

    On (application x auditor) arrays: the eligibility (the rules of ``evaluate``,
    conflicts looked up by key, no loop over pairs) and the ``score_matrix``. The
    applications no set of eligible auditors can serve are reported with the reason of
    ``find_cover``. The greedy (``_greedy``: most constrained first, i.e. fewest
    eligible auditors, then most seats and flagged domains) runs first under the
    lowest load-ratio ceiling whose free capacity could hold every open seat (per tier
    and domain too); if it leaves some out, higher ceilings are tried, up to full
    capacity, to learn how many can be served; then a binary search finds the smallest
    ceiling at which the greedy still serves as many. The others are reported as lost
    to the demand of the rest of the batch.
    """
    today = today or timezone.localdate()
    facts = facts or load(apps, today)
    arrays = batch_arrays(facts)
    n = arrays.shape[1]
    eligible = eligibility(arrays, facts, today)
    scores = score_matrix(arrays.domains, arrays.remaining, arrays.load_after, arrays.rotation)
    scores.reshape(-1)[eligible.excluded] = -np.inf  # tier and capacity: per tier, in the greedy
    ids = np.array(arrays.app_ids, dtype=np.int64)
    counts = eligible.counts()
    order = np.lexsort((ids, -np.bitwise_count(arrays.remaining).astype(np.int64), -arrays.seats, counts)).tolist()
    classes = {rem: _classes(arrays.domains, rem) for rem in set(arrays.remaining.tolist()) if rem}
    ratios = sorted({c_n / c for c, a in set(zip(arrays.capacity.tolist(), arrays.active.tolist())) if c
                     for c_n in range(a + 1, c + 1)}) or [1.0]
    last = len(ratios) - 1

    # Applications no set of eligible auditors can serve, even with every capacity free,
    # get their reason and are left out: first the plain cases (too few eligible, a
    # domain nobody eligible for the tier is accredited in), then any the first pass
    # fails (it took nothing for them).
    unservable: dict[int, str] = {}
    groups, inverse = np.unique(arrays.domains, return_inverse=True)

    def drop_problems(rows: list[int]) -> None:
        nonlocal order
        for r in rows:
            problem = _problem(arrays, eligible, r, groups, inverse)
            if problem:
                unservable[arrays.app_ids[r]] = problem
        order = [r for r in order if arrays.app_ids[r] not in unservable]

    tier_domains = np.array([np.bitwise_or.reduce(arrays.domains[eligible.by_tier[t]])
                             for t in range(len(arrays.tier_values))], dtype=arrays.domains.dtype)
    plain = (counts < arrays.seats) | ((arrays.remaining & ~tier_domains[arrays.tier_row]) != 0)
    drop_problems(np.flatnonzero(plain).tolist())
    # First pass under the lowest ceiling that could hold every open seat; an
    # application it leaves out is either one that cannot be served, or lost to the
    # others' demand.
    start = _lowest(eligible, ratios, order)
    best = _greedy(order, scores, eligible, ratios[start], classes, len(order))
    drop_problems([r for r in order if arrays.app_ids[r] not in best])
    # Then the smallest ceiling at which the greedy serves as many as it can at all.
    target, found, lo = len(order), start, _lowest(eligible, ratios, order)
    if len(best) < target:
        # Hoping every one can be served: higher ceilings, 1, 2, 4... steps above the
        # highest known to fail, each pass stopping at its first failure.
        found, below, step = None, start, 1
        while found is None and below < last:
            j = min(below + step, last)
            trial = _greedy(order, scores, eligible, ratios[j], classes, 0)
            if trial is not None:
                best, found = trial, j
            else:
                below, step = j, step * 2
        lo = below + 1
        if found is None:
            # Not every one: as many as full capacity serves (or the first pass did).
            full = _greedy(order, scores, eligible, ratios[last], classes, len(order)) if start < last else best
            best, found = (full, last) if len(full) > len(best) else (best, start)
            target = len(best)
            lo = _lowest(eligible, ratios, order, seats=int(np.sort(arrays.seats[order])[:target].sum()))
    hi = found - 1
    while lo <= hi and order:
        mid = (lo + hi) // 2
        trial = _greedy(order, scores, eligible, ratios[mid], classes, len(order) - target)
        if trial is not None and len(trial) >= target:
            best, hi = trial, mid - 1
        else:
            lo = mid + 1
    for r in order:
        if arrays.app_ids[r] not in best:
            unservable[arrays.app_ids[r]] = _(
                "The eligible auditors' capacity is taken by other applications in this batch.")
    taken = np.zeros(n, np.int64)
    col = {acc: i for i, acc in enumerate(arrays.acc_ids.tolist())}
    for accs in best.values():
        for acc in accs:
            taken[col[acc]] += 1
    after = arrays.active + taken
    loads = dict(zip(arrays.acc_ids.tolist(), zip(after.tolist(), arrays.capacity.tolist())))
    with_capacity = arrays.capacity > 0
    max_ratio = float((after[with_capacity] / arrays.capacity[with_capacity]).max()) if with_capacity.any() else 0.0
    return BatchProposal(best, unservable, max_ratio, loads)
