"""Load points: N concurrent streams, their steady window, figures, and errors as figures."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from fakeopenai import Reply, Script, fake_openai

from wattbench.backends.protocol import Generation, Sampling
from wattbench.monitors.meter import Sample, WindowReading
from wattbench.serving.slo import parse_slo
from wattbench.serving.streams import _Request, _steady, percentile, tokens_inside

ONE_CASE = ("-k", "qa and short and L0")
OVERFLOW = json.dumps({"error": {"code": 500, "type": "exceed_context_size_error",
                                 "message": "the request exceeds the available context size",
                                 "n_prompt_tokens": 1407, "n_ctx": 256}})


def records(run_dir: Path) -> list[dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def generation(first: float, last: float, tokens: int, done: float | None = None) -> Generation:
    return Generation("x", 5, tokens, first - 0.1, first, last, done or last, "stop", {})


def test_percentiles_are_numpys_linear_ones() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == pytest.approx(3.7)


def test_a_quality_change_needs_ten_answers_a_side() -> None:
    from wattbench.report.loadcurve import curves

    few = [point(1, 80, 80, 0.9, (0.5, 0.45, 0.55)), point(2, 150, 75, 0.5, (0.3, 0.25, 0.35))]
    for row in few:
        row["requests"] = 4
    assert curves(few)[0].quality_changes == []


def test_tokens_inside_a_span_are_spread_between_first_and_last_token() -> None:
    g = generation(10.0, 20.0, 100)
    assert tokens_inside(g, 0.0, 30.0) == 100
    assert tokens_inside(g, 15.0, 30.0) == pytest.approx(50)
    assert tokens_inside(g, 21.0, 30.0) == 0
    assert tokens_inside(generation(10.0, 10.0, 1), 9.0, 11.0) == 1


def test_the_steady_state_runs_from_the_last_first_token_to_the_first_stream_dry() -> None:
    a = [_Request(0, 0, Sampling(), generation(1.0, 5.0, 40)),
         _Request(0, 1, Sampling(), generation(5.5, 9.0, 40))]
    b = [_Request(1, 2, Sampling(), generation(2.0, 7.0, 40))]
    assert _steady([a, b]) == (2.0, 7.0)
    assert _steady([a, [_Request(1, 2, Sampling(), None, "HTTP 500")]]) is None  # never N in flight
    late = [_Request(1, 2, Sampling(), generation(9.5, 12.0, 40))]
    assert _steady([a, late]) is None  # stream 1 started after stream 0 ran dry


def test_a_window_is_cut_to_a_span_with_its_joules_interpolated() -> None:
    samples = tuple(Sample(t, {}, {"p": 10.0 * t}) for t in (0.0, 1.0, 2.0, 3.0))  # 10 W
    reading = WindowReading(3.0, {"p": 30.0}, {"p": 3}, samples)
    cut = reading.between(0.5, 2.25)
    assert cut.duration_s == pytest.approx(1.75)
    assert cut.joules["p"] == pytest.approx(17.5)
    assert [s.t for s in cut.samples] == [0.5, 1.0, 2.0, 2.25]
    with pytest.raises(ValueError, match="not inside"):
        reading.between(2.0, 4.0)


def test_slos_parse_with_units_and_refuse_what_they_cannot_read() -> None:
    slo = parse_slo("ttft<=2s, tpot<=100ms")
    assert slo.limits == {"ttft": 2.0, "tpot": 0.1}
    assert slo.met({"ttft_s": 1.5, "tpot_s": 0.05}) is True
    assert slo.met({"ttft_s": 2.5, "tpot_s": 0.05}) is False
    assert parse_slo("").met({"ttft_s": 9.0}) is None
    with pytest.raises(ValueError, match="'ttft<2s' is not an SLO"):
        parse_slo("ttft<2s")
    with pytest.raises(ValueError, match=r"'ttft<=\.' is not an SLO"):
        parse_slo("ttft<=.")
    with pytest.raises(ValueError, match="ttft is given twice"):
        parse_slo("ttft<=2s,ttft<=1s")


def test_an_overloaded_server_gives_an_error_rate_with_no_retries_and_nothing_lost(
    suite: pytest.Pytester,
) -> None:
    """A server with one slot answers llama-server's exceed_context_size_error (HTTP 500) to any
    request that arrives while another is in flight: at N = 2 every such request is a failed
    request of the point, counted and named, never retried; the others are recorded."""
    script = Script()
    errors_sent = threading.Semaphore(0)

    def one_slot(body: dict[str, Any]) -> Reply:
        if body.get("stream") and script.in_flight > 1:
            errors_sent.release()
            return Reply(500, OVERFLOW)
        return Reply(delay_s=0.3 if body.get("stream") else 0.0)  # long enough for the other to arrive

    script.replies = [one_slot]
    run_dir = suite.path / "run"
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "openai", "--wb-base-url", url, "--wb-concurrency", "1,2",
            "--wb-stream-requests", "2", "--wb-run-dir", str(run_dir), "--wb-energy", "estimate",
        )
    result.assert_outcomes(passed=2)
    by_point: dict[str, list[dict[str, Any]]] = {}
    for record in records(run_dir):
        by_point.setdefault(record["concurrency"], []).append(record)
    alone, loaded = by_point["1"], by_point["2"]
    assert alone[0]["serving_failed_requests_count"] == 0 and len(alone) == 2
    assert "serving_failed_requests_count" not in alone[1]  # the point's figures: once per run
    # Its own share: the steady window's J/token x its tokens (the estimate may be 0 J when the
    # fake server used no CPU tick; the share is still exactly its tokens' part).
    assert "energy_j" not in alone[1] and alone[1]["energy_attributed"] is True
    assert alone[1]["energy_attributed_j"] == pytest.approx(
        alone[0]["energy_per_token_j"] * alone[1]["completion_tokens"]
    )
    failed = loaded[0]["serving_failed_requests_count"]
    sent = 0
    while errors_sent.acquire(blocking=False):
        sent += 1
    assert failed >= 1 and failed == sent  # every error reply is one failed request: none retried
    assert len(loaded) == 4 - failed  # the successful requests are each recorded
    assert loaded[0]["serving_error_pct"] == pytest.approx(100.0 * failed / 4)
    assert loaded[0]["serving_errors"] == f"{failed} x exceed_context_size_error"
    assert all(r["attempts_count"] == 1 for r in loaded)


def test_a_real_server_engine_runs_load_points_1_and_2(suite: pytest.Pytester, tiny_gguf: Path) -> None:
    """The embedded engine's load points go to llama.cpp's own server (xllamacpp) on loopback."""
    pytest.importorskip("xllamacpp", reason="xllamacpp is not installed (pip install 'wattbench[llamacpp]')")
    run_dir = suite.path / "run"
    result = suite.runpytest_subprocess(
        "bench", *ONE_CASE, "--wb-model", str(tiny_gguf), "--wb-concurrency", "1,2", "--wb-max-tokens", "16",
        "--wb-run-dir", str(run_dir), "--wb-energy", "estimate", "--wb-slo", "ttft<=5s", "--wb-report", "on",
    )
    result.assert_outcomes(passed=2)
    points = {r["concurrency"]: r for r in records(run_dir) if "serving_system_tokens_per_s" in r}
    assert set(points) == {"1", "2"}
    for n, record in points.items():
        assert record["case_id"].endswith(f"L0+c{n}")
        assert record["serving_slots_count"] == 2 and record["serving_slot_context_tokens"] == 4096
        assert record["engine_version"].startswith("xllamacpp")
        assert record["serving_failed_requests_count"] == 0
        assert record["serving_system_tokens_per_s"] > 0 and record["serving_steady_window_s"] > 0
        assert record["energy_attributed"] is True and record["energy_per_token_j"] > 0
        assert record["serving_slo_met"] is True and record["serving_goodput_tokens_per_j"] > 0
        # llama-server's counters over the point: no prompt came from a cache, nothing drafted
        assert record["serving_cached_prompt_tokens"] == 0 and record["serving_draft_tokens"] == 0
        assert record["output_text"].startswith("abcdefghijklmnop")
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "<h2>Load curves</h2>" in page and "J/token vs load" in page
    assert "<td>2 (1)</td>" in page  # the point's requests, and its runs: stars stay provisional
    assert "the most efficient load point that met every SLO: N = " in page
    findings = (run_dir / "findings.md").read_text(encoding="utf-8")
    assert "How many concurrent streams should the server carry?" in findings


def point(n: int, system: float, stream: float, j_per_token: float, quality: tuple[float, float, float],
          slo: float = 100.0, errors: float = 0.0) -> dict[str, Any]:
    return {
        "system": "m", "task": "qa", "load": "short", "level": "L0", "system_prompt": "default",
        "concurrency": str(n), "runs": 3, "requests": 12, "serving_system_tokens_per_s_mean": system,
        "serving_stream_tokens_per_s_mean": stream, "energy_per_token_j_mean": j_per_token,
        "quality_mean": quality[0], "quality_ci_low": quality[1], "quality_ci_high": quality[2],
        "slo_met_pct_mean": slo, "serving_error_pct_mean": errors,
    }


def test_a_load_curve_names_its_knee_its_quality_changes_and_its_best_point_under_the_slos() -> None:
    from wattbench.report.loadcurve import curves

    plain = {**point(1, 0, 0, 1.0, (0.5, 0.4, 0.6)), "serving_system_tokens_per_s_mean": None}
    rows = [
        point(1, 80, 80, 0.9, (0.50, 0.45, 0.55)),
        point(2, 150, 75, 0.5, (0.52, 0.46, 0.58)),  # +88% system, -6% per stream: worth it
        point(4, 180, 45, 0.4, (0.30, 0.25, 0.35)),  # +20% system, -40% per stream: past the knee
        point(8, 190, 24, 0.3, (0.49, 0.44, 0.54), slo=80.0),  # cheapest, but misses the SLOs
        {**plain, "task": "summary"},  # a plain generation: no curve
    ]
    (curve,) = curves(rows)
    assert curve.concurrencies == [1, 2, 4, 8] and curve.config == "L0"
    assert curve.knee == 2
    assert curve.quality_changes == [4]
    assert curve.best_under_slo == 4
    assert curve.front == [1, 2, 4, 8]  # each is best at one of per-stream speed, throughput, J/token
    slower = [point(1, 80, 80, 0.9, (0.5, 0.45, 0.55)), point(2, 70, 35, 1.0, (0.5, 0.45, 0.55))]
    assert curves(slower)[0].front == [1]  # N = 2 is beaten on all three


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"total_slots": 1, "default_generation_settings": {"n_ctx": 4096}},
         "*load point 2: the server has 1 parallel slots*--parallel N*"),
        ({"total_slots": 2, "default_generation_settings": {"n_ctx": 40}},
         "*2 load-point case(s) do not fit one slot of the server (40 tokens)*plus max_tokens (200)*"
         "start the server with its context at slots x the need*"),
    ],
)
def test_a_server_too_small_for_the_load_points_stops_the_run_with_one_message(
    suite: pytest.Pytester, props: dict[str, Any], message: str
) -> None:
    script = Script(props=props)
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "openai", "--wb-base-url", url, "--wb-concurrency", "1,2",
            "--wb-run-dir", str(suite.path / "run"), "--wb-energy", "off",
        )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines([message])
    assert not [r for r in script.requests if r.get("stream") and r.get("max_tokens") == 200]  # none sent


def test_llama_server_counters_are_read_without_prefix_and_without_nan() -> None:
    from wattbench.backends.openai_compat import OpenAICompatBackend, OpenAIOptions
    from wattbench.backends.protocol import BackendOptions

    page = "\n".join([
        "# TYPE llamacpp:prompt_tokens_cached_total counter", "llamacpp:prompt_tokens_cached_total 12",
        "# TYPE llamacpp:spec_decode_num_draft_tokens_total counter",
        "llamacpp:spec_decode_num_draft_tokens_total -nan",
        "# TYPE llamacpp:predicted_tokens_seconds gauge", "llamacpp:predicted_tokens_seconds 99.5",
    ])
    with fake_openai(Script(metrics=page)) as url:
        counters = OpenAICompatBackend(BackendOptions(own=(OpenAIOptions(base_url=url),))).server_counters()
    with fake_openai(Script()) as url:
        none = OpenAICompatBackend(BackendOptions(own=(OpenAIOptions(base_url=url),))).server_counters()
    assert counters == {"prompt_tokens_cached_total": 12.0}  # -nan left out, gauges are not counters
    assert none is None


def test_a_point_whose_every_request_fails_fails_its_case_and_says_why(suite: pytest.Pytester) -> None:
    script = Script(replies=[lambda body: Reply(500, OVERFLOW) if body.get("stream") else Reply()])
    run_dir = suite.path / "run"
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "openai", "--wb-base-url", url, "--wb-concurrency", "2",
            "--wb-run-dir", str(run_dir), "--wb-energy", "off", "--wb-warmup", "off",
        )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*every request of load point 2 failed (4 x exceed_context_size_error)*"
                                 "the first said:*prompt 1407 tokens*"])
    (record,) = records(run_dir)
    assert record["error"].startswith("every request of load point 2 failed")
    assert len([r for r in script.requests if r.get("stream")]) == 4  # none retried


def test_a_local_server_that_cannot_start_is_not_started_again(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from wattbench.errors import ModelLoadError
    from wattbench.run.pool import Resident
    from wattbench.serving.loadpoints import LoadPoints

    model = SimpleNamespace(ref=SimpleNamespace(name="m", location=str(tmp_path / "gone.gguf")), metadata={})
    points = LoadPoints(SimpleNamespace(name="llamacpp", in_process=True), 2, 512, 0, "auto")  # type: ignore[arg-type]
    resident = Resident(model)  # type: ignore[arg-type]
    with pytest.raises(ModelLoadError, match="needs its GGUF file") as first:
        points.target(resident)
    with pytest.raises(ModelLoadError) as second:
        points.target(resident)
    assert second.value is first.value


def test_a_slot_too_small_for_the_prompt_stops_the_run_and_a_changed_context_is_said(
    suite: pytest.Pytester, tiny_gguf: Path
) -> None:
    pytest.importorskip("xllamacpp", reason="xllamacpp is not installed (pip install 'wattbench[llamacpp]')")
    result = suite.runpytest_subprocess(
        "bench", *ONE_CASE, "--wb-model", str(tiny_gguf), "--wb-concurrency", "1", "--wb-ctx", "64",
        "--wb-max-tokens", "8", "--wb-energy", "off", "--wb-run-dir", str(suite.path / "run"),
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stdout.fnmatch_lines([
        "*1 load-point case(s) do not fit one slot of the server (256 tokens)*its prompt alone*"
        "raise --wb-ctx*llama.cpp's server gave 256 tokens per slot where --wb-ctx asked 64*",
    ])


@pytest.mark.parametrize("fault", ["HTTP 429", "RemoteProtocolError"])
def test_a_busy_or_dropping_server_under_load_gives_an_error_rate_not_a_run_failure(
    suite: pytest.Pytester, fault: str
) -> None:
    """A server that answers 429 (with a Retry-After) or drops the connection unanswered when a
    second request arrives: each such request is a failed request of point 2, never retried."""
    import socket

    from fakeopenai import _handler
    from loopback import serving

    script = Script(replies=[lambda body: Reply(delay_s=0.3 if body.get("stream") else 0.0)])

    class Busy(_handler(script)):  # type: ignore[misc]
        def _answer(self, body: dict[str, Any]) -> None:
            if not (body.get("stream") and script.in_flight > 1):
                super()._answer(body)
            elif fault == "HTTP 429":
                self._send(429, b'{"error": {"message": "busy"}}', {"Retry-After": "1"})
            else:
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

    run_dir = suite.path / "run"
    with serving(Busy) as port:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "openai", "--wb-base-url", f"http://127.0.0.1:{port}/v1",
            "--wb-concurrency", "2", "--wb-run-dir", str(run_dir), "--wb-energy", "off", "--wb-warmup", "off",
        )
    result.assert_outcomes(passed=1)
    first, *others = records(run_dir)
    failed = first["serving_failed_requests_count"]
    assert failed >= 1 and len(others) + 1 == 4 - failed  # every request: recorded or counted
    assert first["serving_errors"] == f"{failed} x {fault}"
    assert first["serving_error_pct"] == pytest.approx(100.0 * failed / 4)
    assert len([r for r in script.requests if r.get("stream")]) == 4  # none retried


def test_a_fault_of_ours_in_a_stream_fails_the_point_instead_of_losing_its_request() -> None:
    """An exception that is not the server's answer (a bug, a reply shape nobody expected) stops
    the point with that exception; a stream thread that died with it would leave its request
    neither recorded nor counted in the error rate."""
    from types import SimpleNamespace

    from wattbench.run.pool import Resident
    from wattbench.serving.streams import Server, ServingWork

    sent: list[int] = []
    discarded: list[str] = []

    def generate(messages: Any, sampling: Sampling) -> Generation:
        sent.append(sampling.seed)
        raise KeyError("choices")

    case = SimpleNamespace(id="m-qa-short-L0+c2", sampling=Sampling(), messages=())
    energy = SimpleNamespace(begin=lambda: "window", discard=discarded.append)
    work = ServingWork(case, Resident(SimpleNamespace(generate=generate)), None, None, energy,  # type: ignore[arg-type]
                       streams=2, requests=2, slo=parse_slo(""), server=Server())
    with pytest.raises(KeyError, match="choices"):
        work.unit(0)
    assert len(sent) == 2  # each stream stopped at its fault
    assert discarded == ["window"]


def test_the_load_curve_section_shows_its_intervals_attributed_joules_knee_and_slos() -> None:
    from wattbench.report.page import _load_curves
    from wattbench.report.study import Study

    rows = [
        point(1, 80, 80, 0.9, (0.50, 0.45, 0.55)),
        point(2, 150, 75, 0.5, (0.52, 0.46, 0.58)),
        point(4, 180, 45, 0.4, (0.30, 0.25, 0.35), slo=80.0),
    ]
    for row in rows:
        j = row["energy_per_token_j_mean"]
        row.update(energy_per_token_j_ci_low=j * 0.8, energy_per_token_j_ci_high=j * 1.2,
                   energy_per_token_j_n=3, energy_per_token_j_ci_method="student-t", energy_j_mean=j * 100,
                   serving_tpot_p90_s_mean=0.02)
    page = _load_curves(Study(rows, [], [], {}, 0, set(), [], []))
    assert "<th>J/request (attributed)</th>" in page and "<td>90</td>" in page  # 0.9 J/token x 100 tokens
    assert "<th>TPOT s p50 / p90 / p99</th>" in page and "<th>SLO met</th>" in page and "<td>80%</td>" in page
    assert "the knee: N = 2;" in page
    assert "the most efficient load point that met every SLO: N = 2" in page
    (joules,) = [chart for chart in page.split("</svg>") if "J/token vs load" in chart]
    assert joules.count('class="bar"') == 3  # an error bar at every point
    assert "N=4 · 180 sys tok/s · q 0.3" in page  # the Pareto tag: the third axis and the quality


def test_a_steady_window_shorter_than_the_energy_needs_is_flagged(suite: pytest.Pytester) -> None:
    """Two streams of 0.3 s requests on a fake server: a steady window far below the 30 s asked
    for keeps its figures, with a warning that names it too short and the fix."""
    script = Script(replies=[lambda body: Reply(delay_s=0.3 if body.get("stream") else 0.0)])
    run_dir = suite.path / "run"
    with fake_openai(script) as url:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "openai", "--wb-base-url", url, "--wb-concurrency", "2",
            "--wb-run-dir", str(run_dir), "--wb-energy", "estimate", "--wb-energy-min-window", "30",
            "--wb-warmup", "off",
        )
    result.assert_outcomes(passed=1)
    first = records(run_dir)[0]
    assert first["serving_steady_window_s"] < 30
    warning = first["energy_warning"]
    assert "too short to measure" in warning and "--wb-stream-requests" in warning


def test_load_points_run_on_ollama_whose_slots_a_client_cannot_read(suite: pytest.Pytester) -> None:
    from fakeollama import FakeOllama, serve

    run_dir = suite.path / "run"
    with serve(FakeOllama()) as host:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "ollama", "--wb-ollama-host", host, "--wb-model", "qwen3:4b",
            "--wb-concurrency", "1,2", "--wb-run-dir", str(run_dir), "--wb-energy", "estimate",
            "--wb-warmup", "off",
        )
    result.assert_outcomes(passed=2)
    points = {r["concurrency"]: r for r in records(run_dir) if "serving_system_tokens_per_s" in r}
    assert set(points) == {"1", "2"}
    for record in points.values():
        assert record["serving_system_tokens_per_s"] > 0 and record["serving_error_pct"] == 0
        assert record["serving_slots_count"] is None  # OLLAMA_NUM_PARALLEL is the server's own
    assert len([r for r in records(run_dir) if r["concurrency"] == "2"]) == 4


def test_ollama_under_load_gives_an_error_rate_with_no_retries(suite: pytest.Pytester) -> None:
    from fakeollama import FakeOllama, serve

    run_dir = suite.path / "run"
    server = FakeOllama()
    busy = iter([None, (503, "server busy, please try again. maximum pending requests exceeded")])

    def fault(body: dict[str, Any]) -> tuple[int, str] | None:
        # N = 1's two requests are answered; of N = 2's four, the second is refused as busy.
        asked = sum(1 for path, sent in server.requests if path == "/api/chat" and _generates(sent))
        return next(busy, None) if _generates(body) and asked > 3 else None

    server.chat_fault = fault
    with serve(server) as host:
        result = suite.runpytest(
            "bench", *ONE_CASE, "--wb-backend", "ollama", "--wb-ollama-host", host, "--wb-model", "qwen3:4b",
            "--wb-concurrency", "1,2", "--wb-run-dir", str(run_dir), "--wb-energy", "estimate",
            "--wb-warmup", "off",
        )
    point = [r for r in records(run_dir) if r["concurrency"] == "2" and "serving_error_pct" in r]
    assert point, result.stdout.str()
    assert {r["serving_error_pct"] for r in point} == {25.0}  # 1 of the 4 requests
    chats = [body for path, body in server.requests if path == "/api/chat" and _generates(body)]
    assert len(chats) == 2 + 4  # no request was sent again


def _generates(body: dict[str, Any]) -> bool:
    """A chat that generates, not a one-token prompt count."""
    return bool(body.get("options", {}).get("num_predict") != 1)
