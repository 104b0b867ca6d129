// A small time-series chart on <canvas> for the live dashboard (no dependencies, no CDN).
// new TimeChart(canvas, { series: [{ key, label, color, axis: 'left'|'right' }], unit, stacked })
// chart.draw(points) with points = [{ t, values: { key: number|null } }], oldest first.

const FONT = '11px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif';
const GRID = '#243040';
const AXIS_TEXT = '#8a94a6';

export function formatNumber(v, unit) {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (unit === 'ms') {
    if (v >= 1000) return (v / 1000).toFixed(v >= 10000 ? 0 : 2) + ' s';
    if (v >= 100) return v.toFixed(0) + ' ms';
    if (v >= 10) return v.toFixed(1) + ' ms';
    return v.toFixed(2) + ' ms';
  }
  const a = Math.abs(v);
  const suffix = unit ? ' ' + unit : '';
  if (a >= 1e9) return (v / 1e9).toFixed(2) + 'G' + suffix;
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 1 : 2) + 'M' + suffix;
  if (a >= 1e4) return (v / 1e3).toFixed(a >= 1e5 ? 0 : 1) + 'K' + suffix;
  if (a >= 100 || Number.isInteger(v)) return v.toFixed(0) + suffix;
  if (a >= 10) return v.toFixed(1) + suffix;
  return v.toFixed(2) + suffix;
}

/** Short axis labels: 37.5, 1.2K, 250 ms, 1.5 s. */
function axisLabel(v, unit) {
  if (unit === 'ms') {
    if (v >= 1000) return `${+(v / 1000).toFixed(2)} s`;
    return `${+v.toFixed(Number.isInteger(v) ? 0 : v >= 1 ? 1 : 2)} ms`;
  }
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}K`;
  return `${+v.toFixed(Number.isInteger(v) ? 0 : v >= 1 ? 1 : 2)}`;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 1.2, 1.6, 2, 3, 4, 6, 8, 10]) if (m * p >= v) return m * p; // quarters stay round
  return 10 * p;
}

export class TimeChart {
  constructor(canvas, opts) {
    this.canvas = canvas;
    this.opts = { windowSeconds: 120, ...opts };
    this.ctx = canvas.getContext('2d');
  }

  resize() {
    const dpr = window.devicePixelRatio || 1;
    const w = this.canvas.clientWidth;
    const h = this.canvas.clientHeight;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    this.ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    return { w, h };
  }

  draw(points) {
    const { w, h } = this.resize();
    const ctx = this.ctx;
    const { series, unit, stacked, windowSeconds } = this.opts;
    ctx.clearRect(0, 0, w, h);
    ctx.font = FONT;
    const hasRight = series.some((s) => s.axis === 'right');
    const pad = { l: 50, r: hasRight ? 42 : 10, t: 8, b: 18 };
    const pw = w - pad.l - pad.r;
    const ph = h - pad.t - pad.b;
    const tEnd = points.length ? points[points.length - 1].t : Date.now();
    // The time axis grows with the history up to the window, so a fresh page is not all empty.
    const have = points.length ? (tEnd - points[0].t) / 1000 : 0;
    const span = Math.min(windowSeconds, Math.max(30, Math.ceil(have / 10) * 10));
    const tStart = tEnd - span * 1000;
    const visible = points.filter((p) => p.t >= tStart);
    const x = (t) => pad.l + ((t - tStart) / (span * 1000)) * pw;

    // Stacked series are drawn as cumulative bands.
    const val = (p, s, i) => {
      if (!stacked) return p.values[s.key];
      let acc = 0;
      for (let k = 0; k <= i; k++) acc += p.values[series[k].key] ?? 0;
      return acc;
    };
    const maxOf = (axis) => {
      let m = 0;
      series.forEach((s, i) => {
        if ((s.axis ?? 'left') !== axis) return;
        for (const p of visible) {
          const v = val(p, s, i);
          if (v !== null && v !== undefined && Number.isFinite(v) && v > m) m = v;
        }
      });
      return niceMax(m);
    };
    const maxL = maxOf('left');
    const maxR = hasRight ? maxOf('right') : 1;
    const y = (v, axis) => pad.t + ph - (v / (axis === 'right' ? maxR : maxL)) * ph;

    // Grid and axes.
    ctx.strokeStyle = GRID;
    ctx.lineWidth = 1;
    ctx.fillStyle = AXIS_TEXT;
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const gy = Math.round(pad.t + (ph * i) / 4) + 0.5;
      ctx.beginPath();
      ctx.moveTo(pad.l, gy);
      ctx.lineTo(w - pad.r, gy);
      ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(axisLabel(maxL * (1 - i / 4), unit), pad.l - 5, gy);
      if (hasRight) {
        ctx.textAlign = 'left';
        ctx.fillText(axisLabel(maxR * (1 - i / 4), ''), w - pad.r + 5, gy);
      }
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const step = [5, 10, 15, 30, 60].find((st) => span / st <= 6) ?? 60;
    for (let s = 0; s <= span; s += step) {
      const gx = x(tEnd - s * 1000);
      ctx.fillText(s === 0 ? 'now' : `-${s}s`, Math.min(Math.max(gx, pad.l + 10), w - pad.r - 10), h - pad.b + 4);
    }

    // Series: stacked bands are filled from the top band down so each shows its own colour.
    const order = stacked ? series.map((s, i) => i).reverse() : series.map((s, i) => i);
    for (const i of order) {
      const s = series[i];
      const axis = s.axis ?? 'left';
      const line = new Path2D();
      let firstX;
      let lastX = 0;
      for (const p of visible) {
        const v = val(p, s, i);
        if (v === null || v === undefined || !Number.isFinite(v)) continue;
        const px = x(p.t);
        const py = y(Math.min(v, axis === 'right' ? maxR : maxL), axis);
        if (firstX === undefined) {
          line.moveTo(px, py);
          firstX = px;
        } else line.lineTo(px, py);
        lastX = px;
      }
      if (firstX === undefined) continue;
      if (stacked || s.fill) {
        const area = new Path2D(line);
        area.lineTo(lastX, pad.t + ph);
        area.lineTo(firstX, pad.t + ph);
        area.closePath();
        ctx.save();
        ctx.fillStyle = s.color;
        ctx.globalAlpha = stacked ? 0.75 : 0.18;
        ctx.fill(area);
        ctx.restore();
      }
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width ?? (stacked ? 1.2 : 1.8);
      ctx.setLineDash(s.dash ?? []);
      ctx.stroke(line);
      ctx.setLineDash([]);
    }
  }
}

/** Legend with each series' latest value: <span><i class=sw></i>label <b>value</b></span>. */
export function renderLegend(el, series, latest, unit) {
  el.innerHTML = series
    .map((s) => `<span><i class="sw" style="background:${s.color}"></i>${s.label}<b>${formatNumber(latest ? latest[s.key] : null, s.unit ?? unit)}</b></span>`)
    .join('');
}
