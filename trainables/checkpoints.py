"""A trial's checkpoints in the results folder: the sweep's own ledger, so a rerun with --resume continues a trial
whose driver died (Tune's restore state lags by minutes). `<sweep>/checkpoints/<trial id>/` holds one folder per
saved epoch and `latest.json` naming the complete one (the commit); Tune gets a copy of each as its checkpoint,
and a resumed trial takes the newer of Tune's (a retry) and the ledger's (a driver restart)."""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from core import ledger, store
from core.plan import TrialSpec

EPOCH_FOLDER = re.compile(r"epoch-\d{4,}")  # a checkpoint folder this module names (see Checkpoints.save)
STATE = "trial_state.json"  # in each checkpoint: the history so far and the epoch


class Checkpoints:
    def __init__(self, spec: TrialSpec):
        self.trial_id = spec.trial_id
        self.folder = ledger.checkpoint_path(spec.results_dir, spec.trial_id)

    def save(self, epoch: int, history: list[dict[str, Any]], save: Callable[[Path], None]) -> Path:
        """Save into the epoch's folder (staged on local disk first when the results are on a store), then point
        `latest.json` at it — the commit — and drop older epochs. Returns the local folder Tune should copy."""
        version = f"epoch-{epoch:04d}"
        target = store.join(self.folder, version)
        local = Path(tempfile.mkdtemp(prefix=f"{self.trial_id}-")) if store.is_uri(target) else Path(target)
        shutil.rmtree(local, ignore_errors=True)  # a half-written folder of an attempt that died
        local.mkdir(parents=True)
        save(local)
        (local / STATE).write_text(json.dumps({"history": history, "epoch": epoch}))
        if store.is_uri(target):
            store.put_folder(local, target)
        store.write_text(json.dumps({"epoch": epoch, "folder": version}), store.join(self.folder, "latest.json"))
        for old in store.list_folders(self.folder):
            if EPOCH_FOLDER.fullmatch(old) and old != version:  # only the epochs this trial saved
                store.remove_tree(store.join(self.folder, old))
        return local

    @property
    def staged(self) -> bool:
        """Whether save() stages a local copy that the caller drops once Tune has copied it."""
        return store.is_uri(self.folder)

    def drop(self) -> None:
        """A finished trial has nothing left to resume."""
        store.remove_tree(self.folder)

    def _ledger_latest(self, stack: contextlib.ExitStack) -> Path | None:
        """A local folder holding the ledger's latest checkpoint (fetched when the results are on a store)."""
        pointer = store.read_text(store.join(self.folder, "latest.json"))
        if pointer is None:
            return None
        folder = store.join(self.folder, json.loads(pointer)["folder"])
        if not store.is_uri(folder):
            return Path(folder)
        local = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{self.trial_id}-")))
        return store.get_folder(folder, local)

    @contextlib.contextmanager
    def newest(self, checkpoint: Any) -> Iterator[tuple[Path, dict] | None]:
        """(folder, state) of the newest checkpoint — Tune's `checkpoint` on a retry (None outside Tune or on a
        first start), else the ledger's after a driver restart — or None when the trial never saved one."""
        with contextlib.ExitStack() as stack:
            candidates = [Path(stack.enter_context(checkpoint.as_directory()))] if checkpoint is not None else []
            ledger_folder = self._ledger_latest(stack)
            if ledger_folder is not None:
                candidates.append(ledger_folder)
            states = {folder: json.loads((folder / STATE).read_text()) for folder in candidates}
            yield max(states.items(), key=lambda item: item[1]["epoch"]) if states else None
