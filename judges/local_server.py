"""Start a local OpenAI-compatible judge server: ``transformers serve <model>`` on a free loopback port.

For trying the ``llm`` judge without vLLM or an API key, and for tests and benchmarks. On a GPU, vLLM or
SGLang serve the same API much faster; point ``make_judge("llm", base_url=...)`` at them instead.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
import urllib.request


class TransformersServer:
    """A ``transformers serve`` process; use as a context manager or call :meth:`stop`."""

    def __init__(self, model: str, startup_timeout: float = 240.0, extra_args: tuple[str, ...] = ()):
        self.model = model  # a local folder or hub id; exprl's aliases: agents.models.resolve_model
        executable = shutil.which("transformers")
        if executable is None:
            raise FileNotFoundError("the `transformers` command was not found; pip install 'transformers[serving]'")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen(
            [executable, "serve", self.model, "--host", "127.0.0.1", "--port", str(self.port), *extra_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._wait_healthy(startup_timeout)

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"transformers serve exited with code {self.process.returncode} during start-up")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"transformers serve was not healthy within {timeout:.0f} s")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)

    def __enter__(self) -> TransformersServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
