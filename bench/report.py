"""Ratios against the baseline, the lead's targets as pass/fail, and the printed tables."""

from dataclasses import dataclass
from typing import Any

BASELINE = "baseline"
OURS = ("ours-sqlite", "ours-postgres")

# Figure → the scenario that measures it (ratios are always ours / baseline).
FIGURES: dict[str, str] = {
    "connects_per_s": "connects",
    "persisted_msgs_per_s": "persisted",
    "persisted_deliveries_per_s": "persisted",
    "fanout_100_deliveries_per_s": "fanout_100",
    "fanout_500_deliveries_per_s": "fanout_500",
    "latency_p50_ms": "latency",
    "latency_p99_ms": "latency",
    "idle_kib_per_conn": "connects",
    "storm_s": "storm",
}
# Other processes busier than this (% of one core) during a window make its figure suspect.
NOISY_OTHER_CPU_PCT = 25.0


@dataclass(frozen=True, slots=True)
class Target:
    """A bound on ours/baseline for one figure: ``ratio >= bound`` or ``ratio <= bound``."""

    figure: str
    at_least: bool
    bound: float

    def describe(self) -> str:
        return f"{'>=' if self.at_least else '<='} {self.bound}x baseline"

    def passes(self, ratio: float) -> bool:
        return ratio >= self.bound if self.at_least else ratio <= self.bound


TARGETS: dict[str, Target] = {
    "fanout_100": Target("fanout_100_deliveries_per_s", True, 1.5),
    "fanout_500": Target("fanout_500_deliveries_per_s", True, 1.5),
    "persisted_throughput": Target("persisted_msgs_per_s", True, 1.5),
    "p99_latency": Target("latency_p99_ms", False, 1.2),
    "authenticated_connects": Target("connects_per_s", True, 1.0),
    "idle_connection_memory": Target("idle_kib_per_conn", False, 1.0),
    "reconnect_storm": Target("storm_s", False, 1.2),
}
# The stretch that sets the direction: server CPU per delivery within this factor of Node's.
NODE = "node"
CPU_VS_NODE_BOUND = 2.0
CPU_VS_NODE_SCENARIOS = ("fanout_100", "fanout_500")


def ratios(figures: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """figure → target → value / baseline value, for every target but the baseline."""
    out: dict[str, dict[str, float]] = {}
    for figure, by_target in figures.items():
        base = by_target.get(BASELINE)
        if not base:
            continue
        out[figure] = {t: v / base for t, v in by_target.items() if t != BASELINE}
    return out


def verdicts(ratio_table: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Each of the lead's targets, with ours' ratio and pass/fail per database."""
    out: dict[str, dict[str, Any]] = {}
    for name, target in TARGETS.items():
        results = {
            t: {"ratio": r, "pass": target.passes(r)}
            for t, r in ratio_table.get(target.figure, {}).items()
            if t in OURS
        }
        out[name] = {"figure": target.figure, "bound": target.describe(), "results": results}
    return out


def cpu_versus_node(cpu: dict[str, dict[str, dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Per fan-out scenario: ours' server CPU µs per delivery over Node's, pass/fail (stretch)."""
    out: dict[str, dict[str, Any]] = {}
    for scenario in CPU_VS_NODE_SCENARIOS:
        by_target = cpu.get(scenario, {})
        node = by_target.get(NODE, {}).get("server_cpu_us_per_op")
        if not node:
            continue
        results = {}
        for target in OURS:
            if target in by_target:
                ratio = by_target[target]["server_cpu_us_per_op"] / node
                results[target] = {"ratio": ratio, "pass": ratio <= CPU_VS_NODE_BOUND}
        out[scenario] = {"bound": f"<= {CPU_VS_NODE_BOUND}x node", "results": results}
    return out


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def table(results: dict[str, Any]) -> str:
    """The table of figures by target with ratios, then the CPU table and the verdicts."""
    targets: list[str] = results["meta"]["targets"]
    ours = [t for t in targets if t in OURS]
    head = ["figure", *targets, *(f"{t}/base" for t in ours)]
    rows = [head]
    for figure, scenario in FIGURES.items():
        values = results["figures"].get(figure, {})
        ratio = results["ratios"].get(figure, {})
        cpu = results["cpu"].get(scenario, {})
        rows.append(
            [
                figure,
                *(_cell(values.get(t)) + _noise_mark(figure, cpu.get(t)) for t in targets),
                *(f"{ratio[t]:.2f}" if t in ratio else "-" for t in ours),
            ]
        )
    lines = _aligned(rows)
    lines.append(
        f"* other processes used over {NOISY_OTHER_CPU_PCT:.0f}% of a core in that window:"
        " this shared machine was busy, so that figure is suspect"
    )
    lines += [
        "",
        "CPU in the measured window: % of one core used by server/generator/other processes,"
        " and server CPU µs per operation",
    ]
    cpu_rows = [["scenario", *targets]]
    for scenario, by_target in results["cpu"].items():
        cpu_rows.append(
            [
                scenario,
                *(_cpu_cell(by_target[t]) if t in by_target else "-" for t in targets),
            ]
        )
    lines += _aligned(cpu_rows)
    lines += ["", "targets (ours / baseline)"]
    for name, verdict in results["targets"].items():
        outcome = ", ".join(
            f"{t} {r['ratio']:.2f} {'PASS' if r['pass'] else 'FAIL'}"
            for t, r in verdict["results"].items()
        )
        lines.append(f"  {name} ({verdict['figure']} {verdict['bound']}): {outcome or '-'}")
    for scenario, verdict in results.get("cpu_vs_node", {}).items():
        outcome = ", ".join(
            f"{t} {r['ratio']:.2f} {'PASS' if r['pass'] else 'FAIL'}"
            for t, r in verdict["results"].items()
        )
        lines.append(
            f"  stretch: server CPU per delivery, {scenario} ({verdict['bound']}): {outcome or '-'}"
        )
    for target, error in results["errors"].items():
        lines.append(f"  ERROR {target}: {error.splitlines()[0] if error else ''}")
    return "\n".join(lines)


def _noise_mark(figure: str, cpu: dict[str, float] | None) -> str:
    if figure == "idle_kib_per_conn" or not cpu:  # memory does not depend on CPU contention
        return " "
    return "*" if cpu["other_cpu_pct"] > NOISY_OTHER_CPU_PCT else " "


def _cpu_cell(cpu: dict[str, float]) -> str:
    return (
        f"{cpu['server_cpu_pct']:.0f}/{cpu['generator_cpu_pct']:.0f}/{cpu['other_cpu_pct']:.0f}%"
        f" {cpu['server_cpu_us_per_op']:,.0f}µs"
    )


def _aligned(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
