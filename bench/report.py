"""The benchmark targets (docs/benchmarks.md), checked against one run's results, and the
Markdown table."""

from __future__ import annotations

from typing import Any

X = "\u00d7"  # the multiplication sign, as the README writes ratios

HTTP = (
    ("offers", "Offers endpoint"),
    ("webhooks", "Webhook intake"),
    ("widget", "Widget script"),
)


def _servers(results: dict[str, Any], scenario: str) -> list[tuple[str, dict[str, Any]]]:
    return list(results.get(scenario, {}).get("servers", {}).items())


def _target(name: str, wanted: str, value: float | str | None, ok: bool | None) -> dict[str, Any]:
    return {"target": name, "wanted": wanted, "value": value, "pass": ok}


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    offers = _servers(results, "offers")
    if len(offers) == 2:
        (_, base), (_, uplift) = offers
        ratio = uplift["rps"] / base["rps"]
        found.append(_target("offers: throughput vs baseline A", f"≥ 0.50{X}", round(ratio, 3),
                             ratio >= 0.5))  # fmt: skip
        found.append(_target("offers: p99 at 64 connections", "≤ 15 ms",
                             round(uplift["p99_ms"], 1), uplift["p99_ms"] <= 15))  # fmt: skip
        clean = all(r["errors"] == 0 and r["non2xx"] == 0 for r in uplift["runs"])
        found.append(_target("offers: no errors, every answer 2xx", "0", clean and 0, clean))
    found += _mixed_targets(results.get("mixed"))
    hooks = _servers(results, "webhooks")
    if len(hooks) == 3:
        (_, base), (_, stripe), (_, uplift) = hooks
        ratio = uplift["rps"] / base["rps"]
        found.append(_target("webhooks: vs baseline B (HMAC + INSERT), 32 connections",
                             f"≥ 3{X}", round(ratio, 2), ratio >= 3))  # fmt: skip
        ratio = uplift["rps"] / stripe["rps"]
        found.append(_target("webhooks: vs construct_event receiver", f"≥ 5{X}",
                             round(ratio, 2), ratio >= 5))  # fmt: skip
        found.append(_target("webhooks: nothing lost, duplicates answered 200",
                             "every answered event stored, 0 non-2xx",
                             "yes" if uplift["lost_check"] else "no",
                             bool(uplift["lost_check"])))  # fmt: skip
    for connections, servers in results.get("intake", {}).get("points", {}).items():
        (_, base), (_, uplift) = servers.items()
        ratio = uplift["rps"] / base["rps"]
        found.append(_target(f"intake at {connections} connection(s) vs baseline B",
                             f"≥ 1{X}", round(ratio, 2), ratio >= 1))  # fmt: skip
    worker = results.get("worker")
    if worker:
        rate = worker["applied"]["medians"]["batched"]["events_per_s"]
        found.append(_target("worker: events applied per second (SQLite)", "≥ 1,500",
                             round(rate), rate >= 1500))  # fmt: skip
    widget = _servers(results, "widget")
    if len(widget) == 2:
        (_, base), (_, uplift) = widget
        ratio = uplift["rps"] / base["rps"]
        found.append(_target("widget: vs in-memory baseline", f"≥ 0.80{X}", round(ratio, 2),
                             ratio >= 0.8))  # fmt: skip
        statuses = sorted({int(r["status_if_none_match"]) for r in uplift["runs"]})
        gzipped = all(r["gzip"] for r in uplift["runs"])
        found.append(_target("widget: 304 on a matching ETag, gzip", "304, gzip",
                             f"{statuses}, gzip {'yes' if gzipped else 'no'}",
                             statuses == [304] and gzipped))  # fmt: skip
    micro = results.get("micro")
    if micro:
        rate = micro["quotes"]["quotes_per_s"]
        found.append(_target("quotes/s, one core", "≥ 50,000", round(rate), rate >= 50_000))
        rate = micro["eligibility"]["customers_per_s"]
        found.append(_target("eligibility customers/s (50 offers), one core", "≥ 20,000",
                             round(rate), rate >= 20_000))  # fmt: skip
    metrics = results.get("metrics")
    if metrics is not None:
        ms = _metrics_ms(metrics)
        found.append(_target("metrics over 100,000 upgrades", "< 200 ms",
                             ms if ms is not None else metrics.get("note", "not available"),
                             None if ms is None else ms < 200))  # fmt: skip
        result = metrics.get("result")
        cohorts = result.get("cohorts") if isinstance(result, dict) else None
        if isinstance(cohorts, dict) and isinstance(cohorts.get("median_ms"), int | float):
            ms = float(cohorts["median_ms"])
            found.append(_target("cohorts over 100,000 upgrades", "< 500 ms", ms, ms < 500))
    return found


