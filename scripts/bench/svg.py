"""Plots as hand-written SVG (no plotting library is needed): a line chart
of several series over time and a horizontal bar chart."""

import math
from xml.sax.saxutils import escape

COLORS = {
    "levee": "#d62728",
    "prometheus": "#1f77b4",
    "prometheus-sample-limit": "#6baed6",
    "vmagent": "#2ca02c",
    "vmagent-series-limit": "#74c476",
    "vmagent-max-hourly-series": "#9467bd",
}
FALLBACK = ["#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'


def color(name, i):
    return COLORS.get(name, FALLBACK[i % len(FALLBACK)])


def nice_step(span, target=5):
    """A 1-2-5 step giving about `target` ticks over `span`."""
    if span <= 0:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def fmt(v):
    if v == int(v):
        return f"{int(v):,}"
    return f"{v:,.2f}".rstrip("0").rstrip(".")


def line_chart(series, title, xlabel, ylabel, width=760, height=420):
    """`series`: [(name, [(x, y), ...])]. Returns SVG text."""
    left, right, top, bottom = 72, 210, 44, 52
    pw, ph = width - left - right, height - top - bottom
    xs = [x for _, pts in series for x, _ in pts] or [0, 1]
    ys = [y for _, pts in series for _, y in pts] or [0, 1]
    xmax = max(xs) or 1
    ystep = nice_step(max(ys) or 1)
    ymax = ystep * math.ceil((max(ys) or 1) / ystep)
    xstep = nice_step(xmax)
    sx = lambda x: left + x / xmax * pw
    sy = lambda y: top + ph - y / ymax * ph
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="15" font-weight="bold">{escape(title)}</text>']
    y = 0.0
    while y <= ymax + 1e-9:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" '
                   f'stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{fmt(y)}</text>')
        y += ystep
    x = 0.0
    while x <= xmax + 1e-9:
        out.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{top + ph}" y2="{top + ph + 4}" '
                   f'stroke="#444"/>')
        out.append(f'<text x="{sx(x):.1f}" y="{top + ph + 18}" text-anchor="middle">{fmt(x)}</text>')
        x += xstep
    out.append(f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 12}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(f'<text transform="translate(16,{top + ph / 2}) rotate(-90)" text-anchor="middle">'
               f'{escape(ylabel)}</text>')
    for i, (name, pts) in enumerate(series):
        c = color(name, i)
        w = 3 if name == "levee" else 1.8
        if pts:
            d = " ".join(f"{sx(px):.1f},{sy(py):.1f}" for px, py in pts)
            out.append(f'<polyline fill="none" stroke="{c}" stroke-width="{w}" points="{d}"/>')
        ly = top + 10 + i * 20
        out.append(f'<line x1="{left + pw + 14}" x2="{left + pw + 38}" y1="{ly}" y2="{ly}" '
                   f'stroke="{c}" stroke-width="{w}"/>')
        out.append(f'<text x="{left + pw + 44}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bar_chart(bars, title, unit, width=760):
    """`bars`: [(name, value or None, label text)]. Returns SVG text."""
    left, right, top, row = 190, 150, 44, 28
    height = top + row * len(bars) + 40
    pw = width - left - right
    vmax = max([v for _, v, _ in bars if v is not None] or [1]) or 1
    step = nice_step(vmax)
    vmax = step * math.ceil(vmax / step)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="12" y="24" font-size="15" font-weight="bold">{escape(title)}</text>']
    v = 0.0
    base = top + row * len(bars)
    while v <= vmax + 1e-9:
        x = left + v / vmax * pw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{base}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle">{fmt(v)}</text>')
        v += step
    out.append(f'<text x="{left + pw / 2}" y="{height - 6}" text-anchor="middle">{escape(unit)}</text>')
    for i, (name, value, label) in enumerate(bars):
        y = top + i * row
        out.append(f'<text x="{left - 8}" y="{y + row / 2 + 4}" text-anchor="end">{escape(name)}</text>')
        if value is not None:
            w = max(1.0, value / vmax * pw)
            out.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" '
                       f'fill="{color(name, i)}"/>')
            out.append(f'<text x="{left + w + 6:.1f}" y="{y + row / 2 + 4}">{escape(label)}</text>')
        else:
            out.append(f'<text x="{left + 6}" y="{y + row / 2 + 4}" fill="#888">{escape(label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
