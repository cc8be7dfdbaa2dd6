"""Where the LLM judge's completions come from: an OpenAI-compatible server, or a model in this process.

``OpenAIBackend`` speaks to vLLM, SGLang, ``transformers serve`` or OpenAI through the ``openai`` client
(its own retries off: ours are counted). Requests run with bounded concurrency. Connection errors,
timeouts, 429 and 5xx are retried with exponential backoff and full jitter; any other 4xx fails at once
(the request is wrong, asking again will not help). After ``breaker_threshold`` consecutive failures the
circuit opens: calls fail immediately for ``breaker_cooldown`` seconds, then one trial call decides.
A failed call returns a :class:`BackendError` in place of text, so the judge can answer unscorable for
that item and go on with the rest of the batch.

``ServerPool`` puts several such servers (a judge fleet serving one model) behind one backend: each request goes to
the least-loaded server whose circuit is closed, round-robin among equally loaded ones; a request that fails there
(connection, timeout, 429, 5xx) is tried next on another server, and only after every server has failed it once does
the pool back off before going round again. A dead server opens its circuit and stops being chosen; a hung one holds
its requests until ``timeout``, and meanwhile the least-loaded choice sends new requests elsewhere. Concurrency and
counters are per server and in all (``server<i>_calls``, ``server<i>_failures``).

Both backends pickle (for subprocess vector envs, Ray workers): a pickle holds the settings, and the
client, thread pool and locks (or the in-process model) are rebuilt on unpickling; the circuit breaker
starts closed. An API key taken from ``OPENAI_API_KEY`` is read again in the new process and never
written into the pickle; a key passed as ``api_key=`` is (it is needed to reconnect).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import attrs

Messages = list[dict[str, str]]


@attrs.frozen
class Sampling:
    """Decoding settings for the judge (the paper decodes greedily, up to 2,048 tokens)."""

    temperature: float = 0.0
    """0 decodes greedily."""
    max_tokens: int = 2048
    """Longest verdict the judge may write."""


@attrs.frozen
class BackendError:
    """A call that produced no text, and why."""

    reason: str
    retryable: bool = False
    unparsable: bool = False
    """True when text came back but never held a valid verdict (the model's failure, not the server's)."""


class Counters:
    """Thread-safe call statistics: calls, retries, failures, latency percentiles."""

    def __init__(self):
        self._lock = threading.Lock()
        self.calls = self.retries = self.failures = 0
        self.latencies: list[float] = []

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, amount in increments.items():
                setattr(self, name, getattr(self, name) + amount)

    def latency(self, seconds: float) -> None:
        with self._lock:
            self.latencies.append(seconds)

    def __getstate__(self) -> dict:
        with self._lock:
            return {name: value for name, value in vars(self).items() if name != "_lock"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            ordered = sorted(self.latencies)
        pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0  # noqa: E731
        return {
            "calls": self.calls,
            "retries": self.retries,
            "failures": self.failures,
            "latency_p50_s": round(pick(0.5), 4),
            "latency_p99_s": round(pick(0.99), 4),
        }


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; after ``cooldown`` s lets one trial call through."""

    def __init__(self, threshold: int = 5, cooldown: float = 30.0):
        self.threshold, self.cooldown = threshold, cooldown
        self._lock = threading.Lock()
        self._failures, self._opened_at, self._trial_running = 0, None, False

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if time.monotonic() - self._opened_at >= self.cooldown and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def record(self, ok: bool) -> None:
        with self._lock:
            self._trial_running = False
            if ok:
                self._failures, self._opened_at = 0, None
                return
            self._failures += 1
            if self._failures >= self.threshold:
                self._opened_at = time.monotonic()

    @property
    def open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def __reduce__(self):
        return (CircuitBreaker, (self.threshold, self.cooldown))  # closed again: its clock is this process's


CIRCUIT_OPEN = BackendError("circuit open: the judge server failed repeatedly; waiting before retrying")
"""A call refused without being made: not retried on that server (its breaker decides when to try it again)."""


def _classify(error: Exception) -> BackendError:
    import openai

    if isinstance(error, (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError)):
        return BackendError(f"{type(error).__name__}: {error}", retryable=True)
    if isinstance(error, openai.APIStatusError):
        return BackendError(f"HTTP {error.status_code}: {error.message}", retryable=False)
    return BackendError(f"{type(error).__name__}: {error}", retryable=False)


