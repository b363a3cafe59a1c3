"""Verification on a real Dask distributed cluster (two worker processes on 127.0.0.1)."""

import pytest

distributed = pytest.importorskip("distributed", reason="pip install 'gradledger[distributed]'")

from gradledger.verify import PASS, verify_all  # noqa: E402
from gradledger.verify.distributed import ClusterError, differences, fingerprint  # noqa: E402

NAMES = ["matmul", "relu", "sum", "log", "moveaxis", "conv2d"]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0") as made:
        yield made


def _verdicts(reports):
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in reports]


def test_a_local_cluster_gives_the_serial_reports(cluster, fresh_host):
    serial = verify_all(NAMES, examples=10, seed=3, workers=1, progress=False)
    remote = verify_all(NAMES, examples=10, seed=3, scheduler=cluster.scheduler_address,
                        progress=False)
    assert _verdicts(remote) == _verdicts(serial)
    assert all(r.status == PASS for r in remote)


def test_a_worker_with_other_versions_refuses_with_what_differs():
    mine = fingerprint()
    theirs = {**mine, "gradledger": "0.0.1",
              "plugins": {**mine["plugins"], "example": "gradledger-example-ops 9.9 (loaded)"}}
    why = differences(mine, theirs)
    assert "gradledger 0.0.1 where the client has" in why
    assert "plugin 'example' gradledger-example-ops 9.9 (loaded) where the client has" in why
    assert differences(mine, dict(mine)) == ""


def test_a_worker_with_other_plugins_refuses_before_anything_runs(fresh_host):
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=":0",
                                  env={"GRADLEDGER_BLOCK_PLUGINS": "example"}) as other:
        with pytest.raises(ClusterError) as refused:
            verify_all(["relu"], examples=3, scheduler=other.scheduler_address,
                       progress=False)
    message = str(refused.value)
    assert message.startswith("Dask worker tcp://127.0.0.1:") and "refuses to verify" in message
    assert "plugin 'example' gradledger-example-ops" in message and "(blocked)" in message


def test_an_unreachable_scheduler_is_a_clear_error(fresh_host, monkeypatch):
    from gradledger.verify import distributed as route

    monkeypatch.setattr(route, "CONNECT_TIMEOUT", "1s")
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        verify_all(["relu"], examples=3, scheduler="tcp://127.0.0.1:9", progress=False)
