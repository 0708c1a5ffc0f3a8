"""Loading on its thread: the import order that lets the web stack import beside it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a fresh interpreter: this one has long since imported SciPy and torch.
SCRIPT = textwrap.dedent(
    """
    import sys

    started = []

    class Recorder:
        def find_spec(self, name, path=None, target=None):
            started.append(name)
            return None

    sys.meta_path.insert(0, Recorder())

    from tests.unit.standin import StandInBackend, make_voice_store
    from tts_service.config import Settings
    from tts_service.loading import load

    load(Settings(g2p="auto", warmup=False), backend=StandInBackend(), voices=make_voice_store())
    print("torch" in started, "scipy.stats" in started)
    if "torch" in started:
        assert "scipy.stats" in started[: started.index("torch")], "torch began before SciPy"
    """
)


def test_loading_imports_scipy_before_misaki_starts_importing_torch() -> None:
    """SciPy's import looks at ``sys.modules['torch']``; a torch half-imported by the loading
    thread made the web stack's SciPy import fail and the server exit at start."""
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["True", "True"]  # misaki did pull torch in: the case is real
