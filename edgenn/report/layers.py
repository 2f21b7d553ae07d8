"""The per-layer view of report.html: where the time goes on each target, and a layers ×
variants heatmap of SNR against PyTorch (from report.json's `extra["layers"]`).

Plain HTML with inline widths and colours (the page's policy allows inline styles, no
scripts are needed): readable at a glance, printable, and nothing to load.
"""

from __future__ import annotations

import html
from typing import Any

from edgenn.core.results import Report

TOP = 5
TOP_LAYERS = 8
_PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b8b8b8")


def layers_section(report: Report) -> str:
    """The section's HTML, or "" when the run has no per-layer analysis."""
    layers = report.extra.get("layers")
    if not layers:
        return ""
    parts = ['<section class="card"><h2>Per layer</h2>']
    if "profiles" in layers:
        parts.append(_profiles(layers["profiles"], layers.get("peak_gmacs")))
    if "divergence" in layers:
        parts.append(_divergence(layers["divergence"]))
    if layers.get("sensitivity"):
        parts.append(_sensitivity(layers["sensitivity"]))
    parts.append("</section>")
    return "\n".join(parts)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _profiles(entries: list[dict[str, Any]], peak: float | None) -> str:
    out = ["<h3>Where the time goes</h3>",
           '<p class="legend">Operator time from each runtime\'s own profiler, on runs apart '
           "from the timed ones (the table's latency never includes a profiler); each "
           "kernel's median over the profiled runs."
           + (f" Measured peak: {peak:.1f} GMAC/s (fp32 MatMul in ONNX Runtime, same "
              "threads)." if peak else "") + "</p>",
           "<table><thead><tr><th>target</th><th>variant</th><th>kernel ms / run</th>"
           "<th>top operators (share of the run)</th></tr></thead><tbody>"]
    details = []
    said: set[tuple[str, str]] = set()
    for entry in entries:
        label = f"{_e(entry['target'])}</td><td>{_e(entry['variant'])}"
        if "unavailable" in entry:
            if (entry["target"], entry["unavailable"]) in said:
                continue  # one line per target and reason, not one per variant
            said.add((entry["target"], entry["unavailable"]))
            same = sum(e["target"] == entry["target"] and e.get("unavailable")
                       == entry["unavailable"] for e in entries)
            variant = _e(entry["variant"]) if same == 1 else f"all {same}"
            out.append(f"<tr><td>{_e(entry['target'])}</td><td>{variant}</td><td>–</td>"
                       f"<td class=\"reason\">{_e(entry['unavailable'])}</td></tr>")
        elif "spiking" in entry:
            out.append(f"<tr><td>{label}</td><td>–</td><td>spiking: per-layer spikes, "
                       "synaptic operations and energy below</td></tr>")
            details.append(_spiking(entry))
        else:
            out.append(f"<tr><td>{label}</td><td>{entry['total_ms']:.3f}</td>"
                       f"<td>{_bar(entry['operators'])}</td></tr>")
            if entry["variant"] == "fp32" or entry.get("layers") and len(entries) == 1:
                details.append(_layer_table(entry, peak))
    out.append("</tbody></table>")
    return "\n".join(out + details)


def _bar(operators: list[dict[str, Any]]) -> str:
    top = operators[:TOP]
    rest = 1.0 - sum(o["share"] for o in top)
    pieces = [(o["op_type"], o["share"]) for o in top] + ([("other", rest)] if rest > 0.005
                                                          else [])
    bar = "".join(
        f'<span title="{_e(name)} {share:.0%}" style="height:10px;flex:0 0 '
        f'{max(share, 0) * 100:.2f}%;background:{_PALETTE[i % len(_PALETTE)]}"></span>'
        for i, (name, share) in enumerate(pieces))
    legend = " · ".join(f"{_e(name)} {share:.0%}" for name, share in pieces)
    return (f'<div style="display:flex;width:260px;overflow:hidden;background:#eee">{bar}'
            '</div>'
            f'<span class="reason">{legend}</span>')


