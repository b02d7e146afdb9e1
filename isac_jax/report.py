"""The reproduction report: one Markdown and one HTML page for a results directory.

``write_report(results_dir)`` finds every ``<experiment>/results.json`` written by
:func:`isac_jax.experiments.reproduce`, and for each writes a section with its figure, the run's
preset, seed and wall time, the paper's claim beside the run's key numbers, and the verdict
(``matches`` / ``differs`` / ``beyond the paper`` / ``bound violated`` / ``not checked``) with the reason, from
:mod:`isac_jax.experiments.claims`, and the code each run came from (package version, git commit,
JAX version, backend, from its ``config.json``). CLI: ``isac-jax report DIR``.

The report writes only ``report.md`` and ``report.html``, each marked as its own by a first-line
comment (:data:`MARKER`); a file of that name without the mark (a user's own) is never overwritten.
``results.json`` is checked against the SHA-256 its ``config.json`` records; a corrupt file is an
error naming it. A directory without results is an error.
"""

from __future__ import annotations

import html
from pathlib import Path

from .core.io import read_json, read_json_verified, write_bytes_atomic
from .core.provenance import provenance
from .experiments import REGISTRY
from .experiments.claims import DECISIONS, read_claim

#: The first-line comment that marks a report file as written by :func:`write_report` (and so safe to rewrite).
MARKER = "<!-- written by `isac-jax report`; rewritten by each run -->"


class ReportOverwriteError(ValueError):
    """``report.md`` / ``report.html`` exists and was not written by :func:`write_report`."""


_BADGE = {"matches": "#1a7f37", "differs": "#b35900", "beyond the paper": "#0550ae", "bound violated": "#cf222e",
          "not checked": "#6e7781"}


