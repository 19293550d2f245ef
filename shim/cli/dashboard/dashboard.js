// The dashboard of fusebox serve. Reads the server-sent events of
// /dashboard/stream: a "snapshot" (every breaker with its history, the recent
// transitions, the rules), then a "tick" a second with what changed. Control
// buttons POST to the same endpoints as curl would. Nothing is loaded from
// anywhere else.
'use strict';
(() => {
  const STREAM = '/dashboard/stream';
  const STALE_MS = 5000; // no message for this long: the stream is dead, reconnect
  const WORDS = {
    closed: 'closed', open: 'open', half_open: 'half-open', forced_open: 'forced open',
    disabled: 'disabled', fleet_open: 'fleet open',
  };
  const RANK = { open: 0, half_open: 1, forced_open: 2, fleet_open: 3, disabled: 4, closed: 5 };
  const MAX_EVENTS = 100;
  const SPARK_W = 150, SPARK_H = 28;

  const $ = (id) => document.getElementById(id);
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };

  const view = {
    rows: $('rows'), filter: $('filter'), sort: $('sort'), shown: $('shown'), totals: $('totals'),
    live: $('live'), file: $('file'), problem: $('problem'), fleet: $('fleet'), empty: $('empty'),
    events: $('events'), noEvents: $('no-events'), control: $('control'),
    chosen: $('control-chosen'), result: $('control-result'), openFor: $('open-for'),
    token: $('token'), tokenHint: $('token-hint'),
    rulesSource: $('rules-source'), rulesError: $('rules-error'), rulesDetails: $('rules-details'),
    rulesSummary: $('rules-summary'), rulesRows: $('rules-rows'),
  };

  const S = {
    breakers: new Map(), // id -> breaker
    history: 900,
    head: 0, // index of the newest sample in every ring
    control: false,
    tokenFile: null, // where serve wrote its control token
    chosen: null,
    order: [], // ids as the table shows them
    reorder: true,
    rules: null,
    rulesDrawn: false,
    ready: false, // a snapshot came: ticks apply
  };

  let colours = {};
  const readColours = () => {
    const css = getComputedStyle(document.documentElement);
    for (const k of ['calls', 'failures', 'rejected', 'line']) colours[k] = css.getPropertyValue('--' + k).trim();
  };

  const fmt = (n) => n.toLocaleString('en-US');
  const fmtDuration = (ms) => {
    const s = Math.ceil(ms / 1000);
    if (s < 60) return (ms / 1000).toFixed(1) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + (s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.floor((s % 3600) / 60) + ' min';
  };

  // A run of zeros comes as one negative number: [-899, 5] is 899 zeros, then 5.
  const decodeSeries = (enc, len) => {
    const out = new Uint32Array(len);
    let i = 0;
    for (const v of enc) {
      if (v < 0) i += -v;
      else out[i++] = v;
    }
    return out;
  };

  // --- the table ------------------------------------------------------------

  const visibility = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const b = e.target.breaker;
      if (!b) continue;
      b.visible = e.isIntersecting;
      if (b.visible && b.stale) draw(b);
    }
  });

  const makeRow = (b) => {
    const tr = el('tr');
    const cells = {};
    cells.name = el('td', 'name');
    cells.state = el('td');
    cells.badge = el('span', 'badge');
    cells.state.append(cells.badge);
    for (const k of ['fails', 'calls', 'failures', 'rejected', 'fallbacks', 'trips', 'retry', 'fleet']) cells[k] = el('td', 'num');
    const sparkCell = el('td');
    const canvas = el('canvas', 'spark');
    canvas.width = SPARK_W * (window.devicePixelRatio || 1);
    canvas.height = SPARK_H * (window.devicePixelRatio || 1);
    canvas.setAttribute('role', 'img');
    canvas.breaker = b;
    sparkCell.append(canvas);
    tr.append(cells.name, cells.state, cells.fails, cells.calls, cells.failures, cells.rejected,
      cells.fallbacks, cells.trips, cells.retry, cells.fleet, sparkCell);
    tr.dataset.id = b.id;
    b.tr = tr;
    b.cells = cells;
    b.canvas = canvas;
    visibility.observe(canvas);
  };

  const setName = (b) => {
    const c = b.cells.name;
    c.textContent = '';
    if (S.control) {
      const button = el('button', '', b.data.name);
      button.type = 'button';
      button.className = 'choose';
      c.append(button);
    } else {
      c.textContent = b.data.name;
    }
  };

  const fill = (b) => {
    const d = b.data, c = b.cells;
    if (!b.named || b.named !== d.name || b.namedControl !== S.control) {
      setName(b);
      b.named = d.name;
      b.namedControl = S.control;
    }
    c.badge.textContent = WORDS[d.state] || d.state;
    c.badge.className = 'badge ' + d.state;
    c.fails.textContent = d.fail_max ? d.fails + '/' + d.fail_max : d.fails + '/–';
    c.calls.textContent = fmt(d.calls);
    c.failures.textContent = fmt(d.failures);
    c.rejected.textContent = fmt(d.rejected);
    c.fallbacks.textContent = fmt(d.fallbacks);
    c.trips.textContent = fmt(d.trips);
    c.fleet.textContent = d.fleet ? d.fleet[0] + '/' + d.fleet[1] : '–';
    b.tr.dataset.state = d.state;
    showRetry(b, performance.now());
  };

  const showRetry = (b, now) => {
    const d = b.data;
    let text = '–';
    if (b.retryAt !== null) text = b.retryAt > now ? fmtDuration(b.retryAt - now) : 'at the next call';
    else if (d.state === 'forced_open') text = 'until closed';
    if (b.cells.retry.textContent !== text) b.cells.retry.textContent = text;
  };

  // A full row leaves out retry_ms and fleet when they are null; a change
  // (a row without its name) carries only what changed, retry_ms only when
  // that moved: the page counts it down itself in between.
  const setData = (b, data) => {
    const old = b.data;
    const retryMoved = !old || 'name' in data || 'retry_ms' in data;
    if (!('name' in data)) {
      data = Object.assign({}, old, data);
    } else {
      data.retry_ms = data.retry_ms ?? null;
      data.fleet = data.fleet ?? null;
    }
    if (retryMoved) b.retryAt = data.retry_ms === null ? null : performance.now() + data.retry_ms;
    b.data = data;
    if (!old || old.state !== data.state || old.failures !== data.failures || old.calls !== data.calls) S.reorder = true;
    fill(b);
    if (S.chosen === b) showChosen();
  };

  const addBreaker = (data) => {
    const b = { id: data.id, data: null, retryAt: null, visible: false, stale: true, nonzero: 0 };
    b.hist = [0, 1, 2].map((s) => (data.h ? decodeSeries(data.h[s], S.history) : new Uint32Array(S.history)));
    // the server sends the oldest sample first: the newest is at the end (S.head)
    for (const h of b.hist) for (const v of h) if (v) b.nonzero++;
    makeRow(b);
    S.breakers.set(b.id, b);
    setData(b, data);
    S.reorder = true;
    return b;
  };

  const upsert = (data) => {
    const b = S.breakers.get(data.id);
    if (b && (!('name' in data) || b.data.name === data.name)) {
      setData(b, data);
    } else {
      if (b) removeBreaker(data.id);
      addBreaker(data);
    }
  };

  const removeBreaker = (id) => {
    const b = S.breakers.get(id);
    if (!b) return;
    visibility.unobserve(b.canvas);
    b.tr.remove();
    S.breakers.delete(id);
    S.order = []; // no longer what the table shows
    if (S.chosen === b) choose(null);
    S.reorder = true;
  };

  const matches = (b, q) => !q || b.data.name.toLowerCase().includes(q) ||
    (WORDS[b.data.state] || '').includes(q) || b.data.state.includes(q);

  const compare = {
    name: (a, b) => (a.data.name < b.data.name ? -1 : a.data.name > b.data.name ? 1 : 0),
    state: (a, b) => RANK[a.data.state] - RANK[b.data.state] || compare.name(a, b),
    failures: (a, b) => b.data.failures - a.data.failures || compare.name(a, b),
    calls: (a, b) => b.data.calls - a.data.calls || compare.name(a, b),
  };

  // Puts the rows that pass the filter in the order asked, touching the DOM
  // only when that order changed.
  const arrange = () => {
    if (!S.reorder) return;
    S.reorder = false;
    const q = view.filter.value.trim().toLowerCase();
    const list = [...S.breakers.values()].filter((b) => matches(b, q)).sort(compare[view.sort.value] || compare.state);
    const ids = list.map((b) => b.id);
    const same = ids.length === S.order.length && ids.every((id, i) => id === S.order[i]);
    if (!same) {
      const frag = document.createDocumentFragment();
      for (const b of list) frag.append(b.tr);
      view.rows.textContent = '';
      view.rows.append(frag);
      S.order = ids;
    }
    const n = S.breakers.size;
    view.shown.textContent = q ? `${list.length} of ${n} shown` : '';
    view.empty.hidden = n > 0;
  };

  const showTotals = () => {
    const counts = {};
    for (const b of S.breakers.values()) counts[b.data.state] = (counts[b.data.state] || 0) + 1;
    const parts = Object.keys(RANK).filter((s) => counts[s]).map((s) => `${counts[s]} ${WORDS[s]}`);
    const n = S.breakers.size;
    view.totals.textContent = `${n} breaker${n === 1 ? '' : 's'}${parts.length ? ': ' + parts.join(', ') : ''}`;
  };

  // --- sparklines -------------------------------------------------------------

  // Draws the last 15 minutes of b as bars, a pixel the mean rate of its
  // seconds: the whole bar is calls; from its foot, the rejected ones, then
  // the failures (both are calls too).
  const draw = (b) => {
    b.stale = false;
    const cv = b.canvas, ctx = cv.getContext('2d');
    const W = cv.width, H = cv.height, n = S.history, per = n / SPARK_W;
    const dpr = W / SPARK_W;
    ctx.clearRect(0, 0, W, H);
    const totals = [0, 0, 0];
    const cols = [new Float64Array(SPARK_W), new Float64Array(SPARK_W), new Float64Array(SPARK_W)];
    for (let s = 0; s < 3; s++) {
      const h = b.hist[s];
      for (let i = 0; i < n; i++) {
        const v = h[(S.head + 1 + i) % n];
        if (!v) continue;
        totals[s] += v;
        cols[s][Math.min(SPARK_W - 1, Math.floor(i / per))] += v / per;
      }
    }
    let top = 0;
    for (const v of cols[0]) if (v > top) top = v;
    const px = (v) => (top ? (v / top) * (H - dpr) : 0);
    ctx.fillStyle = colours.line;
    ctx.fillRect(0, H - dpr, W, dpr);
    for (let x = 0; x < SPARK_W; x++) {
      if (!cols[0][x]) continue;
      let y = H - dpr;
      for (const [v, colour] of [[cols[2][x], colours.rejected], [cols[1][x], colours.failures],
        [cols[0][x] - cols[1][x] - cols[2][x], colours.calls]]) {
        const h = Math.max(px(v), v > 0 ? dpr : 0);
        if (h <= 0) continue;
        ctx.fillStyle = colour;
        ctx.fillRect(x * dpr, y - h, dpr, h);
        y -= h;
      }
    }
    cv.setAttribute('aria-label', `last 15 minutes: ${fmt(totals[0])} calls, ${fmt(totals[1])} failures, ${fmt(totals[2])} rejected; at most ${top.toFixed(1)} calls a second`);
  };

  // Moves every ring on by one second, then records the tick's samples.
  const advance = (samples) => {
    const n = S.history;
    S.head = (S.head + 1) % n;
    for (const b of S.breakers.values()) {
      for (const h of b.hist) {
        if (h[S.head]) { b.nonzero--; h[S.head] = 0; b.stale = true; }
      }
    }
    for (const [id, c, f, r] of samples) {
      const b = S.breakers.get(id);
      if (!b) continue;
      [c, f, r].forEach((v, s) => { b.hist[s][S.head] = v; if (v) b.nonzero++; });
      b.stale = true;
    }
  };

  const redraw = () => {
    for (const b of S.breakers.values()) if (b.visible && (b.stale || b.nonzero)) draw(b);
  };

  // --- transitions, rules, fleet ------------------------------------------------

  const badge = (state) => el('span', 'badge ' + state, WORDS[state] || state);

  const addEvents = (events) => {
    for (const e of events) {
      const li = el('li');
      const t = new Date(e.time);
      const time = el('time', '', t.toLocaleTimeString('en-GB'));
      time.dateTime = e.time;
      li.append(time, ' ', el('span', 'name', e.breaker), ' ', badge(e.from), ' → ', badge(e.to),
        ' ', e.reason, ' ', el('span', 'who', `(${e.program} ${e.pid})`));
      view.events.prepend(li);
    }
    while (view.events.children.length > MAX_EVENTS) view.events.lastElementChild.remove();
    view.noEvents.hidden = view.events.children.length > 0;
  };

  const drawRules = () => {
    const r = S.rules;
    view.rulesRows.textContent = '';
    S.rulesDrawn = true;
    if (!r) return;
    const frag = document.createDocumentFragment();
    for (const b of r.breakers) {
      const rates = [];
      if (b.failure_rate) rates.push(`failures ≥ ${b.failure_rate}%`);
      if (b.slow_rate) rates.push(`slow ≥ ${b.slow_rate}%`);
      if (b.slow_call_ms) rates.push(`slow > ${fmtDuration(b.slow_call_ms)}`);
      if (b.window_ms) rates.push(`in ${fmtDuration(b.window_ms)}`);
      const cells = [b.name, b.hosts.join(', '), String(b.fail_max), fmtDuration(b.reset_timeout_ms),
        String(b.success_threshold), String(b.half_open_max_calls), rates.join(', ') || '–',
        b.max_hosts ? `yes, at most ${b.max_hosts}` : 'no', (b.fallback || []).join(', ') || '–',
        b.fleet ? `shared, quorum ${b.fleet.quorum}` : '–'];
      const tr = el('tr');
      cells.forEach((text, i) => tr.append(el('td', i >= 2 && i <= 5 ? 'num' : '', text)));
      frag.append(tr);
    }
    view.rulesRows.append(frag);
  };

  const setRules = (r) => {
    S.rules = r;
    S.rulesDrawn = false;
    const n = r ? r.breakers.length : 0;
    view.rulesSource.textContent = !r || !r.source
      ? 'serve was given no rules (-r RULES or FUSEBOX_RULES): only the breakers above are known.'
      : `From ${r.source}.`;
    view.rulesError.hidden = !(r && r.error);
    view.rulesError.textContent = !(r && r.error) ? ''
      : (n ? 'These rules do not compile; the last good ones are shown below:\n'
        : 'These rules do not compile:\n') + r.error;
    view.rulesDetails.hidden = n === 0;
    view.rulesSummary.textContent = `${n} breaker${n === 1 ? '' : 's'}`;
    if (view.rulesDetails.open) drawRules();
  };

  const setText = (node, text) => {
    node.hidden = !text;
    node.textContent = text || '';
  };

  // --- control ---------------------------------------------------------------

  const showChosen = () => {
    const b = S.chosen;
    view.chosen.textContent = b ? `${b.data.name}: ${WORDS[b.data.state] || b.data.state}` : 'Choose a breaker by its name (Tab to it, then Enter).';
    for (const button of view.control.querySelectorAll('button[data-action]')) button.disabled = !b;
  };

  const choose = (b) => {
    if (S.chosen) S.chosen.tr.classList.remove('chosen');
    S.chosen = b;
    if (b) b.tr.classList.add('chosen');
    showChosen();
  };

  // The control token is the user's to give: serve writes it into a file
  // only its user can read, and the page never gets it from serve (anyone
  // who can connect could read it then). It is kept for this tab only.
  const TOKEN_KEY = 'fusebox-control-token';
  view.token.value = sessionStorage.getItem(TOKEN_KEY) || '';
  view.token.addEventListener('input', () => sessionStorage.setItem(TOKEN_KEY, view.token.value.trim()));

  const act = async (action) => {
    const b = S.chosen;
    if (!b || !S.control) return;
    const name = b.data.name;
    let url = '/breakers/' + encodeURIComponent(name) + '/' + action;
    const time = view.openFor.value.trim();
    if (action === 'open' && time) url += '?for=' + encodeURIComponent(time);
    const say = (text, ok) => { view.result.textContent = text; view.result.dataset.ok = ok; };
    const token = view.token.value.trim();
    if (!token) {
      say(`${action} ${name}: give the token first (from ${S.tokenFile})`, false);
      view.token.focus();
      return;
    }
    say(`${action} ${name}…`, true);
    try {
      const resp = await fetch(url, { method: 'POST', cache: 'no-store', headers: { Authorization: 'Bearer ' + token } });
      const body = await resp.json();
      if (resp.ok) say(`${name}: ${WORDS[body.state] || body.state}`, true);
      else if (resp.status === 401) {
        say(`${action} ${name}: serve refused the token (it makes a new one each time it starts: see ${S.tokenFile})`, false);
        view.token.focus();
      } else say(`${action} ${name}: ${body.error} (HTTP ${resp.status})`, false);
    } catch (err) {
      say(`${action} ${name}: serve did not answer (${err.message})`, false);
    }
  };

  view.control.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-action]');
    if (button) act(button.dataset.action);
  });
  view.openFor.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') act('open');
  });
  view.token.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') view.openFor.focus();
  });
  view.control.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && S.chosen) {
      const button = S.chosen.tr.querySelector('button.choose');
      if (button) button.focus();
    }
  });

  view.rows.addEventListener('click', (e) => {
    const button = e.target.closest('button.choose');
    if (!button) return;
    choose(S.breakers.get(Number(button.closest('tr').dataset.id)));
    (view.token.value ? view.openFor : view.token).focus();
  });

  // Up and down arrows move between the breakers' names.
  view.rows.addEventListener('keydown', (e) => {
    if (!e.target.matches('button.choose')) return;
    const tr = e.target.closest('tr');
    let next = null;
    if (e.key === 'ArrowDown') next = tr.nextElementSibling;
    else if (e.key === 'ArrowUp') next = tr.previousElementSibling;
    else if (e.key === 'Home') next = view.rows.firstElementChild;
    else if (e.key === 'End') next = view.rows.lastElementChild;
    if (!next) return;
    e.preventDefault();
    next.querySelector('button.choose').focus();
  });

  // --- filter, sort, keys ----------------------------------------------------

  view.filter.addEventListener('input', () => { S.reorder = true; arrange(); });
  view.filter.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { view.filter.value = ''; S.reorder = true; arrange(); }
  });
  view.sort.addEventListener('change', () => { S.reorder = true; arrange(); });
  view.rulesDetails.addEventListener('toggle', () => {
    if (view.rulesDetails.open && !S.rulesDrawn) drawRules();
  });
  document.addEventListener('keydown', (e) => {
    if (e.key === '/' && !e.target.matches('input, select, textarea')) {
      e.preventDefault();
      view.filter.focus();
    }
  });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
    readColours();
    for (const b of S.breakers.values()) b.stale = true;
    redraw();
  });

  // --- the stream ------------------------------------------------------------

  const setLive = (state, text) => {
    if (view.live.textContent === text) return; // a screen reader hears each change
    view.live.dataset.live = state;
    view.live.textContent = text;
  };

  const onSnapshot = (m) => {
    for (const id of [...S.breakers.keys()]) removeBreaker(id);
    S.history = m.history;
    S.head = m.history - 1;
    S.control = m.control;
    S.tokenFile = m.token_file;
    view.control.hidden = !S.control;
    view.tokenHint.textContent = S.control ? `serve wrote it to ${S.tokenFile}` : '';
    view.file.textContent = m.file ? 'state file ' + m.file : '';
    setText(view.problem, m.problem && 'The state file cannot be read: ' + m.problem);
    setText(view.fleet, m.fleet);
    for (const data of m.breakers) addBreaker(data);
    view.events.textContent = '';
    addEvents(m.events);
    setRules(m.rules);
    S.reorder = true;
    arrange();
    showTotals();
    showChosen();
    S.ready = true;
  };

  const onTick = (m) => {
    if (!S.ready) return;
    advance(m.s);
    for (const data of m.b) upsert(data);
    for (const id of m.gone) removeBreaker(id);
    if (m.e.length) addEvents(m.e);
    if ('rules' in m) setRules(m.rules);
    if ('fleet' in m) setText(view.fleet, m.fleet);
    if ('problem' in m) setText(view.problem, m.problem && 'The state file cannot be read: ' + m.problem);
    const now = performance.now();
    for (const b of S.breakers.values()) if (b.retryAt !== null) showRetry(b, now);
    if (m.b.length || m.gone.length) showTotals();
    arrange();
    redraw();
  };

  let source = null, lastMessage = 0, retryTimer = 0;
  const connect = () => {
    clearTimeout(retryTimer);
    if (source) source.close();
    S.ready = false;
    lastMessage = Date.now();
    source = new EventSource(STREAM);
    const handle = (fn) => (e) => {
      lastMessage = Date.now();
      setLive('live', 'live');
      fn(JSON.parse(e.data));
    };
    source.addEventListener('snapshot', handle(onSnapshot));
    source.addEventListener('tick', handle(onTick));
    source.addEventListener('error', () => {
      setLive('reconnecting', 'serve is not answering: reconnecting…');
      // EventSource retries by itself after a network error, but gives up
      // for good on an HTTP error: start again then
      if (source.readyState === EventSource.CLOSED) retryTimer = setTimeout(connect, 1000);
    });
  };
  setInterval(() => {
    if (Date.now() - lastMessage > STALE_MS) {
      setLive('reconnecting', 'no update for a while: reconnecting…');
      connect();
    }
  }, 1000);

  readColours();
  showChosen();
  connect();
})();