def _layer_table(entry: dict[str, Any], peak: float | None) -> str:
    rows = "".join(
        f"<tr><td><code>{_e(layer['layer'])}</code></td><td>{_e(', '.join(layer['kernels']))}"
        f"</td><td>{layer['ms']:.4f}</td><td>{layer['share']:.0%}</td>"
        f"<td>{_gmacs(layer)}</td></tr>"
        for layer in entry["layers"][:TOP_LAYERS])
    return (f"<details><summary>{_e(entry['target'])} {_e(entry['variant'])}: slowest layers "
            f"(GMAC/s achieved{' and share of the peak' if peak else ''})</summary>"
            "<table><thead><tr><th>layer</th><th>kernels</th><th>ms</th><th>share</th>"
            f"<th>GMAC/s</th></tr></thead><tbody>{rows}</tbody></table></details>")


def _gmacs(layer: dict[str, Any]) -> str:
    if not layer.get("gmacs_per_s"):
        return "–"
    of_peak = f" ({layer['of_peak']:.0%} of peak)" if layer.get("of_peak") else ""
    return f"{layer['gmacs_per_s']:.2f}{of_peak}"


def _spiking(entry: dict[str, Any]) -> str:
    spiking = entry["spiking"]
    rows = "".join(
        f"<tr><td><code>{_e(c['layer'])}</code></td><td>{c['neurons']}</td>"
        f"<td>{c['spikes']:.1f}</td><td>{c['rate']:.3f}</td><td>{c['synops']:.0f}</td>"
        f"<td>{c['macs']:.0f}</td>"
        f"<td>{c['energy_uj']:.4f}</td><td>{c['energy_share']:.0%}</td></tr>"
        for c in spiking["layers"])
    return (f"<details><summary>{_e(entry['target'])} {_e(entry['variant'])}: per layer, "
            f"{spiking['samples']} samples, T = {spiking['timesteps']} (energy is an "
            "estimate)</summary><table><thead><tr><th>layer</th><th>neurons</th>"
            "<th>spikes</th><th>rate</th><th>ACs</th><th>MACs</th><th>µJ</th><th>share</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></details>")


def snr_colour(snr: float, threshold: float) -> str:
    """Red under the threshold, amber within 10 dB above it, green beyond."""
    if snr < threshold:
        return "#f4b6b6"
    if snr < threshold + 10:
        return "#fbe3a6"
    return "#cdebc5"


def _divergence(table: dict[str, Any]) -> str:
    if "unavailable" in table:
        return f'<h3>Divergence</h3><p class="reason">{_e(table["unavailable"])}</p>'
    threshold = table["threshold_db"]
    variants = table["variants"]
    head = "".join(f"<th>{_e(v['variant'])}</th>" for v in variants)
    first = "".join(f"<td><b>{_e(v['first_below'] or '—')}</b></td>" for v in variants)
    body = []
    for layer in table["layers"]:
        cells = []
        for variant in variants:
            value = variant["layers"].get(layer)
            if value is None:
                cells.append('<td style="color:#999">–</td>')
                continue
            cells.append(f'<td style="background:{snr_colour(value["snr_db"], threshold)}" '
                         f'title="cosine {value["cosine"]:.4f}, max abs error '
                         f'{value["max_abs"]:.3g}">{value["snr_db"]:.1f}</td>')
        body.append(f"<tr><td><code>{_e(layer)}</code></td>{''.join(cells)}</tr>")
    problems = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in table.get("problems",
                                                                           {}).items())
    return ("<h3>Where each variant drifts from the reference</h3>"
            f'<p class="legend">SNR in dB of each layer\'s output against '
            f"{_e(table.get('reference', 'the reference'))} on {table.get('samples', '?')} test "
            f"samples (red: under {threshold:g} dB; hover a cell for cosine and max error; "
            "– : not comparable, e.g. a pruned layer with fewer channels or a layer fused "
            "away).</p><table><thead><tr><th>layer</th>" + head + "</tr></thead><tbody>"
            f"<tr><td>first layer under {threshold:g} dB</td>{first}</tr>"
            + "".join(body) + "</tbody></table>"
            + (f'<ul class="notes">{problems}</ul>' if problems else ""))


