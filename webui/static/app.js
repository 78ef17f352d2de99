// Fast-Flow web UI behaviour. Hand-written, no build step, no dependencies.
// Every page works without this file; each feature below only enhances
// markup that is already there and skips itself when that markup is missing.
(() => {
  'use strict';

  const doc = document;
  const byId = (id) => doc.getElementById(id);
  doc.documentElement.classList.add('js');

  // ---- Escaping -----------------------------------------------------------

  const HTML_ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
  const escapeHTML = (s) => s.replace(/[&<>"']/g, (c) => HTML_ESC[c]);
  const escapeRegExp = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

  // Only same-origin URLs are followed, so a tampered response cannot send
  // the user elsewhere.
  function sameOrigin(href) {
    try {
      const u = new URL(href, location.href);
      return u.origin === location.origin ? u : null;
    } catch {
      return null;
    }
  }

  // A fetch that ended on the login page means the session expired: going
  // there (it carries ?next=) beats rendering the login form inside a page.
  function loginRedirect(res) {
    if (!res.redirected) return false;
    const u = sameOrigin(res.url);
    if (!u || u.pathname !== '/login') return false;
    location.assign(u.href);
    return true;
  }

  // ---- 1. Local times -----------------------------------------------------

  const pad = (n) => (n < 10 ? '0' : '') + n;
  const stamp = (y, mo, d, h, mi, s) => `${y}-${pad(mo)}-${pad(d)} ${pad(h)}:${pad(mi)}:${pad(s)}`;
  // Many locales only know offsets ("GMT+1") for zones outside their own
  // region; en-US knows the American abbreviations and en-GB the European
  // ones, so those are asked next.
  const zoneLocales = [undefined, 'en-US', 'en-GB'];
  const zoneFormats = [];
  function zoneFormat(i) {
    if (zoneFormats[i] === undefined) {
      try {
        zoneFormats[i] = new Intl.DateTimeFormat(zoneLocales[i], { timeZoneName: 'short' });
      } catch {
        zoneFormats[i] = null; // no Intl: times get no zone name
      }
    }
    return zoneFormats[i];
  }

  // Looked up per date because the name changes with daylight saving time.
  function zoneName(d) {
    let name = '';
    for (let i = 0; i < zoneLocales.length; i++) {
      const f = zoneFormat(i);
      const part = f && f.formatToParts && f.formatToParts(d).find((p) => p.type === 'timeZoneName');
      if (!part) continue;
      if (!name) name = part.value;
      if (!/^(GMT|UTC)[+\-\u2212]/.test(part.value)) return part.value;
    }
    return name;
  }

  function localTimes(scope) {
    for (const el of scope.querySelectorAll('time[datetime]')) {
      const v = el.getAttribute('datetime');
      // Date-only values and durations are not instants; leave them be.
      if (!v.includes('T')) continue;
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) continue;
      const zone = zoneName(d);
      el.textContent = stamp(d.getFullYear(), d.getMonth() + 1, d.getDate(),
        d.getHours(), d.getMinutes(), d.getSeconds()) + (zone ? ' ' + zone : '');
      el.title = stamp(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(),
        d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) + ' UTC';
    }
  }

  // ---- Toasts -------------------------------------------------------------

  const TOAST_MS = 6000;
  const TOAST_MAX = 5;
  const TOAST_KEY = 'fastflow.toast';

  function toastBox() {
    let box = byId('toasts');
    if (!box && doc.body) {
      box = doc.createElement('div');
      box.id = 'toasts';
      box.setAttribute('aria-live', 'polite');
      doc.body.append(box);
    }
    if (box && !box.ffBound) {
      box.ffBound = true;
      box.addEventListener('click', (e) => {
        const t = e.target.closest('.toast');
        if (t) t.remove();
      });
    }
    return box;
  }

  function toast(kind, message) {
    const box = toastBox();
    if (!box || !message) return;
    const t = doc.createElement('div');
    t.className = `toast toast-${kind === 'error' ? 'error' : 'success'}`;
    t.setAttribute('role', 'status');
    t.textContent = message;
    box.append(t);
    while (box.children.length > TOAST_MAX) box.firstElementChild.remove();
    setTimeout(() => t.remove(), TOAST_MS);
  }

  // A toast that must outlive a navigation (redirect or reload) waits in
  // sessionStorage for the next page.
  function keepToast(kind, message) {
    if (!message) return;
    try {
      sessionStorage.setItem(TOAST_KEY, JSON.stringify({ kind, message }));
    } catch { /* storage disabled: the toast is lost, the action is not */ }
  }

  function restoreToasts() {
    const box = toastBox();
    if (box) for (const t of box.querySelectorAll('.toast')) setTimeout(() => t.remove(), TOAST_MS);
    let kept = null;
    try {
      kept = sessionStorage.getItem(TOAST_KEY);
      if (kept) sessionStorage.removeItem(TOAST_KEY);
    } catch { return; }
    if (!kept) return;
    try {
      const { kind, message } = JSON.parse(kept);
      if (typeof message === 'string') toast(kind, message);
    } catch { /* a corrupt entry is dropped */ }
  }

  // ---- 2. Action forms ----------------------------------------------------

  function setBusy(button, on) {
    if (!button) return;
    button.disabled = on;
    button.classList.toggle('busy', on);
    if (on) button.setAttribute('aria-busy', 'true');
    else button.removeAttribute('aria-busy');
  }

  // Fills the form's error slots and returns the messages that had no slot,
  // so they still reach the user through the toast.
  function showFieldErrors(form, errors) {
    const slots = form.querySelectorAll('.field-error[data-error-for]');
    for (const el of slots) {
      el.textContent = '';
      el.hidden = true;
    }
    for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    const orphans = [];
    if (!errors || typeof errors !== 'object') return orphans;
    let first = null;
    for (const [name, msg] of Object.entries(errors)) {
      const text = String(msg);
      let placed = false;
      for (const el of slots) {
        if (el.dataset.errorFor !== name) continue;
        el.textContent = text;
        el.hidden = false;
        placed = true;
      }
      const ctl = form.elements.namedItem('p.' + name) || form.elements.namedItem(name);
      if (ctl && ctl.setAttribute) {
        ctl.setAttribute('aria-invalid', 'true');
        first = first || ctl;
      }
      if (!placed) orphans.push(`${name}: ${text}`);
    }
    if (first && first.focus) first.focus();
    return orphans;
  }

  async function submitAction(form, submitter) {
    const button = submitter && submitter.form === form ? submitter
      : form.querySelector('button[type=submit], button:not([type]), input[type=submit]');
    let data;
    try {
      data = new FormData(form, submitter || null);
    } catch {
      data = new FormData(form); // older browsers, or a submitter that is not a submit button
    }
    form.ffBusy = true;
    setBusy(button, true);
    let leaving = false;
    try {
      const res = await fetch(form.action, {
        method: 'POST',
        body: new URLSearchParams(data),
        headers: { Accept: 'application/json' },
        credentials: 'same-origin',
      });
      if (loginRedirect(res)) {
        leaving = true;
        return;
      }
      if (res.status === 401) {
        // The session ended while the page was open.
        leaving = true;
        toLogin();
        return;
      }
      let body = null;
      try {
        body = await res.json();
      } catch { /* not JSON: reported below from the status */ }
      if (!body || typeof body !== 'object') {
        toast('error', `Request failed: HTTP ${res.status}`);
        return;
      }
      const ok = typeof body.ok === 'boolean' ? body.ok : res.ok;
      const orphans = showFieldErrors(form, body.errors);
      const message = [typeof body.message === 'string' ? body.message : '', ...orphans]
        .filter(Boolean).join(' — ') || (ok ? '' : `Request failed: HTTP ${res.status}`);
      const kind = ok ? 'success' : 'error';
      const target = typeof body.redirect === 'string' && body.redirect ? sameOrigin(body.redirect) : null;
      if (target) {
        keepToast(kind, message);
        leaving = true;
        location.assign(target.href);
      } else if (ok) {
        keepToast(kind, message);
        leaving = true;
        location.reload();
      } else {
        toast(kind, message);
      }
    } catch (err) {
      toast('error', `Network error: ${(err && err.message) || err}`);
    } finally {
      // While the page is being left the button stays busy, so an impatient
      // second click cannot post the action twice.
      if (!leaving) {
        form.ffBusy = false;
        setBusy(button, false);
      }
    }
  }

  function initForms() {
    doc.addEventListener('submit', (e) => {
      const form = e.target;
      if (!(form instanceof HTMLFormElement) || e.defaultPrevented) return;
      if (form.id === 'pipeline-filter') {
        e.preventDefault();
        applyFilter(true);
        return;
      }
      if (!form.hasAttribute('data-action')) return;
      e.preventDefault();
      if (form.ffBusy) return;
      const question = form.dataset.confirm;
      if (question && !window.confirm(question)) return;
      submitAction(form, e.submitter);
    });
    // A page restored from the back/forward cache still shows the buttons
    // it left busy.
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      for (const b of doc.querySelectorAll('.busy')) {
        if (b.form) b.form.ffBusy = false;
        setBusy(b, false);
      }
    });
  }

  // ---- 3. Dashboard filter ------------------------------------------------

  function filterValues() {
    const form = byId('pipeline-filter');
    if (!form) return null;
    const q = form.elements.namedItem('q');
    const tag = form.elements.namedItem('tag');
    return {
      q: q && typeof q.value === 'string' ? q.value : '',
      tag: tag && typeof tag.value === 'string' ? tag.value : '',
      tagControl: tag && typeof tag.value === 'string' ? tag : null,
    };
  }

  // The same test as the server's matchesFilter: the query is a
  // case-insensitive part of the name or of the description, and the tag
  // one of the row's tags (a JSON list: tags may contain spaces).
  function rowTags(tr) {
    try {
      const tags = JSON.parse(tr.dataset.tags || '[]');
      return Array.isArray(tags) ? tags : [];
    } catch {
      return [];
    }
  }

  function rowMatches(tr, needle, tag) {
    if (tag && !rowTags(tr).includes(tag)) return false;
    if (!needle) return true;
    return tr.dataset.pipeline.toLowerCase().includes(needle) ||
      (tr.dataset.description || '').toLowerCase().includes(needle);
  }

  function applyFilter(fromUser) {
    const f = filterValues();
    if (!f) return;
    const needle = f.q.trim().toLowerCase();
    const rows = doc.querySelectorAll('#pipelines tbody tr[data-pipeline]');
    let shown = 0;
    for (const tr of rows) {
      const match = rowMatches(tr, needle, f.tag);
      tr.hidden = !match;
      if (match) shown++;
    }
    const empty = byId('filter-empty');
    if (empty) empty.hidden = shown > 0 || rows.length === 0;
    if (!fromUser) return;
    // The URL follows the filter so a reload, a shared link and the
    // periodic refresh (which refetches location.href) all agree with it.
    const url = new URL(location.href);
    for (const [k, v] of [['q', f.q], ['tag', f.tag]]) {
      if (v) url.searchParams.set(k, v);
      else url.searchParams.delete(k);
    }
    if (url.href !== location.href) history.replaceState(history.state, '', url.href);
  }

  function initFilter() {
    const onChange = (e) => {
      const t = e.target;
      if (t && t.form && t.form.id === 'pipeline-filter') applyFilter(true);
    };
    doc.addEventListener('input', onChange);
    doc.addEventListener('change', onChange);
    doc.addEventListener('click', (e) => {
      if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey || e.defaultPrevented) return;
      const chip = e.target.closest && e.target.closest('a.tag[data-tag]');
      if (!chip) return;
      const f = filterValues();
      if (!f || !f.tagControl) return; // no filter on this page: the link navigates
      const tag = chip.dataset.tag;
      const sel = f.tagControl;
      if (sel.options && !Array.from(sel.options).some((o) => o.value === tag)) return;
      e.preventDefault();
      sel.value = tag;
      applyFilter(true);
    });
    applyFilter(false);
  }

  // ---- 4. Periodic refresh ------------------------------------------------

  function toLogin() {
    location.assign('/login?error=expired&next=' + encodeURIComponent(location.pathname + location.search));
  }

  // moveChildren replaces el's children with those of a node of a parsed
  // page, moving the nodes rather than re-serialising them: markup that
  // parsed harmlessly once (inside <noscript>, say) must not be parsed a
  // second time in another context.
  function moveChildren(el, from) {
    el.replaceChildren(...Array.from(doc.adoptNode(from).childNodes));
  }

  async function fetchPage(href) {
    const res = await fetch(href, {
      credentials: 'same-origin',
      headers: { Accept: 'text/html' },
      cache: 'no-store',
    });
    if (loginRedirect(res)) return null;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return new DOMParser().parseFromString(await res.text(), 'text/html');
  }

  // Reasons not to replace the page under the user right now.
  function refreshBlocked(main) {
    const a = doc.activeElement;
    if (a && main.contains(a) && a.matches('input, select, textarea')) return true;
    const sel = window.getSelection && window.getSelection();
    if (sel && !sel.isCollapsed && sel.anchorNode && main.contains(sel.anchorNode)) return true;
    if (main.querySelector('form .busy')) return true;
    // Live streams already keep their part current, and replacing it would
    // throw away the lines they collected.
    return Boolean((logView && logView.active()) || (metricsView && metricsView.active()));
  }

  function initRefresh() {
    let timer = 0;
    let running = false;
    let overdue = false;

    const period = () => {
      const main = doc.querySelector('main[data-refresh]');
      const s = main ? Number.parseFloat(main.dataset.refresh) : NaN;
      return s > 0 ? Math.max(s, 1) * 1000 : 0;
    };
    const schedule = () => {
      clearTimeout(timer);
      const ms = period();
      timer = ms ? setTimeout(tick, ms) : 0;
    };

    async function tick() {
      timer = 0;
      const main = doc.querySelector('main[data-refresh]');
      if (!main || running) return;
      if (doc.hidden) {
        overdue = true;
        return;
      }
      if (refreshBlocked(main)) {
        schedule();
        return;
      }
      running = true;
      try {
        const href = location.href;
        const page = await fetchPage(href);
        const fresh = page && page.querySelector('main');
        // A filter applied meanwhile changed the address: this page is
        // already out of date.
        if (!fresh || refreshBlocked(main) || location.href !== href) return;
        const focusId = doc.activeElement && main.contains(doc.activeElement) ? doc.activeElement.id : '';
        const refresh = fresh.dataset.refresh;
        const hasRefresh = fresh.hasAttribute('data-refresh');
        moveChildren(main, fresh);
        if (hasRefresh) main.dataset.refresh = refresh;
        else delete main.dataset.refresh;
        if (page.title) doc.title = page.title;
        if (focusId) {
          const f = byId(focusId);
          if (f && f.focus) f.focus();
        }
        localTimes(main);
        applyFilter(false);
        renewViews();
      } catch {
        /* a failed refresh keeps the old content; the next one may work */
      } finally {
        running = false;
        schedule();
      }
    }

    doc.addEventListener('visibilitychange', () => {
      if (!doc.hidden && overdue) {
        overdue = false;
        tick();
      }
    });
    schedule();
  }

  // ---- 5. Log viewer: ANSI rendering --------------------------------------

  // The same rendering as the server's (webui/ansi.go), so live lines look
  // like the ones in the page: one line at a time from the default style,
  // flat spans only opened for text, unknown sequences dropped. Like the
  // server it shows no more than the text the secret masker looked at
  // (status/logs/mask.go): only SGR is interpreted, every other sequence
  // and the characters that control or reorder text are dropped.
  const BOLD = 1;
  const DIM = 2;
  const ITALIC = 4;
  const UNDERLINE = 8;

  // An empty parameter is 0; anything but digits is ignored (-1).
  const sgrNum = (f) => (f === '' ? 0 : /^\d+$/.test(f) ? Number(f) : -1);

  function setIndexed(st, code, idx) {
    if (idx < 0 || idx >= 16) return; // 256-colour indexes have no class
    if (code === 38) st.fg = idx;
    else if (code === 48) st.bg = idx;
  }

  function sgr(st, params) {
    if (/[<=>?]/.test(params)) return; // a private sequence, not SGR
    const ps = params.split(';');
    for (let i = 0; i < ps.length; i++) {
      const f = ps[i];
      if (f.includes(':')) {
        // ISO 8613-6 sub-parameters: 38:5:n, 38:2::r:g:b, 4:3.
        const k = f.indexOf(':');
        const code = sgrNum(f.slice(0, k));
        const rest = f.slice(k + 1);
        if (code === 4) {
          if (sgrNum(rest) !== 0) st.attrs |= UNDERLINE;
          else st.attrs &= ~UNDERLINE;
        } else if (code === 38 || code === 48) {
          const m = rest.indexOf(':');
          if (m >= 0 && sgrNum(rest.slice(0, m)) === 5) setIndexed(st, code, sgrNum(rest.slice(m + 1)));
        }
        continue;
      }
      const n = sgrNum(f);
      if (n === 0) {
        st.fg = -1;
        st.bg = -1;
        st.attrs = 0;
      } else if (n === 1) st.attrs |= BOLD;
      else if (n === 2) st.attrs |= DIM;
      else if (n === 3) st.attrs |= ITALIC;
      else if (n === 4) st.attrs |= UNDERLINE;
      else if (n === 22) st.attrs &= ~(BOLD | DIM);
      else if (n === 23) st.attrs &= ~ITALIC;
      else if (n === 24) st.attrs &= ~UNDERLINE;
      else if (n >= 30 && n <= 37) st.fg = n - 30;
      else if (n === 39) st.fg = -1;
      else if (n >= 40 && n <= 47) st.bg = n - 40;
      else if (n === 49) st.bg = -1;
      else if (n >= 90 && n <= 97) st.fg = n - 82;
      else if (n >= 100 && n <= 107) st.bg = n - 92;
      else if (n === 38 || n === 48 || n === 58) {
        // Extended colours take their arguments from the next parameters,
        // which are consumed even when ignored: "38;2;1;2;4" must not turn
        // on bold, dim and underline.
        if (++i >= ps.length) return;
        const mode = sgrNum(ps[i]);
        if (mode === 5) {
          if (++i >= ps.length) return;
          setIndexed(st, n, sgrNum(ps[i]));
        } else if (mode === 2) {
          i += 3;
        }
      }
    }
  }

  const between = (c, lo, hi) => c >= lo && c <= hi;

  // Consumes the escape sequence at the ESC s[i], applies it to st when it
  // is SGR, and returns the index after it (ECMA-48 forms, as ansi.go).
  function skipEscape(s, i, st) {
    const len = s.length;
    if (i + 1 >= len) return len;
    const c = s.charCodeAt(i + 1);
    if (c === 0x5b) { // CSI
      let j = i + 2;
      while (j < len && between(s.charCodeAt(j), 0x30, 0x3f)) j++;
      let k = j;
      while (k < len && between(s.charCodeAt(k), 0x20, 0x2f)) k++;
      if (k >= len) return len;
      const fin = s.charCodeAt(k);
      if (between(fin, 0x40, 0x7e)) {
        if (fin === 0x6d && k === j) sgr(st, s.slice(i + 2, j));
        return k + 1;
      }
      return k; // not a CSI after all: the stray character stays text
    }
    if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) { // OSC DCS SOS PM APC
      for (let j = i + 2; j < len; j++) {
        const d = s.charCodeAt(j);
        if (d === 0x07) return j + 1;
        // ESC \ ends the string; any other ESC cancels it and starts anew.
        if (d === 0x1b) return s.charCodeAt(j + 1) === 0x5c ? j + 2 : j;
      }
      return len;
    }
    if (between(c, 0x20, 0x2f)) { // nF, e.g. ESC ( B
      let j = i + 1;
      while (j < len && between(s.charCodeAt(j), 0x20, 0x2f)) j++;
      return j < len && between(s.charCodeAt(j), 0x30, 0x7e) ? j + 1 : j;
    }
    if (between(c, 0x30, 0x7e)) return i + 2;
    return i + 1;
  }

  function classesOf(st) {
    let cls = '';
    if (st.fg >= 0) cls += ' ansi-fg-' + st.fg;
    if (st.bg >= 0) cls += ' ansi-bg-' + st.bg;
    if (st.attrs & BOLD) cls += ' ansi-bold';
    if (st.attrs & DIM) cls += ' ansi-dim';
    if (st.attrs & ITALIC) cls += ' ansi-italic';
    if (st.attrs & UNDERLINE) cls += ' ansi-underline';
    return cls.slice(1);
  }

  // Dropped as the server drops them (logs.Neutralize): C0 controls other
  // than tab and newline, DEL, C1 controls (U+009B is CSI to some
  // terminals), the bidirectional controls (an override would show
  // reversed text in the right order: a secret the masker never saw) and
  // the line and paragraph separators. Removing them also keeps search
  // offsets honest. Noncharacters show as U+FFFD, as the server's.
  const LOG_DROPPED = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
  const escapeLog = (s) => escapeHTML(s.replace(LOG_DROPPED, '').replace(/[\ufffe\uffff]/g, '\ufffd'));

  function ansiToHtml(s) {
    const esc = s.indexOf('\x1b');
    if (esc < 0) return escapeLog(s);
    const st = { fg: -1, bg: -1, attrs: 0 };
    let out = '';
    let open = ''; // classes of the open span, '' when none is open
    const text = (part) => {
      if (!part) return;
      const cls = classesOf(st);
      if (cls !== open) {
        if (open) out += '</span>';
        if (cls) out += `<span class="${cls}">`;
        open = cls;
      }
      out += escapeLog(part);
    };
    let seg = 0;
    for (let i = esc; i < s.length;) {
      if (s.charCodeAt(i) !== 0x1b) {
        i++;
        continue;
      }
      text(s.slice(seg, i));
      i = skipEscape(s, i, st);
      seg = i;
    }
    text(s.slice(seg));
    if (open) out += '</span>';
    return out;
  }

  // ---- 5. Log viewer: search highlighting ---------------------------------

  const lineBody = (el) => el.querySelector('.tx') || el;

  // Cached so a search over 2,000 lines does not walk their DOM each time.
  function lineText(el) {
    if (el.ffText === undefined) el.ffText = lineBody(el).textContent;
    return el.ffText;
  }

  function unmark(el) {
    const body = lineBody(el);
    for (const mk of body.querySelectorAll('mark')) mk.replaceWith(...mk.childNodes);
    body.normalize();
    el.ffMarked = false;
  }

  // Wraps the [start, end) ranges of the line's plain text in <mark>, split
  // per text node so the ANSI spans around them stay intact.
  function mark(el, ranges) {
    const body = lineBody(el);
    const walker = doc.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    const nodes = [];
    for (let n = walker.nextNode(); n; n = walker.nextNode()) nodes.push(n);
    let off = 0;
    let r = 0;
    for (const node of nodes) {
      const start = off;
      const end = off + node.data.length;
      off = end;
      const pieces = [];
      while (r < ranges.length && ranges[r] < end) {
        const a = Math.max(ranges[r], start);
        const b = Math.min(ranges[r + 1], end);
        if (b > a) pieces.push(a - start, b - start);
        if (ranges[r + 1] <= end) r += 2;
        else break;
      }
      // Last piece first, so the earlier offsets in node stay valid.
      for (let i = pieces.length - 2; i >= 0; i -= 2) {
        const mid = node.splitText(pieces[i]);
        mid.splitText(pieces[i + 1] - pieces[i]);
        const mk = doc.createElement('mark');
        mid.replaceWith(mk);
        mk.append(mid);
      }
    }
    el.ffMarked = true;
  }

  // ---- 5. Log viewer ------------------------------------------------------

  const MAX_LINES = 2000;
  const FLUSH_FALLBACK_MS = 250;
  const STATE_TEXT = { live: 'live', reconnecting: 'reconnecting…', ended: 'ended', static: 'static' };

  // An EventSource that, besides the browser's own reconnection, starts over
  // when the browser gives up (readyState CLOSED, e.g. a proxy's 502), and
  // that pauses while the page sits in the back/forward cache.
  function openStream(urlFor, handlers, onState) {
    let es = null;
    let timer = 0;
    let delay = 2000;
    let stopped = false;
    function open() {
      timer = 0;
      if (stopped || es) return;
      const src = new EventSource(urlFor());
      es = src;
      src.onopen = () => {
        delay = 2000;
        onState('live');
      };
      src.onmessage = handlers.message;
      for (const [name, fn] of Object.entries(handlers.events)) src.addEventListener(name, fn);
      src.onerror = () => {
        if (src !== es || stopped) return;
        if (src.readyState === EventSource.CLOSED) {
          es = null;
          timer = setTimeout(probe, delay);
          delay = Math.min(delay * 2, 30000);
        }
        onState('reconnecting');
      };
    }
    // The browser gave up on the stream: ask once with fetch why, since an
    // EventSource cannot tell a lost network from an ended session (401)
    // or a deleted run (404); only the first is worth retrying.
    async function probe() {
      timer = 0;
      if (stopped || es) return;
      const ctl = new AbortController();
      let status = 0;
      try {
        const res = await fetch(urlFor(), { credentials: 'same-origin', signal: ctl.signal, headers: { Accept: 'text/event-stream' } });
        status = res.status;
      } catch { /* the network: retry */ }
      ctl.abort();
      if (stopped) return;
      if (status === 401) {
        stopped = true;
        toLogin();
        return;
      }
      if (status === 404 || status === 400) {
        stopped = true;
        onState('ended');
        return;
      }
      open();
    }
    function suspend() {
      clearTimeout(timer);
      timer = 0;
      if (es) es.close();
      es = null;
    }
    open();
    return {
      stop() {
        stopped = true;
        suspend();
      },
      suspend,
      resume: open,
      stopped: () => stopped,
    };
  }

  function initLog() {
    const sec = byId('logview');
    const box = byId('log-lines');
    if (!sec || !box) return null;
    const search = byId('log-search');
    const auto = byId('log-autoscroll');
    const stateEl = byId('log-state');
    const droppedNote = byId('log-dropped');
    const live = sec.dataset.live === 'true' && Boolean(sec.dataset.stream) && 'EventSource' in window;

    let count = 0;
    let lastN = Number.parseInt(sec.dataset.after, 10) || 0;
    for (const el of box.querySelectorAll('.line')) {
      count++;
      const n = Number.parseInt(el.dataset.n, 10);
      if (n > lastN) lastN = n;
    }
    let state = (stateEl && stateEl.dataset.state) || (live ? 'live' : 'static');
    let queue = [];
    let raf = 0;
    let fallback = 0;
    let pattern = null;
    let stream = null;
    let cleaned = false;
    const tpl = doc.createElement('template');

    function setState(s) {
      state = s;
      if (!stateEl) return;
      stateEl.dataset.state = s;
      stateEl.textContent = STATE_TEXT[s] || s;
    }

    const showDropped = () => {
      if (droppedNote) droppedNote.hidden = false;
    };

    function enqueue(item) {
      queue.push(item);
      // Entries that can no longer be shown are dropped in chunks (a splice
      // per push would be quadratic) while the tab is hidden and not drawing.
      if (queue.length > MAX_LINES + MAX_LINES / 4) {
        queue.splice(0, queue.length - MAX_LINES);
        showDropped();
      }
      if (!raf) raf = requestAnimationFrame(flush);
      if (!fallback) fallback = setTimeout(flush, FLUSH_FALLBACK_MS);
    }

    function matchLine(el) {
      if (el.ffMarked) unmark(el);
      if (!pattern) {
        el.hidden = false;
        return;
      }
      const text = lineText(el);
      const ranges = [];
      pattern.lastIndex = 0;
      for (let m = pattern.exec(text); m; m = pattern.exec(text)) ranges.push(m.index, m.index + m[0].length);
      el.hidden = ranges.length === 0;
      if (ranges.length) mark(el, ranges);
    }

    // lastTop is where the view was last left, by the user or by follow();
    // a smaller scrollTop not at the bottom means the user scrolled up.
    let lastTop = box.scrollTop;
    const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 8;
    const scrolledUp = () => box.scrollTop < lastTop && !atBottom();
    function follow() {
      if (!auto || !auto.checked) return;
      box.scrollTop = box.scrollHeight;
      lastTop = box.scrollTop;
    }

    function flush() {
      cancelAnimationFrame(raf);
      clearTimeout(fallback);
      raf = 0;
      fallback = 0;
      if (!queue.length) return;
      const items = queue;
      queue = [];
      // Scroll events lag a frame behind; without this check a flush right
      // after the user scrolled up would pull the view back down.
      if (auto && auto.checked && scrolledUp()) auto.checked = false;
      if (!cleaned) {
        // A placeholder such as "no output yet" goes when output arrives.
        cleaned = true;
        for (const el of Array.from(box.children)) if (!el.classList.contains('line')) el.remove();
      }
      const first = Math.max(0, items.length - MAX_LINES);
      if (first > 0) showDropped();
      let html = '';
      for (let i = first; i < items.length; i++) {
        const it = items[i];
        if (it.skipped !== undefined) {
          const k = it.skipped;
          html += `<div class="line skipped"><span class="ln"></span><span class="tx">… ${k} line${k === 1 ? '' : 's'} skipped (${it.from}–${it.to})</span></div>`;
        } else {
          html += `<div class="line${it.err ? ' err' : ''}" data-n="${it.n}"><span class="ln">${it.n}</span><span class="tx">${ansiToHtml(it.text)}</span></div>`;
        }
      }
      tpl.innerHTML = html;
      const frag = tpl.content;
      if (pattern) for (const el of frag.children) matchLine(el);
      count += items.length - first;
      box.append(frag);
      if (count > MAX_LINES) {
        let excess = count - MAX_LINES;
        while (excess > 0 && box.firstElementChild) {
          const el = box.firstElementChild;
          if (el.classList.contains('line')) {
            excess--;
            count--;
          }
          el.remove();
        }
        showDropped();
      }
      follow();
    }

    // Events are parsed as they come; a malformed one is skipped rather than
    // stopping the stream.
    const parse = (e) => {
      try {
        return JSON.parse(e.data);
      } catch {
        return null;
      }
    };

    // Output means the container runs: a page opened while the run was
    // queued says so without waiting for the end.
    let sawOutput = false;
    function onLine(e) {
      const d = parse(e);
      if (!d) return;
      const n = Number(d.n !== undefined ? d.n : e.lastEventId);
      if (!Number.isSafeInteger(n) || n <= lastN) return;
      lastN = n;
      if (!sawOutput) {
        sawOutput = true;
        markRunning();
      }
      enqueue({ n, text: typeof d.text === 'string' ? d.text : String(d.text ?? ''), err: d.stream === 'stderr' });
    }

    function onSkipped(e) {
      const d = parse(e);
      if (!d) return;
      const to = Number(d.to);
      if (!Number.isSafeInteger(to) || to <= lastN) return;
      lastN = to;
      enqueue({ skipped: Number(d.skipped) || 0, from: Number(d.from) || 0, to });
    }

    function onEnd(e) {
      const d = parse(e) || {};
      if (stream) stream.stop();
      flush();
      setState('ended');
      finishRun(d.status);
    }

    if (auto) {
      // Reading back up stops following; coming back to the end resumes.
      box.addEventListener('scroll', () => {
        if (atBottom()) auto.checked = true;
        else if (scrolledUp()) auto.checked = false;
        lastTop = box.scrollTop;
      }, { passive: true });
      auto.addEventListener('change', follow);
    }

    if (search) {
      let debounce = 0;
      const apply = () => {
        debounce = 0;
        const q = search.value;
        pattern = q ? new RegExp(escapeRegExp(q), 'giu') : null;
        for (const el of box.children) if (el.classList.contains('line')) matchLine(el);
        follow();
      };
      search.addEventListener('input', () => {
        clearTimeout(debounce);
        debounce = setTimeout(apply, 120);
      });
      if (search.value) apply();
    }

    if (live) {
      const urlFor = () => {
        const u = new URL(sec.dataset.stream, location.href);
        u.searchParams.set('after', String(lastN));
        return u.href;
      };
      stream = openStream(urlFor, { message: onLine, events: { skipped: onSkipped, end: onEnd } }, setState);
    } else if (!stateEl || !stateEl.dataset.state) {
      setState('static');
    }
    follow();

    return {
      sec,
      count: () => count,
      lastN: () => lastN,
      state: () => state,
      active: () => Boolean(stream && !stream.stopped()),
      suspend: () => stream && stream.suspend(),
      resume: () => stream && !stream.stopped() && stream.resume(),
      stop() {
        if (stream) stream.stop();
        cancelAnimationFrame(raf);
        clearTimeout(fallback);
        queue = [];
      },
    };
  }

  function markRunning() {
    for (const el of doc.querySelectorAll('[data-run-status]')) {
      if (el.dataset.runStatus && el.dataset.runStatus !== 'PENDING') continue;
      if (!el.dataset.runStatus && el.textContent.trim() !== 'PENDING') continue;
      el.classList.remove('st-pending');
      el.classList.add('st-running');
      el.dataset.runStatus = 'RUNNING';
      el.textContent = 'RUNNING';
    }
  }

  // The run reached a final status: the page switches to its final form
  // without a reload.
  function finishRun(status) {
    if (typeof status === 'string' && status) {
      const cls = 'st-' + status.toLowerCase().replace(/[^a-z0-9-]/g, '');
      for (const el of doc.querySelectorAll('[data-run-status]')) {
        for (const c of Array.from(el.classList)) if (c.startsWith('st-')) el.classList.remove(c);
        el.classList.add(cls);
        el.dataset.runStatus = status;
        el.textContent = status;
      }
    }
    for (const el of doc.querySelectorAll('[data-when="active"]')) el.hidden = true;
    for (const el of doc.querySelectorAll('[data-when="final"]')) el.hidden = false;
    refreshLiveParts();
  }

  // The record gains its exit code, times and error type when the run
  // ends; the parts marked data-live-part are fetched again, the log and
  // charts are not touched.
  async function refreshLiveParts() {
    const parts = doc.querySelectorAll('[data-live-part][id]');
    if (!parts.length) return;
    try {
      const page = await fetchPage(location.href);
      if (!page) return;
      for (const el of parts) {
        const fresh = page.getElementById(el.id);
        if (!fresh) continue;
        moveChildren(el, fresh);
        localTimes(el);
      }
    } catch {
      // The stream already showed the final status; the details stay as
      // they were until the next reload.
    }
  }

  // ---- 6. Metrics ---------------------------------------------------------

  const CHARTS_EVERY_MS = 5000;

  function initMetrics() {
    const sec = byId('metrics');
    if (!sec || sec.dataset.live !== 'true' || !sec.dataset.stream || !('EventSource' in window)) return null;
    const chartsURL = sec.dataset.charts;
    let lastN = Number.parseInt(sec.dataset.after, 10) || 0;
    let lastFetch = 0;
    let inflight = false;
    let again = false;
    let trailing = 0;
    let waitingVisible = false;
    let stream = null;

    // Charts are redrawn by the server at most every CHARTS_EVERY_MS, with a
    // trailing fetch so the last points are drawn too; a hidden tab waits.
    function wantCharts(force) {
      const charts = byId('charts');
      if (!charts || !chartsURL) return;
      if (inflight) {
        again = true;
        return;
      }
      if (doc.hidden && !force) {
        waitingVisible = true;
        return;
      }
      const wait = lastFetch + CHARTS_EVERY_MS - Date.now();
      if (!force && wait > 0) {
        if (!trailing) trailing = setTimeout(() => { trailing = 0; wantCharts(false); }, wait);
        return;
      }
      clearTimeout(trailing);
      trailing = 0;
      inflight = true;
      lastFetch = Date.now();
      fetch(chartsURL, { credentials: 'same-origin', headers: { Accept: 'text/html' }, cache: 'no-store' })
        .then((res) => (res.ok && !res.redirected ? res.text() : Promise.reject(new Error(`HTTP ${res.status}`))))
        .then((html) => { charts.innerHTML = html; })
        .catch(() => { /* the old charts stay; the next point tries again */ })
        .finally(() => {
          inflight = false;
          if (again) {
            again = false;
            wantCharts(!stream || stream.stopped());
          }
        });
    }

    const onVisible = () => {
      if (!doc.hidden && waitingVisible) {
        waitingVisible = false;
        wantCharts(false);
      }
    };
    doc.addEventListener('visibilitychange', onVisible);

    function onPoint(e) {
      let d;
      try {
        d = JSON.parse(e.data);
      } catch {
        return;
      }
      const n = Number(d.n !== undefined ? d.n : e.lastEventId);
      if (!Number.isSafeInteger(n) || n <= lastN) return;
      lastN = n;
      // Looked up each time: they may sit inside #charts, which is replaced.
      const cpu = byId('cpu-now');
      const ram = byId('ram-now');
      if (cpu && typeof d.cpu_percent === 'number') cpu.textContent = d.cpu_percent.toFixed(1) + ' %';
      if (ram && typeof d.ram_mb === 'number') {
        ram.textContent = d.ram_mb.toFixed(1) + ' MiB' + (ram.dataset.of ? ' of ' + ram.dataset.of : '');
      }
      wantCharts(false);
    }

    function onEnd() {
      if (stream) stream.stop();
      wantCharts(true);
    }

    const urlFor = () => {
      const u = new URL(sec.dataset.stream, location.href);
      if (lastN > 0 || sec.dataset.after !== undefined) u.searchParams.set('after', String(lastN));
      return u.href;
    };
    stream = openStream(urlFor, { message: onPoint, events: { end: onEnd } }, () => {});

    return {
      sec,
      active: () => !stream.stopped(),
      suspend: () => stream.suspend(),
      resume: () => !stream.stopped() && stream.resume(),
      stop() {
        stream.stop();
        clearTimeout(trailing);
        doc.removeEventListener('visibilitychange', onVisible);
      },
    };
  }

  // ---- Wiring -------------------------------------------------------------

  let logView = null;
  let metricsView = null;

  // After a refresh replaced main, views whose section was replaced are
  // stopped and the new sections get their own.
  function renewViews() {
    if (logView && byId('logview') !== logView.sec) {
      logView.stop();
      logView = null;
    }
    if (!logView) logView = guard('log viewer', initLog);
    if (metricsView && byId('metrics') !== metricsView.sec) {
      metricsView.stop();
      metricsView = null;
    }
    if (!metricsView) metricsView = guard('metrics', initMetrics);
  }

  // One feature failing must not take the others down with it.
  function guard(name, fn) {
    try {
      return fn();
    } catch (err) {
      console.error(`fastflow: ${name}:`, err);
      return null;
    }
  }

  function init() {
    guard('times', () => localTimes(doc));
    guard('toasts', restoreToasts);
    guard('forms', initForms);
    guard('filter', initFilter);
    renewViews();
    guard('refresh', initRefresh);
    // Open streams keep a page out of the back/forward cache in some
    // browsers and would be dead there anyway.
    window.addEventListener('pagehide', () => {
      if (logView) logView.suspend();
      if (metricsView) metricsView.suspend();
    });
    window.addEventListener('pageshow', (e) => {
      if (!e.persisted) return;
      if (logView) logView.resume();
      if (metricsView) metricsView.resume();
    });
  }

  // For tests and the curious: the log viewer's state at a glance.
  window.fastflow = {
    logLineCount: () => (logView ? logView.count() : 0),
    lastLogN: () => (logView ? logView.lastN() : 0),
    state: () => (logView ? logView.state() : 'none'),
    // The browser tests hold this renderer to the server's (ansi.go).
    ansi: (text) => ansiToHtml(String(text)),
  };

  if (doc.readyState === 'loading') doc.addEventListener('DOMContentLoaded', init);
  else init();
})();
