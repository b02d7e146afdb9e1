"""The reproduction report: one Markdown and one HTML page for a results directory.

``write_report(results_dir)`` finds every ``<experiment>/results.json`` written by
:func:`isac_jax.experiments.reproduce`, and for each writes a section with its figure, the run's
preset, seed and wall time, the paper's claim beside the run's key numbers, and the verdict
(``matches`` / ``differs`` / ``beyond the paper`` / ``bound violated`` / ``not checked``) with the reason, from
:mod:`isac_jax.experiments.claims`. CLI: ``isac-jax report DIR``.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from .core.io import write_bytes_atomic
from .experiments import REGISTRY
from .experiments.claims import read_claim

_BADGE = {"matches": "#1a7f37", "differs": "#b35900", "beyond the paper": "#0550ae", "bound violated": "#cf222e",
          "not checked": "#6e7781"}


def collect(results_dir) -> list:
    """One record per experiment directory holding a ``results.json``, in the registry's order
    (unknown names last): ``dict(name, paper, description, preset, seed, wall_time_s, figure, claim)``."""
    root = Path(results_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"results_dir {str(root)!r} is not a directory (run `isac-jax reproduce ...` first)")
    order = {name: i for i, name in enumerate(REGISTRY)}
    found = sorted((p.parent for p in root.glob("*/results.json")), key=lambda d: (order.get(d.name, len(order)), d.name))
    records = []
    for d in found:
        try:
            results = json.loads((d / "results.json").read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{d / 'results.json'} is not readable JSON: {err}") from None
        meta = json.loads((d / "config.json").read_text()) if (d / "config.json").exists() else {}
        exp = REGISTRY.get(d.name)
        records.append({
            "name": d.name, "paper": exp.paper if exp else "?", "description": exp.description if exp else "",
            "preset": meta.get("preset", "?"), "seed": meta.get("seed", "?"), "wall_time_s": meta.get("wall_time_s"),
            "figure": f"{d.name}/figure.png" if (d / "figure.png").exists() else None,
            "claim": read_claim(d.name, results),
        })
    return records


def to_markdown(records: list, title: str) -> str:
    lines = [f"# {title}", "",
             "Each section: the paper's claim, the key numbers of this run, and whether they match. "
             "Written by `isac-jax report` from the `results.json` files; the reasons link to the README.", "",
             "| experiment | paper | preset | status |", "|---|---|---|---|"]
    lines += [f"| [{r['name']}](#{r['name']}) | {r['paper']} | {r['preset']} | **{r['claim']['status']}** |"
              for r in records]
    for r in records:
        c = r["claim"]
        wall = "?" if r["wall_time_s"] is None else f"{r['wall_time_s']:.0f} s"
        lines += ["", f"## {r['name']}", "", f"{r['description']}  ",
                  f"Preset `{r['preset']}`, seed {r['seed']}, wall time {wall}.", ""]
        if r["figure"]:
            lines += [f"![{r['name']}]({r['figure']})", ""]
        lines += [f"**Paper:** {c['paper_says']}", "", "| key number | this run |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in c["numbers"].items()]
        lines += ["", f"**{c['status']}**: {c['why']}"]
    return "\n".join(lines) + "\n"


def to_html(records: list, title: str) -> str:
    e = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{e(title)}</title><style>"
             "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
             "img{max-width:100%}.b{color:#fff;padding:.1em .5em;border-radius:.3em}</style></head><body>",
             f"<h1>{e(title)}</h1><table><tr><th>experiment</th><th>paper</th><th>preset</th><th>status</th></tr>"]
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
                     f"Preset <code>{e(str(r['preset']))}</code>, seed {e(str(r['seed']))}, wall time {wall}.</p>")
        if r["figure"]:
            parts.append(f"<img src='{e(r['figure'])}' alt='{e(r['name'])}'>")
        rows = "".join(f"<tr><td>{e(str(k))}</td><td>{e(str(v))}</td></tr>" for k, v in c["numbers"].items())
        parts.append(f"<p><b>Paper:</b> {e(c['paper_says'])}</p><table><tr><th>key number</th><th>this run</th>"
                     f"</tr>{rows}</table><p><span class='b' style='background:{_BADGE[c['status']]}'>"
                     f"{e(c['status'])}</span> {e(c['why'])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(results_dir, *, title: str = "isac_jax reproduction report") -> dict:
    """Write ``report.md`` and ``report.html`` into ``results_dir``; returns their paths and the records."""
    records = collect(results_dir)
    root = Path(results_dir)
    md = write_bytes_atomic(root / "report.md", to_markdown(records, title).encode())
    page = write_bytes_atomic(root / "report.html", to_html(records, title).encode())
    return {"markdown": md, "html": page, "records": records}