def _sensitivity(ranking: list[dict[str, Any]]) -> str:
    rows = "".join(
        f"<tr><td>{_e(r['variant'])}</td><td><code>{_e(r['layer'])}</code></td>"
        f"<td>{_e(r['node'])}</td><td>{_e(r['op_type'])}</td><td>{r['loss_db']:.1f}</td></tr>"
        for r in ranking[:10])
    return ("<details><summary>int8 sensitivity ranking (the accuracy budget's; "
            f"{len(ranking)} nodes in report.json)</summary><table><thead><tr><th>variant</th>"
            "<th>layer</th><th>node</th><th>op</th><th>SNR lost (dB)</th></tr></thead><tbody>"
            f"{rows}</tbody></table></details>")


def profile_lines(result: dict[str, Any]) -> list[str]:
    """`edgenn profile` on the terminal: per target the top operators and layers."""
    lines = []
    peak = result.get("peak_gmacs")
    if peak:
        lines.append(f"measured peak: {peak:.1f} GMAC/s (fp32 MatMul, ONNX Runtime)")
    for entry in result.get("profiles", []):
        head = f"{entry['target']} {entry['variant']}"
        if "unavailable" in entry:
            lines.append(f"{head}: no profile ({entry['unavailable']})")
        elif "spiking" in entry:
            spiking = entry["spiking"]
            lines.append(f"{head}: {spiking['samples']} samples, T = {spiking['timesteps']} "
                         "(effective ACs and MACs per sample; energy is an estimate)")
            for cost in spiking["layers"]:
                lines.append(f"  {cost['layer']:<24} spikes {cost['spikes']:>8.1f}  ACs "
                             f"{cost['synops']:>9.0f}  MACs {cost['macs']:>9.0f}  "
                             f"{cost['energy_uj']:.3f} µJ ({cost['energy_share']:.0%})")
        else:
            lines.append(f"{head}: {entry['total_ms']:.3f} ms per run of {entry['batch']} "
                         f"(kernel medians over {entry['runs']} profiled runs)")
            lines.append("  top operators: " + ", ".join(
                f"{o['op_type']} {o['share']:.0%}" for o in entry["operators"][:TOP]))
            for layer in entry["layers"][:TOP]:
                lines.append(f"  {layer['layer']:<28} {layer['ms']:>8.4f} ms "
                             f"{layer['share']:>4.0%}  {_gmacs(layer)} GMAC/s")
    return lines


def divergence_lines(table: dict[str, Any]) -> list[str]:
    """`edgenn diverge` on the terminal: the layers × variants SNR table, then verdicts."""
    variants = table["variants"]
    width = max([len(layer) for layer in table["layers"]] + [5])
    lines = [f"SNR (dB) against {table.get('reference')} on {table.get('samples')} samples",
             f"{'layer':<{width}}  " + "  ".join(v["variant"].rjust(8) for v in variants)]
    for layer in table["layers"]:
        cells = []
        for variant in variants:
            value = variant["layers"].get(layer)
            cells.append(("–" if value is None else format(value["snr_db"], ".1f")).rjust(
                max(8, len(variant["variant"]))))
        lines.append(f"{layer:<{width}}  " + "  ".join(cells))
    for variant in variants:
        first = variant["first_below"]
        lines.append(f"{variant['variant']}: " + (
            f"first layer under {table['threshold_db']:g} dB: {first}" if first else
            f"every compared layer stays at or above {table['threshold_db']:g} dB"))
    for name, why in table.get("problems", {}).items():
        lines.append(f"{name}: not compared ({why})")
    cut = table.get("samples_capped")
    if cut:
        lines.append(f"compared the first {cut['compared']} of {cut['given']} samples: "
                     f"{cut['reason']}")
    return lines
