"""Medians, paired ratios and the results table.

Ratios are the median of per-round ratios: servers run back to back within a round, so
pairing them by round cancels the machine's slow drifts (the reason for interleaving).
"""

from __future__ import annotations

from collections import defaultdict
from statistics import median

from benchmarks.scenarios import SCENARIOS

SUBJECT = "bws"
#: Column order; every column but bws is also a peer bws's ratio is taken against.
ORDER = ("autobahn", "websockets", "aiohttp", "picows", "twisted-tcp", "bws-baseline", "bws",
         "bws-w1", "bws-w2")
MISSING = "—"


def _group(sample: dict) -> tuple[str, str, str]:
    """(scenario, row label, column) — scenario 7 compares clients, one row per server."""
    scenario = SCENARIOS[sample["scenario"]]
    if scenario.subject == "client":
        return scenario.name, f"{scenario.name}→{sample['server']}", sample["client"]
    return scenario.name, scenario.name, sample["server"]


def summarize(samples: list[dict]) -> list[dict]:
    """One row per (scenario row, metric): medians per column and bws ratios."""
    values = defaultdict(lambda: defaultdict(dict))  # (row, metric) -> column -> round -> v
    columns, rows = [], []
    for s in samples:
        if "metrics" not in s:
            continue
        name, label, column = _group(s)
        if column not in columns:
            columns.append(column)
        for key, value in s["metrics"].items():
            if (name, label, key) not in rows:
                rows.append((name, label, key))
            values[(label, key)][column][s["round"]] = value
    columns.sort(key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))
    order = list(SCENARIOS)
    rows.sort(key=lambda row: order.index(row[0]))  # stable: metric order kept

    out = []
    for name, label, key in rows:
        scenario = SCENARIOS[name]
        metric = next(m for m in scenario.metrics if m.key == key)
        by_column = values[(label, key)]
        row = {
            "scenario": name,
            "row": label,
            "metric": key,
            "label": metric.label,
            "fmt": metric.fmt,
            "ratio": metric.ratio,
            "medians": {},
            "ratios": {},
            "paired": {},  # the per-round ratios behind each median
            "target": metric.target,
        }
        for column, by_round in by_column.items():
            row["medians"][column] = median(by_round.values())
        for base in by_column if metric.ratio else ():
            if base == SUBJECT:
                continue
            mine, theirs = by_column.get(SUBJECT, {}), by_column[base]
            paired = [mine[r] / theirs[r] for r in mine if r in theirs and theirs[r]]
            if paired:
                row["ratios"][base] = median(paired)
                row["paired"][base] = paired
        row["headline"] = key == scenario.metrics[0].key
        out.append(row)
    return out


def _ordered(columns) -> list[str]:
    return sorted(columns, key=lambda c: (ORDER.index(c) if c in ORDER else len(ORDER), c))


def columns_of(rows: list[dict]) -> list[str]:
    return _ordered({c for r in rows for c in r["medians"]} | {SUBJECT})


def table(rows: list[dict]) -> str:
    """A reStructuredText simple table (so it can be pasted into docs/benchmarks.rst)."""
    columns = columns_of(rows)
    peers = [c for c in columns if c != SUBJECT]
    header = ["scenario", "metric", *columns, *(f"{SUBJECT}/{b}" for b in peers), "target"]
    lines = []
    for r in rows:
        cells = [r["row"], r["label"]]
        for c in columns:
            v = r["medians"].get(c)
            cells.append(MISSING if v is None or v != v else r["fmt"].format(v))
        for b in peers:
            cells.append(_ratio_cell(r, b))
        cells.append(_target_cell(r))
        lines.append(cells)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    rule = "  ".join("=" * w for w in widths)

    def fmt(cells):
        first = [f"{cells[0]:<{widths[0]}}", f"{cells[1]:<{widths[1]}}"]
        rest = [f"{c:>{w}}" for c, w in zip(cells[2:], widths[2:], strict=True)]
        return "  ".join(first + rest).rstrip()

    return "\n".join([rule, fmt(header), rule, *(fmt(c) for c in lines), rule])


def _ratio_cell(row: dict, base: str) -> str:
    """The median ratio; on headline rows with its per-round range, to judge the noise."""
    ratio = row["ratios"].get(base)
    if ratio is None or ratio != ratio:
        return MISSING if row["ratio"] else ""
    paired = row["paired"][base]
    if row["headline"] and len(paired) > 1:
        return f"{ratio:.2f} ({min(paired):.2f}–{max(paired):.2f})"
    return f"{ratio:.2f}"


def _target_cell(row: dict) -> str:
    """The issue's goal for this figure (``≤1.15×twisted-tcp``), and whether it is met."""
    if row["target"] is None:
        return ""
    peer, limit = row["target"]
    goal = f"≤{limit:.2f}×{peer}"
    ratio = row["ratios"].get(peer)
    if ratio is None or ratio != ratio:
        return goal
    return f"{goal} {'ok' if ratio <= limit else 'OVER'}"