def collect(results_dir) -> list:
    """One record per experiment directory holding a ``results.json``, in the registry's order
    (unknown names last): ``dict(name, paper, description, preset, seed, wall_time_s, figure, claim,
    provenance, code)``, ``provenance`` the run's ``version``, ``git_commit``, ``git_dirty``,
    ``jax_version``, ``backend``, ``platform`` and ``cpu_count`` from its ``config.json`` (None where
    not recorded), ``code`` the same as one line (:func:`code_line`)."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results_dir {str(root)!r} is not a directory (run `isac-jax reproduce ...` first)")
    order = {name: i for i, name in enumerate(REGISTRY)}
    found = sorted((p.parent for p in root.glob("*/results.json")), key=lambda d: (order.get(d.name, len(order)), d.name))
    records = []
    for d in found:
        again = f"rerun `isac-jax reproduce {d.name} --out {str(root)!r}` to write it again"
        meta = read_json_verified(d / "config.json", recover=again) if (d / "config.json").exists() else {}
        if not isinstance(meta, dict):
            meta = {}
        files = meta.get("files") if isinstance(meta.get("files"), dict) else {}
        results = read_json(d / "results.json", recover=again, digest=files.get("results.json"))
        exp = REGISTRY.get(d.name)
        records.append({
            "name": d.name, "paper": exp.paper if exp else "?", "description": exp.description if exp else "",
            "preset": meta.get("preset", "?"), "seed": meta.get("seed", "?"), "wall_time_s": meta.get("wall_time_s"),
            "figure": f"{d.name}/figure.png" if (d / "figure.png").exists() else None,
            "claim": read_claim(d.name, results), "code": code_line(meta),
            "provenance": {k: meta.get(k) for k in ("version", "git_commit", "git_dirty", "jax_version", "backend",
                                                    "platform", "cpu_count")},
        })
    return records


def code_line(meta: dict) -> str:
    """"isac_jax 0.1.0, commit 1a2b3c4d5e6f (uncommitted changes), JAX 0.10.2, backend cpu" from a
    ``config.json`` (or the current process's :func:`~isac_jax.core.provenance.provenance`);
    "?" for what it does not record."""
    commit = str(meta.get("git_commit", "?"))
    dirty = {True: " (uncommitted changes)", False: ""}.get(meta.get("git_dirty"), "")
    return (f"isac_jax {meta.get('version', '?')}, commit {commit[:12]}{dirty}, JAX {meta.get('jax_version', '?')}, "
            f"backend {meta.get('backend', '?')}")


def to_markdown(records: list, title: str, *, code: str = "?") -> str:
    lines = [MARKER, f"# {title}", "",
             "Each section: the paper's claim, the key numbers of this run, and whether they match. "
             "Written by `isac-jax report` from the `results.json` files; the reasons point to the modelling "
             f"pages ({DECISIONS}).", "",
             f"Report written by {code}.", "",
             "| experiment | paper | preset | status |", "|---|---|---|---|"]
    lines += [f"| [{r['name']}](#{r['name']}) | {r['paper']} | {r['preset']} | **{r['claim']['status']}** |"
              for r in records]
    for r in records:
        c = r["claim"]
        wall = "?" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f} s"
        lines += ["", f"## {r['name']}", "", f"{r['description']}  ",
                  f"Preset `{r['preset']}`, seed {r['seed']}, wall time {wall}.  ", f"Code: {r['code']}.", ""]
        if r["figure"]:
            lines += [f"![{r['name']}]({r['figure']})", ""]
        lines += [f"**Paper:** {c['paper_says']}", "", "| key number | this run |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in c["numbers"].items()]
        lines += ["", f"**{c['status']}**: {c['why']}"]
    return "\n".join(lines) + "\n"


def to_html(records: list, title: str, *, code: str = "?") -> str:
    e = html.escape
    parts = [f"{MARKER}\n<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
             "img{max-width:100%}.b{color:#fff;padding:.1em .5em;border-radius:.3em}</style></head><body>",
             f"<h1>{e(title)}</h1><p>Report written by {e(code)}.</p><table><tr><th>experiment</th><th>paper</th><th>preset</th><th>status</th></tr>"]
    for r in records:
        s = r["claim"]["status"]
        parts.append(f"<tr><td><a href='#{e(r['name'])}'>{e(r['name'])}</a></td><td>{e(r['paper'])}</td>"
                     f"<td>{e(str(r['preset']))}</td><td><span class='b' style='background:{_BADGE[s]}'>{e(s)}</span>"
                     "</td></tr>")
    parts.append("</table>")
    for r in records:
        c = r["claim"]
        wall = "?" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f} s"
        parts.append(f"<h2 id='{e(r['name'])}'>{e(r['name'])}</h2><p>{e(r['description'])}<br>"
                     f"Preset <code>{e(str(r['preset']))}</code>, seed {e(str(r['seed']))}, wall time {wall}.<br>"
                     f"Code: {e(r['code'])}.</p>")
        if r["figure"]:
            parts.append(f"<img src='{e(r['figure'])}' alt='{e(r['name'])}'>")
        rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in c["numbers"].items())
        parts.append(f"<p><b>Paper:</b> {e(c['paper_says'])}</p><table><tr><th>key number</th><th>this run</th>"
                     f"</tr>{rows}</table><p><span class='b' style='background:{_BADGE[c['status']]}'>"
                     f"{e(c['status'])}</span> {e(c['why'])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _refuse_foreign(path: Path) -> None:
    """Raise :class:`ReportOverwriteError` if ``path`` exists without :data:`MARKER` in its first line."""
    if not path.exists() and not path.is_symlink():
        return
    try:
        with open(path, "rb") as f:
            head = f.readline(4096).decode("utf-8", "replace")
    except OSError as err:
        raise ReportOverwriteError(f"{str(path)!r} exists and cannot be read ({err.strerror or err}); move it away "
                                   "or write the report elsewhere") from None
    if MARKER not in head:
        raise ReportOverwriteError(f"{str(path)!r} exists and was not written by `isac-jax report`; move it away "
                                   "(the report never overwrites a file it did not write)")


def write_report(results_dir, *, title: str = "isac_jax reproduction report") -> dict:
    """Write ``report.md`` and ``report.html`` into ``results_dir``; returns their paths and the records.

    Raises:
        FileNotFoundError: ``results_dir`` is not a directory.
        ValueError: it holds no ``<experiment>/results.json``.
        ReportOverwriteError: a ``report.md`` / ``report.html`` there was not written by this function.
        isac_jax.core.io.CorruptFileError: a ``results.json`` or ``config.json`` is unreadable or altered.
    """
    root = Path(results_dir)
    records = collect(root)
    if not records:
        raise ValueError(f"{str(root)!r} holds no results (no <experiment>/results.json); run "
                         f"`isac-jax reproduce EXPERIMENT --out {str(root)!r}` first")
    md_path, html_path = root / "report.md", root / "report.html"
    for path in (md_path, html_path):
        _refuse_foreign(path)
    code = code_line(provenance())
    md = write_bytes_atomic(md_path, to_markdown(records, title, code=code).encode())
    page = write_bytes_atomic(html_path, to_html(records, title, code=code).encode())
    return {"markdown": md, "html": page, "records": records}
