"""Verification on a Dask distributed cluster: `gradledger verify --scheduler ADDRESS`.

The client sends one task per op, longest first (Dask `priority`); each Dask worker
verifies its ops in a worker process of its own (`workers.Pool`, one per Dask worker
thread, kept for the next task), so a crashing op is a FAIL there as it is locally.
Before anything runs, and again in every task, each worker compares its fingerprint
(gradledger's, hypothesis's and every plugin's version) with the client's and refuses
to verify with a different one: a verdict from other code is no verdict. Plugins
registered by hand travel with the tasks as they do to local workers. The reports
come back to the client, which prints one table and writes one JSON, as a local run.

Needs `pip install 'gradledger[distributed]'` on the client and every worker.
"""

from __future__ import annotations

import atexit
import threading
import types
import uuid

CONNECT_TIMEOUT = "20s"
"""How long the client waits for the scheduler to answer."""


class ClusterError(Exception):
    """The cluster cannot verify (not reachable, no workers, or different versions)."""


def fingerprint() -> dict:
    """What must be equal on the client and every worker for their verdicts to agree."""
    import hypothesis

    from .. import __version__
    from ..loader import host

    host.ensure_loaded()
    return {
        "gradledger": __version__,
        "hypothesis": hypothesis.__version__,
        "plugins": {r.name: f"{r.where} ({r.status})" for r in host.records.values()
                    if r.distribution is not None},
    }


def differences(mine: dict, theirs: dict) -> str:
    """What differs between two fingerprints, in words ('' when they are equal)."""
    found = []
    for key in ("gradledger", "hypothesis"):
        if mine.get(key) != theirs.get(key):
            found.append(f"{key} {theirs.get(key)} where the client has {mine.get(key)}")
    ours, other = mine.get("plugins", {}), theirs.get("plugins", {})
    for name in sorted(set(ours) | set(other)):
        if ours.get(name) != other.get(name):
            found.append(f"plugin {name!r} {other.get(name, 'missing')} where the client has "
                         f"{ours.get(name, 'none')}")
    return "; ".join(found)


def run_on_cluster(scheduler, tasks: list, display, *, examples, seed, settings,
                   time_limit) -> dict:
    """Verify `tasks` ([(index, op)], longest first) on the cluster; {index: report}."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ClusterError("--scheduler needs Dask distributed on the client and every worker: "
                           "pip install 'gradledger[distributed]'") from None
    from ..loader import host
    from .workers import hand_plugins, own_modules

    plugins, unbuildable = hand_plugins(host)
    if unbuildable:
        name, why = next(iter(unbuildable.items()))
        raise ClusterError(f"plugin {name!r} was registered by hand and cannot travel to the "
                           f"cluster's workers ({why})")
    own = isinstance(scheduler, Client)
    try:
        client = scheduler if own else Client(scheduler, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    try:
        expected = fingerprint()
        found = client.run(fingerprint)
        if not found:
            raise ClusterError(f"the Dask cluster at {client.scheduler.address} has no workers")
        for address, theirs in sorted(found.items()):
            why = differences(expected, theirs)
            if why:
                raise ClusterError(f"Dask worker {address} refuses to verify: it has {why}; "
                                   "install the same gradledger and plugins on every worker")
        job = {"examples": examples, "seed": seed, "settings": settings,
               "time_limit": time_limit, "plugins": plugins, "fingerprint": expected,
               "modules": own_modules(),
               "run": uuid.uuid4().hex}
        futures = {}
        for rank, (index, op) in enumerate(tasks):
            identity = (op.name, op.plugin, op.distribution, op.version)
            future = client.submit(verify_remote, job, identity, pure=False,
                                   priority=len(tasks) - rank,
                                   key=f"gradledger-verify-{op.name}-{job['run']}")
            futures[future] = (index, op)
        reports = {}
        for future in as_completed(futures):
            index, op = futures[future]
            outcome = future.result()
            if isinstance(outcome, str):
                raise ClusterError(outcome)
            display.begin(index, op)
            reports[index] = outcome
            display.done(index, op, outcome)
        return reports
    finally:
        if not own:
            client.close()


# -- on a Dask worker --------------------------------------------------------------------

_local = threading.local()


def verify_remote(job: dict, identity: tuple):
    """Run on a Dask worker: verify one op in this worker's own worker process; the report,
    or a refusal (a str) when this worker's versions are not the client's."""
    from .progress import Progress
    from .workers import Pool, Task, in_process_note

    why = differences(job["fingerprint"], fingerprint())
    if why:
        from distributed import get_worker

        return f"Dask worker {get_worker().address} refuses to verify: it has {why}"
    pools = getattr(_local, "pools", None)
    if pools is None:
        pools = _local.pools = {}
    pool = pools.get(job["run"])
    if pool is None:
        for old in pools.values():
            old.close()
        pools.clear()
        pool = pools[job["run"]] = Pool(1, examples=job["examples"], seed=job["seed"],
                                        settings=job["settings"],
                                        time_limit=job["time_limit"], plugins=job["plugins"],
                                        modules=job["modules"])
        atexit.register(pool.close)
    name, plugin, distribution, version = identity
    op = types.SimpleNamespace(name=name, plugin=plugin, distribution=distribution,
                               version=version)
    quiet = Progress()
    quiet.start([op], {}, 1)
    done, local, unbuilt, notice = pool.run([Task(0, op)], quiet)
    if done:
        return done[0]
    from .engine import verify_op
    from .workers import crash_report

    if notice:
        return crash_report(op, "verifier", f"on this Dask worker, {notice}")
    report = verify_op(name, examples=job["examples"], seed=job["seed"],
                       settings=job["settings"])
    report.notes.append(in_process_note(plugin, unbuilt.get(plugin, "the worker process "
                                                           "does not hold the op")))
    return report