def _mixed_targets(section: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Issue 24's headline: the mix at 64 connections, with no answer rate-limited."""
    if not section or "mix" not in section["workloads"]:
        return []
    (_, base), (_, uplift) = section["workloads"]["mix"]["servers"].items()
    ratio = uplift["rps"] / base["rps"]
    limited = sum(r["status_429"] for r in uplift["runs"])
    clean = all(r["errors"] == 0 and r["non2xx"] == 0 for r in uplift["runs"])
    customers = f"{section['customers']:,} customers"
    return [
        _target(f"mix ({customers}): throughput vs baseline M", f"≥ 0.50{X}", round(ratio, 3),
                ratio >= 0.5),
        _target(f"mix: p99 at {section['connections']} connections", "≤ 15 ms",
                round(uplift["p99_ms"], 1), uplift["p99_ms"] <= 15),
        _target("mix: no answer rate-limited (429)", "0", limited, limited == 0),
        _target("mix: no errors, every answer 2xx", "0", clean and 0, clean),
    ]  # fmt: skip


def _mixed_lines(section: dict[str, Any]) -> list[str]:
    lines = [
        f"**The mix a site sends** — {section['what']}, {section['connections']} connections",
        "",
        "| workload | server | req/s | p50 ms | p99 ms | errors | non-2xx | 429 | peak RSS |"
        " server CPU per request | req/s vs baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for workload, found in section["workloads"].items():
        servers = list(found["servers"].items())
        base = servers[0][1]
        for name, r in servers:
            row = _row(name, r, base).removeprefix("| ")
            cells = row.split(" | ")
            cells.insert(6, f"{r.get('status_429', 0):.0f}")
            lines.append(f"| {workload} | " + " | ".join(cells))
    uplift = list(section["workloads"]["mix"]["servers"].values())[-1]
    asked = uplift["requests"] * uplift.get("share_offers", 0.7)
    lines += [
        "",
        f"In the mix, {uplift.get('offered', 0) / max(1, asked):.0%} of Uplift's offers answers"
        " carried at least one offer (the rest: nothing eligible, or the day's cap reached).",
        "",
    ]
    return lines


def _metrics_ms(metrics: dict[str, Any]) -> float | None:
    """The metrics helper's own figure, if it reports one in milliseconds."""
    result = metrics.get("result")
    if not isinstance(result, dict):
        return None
    for key in ("ms", "median_ms", "elapsed_ms", "duration_ms"):
        if isinstance(result.get(key), int | float):
            return float(result[key])
    return None


def _row(name: str, r: dict[str, Any], base: dict[str, Any]) -> str:
    cpu = r.get("cpu_us_per_request", 0.0)
    base_cpu = base.get("cpu_us_per_request", 0.0) or 1.0
    return (
        f"| {name} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
        f"{r['errors']:.0f} | {r['non2xx']:.0f} | {r['peak_rss_mib']:.0f} MiB | "
        f"{cpu:,.0f} µs ({cpu / base_cpu:.1f}{X}) | **{r['rps'] / base['rps']:.2f}{X}** |"
    )


def _drained(uplift: dict[str, Any]) -> str:
    """How the backlog went after the load (results from before drains were measured: nothing)."""
    if "drain_s" not in uplift:
        return "."
    if uplift.get("pending_after_drain"):
        return (
            f", and {uplift['pending_after_drain']:,.0f} were still pending"
            f" {uplift['drain_s']:.0f} s after the load stopped."
        )
    return f", and the rest {uplift['drain_s']:.0f} s after the load stopped (server idle)."


def _intake_lines(section: dict[str, Any] | None, webhooks: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    points = [(c, *servers.values()) for c, servers in section["points"].items()]
    hooks = list((webhooks or {}).get("servers", {}).values())
    if len(hooks) == 3:
        points.append((str(webhooks["connections"]), hooks[0], hooks[2]))  # type: ignore[index]
    lines = [
        f"**Intake at every concurrency** — the webhooks run's events and receivers, "
        f"{section['seconds']} s runs (the last row is the webhooks run above)",
        "",
        "| connections | baseline B events/s | Uplift events/s | ratio | Uplift p50 / p99 ms |"
        " Uplift CPU per event |",
        "|---|---|---|---|---|---|",
    ]
    for connections, base, uplift in points:
        lines.append(
            f"| {connections} | {base['rps']:,.0f} | {uplift['rps']:,.0f} | "
            f"**{uplift['rps'] / base['rps']:.2f}{X}** | {uplift['p50_ms']:.2f} / "
            f"{uplift['p99_ms']:.2f} | {uplift.get('cpu_us_per_request', 0):.0f} µs |"
        )
    return [*lines, ""]


def _worker_lines(section: dict[str, Any] | None) -> list[str]:
    if not section:
        return []
    m, lag = section["applied"]["medians"], section["lag"]
    alone, batched = m["one at a time"], m["batched"]
    return [
        f"**Webhook worker** — {section['applied']['events']:,} stored subscription events "
        "(created, then changed), applied in process on SQLite",
        "",
        "| worker | events/s | CPU per event | vs one at a time |",
        "|---|---|---|---|",
        f"| one at a time (baseline: claim one, its own transactions) | "
        f"{alone['events_per_s']:,.0f} | {alone['cpu_us_per_event']:.0f} µs | 1.00{X} |",
        f"| batches sharing a transaction | {batched['events_per_s']:,.0f} | "
        f"{batched['cpu_us_per_event']:.0f} µs | "
        f"**{batched['events_per_s'] / alone['events_per_s']:.1f}{X}** |",
        "",
        f"Under a steady {lag['rate']} deliveries/s for {lag['seconds']} s (4 connections, "
        f"`uplift serve`): received → applied lag p50 {lag['lag_p50_ms']:.0f} ms, p99 "
        f"{lag['lag_p99_ms']:.0f} ms, max {lag['lag_max_ms']:.0f} ms (polled every "
        f"{lag['poll_ms']:.0f} ms); deliveries answered in p50 {lag['delivery_p50_ms']:.1f} ms, "
        f"p99 {lag['delivery_p99_ms']:.1f} ms; server CPU {100 * lag['server_cpu_share']:.0f} % "
        "of a core.",
        "",
    ]


def markdown(results: dict[str, Any]) -> str:
    m, s = results["machine"], results["settings"]
    load = ", ".join(f"{x:.2f}" for x in m["load_average_at_start"])
    lines = [
        f"`{results['command']}` — {results['started_at']}, {results['elapsed_s']} s",
        "",
        f"Machine: {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), {m['memory_gib']} GiB,"
        f" Linux {m['kernel']}, Python {m['python']}; load average at start {load}. "
        f"wrk, {s['wrk_threads']} threads, loopback; {s['seconds']} s per run after a warm-up "
        f"(offers: until every customer was asked for twice; others 1 s), median of "
        f"{s['repeat']} (baseline and Uplift interleaved, each run a fresh server process); "
        f"{s['workers']} uvicorn process(es) per server.",
        "",
    ]
    if results.get("mixed"):
        lines += _mixed_lines(results["mixed"])
    for key, title in HTTP:
        servers = _servers(results, key)
        if not servers:
            continue
        section = results[key]
        lines += [
            f"**{title}** — {section['what']}, {section['connections']} connections",
            "",
            "| server | req/s | p50 ms | p99 ms | errors | non-2xx | peak RSS |"
            " server CPU per request | req/s vs baseline |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        base = servers[0][1]
        lines += [_row(name, r, base) for name, r in servers]
        if key == "webhooks":
            uplift = servers[-1][1]
            lines += [
                "",
                f"Uplift stored {uplift['stored']:,.0f} distinct events (median run) of "
                f"{uplift['distinct_sent']:,.0f} sent; missing {uplift['missing']:.0f}, "
                f"unanswered when wrk stopped {uplift['unanswered_at_stop']:.0f}; its worker had "
                f"processed {uplift['processed_at_stop']:,.0f} by then" + _drained(uplift),
            ]
        lines.append("")
    lines += _intake_lines(results.get("intake"), results.get("webhooks"))
    lines += _worker_lines(results.get("worker"))
    micro = results.get("micro")
    if micro:
        e, q = micro["eligibility"], micro["quotes"]
        lines += [
            f"**Micro-benchmarks** — one process pinned to core {micro['core']}; per CPU "
            f"second of that process, {micro.get('statistic', 'median')}",
            "",
            "| what | per second | µs each | vs baseline |",
            "|---|---|---|---|",
            f"| bare loop over 50 offers (baseline) | {e['bare_loop_per_s']:,.0f} | "
            f"{1e6 / e['bare_loop_per_s']:.1f} | 1.00{X} |",
            f"| `eligibility.evaluate`, 50 offers | {e['customers_per_s']:,.0f} "
            f"(median {e.get('median_customers_per_s', 0):,.0f}) | "
            f"{e['us_per_customer']:.1f} | {e['ratio']:.3f}{X} |",
            f"| one `Fraction` per line (baseline) | {q['fraction_baseline_per_s']:,.0f} | "
            f"{1e6 / q['fraction_baseline_per_s']:.1f} | 1.00{X} |",
            f"| `proration.prorate` | {q['quotes_per_s']:,.0f} "
            f"(median {q.get('median_quotes_per_s', 0):,.0f}) | {q['us_per_quote']:.1f} | "
            f"{q['ratio']:.3f}{X} |",
            "",
        ]
    lines += ["**Targets**", "", "| target | wanted | this run | |", "|---|---|---|---|"]
    for t in results["targets"]:
        verdict = {True: "pass", False: "**miss**", None: "n/a"}[t["pass"]]
        value = f"{t['value']:,}" if isinstance(t["value"], int | float) else t["value"]
        lines.append(f"| {t['target']} | {t['wanted']} | {value} | {verdict} |")
    return "\n".join(lines) + "\n"
