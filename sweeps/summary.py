"""Stage 5 of a sweep: what it did, from its rows — jobs done and failed (with the first error), trials per
status, wall time — as the lines the driver prints last."""
from __future__ import annotations

import time
from dataclasses import dataclass

from core import cluster_use, ledger
from core.plan import TrialSpec
from sweeps.options import SweepOptions
from sweeps.sweep_folder import sweep_schema


@dataclass
class Summary:
    jobs: int
    jobs_done: int
    failed: dict[str, str]  # job key -> first error
    statuses: dict[str, int]
    wall_s: float
    sweep_dir: str
    cluster: str | None = None  # on a cluster: this run's use of it (core.cluster_use)

    def render(self) -> str:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items()))
        lines = [f"sweep finished in {self.wall_s:.0f}s: {self.jobs_done}/{self.jobs} jobs done, "
                 f"{len(self.failed)} failed; trials: {counts or 'none'}"]
        lines += [f"  failed {key}: {error}" for key, error in sorted(self.failed.items())]
        lines += [self.cluster] if self.cluster else []
        lines.append(f"results: {self.sweep_dir}  (tables: groupsweep report {self.sweep_dir})")
        return "\n".join(lines)


def summarize(options: SweepOptions, trials: list[TrialSpec], t0: float) -> Summary:
    rows = ledger.read_rows(options.sweep_dir, [t.trial_id for t in trials], sweep_schema(trials))
    statuses: dict[str, int] = {}
    by_job: dict[str, list[dict]] = {}
    for spec in trials:
        row = rows[spec.trial_id] or {"status": "missing", "error": "no row written"}
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
        by_job.setdefault(spec.job.key, []).append(row)
    done = [k for k, rs in by_job.items() if any(r["status"] in ledger.FINISHED for r in rs)]
    failed = {k: next((r["error"] for r in rs if r.get("error")), "no finished trial")
              for k, rs in by_job.items() if k not in done}
    runs = cluster_use.read_all(options.sweep_dir) if options.address is not None else []
    return Summary(len(by_job), len(done), failed, statuses, time.time() - t0, options.sweep_dir,
                   runs[-1].render() if runs else None)