class OpenAIBackend:
    """Chat completions from any OpenAI-compatible server (see module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
    ):
        from openai import OpenAI

        self._settings = {
            "base_url": base_url,
            "model": model,
            "api_key": api_key,
            "timeout": timeout,
            "max_concurrency": max_concurrency,
            "max_retries": max_retries,
            "backoff": backoff,
            "max_backoff": max_backoff,
            "breaker_threshold": breaker_threshold,
            "breaker_cooldown": breaker_cooldown,
        }
        self.model, self.max_retries, self.backoff, self.max_backoff = model, max_retries, backoff, max_backoff
        key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.client = OpenAI(base_url=base_url, api_key=key, timeout=timeout, max_retries=0)
        self.pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="exprl-judge")
        self.breaker = CircuitBreaker(breaker_threshold, breaker_cooldown)
        self.counters = Counters()

    def complete_many(self, conversations: Sequence[Messages], sampling: Sampling) -> list[str | BackendError]:
        return list(self.pool.map(lambda messages: self.complete(messages, sampling), conversations))

    def complete(self, messages: Messages, sampling: Sampling) -> str | BackendError:
        for attempt in range(self.max_retries + 1):
            result = self.attempt(messages, sampling)
            if isinstance(result, str):
                return result
            if not result.retryable or attempt == self.max_retries:
                self.counters.add(failures=1)
                return result
            self.counters.add(retries=1)
            time.sleep(self.delay(attempt))
        raise AssertionError("unreachable")

    def attempt(self, messages: Messages, sampling: Sampling) -> str | BackendError:
        """One call (counted, timed, recorded by the breaker); refused at once with :data:`CIRCUIT_OPEN` while the
        circuit is open."""
        if not self.breaker.allow():
            return CIRCUIT_OPEN
        started = time.monotonic()
        self.counters.add(calls=1)
        try:
            reply = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=sampling.temperature,
                max_tokens=sampling.max_tokens,
            )
        except Exception as exception:  # classified; nothing is swallowed silently
            error = _classify(exception)
            self.breaker.record(ok=not error.retryable)
            return error
        self.breaker.record(ok=True)
        self.counters.latency(time.monotonic() - started)
        return reply.choices[0].message.content or ""

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry ``attempt + 1``: exponential backoff with full jitter."""
        return random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.client.close()

    def __getstate__(self) -> dict:
        current = {"max_retries": self.max_retries, "backoff": self.backoff, "max_backoff": self.max_backoff}
        return {"settings": {**self._settings, **current}, "counters": self.counters}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["settings"])
        self.counters = state["counters"]


