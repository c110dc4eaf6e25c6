"""A process killed while writing a version never leaves a half-published head:
readers see no version, and the next publish puts the whole one in place and
clears the dead writer's staging folder."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from shared.modelstore import STAGING_PREFIX, ModelStore
from tests.faults.processes import ROOT, wait_for

pytestmark = pytest.mark.faults

# Large enough that writing it takes a while: the kill lands mid-write.
WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from shared.modelstore import ModelStore
    weight = np.ones((64, 1_000_000), dtype=np.float32)  # 256 MB
    ModelStore(sys.argv[1]).publish("app", "m", "1", {"weight": weight, "bias": np.ones(64)},
                                    {"version_id": "1"})
""")


def test_writer_killed_mid_publish_leaves_no_version_and_is_cleaned_up(tmp_path):
    store = ModelStore(tmp_path)
    parent = tmp_path / "app" / "m"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT)
    try:
        wait_for(lambda: parent.is_dir() and any(parent.glob(f"{STAGING_PREFIX}1-*")), 60,
                 "the writer to start staging", 0.001)
        writer.send_signal(signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL
    assert not store.exists("app", "m", "1"), "the kill was meant to land before the rename"
    assert not (parent / "1").exists()

    # The redelivered train task publishes the version again.
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    store.publish("app", "m", "1", {"weight": weight, "bias": np.zeros(2)}, {"version_id": "1"})
    assert sorted(p.name for p in parent.iterdir()) == ["1"]
    head = store.load("app", "m", "1")
    assert np.array_equal(head.weight, weight) and head.manifest == {"version_id": "1"}
