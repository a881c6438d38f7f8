// Small SVG charts for the stats view, drawn with DOM APIs (createElementNS + textContent).
'use strict';
(function () {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 560, H = 200, PAD = { l: 46, r: 12, t: 12, b: 26 };

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  function hourLabel(iso, lang) {
    const d = new Date(iso);
    if (isNaN(d)) return '';
    return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { hour: '2-digit', minute: '2-digit' }).format(d);
  }

  // opts: {title, times[] (or labels[]: categories such as agent names), series: [{name, values[], cls}],
  //        type: 'bar'|'line', stacked, integer, max, format, lang, empty,
  //        note (a line under the chart), gapLabel (line charts: a slot no series has a value for
  //        is shaded and titled with it, so that "nothing to measure" never reads as 0)}
  function chart(opts) {
    const fig = document.createElement('figure');
    fig.className = 'chart';
    const cap = document.createElement('figcaption');
    const title = document.createElement('span');
    title.className = 'chart-title';
    title.textContent = opts.title;
    cap.append(title);
    const legend = document.createElement('span');
    legend.className = 'legend';
    for (const s of opts.series) {
      const item = document.createElement('span');
      item.className = 'legend-item ' + s.cls;
      item.textContent = s.name;
      legend.append(item);
    }
    cap.append(legend);
    fig.append(cap);

    const cats = Array.isArray(opts.labels) ? opts.labels : null;
    const n = cats ? cats.length : (opts.times || []).length;
    const at = (i) => (cats ? String(cats[i]) : hourLabel(opts.times[i], opts.lang));
    const fmt = opts.format || ((v) => String(Math.round(v * 10) / 10));
    const all = [];
    if (opts.stacked) {
      for (let i = 0; i < n; i++) all.push(opts.series.reduce((a, s) => a + (s.values[i] || 0), 0));
    } else {
      for (const s of opts.series) for (const v of s.values) if (typeof v === 'number') all.push(v);
    }
    const hasData = all.some((v) => v > 0) || (opts.type === 'line' && all.length > 0);
    const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': opts.title, class: 'chart-svg' });
    const top = Math.max(0, ...all);
    let max = opts.max || niceMax(top);
    // counts get whole-number grid lines
    if (!opts.max && opts.integer && max / 4 !== Math.floor(max / 4)) max = Math.max(4, Math.ceil(top / 4) * 4);
    const iw = W - PAD.l - PAD.r, ih = H - PAD.t - PAD.b;
    const x = (i) => PAD.l + (n <= 1 ? iw / 2 : (i * iw) / (n - 1));
    const y = (v) => PAD.t + ih - (v / max) * ih;

    for (let g = 0; g <= 4; g++) {
      const v = (max * g) / 4;
      root.append(svg('line', { x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v), class: 'grid' }));
      root.append(svg('text', { x: PAD.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, fmt(v)));
    }
    const step = Math.max(1, Math.ceil(n / 8));
    for (let i = 0; i < n; i += step) {
      root.append(svg('text', { x: opts.type === 'bar' ? PAD.l + (i + 0.5) * (iw / n) : x(i), y: H - 8, 'text-anchor': 'middle', class: 'axis' }, at(i)));
    }

    if (!hasData || n === 0) {
      root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'nodata' }, opts.empty || 'No data'));
    } else if (opts.type === 'bar') {
      const bw = iw / n;
      const inner = Math.max(2, bw * 0.7);
      for (let i = 0; i < n; i++) {
        let base = 0;
        opts.series.forEach((s, si) => {
          const v = s.values[i] || 0;
          if (v <= 0) return;
          const bx = opts.stacked ? PAD.l + i * bw + (bw - inner) / 2 : PAD.l + i * bw + (bw - inner) / 2 + (si * inner) / opts.series.length;
          const w = opts.stacked ? inner : inner / opts.series.length;
          const top = opts.stacked ? base + v : v;
          const rect = svg('rect', { x: bx, y: y(top), width: w, height: Math.max(1, y(opts.stacked ? base : 0) - y(top)), class: 'bar ' + s.cls, rx: 1.5 });
          rect.append(svg('title', {}, `${at(i)} · ${s.name}: ${fmt(v)}`));
          if (cats) rect.setAttribute('data-label', at(i));
          root.append(rect);
          if (opts.stacked) base += v;
        });
      }
    } else {
      if (opts.gapLabel) {
        const half = n <= 1 ? iw / 2 : iw / (n - 1) / 2;
        for (let i = 0; i < n; i++) {
          if (opts.series.some((s) => typeof s.values[i] === 'number')) continue;
          const x0 = Math.max(PAD.l, x(i) - half), x1 = Math.min(W - PAD.r, x(i) + half);
          const gap = svg('rect', { x: x0, y: PAD.t, width: Math.max(1, x1 - x0), height: ih, class: 'gap', 'data-index': i });
          gap.append(svg('title', {}, `${at(i)} · ${opts.gapLabel}`));
          root.append(gap);
        }
      }
      for (const s of opts.series) {
        let d = '', pen = false;
        s.values.forEach((v, i) => {
          if (typeof v !== 'number') { pen = false; return; }
          d += (pen ? 'L' : 'M') + x(i).toFixed(1) + ' ' + y(v).toFixed(1) + ' ';
          pen = true;
        });
        if (d) root.append(svg('path', { d, class: 'line ' + s.cls }));
        s.values.forEach((v, i) => {
          if (typeof v !== 'number') return;
          const dot = svg('circle', { cx: x(i), cy: y(v), r: 3, class: 'dot ' + s.cls });
          dot.append(svg('title', {}, `${at(i)} · ${s.name}: ${fmt(v)}`));
          root.append(dot);
        });
      }
    }
    fig.append(root);
    if (opts.note) {
      const note = document.createElement('p');
      note.className = 'chart-note muted small';
      note.textContent = opts.note;
      fig.append(note);
    }
    return fig;
  }

  window.SmartreplyCharts = { chart };
})();