class ServerPool:
    """Chat completions from several OpenAI-compatible servers serving the same model (see module docstring).

    ``max_concurrency`` is per server: the pool sends at most ``max_concurrency`` x servers requests at once, and the
    least-loaded choice keeps each server near its share (a server can briefly hold more while another is skipped
    for this request). ``max_retries`` counts attempts after the first, on any server. Each server is an
    :class:`OpenAIBackend` with its own breaker, of which only :meth:`OpenAIBackend.attempt` is used."""

    def __init__(
        self,
        base_urls: Sequence[str],
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        breaker_threshold: int = 5,
        breaker_cooldown: float = 30.0,
    ):
        if not base_urls:
            raise ValueError("a server pool needs at least one base_url")
        server = dict(timeout=timeout, max_concurrency=max_concurrency, max_retries=0, backoff=backoff)
        server.update(max_backoff=max_backoff, breaker_threshold=breaker_threshold, breaker_cooldown=breaker_cooldown)
        self._settings = {"base_urls": list(base_urls), "model": model, "api_key": api_key, **server}
        self._settings["max_retries"] = max_retries
        self.servers = [OpenAIBackend(url, model, api_key, **server) for url in base_urls]
        self.model, self.max_retries = model, max_retries
        self.pool = ThreadPoolExecutor(max_workers=max_concurrency * len(self.servers), thread_name_prefix="exprl-pool")
        self._lock = threading.Lock()
        self._in_flight = [0] * len(self.servers)
        self._next = 0  # where round-robin among equally loaded servers starts
        self.counters = PoolCounters(self.servers)

    def complete_many(self, conversations: Sequence[Messages], sampling: Sampling) -> list[str | BackendError]:
        return list(self.pool.map(lambda messages: self.complete(messages, sampling), conversations))

    def complete(self, messages: Messages, sampling: Sampling) -> str | BackendError:
        failed: set[int] = set()
        rounds = 0
        for attempt in range(self.max_retries + 1):
            index = self._take(failed)
            started = time.monotonic()
            try:
                result = self.servers[index].attempt(messages, sampling)
            finally:
                self._give_back(index)
            if isinstance(result, str):
                self.counters.add(calls=1)
                self.counters.latency(time.monotonic() - started)
                return result
            self.counters.add(calls=int(result is not CIRCUIT_OPEN))
            self.servers[index].counters.add(failures=1)
            if not (result.retryable or result is CIRCUIT_OPEN) or attempt == self.max_retries:
                self.counters.add(failures=1)  # a 4xx: every server would refuse the same request
                return result
            self.counters.add(retries=1)
            failed.add(index)
            if len(failed) == len(self.servers):  # each has failed once: back off, then go round again
                time.sleep(self.servers[0].delay(rounds))
                failed.clear()
                rounds += 1
        raise AssertionError("unreachable")

    def _take(self, failed: set[int]) -> int:
        """The least-loaded server not yet failed for this request, preferring closed circuits; counted in flight."""
        with self._lock:
            candidates = [i for i in range(len(self.servers)) if i not in failed]
            closed = [i for i in candidates if not self.servers[i].breaker.open] or candidates
            n = len(self.servers)
            index = min(closed, key=lambda i: (self._in_flight[i], (i - self._next) % n))
            self._in_flight[index] += 1
            self._next = (index + 1) % n
            return index

    def _give_back(self, index: int) -> None:
        with self._lock:
            self._in_flight[index] -= 1

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
        for server in self.servers:
            server.close()

    def __getstate__(self) -> dict:
        return {"settings": self._settings, "counters": self.counters.snapshot()}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["settings"])  # counters restart: they count this process's calls


class PoolCounters(Counters):
    """A pool's counters in all, and each server's calls and failures (a refusal by its open circuit included)."""

    def __init__(self, servers: Sequence[OpenAIBackend]):
        super().__init__()
        self._servers = servers

    def snapshot(self) -> dict[str, float]:
        found = super().snapshot()
        for i, server in enumerate(self._servers):
            own = server.counters.snapshot()
            found.update({f"server{i}_calls": own["calls"], f"server{i}_failures": own["failures"]})
        return found


class TransformersBackend:
    """Greedy or sampled chat completions from a causal LM loaded in this process, in padded batches."""

    def __init__(self, model: str, device: str = "cpu", batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = model  # a local folder or hub id (exprl's aliases resolve with agents.models.resolve_model)
        self._settings = {"model": model, "device": device, "batch_size": batch_size}
        self.model, self.device, self.batch_size = model, device, batch_size
        self.tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.lm = AutoModelForCausalLM.from_pretrained(path).to(device).eval()
        self._torch = torch
        self.counters = Counters()

    def complete_many(self, conversations: Sequence[Messages], sampling: Sampling) -> list[str | BackendError]:
        texts: list[str | BackendError] = []
        for start in range(0, len(conversations), self.batch_size):
            texts += self._batch(conversations[start : start + self.batch_size], sampling)
        return texts

    def _batch(self, conversations: Sequence[Messages], sampling: Sampling) -> list[str | BackendError]:
        started = time.monotonic()
        prompts = [
            self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in conversations
        ]
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        self.counters.add(calls=len(prompts))
        try:
            with self._torch.no_grad():
                output = self.lm.generate(
                    **inputs,
                    max_new_tokens=sampling.max_tokens,
                    do_sample=sampling.temperature > 0,
                    temperature=sampling.temperature if sampling.temperature > 0 else None,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
        except RuntimeError as error:  # e.g. out of memory: every item of the batch is unscorable
            self.counters.add(failures=len(prompts))
            return [BackendError(f"generation failed: {error}") for _ in prompts]
        self.counters.latency(time.monotonic() - started)
        new = output[:, inputs["input_ids"].shape[1] :]
        return self.tokenizer.batch_decode(new, skip_special_tokens=True)

    def close(self) -> None:
        pass

    def __getstate__(self) -> dict:
        """The settings only: the model is loaded again from ``model`` when unpickled, not copied into the pickle."""
        return {"settings": self._settings, "counters": self.counters}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state["settings"])
        self.counters = state["counters"]
