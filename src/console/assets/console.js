// The agent console: sign-in, the live queue (first and second line), one ticket's
// conversation with the draft editor, quick phrases and its after-sales case, the stats, the
// scorecard, the after-sales cases and (for inspectors) the quality inspection views.
//
// Security: every text that comes from the service (customer messages above all) is put on
// the page with textContent or as an attribute value through the DOM; nothing is ever parsed
// as HTML. The agent token lives in sessionStorage and travels only in the Authorization
// header, the event stream included (it is read with fetch(), not EventSource).
'use strict';
(function () {
  const I = window.SmartreplyI18n;
  const t = (k, v) => I.t(k, v);
  const $ = (id) => document.getElementById(id);

  const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2 };
  const TOKEN_KEY = 'smartreply.agentToken';
  const SHOP_KEY = 'smartreply.shop';

  const state = {
    token: null,
    me: null,
    shop: null,
    tickets: new Map(), // id -> ticket summary
    unread: new Set(), // ticket ids with customer messages not yet seen
    selectedId: null, // highlighted in the queue
    openId: null, // shown in the conversation pane
    detail: null, // the open ticket, full
    draftText: '', // the suggested draft as the service wrote it
    rejected: false, // the agent rejected the draft and writes their own
    phrases: [],
    popup: { items: [], index: 0, start: -1 },
    stream: null, // AbortController of the event stream
    lastEventId: null,
    retry: 1000,
    view: 'queue',
    pendingG: false,
    sending: false,
    tier: '', // queue filter: '' both lines, 'first', 'second'
    caseData: null, // the open ticket's after-sales case (null: none yet)
    caseTicket: null, // whose case the panel shows
    caseDirty: false, // the agent changed the case form since it was loaded
    caseBusy: false,
    caseErrors: false, // field errors are on screen
    caseRules: null, // which case fields are required: GET /v1/cases/requirements
    inspections: []
  };

  // in the form's order, which is also the order errors are focused in
  const CASE_FIELDS = ['type', 'reason', 'responsibility', 'order_number', 'items', 'refund_amount', 'tracking_number', 'evidence', 'note'];
  const VIEWS = ['queue', 'stats', 'scorecard', 'cases', 'inspection'];
  function hasRole(role) { return !!(state.me && Array.isArray(state.me.roles) && state.me.roles.includes(role)); }

  // ---------- small DOM helpers (no HTML parsing anywhere) ----------
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    if (props) {
      for (const [k, v] of Object.entries(props)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k === 'dataset') Object.assign(node.dataset, v);
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  function toast(text) {
    const box = $('toast');
    box.textContent = text;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 3500);
  }

  // ---------- API ----------
  class ApiError extends Error {
    constructor(status, message, error) { super(message); this.status = status; this.error = error || null; }
  }

  async function api(path, options = {}) {
    const headers = { Accept: 'application/json', Authorization: 'Bearer ' + state.token };
    const init = { method: options.method || 'GET', headers, cache: 'no-store' };
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, t('signin.net'));
    }
    const type = res.headers.get('content-type') || '';
    const data = type.includes('json') ? await res.json().catch(() => null) : null;
    if (!res.ok) {
      const msg = data && data.error && data.error.message ? data.error.message : res.status + ' ' + res.statusText;
      throw new ApiError(res.status, msg, data && data.error);
    }
    return data;
  }

  // Downloads an authenticated export (the bearer token cannot ride on a plain link) through
  // a Blob URL; the file name comes from Content-Disposition when the service sends one.
  async function download(path, fallbackName) {
    let res;
    try {
      res = await fetch(path, { headers: { Authorization: 'Bearer ' + state.token, Accept: 'text/csv' }, cache: 'no-store' });
    } catch (e) { toast(t('signin.net')); return; }
    if (!res.ok) {
      const data = await res.json().catch(() => null);
      toast(t('export.failed') + ' ' + (data && data.error && data.error.message ? data.error.message : res.status));
      return;
    }
    const blob = await res.blob();
    const disp = res.headers.get('content-disposition') || '';
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(disp);
    const name = m ? decodeURIComponent(m[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
  const q = encodeURIComponent;

  // ---------- formatting ----------
  function fmtDuration(ms) {
    const s = Math.floor(Math.abs(ms) / 1000);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    if (h >= 24) return Math.floor(h / 24) + 'd ' + (h % 24) + 'h';
    if (h > 0) return h + 'h ' + String(m).padStart(2, '0') + 'm';
    return m + ':' + String(sec).padStart(2, '0');
  }
  function fmtTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    if (isNaN(d)) return String(iso);
    const sameDay = d.toDateString() === new Date().toDateString();
    return new Intl.DateTimeFormat(I.lang === 'zh' ? 'zh-CN' : 'en-GB',
      sameDay ? { hour: '2-digit', minute: '2-digit' } : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(d);
  }
  function label(prefix, value) {
    if (value === null || value === undefined || value === '') return '—';
    const key = prefix + '.' + value;
    return I.has(key) ? t(key) : String(value).replace(/_/g, ' ');
  }
  // An intent's name for people: the console's label, else the id made readable.
  function intentLabel(name) {
    if (!name) return '—';
    const key = 'intent.' + name;
    if (I.has(key)) return t(key);
    const words = String(name).replace(/[_-]+/g, ' ').trim();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }
  function sentimentOf(tk) {
    const s = tk.sentiment;
    if (s && typeof s === 'object') return { label: s.label, score: s.score };
    return { label: s, score: tk.sentiment_score };
  }
  function intentOf(tk) {
    const i = tk.intent;
    if (i && typeof i === 'object') return { name: i.name, confidence: i.confidence };
    return { name: i, confidence: tk.intent_confidence };
  }
  function slaText(due) {
    const left = new Date(due).getTime() - Date.now();
    return left >= 0 ? t('sla.left', { t: fmtDuration(left) }) : t('sla.over', { t: fmtDuration(left) });
  }
  function slaClass(due) {
    const left = new Date(due).getTime() - Date.now();
    return left < 0 ? 'sla over' : left < 5 * 60 * 1000 ? 'sla warn' : 'sla ok';
  }
  function slaNode(due) {
    if (!due) return el('span', { class: 'sla', text: '—' });
    return el('span', { class: slaClass(due), dataset: { due }, text: slaText(due) });
  }
  function tickSla() {
    for (const node of document.querySelectorAll('[data-due]')) {
      node.textContent = slaText(node.dataset.due);
      node.className = slaClass(node.dataset.due);
    }
  }

  // ---------- sign in ----------
  async function signIn(token) {
    state.token = token;
    const me = await api('/v1/me');
    state.me = me;
    sessionStorage.setItem(TOKEN_KEY, token);
    $('signin').hidden = true;
    $('app').hidden = false;
    $('agent-name').textContent = me.name || '';
    $('tab-inspection').hidden = !hasRole('inspector');
    loadCaseRules();
    if (state.view === 'inspection' && !hasRole('inspector')) showView('queue');
    const select = $('shop');
    clear(select);
    for (const shop of me.shops || []) select.append(el('option', { value: shop, text: shop }));
    const saved = sessionStorage.getItem(SHOP_KEY);
    await selectShop((me.shops || []).includes(saved) ? saved : (me.shops || [])[0]);
  }

  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    if (state.stream) state.stream.abort();
    state.stream = null;
    state.token = null;
    state.tickets.clear();
    closeTicket();
    $('app').hidden = true;
    $('signin').hidden = false;
    $('token').value = '';
    $('token').focus();
  }

  async function selectShop(shop) {
    if (!shop) return;
    state.shop = shop;
    $('shop').value = shop;
    sessionStorage.setItem(SHOP_KEY, shop);
    state.tickets.clear();
    state.unread.clear();
    state.selectedId = null;
    closeTicket();
    renderQueue();
    loadPhrases();
    await loadQueue();
    connectStream();
    loadView();
    if (hasRole('inspector')) loadInspections();
  }

  // ---------- queue ----------
  async function loadQueue() {
    const shop = state.shop;
    const lists = await Promise.all(['open', 'claimed'].map((status) =>
      api('/v1/tickets?shop=' + q(shop) + '&status=' + status + (state.tier ? '&tier=' + q(state.tier) : '')).then((d) => (d && d.tickets) || [], (e) => {
        if (status === 'open') toast(e.message);
        return [];
      })));
    if (shop !== state.shop) return;
    state.tickets.clear();
    for (const tk of lists.flat()) if (tk.status !== 'resolved' && inTier(tk)) state.tickets.set(tk.id, tk);
    if (!state.selectedId || !state.tickets.has(state.selectedId)) state.selectedId = sortedTickets()[0]?.id || null;
    renderQueue();
  }

  function tierOf(tk) { return tk && tk.tier === 'second' ? 'second' : 'first'; }
  function inTier(tk) { return !state.tier || tierOf(tk) === state.tier; }

  function sortedTickets() {
    // a second-line agent sees the second-line queue first
    const secondFirst = hasRole('second_line');
    const tierRank = (tk) => (secondFirst && tierOf(tk) === 'second' ? 0 : 1);
    return [...state.tickets.values()].sort((a, b) =>
      tierRank(a) - tierRank(b) ||
      (PRIORITY_RANK[a.priority] ?? 9) - (PRIORITY_RANK[b.priority] ?? 9) ||
      String(a.due_at || '').localeCompare(String(b.due_at || '')) ||
      String(a.created_at || '').localeCompare(String(b.created_at || '')));
  }

  function renderQueue() {
    const list = $('queue');
    const tickets = sortedTickets();
    clear(list);
    for (const tk of tickets) {
      const sent = sentimentOf(tk), intent = intentOf(tk);
      const li = el('li', {
        role: 'option', class: 'qitem prio-' + (tk.priority || 'normal') + (tk.id === state.openId ? ' open' : ''),
        'aria-selected': tk.id === state.selectedId ? 'true' : 'false', dataset: { id: tk.id }
      },
      el('div', { class: 'qrow' },
        el('span', { class: 'pill prio ' + (tk.priority || 'normal'), text: label('prio', tk.priority) }),
        el('span', { class: 'qtitle', text: tk.customer_id || tk.conversation_id || tk.id }),
        state.unread.has(tk.id) ? el('span', { class: 'unread', title: 'new', 'aria-label': 'new message' }) : null,
        el('span', { class: 'spacer' }),
        slaNode(tk.due_at)),
      el('p', { class: 'qpreview', text: tk.last_message || '' }),
      el('div', { class: 'qchips' },
        el('span', { class: 'chip reason', text: label('reason', tk.reason) }),
        el('span', { class: 'chip intent', title: intent.name || null, dataset: { intent: intent.name || '' }, text: intentLabel(intent.name) }),
        el('span', { class: 'chip sent ' + (sent.label || ''), text: label('sent', sent.label) }),
        tierOf(tk) === 'second' ? el('span', { class: 'chip tier second', text: t('tier.second') }) : null,
        tk.status === 'claimed' ? el('span', { class: 'chip claimed', text: t('claimed') + (tk.claimed_by ? ' · ' + tk.claimed_by : '') }) : null));
      list.append(li);
    }
    $('queue-empty').hidden = tickets.length > 0;
    $('queue-count').textContent = String(tickets.length);
    const sel = list.querySelector('[aria-selected="true"]');
    if (sel) sel.scrollIntoView({ block: 'nearest' });
  }

  function moveSelection(delta) {
    const tickets = sortedTickets();
    if (!tickets.length) return;
    let i = tickets.findIndex((tk) => tk.id === state.selectedId);
    i = i < 0 ? 0 : Math.max(0, Math.min(tickets.length - 1, i + delta));
    state.selectedId = tickets[i].id;
    renderQueue();
  }

  // ---------- one ticket ----------
  async function openTicket(id) {
    if (!id) return;
    state.selectedId = id;
    state.openId = id;
    state.unread.delete(id);
    renderQueue();
    let tk;
    try {
      tk = await api('/v1/tickets/' + q(id));
    } catch (e) {
      toast(e.status === 404 ? t('ticket.gone') : e.message);
      if (e.status === 404) { state.tickets.delete(id); closeTicket(); renderQueue(); }
      return;
    }
    if (state.openId !== id) return;
    state.detail = tk;
    state.draftText = draftOf(tk);
    state.rejected = false;
    $('no-ticket').hidden = true;
    $('ticket').hidden = false;
    renderTicketHead();
    renderMessages();
    renderDetails();
    const box = $('reply-text');
    box.value = state.draftText;
    $('reply-error').textContent = '';
    hidePhrases();
    updateDraftState();
    hideTransfer();
    loadCase(id, true);
  }

  function draftOf(tk) {
    if (typeof tk.draft === 'string') return tk.draft;
    return (tk.draft && tk.draft.text) || '';
  }

  function closeTicket() {
    state.openId = null;
    state.detail = null;
    $('ticket').hidden = true;
    $('no-ticket').hidden = false;
    clear($('details'));
    $('case-panel').hidden = true;
    state.caseData = null;
    state.caseTicket = null;
    state.caseDirty = false;
  }

  function renderTicketHead() {
    const tk = state.detail;
    $('conv-title').textContent = tk.customer_id || tk.conversation_id || tk.id;
    $('ticket-sub').textContent = [tk.conversation_id, fmtTime(tk.created_at)].filter(Boolean).join(' · ');
    const claim = $('claim');
    const mine = tk.claimed_by && state.me && tk.claimed_by === state.me.name;
    claim.disabled = tk.status !== 'open' && !!mine;
    claim.textContent = tk.status === 'claimed' ? t('claimed') + (tk.claimed_by ? ' · ' + tk.claimed_by : '') : t('claim');
    $('resolve').disabled = tk.status === 'resolved';
    const badge = $('tier-badge');
    badge.textContent = t('tier.' + tierOf(tk));
    badge.className = 'tier-badge ' + tierOf(tk);
    badge.dataset.tier = tierOf(tk);
    $('transfer').disabled = tk.status === 'resolved' || tierOf(tk) === 'second';
  }

  function messageNode(m) {
    const role = m.role || 'customer';
    const who = role === 'agent' && m.author ? m.author : t('role.' + role);
    return el('li', { class: 'msg ' + role, dataset: { id: m.id || '' } },
      el('div', { class: 'meta' },
        el('span', { class: 'who', text: who }),
        m.kind && role !== 'customer' ? el('span', { class: 'kind', text: label('kind', m.kind) }) : null,
        el('time', { datetime: m.created_at || '', text: fmtTime(m.created_at) })),
      el('div', { class: 'bubble', text: m.text || '' }));
  }

  function renderMessages() {
    const list = $('messages');
    clear(list);
    for (const m of state.detail.messages || []) list.append(messageNode(m));
    list.scrollTop = list.scrollHeight;
  }

  function appendMessage(m) {
    if (!state.detail) return;
    state.detail.messages = state.detail.messages || [];
    if (m.id && state.detail.messages.some((x) => x.id === m.id)) return;
    state.detail.messages.push(m);
    const list = $('messages');
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 60;
    list.append(messageNode(m));
    if (atBottom || m.role === 'agent') list.scrollTop = list.scrollHeight;
  }

  function detailRow(dl, key, value) {
    if (value === null || value === undefined || value === '' || (Array.isArray(value) && !value.length)) return;
    dl.append(el('dt', { text: t(key) }));
    const dd = el('dd');
    if (value instanceof Node) dd.append(value);
    else if (Array.isArray(value)) for (const v of value) dd.append(el('span', { class: 'chip mono', text: typeof v === 'object' ? JSON.stringify(v) : String(v) }));
    else dd.textContent = String(value);
    dl.append(dd);
  }

  function renderDetails() {
    const tk = state.detail;
    const dl = $('details');
    clear(dl);
    if (!tk) return;
    const sent = sentimentOf(tk), intent = intentOf(tk);
    // two clocks when the service keeps them: the first human response (due_at before it did)
    // and, for a complaint, the settlement
    const firstDue = tk.first_response_due_at || tk.due_at;
    detailRow(dl, 'd.sla', el('span', { dataset: { testid: 'sla-first' } }, slaNode(firstDue), el('br'), el('span', { class: 'muted small', text: fmtTime(firstDue) })));
    if (tk.resolution_due_at) {
      detailRow(dl, 'd.sla_resolution', el('span', { dataset: { testid: 'sla-resolution' } },
        slaNode(tk.resolution_due_at), el('br'), el('span', { class: 'muted small', text: fmtTime(tk.resolution_due_at) })));
    }
    detailRow(dl, 'd.status', label('status', tk.status));
    detailRow(dl, 'd.priority', el('span', { class: 'pill prio ' + (tk.priority || 'normal'), text: label('prio', tk.priority) }));
    detailRow(dl, 'd.reason', label('reason', tk.reason));
    detailRow(dl, 'd.intent', el('span', { title: intent.name || null, dataset: { intent: intent.name || '' },
      text: intentLabel(intent.name) + (typeof intent.confidence === 'number' ? ' · ' + Math.round(intent.confidence * 100) + '%' : '') }));
    detailRow(dl, 'd.sentiment', el('span', { class: 'chip sent ' + (sent.label || ''),
      text: label('sent', sent.label) + (typeof sent.score === 'number' ? ' ' + sent.score.toFixed(2) : '') }));
    detailRow(dl, 'd.tier', t('tier.' + tierOf(tk)));
    detailRow(dl, 'd.transfer_note', tk.transfer_note || tk.tier_note || (tk.transfer && tk.transfer.note));
    detailRow(dl, 'd.rescored', tk.rescored_at ? fmtTime(tk.rescored_at) : null);
    detailRow(dl, 'd.claimed', tk.claimed_by);
    detailRow(dl, 'd.customer', tk.customer_id);
    detailRow(dl, 'd.lang', tk.lang);
    detailRow(dl, 'd.faq', tk.faq_id);
    const x = tk.extracted || {};
    detailRow(dl, 'd.orders', x.order_numbers);
    detailRow(dl, 'd.tracking', x.tracking_numbers);
    detailRow(dl, 'd.phones', x.phones);
    detailRow(dl, 'd.amounts', x.amounts);
    detailRow(dl, 'd.created', fmtTime(tk.created_at));
  }

  // ---------- the draft and the reply ----------
  function draftDecision() {
    if (state.rejected) return 'rejected';
    return $('reply-text').value === state.draftText && state.draftText !== '' ? 'accepted' : 'edited';
  }

  function updateDraftState() {
    const badge = $('draft-state');
    const hasDraft = state.draftText !== '';
    const d = draftDecision();
    badge.textContent = !hasDraft && !state.rejected ? t('reply.nodraft') : t('draft.' + d);
    badge.className = 'badge ' + d;
    $('reply-label').textContent = state.rejected ? t('reply.labelOwn') : t('reply.label');
    $('accept').disabled = !hasDraft || state.rejected || d !== 'accepted';
    $('reject').textContent = state.rejected ? t('reply.restore') : t('reply.reject');
    $('reject').disabled = !hasDraft;
  }

  function toggleReject() {
    const box = $('reply-text');
    if (state.rejected) {
      state.rejected = false;
      box.value = state.draftText;
    } else {
      state.rejected = true;
      box.value = '';
    }
    hidePhrases();
    updateDraftState();
    box.focus();
  }

  async function sendReply(forceAccept) {
    if (!state.detail || state.sending) return;
    const box = $('reply-text');
    if (forceAccept && !state.rejected) box.value = state.draftText;
    const text = box.value.trim();
    if (!text) { $('reply-error').textContent = t('reply.empty'); box.focus(); return; }
    const draft = draftDecision();
    const id = state.detail.id;
    const resolve = $('resolve-after').checked;
    state.sending = true;
    for (const b of ['send', 'accept', 'reject']) $(b).disabled = true;
    $('reply-error').textContent = '';
    try {
      await api('/v1/tickets/' + q(id) + '/reply', { method: 'POST', body: { text, draft, resolve } });
      toast(t('reply.sent'));
      if (resolve) {
        state.tickets.delete(id);
        const next = sortedTickets()[0];
        closeTicket();
        state.selectedId = next ? next.id : null;
        renderQueue();
        $('queue').focus();
      } else {
        await openTicket(id);
      }
    } catch (e) {
      $('reply-error').textContent = e.message;
    } finally {
      state.sending = false;
      $('send').disabled = false;
      if (state.detail) updateDraftState();
    }
  }

  async function claimTicket() {
    if (!state.detail) return;
    try {
      await api('/v1/tickets/' + q(state.detail.id) + '/claim', { method: 'POST', body: {} });
      const keep = $('reply-text').value, rejected = state.rejected;
      await refreshOpenTicket();
      $('reply-text').value = keep;
      state.rejected = rejected;
      updateDraftState();
    } catch (e) { toast(e.message); }
  }

  async function refreshOpenTicket() {
    const id = state.openId;
    if (!id) return;
    const tk = await api('/v1/tickets/' + q(id));
    if (state.openId !== id) return;
    const messages = state.detail ? state.detail.messages : [];
    state.detail = tk;
    if (!tk.messages) tk.messages = messages;
    state.tickets.set(id, Object.assign(state.tickets.get(id) || {}, summaryOf(tk)));
    renderTicketHead();
    renderDetails();
    renderQueue();
  }

  function summaryOf(tk) {
    const s = Object.assign({}, tk);
    delete s.messages;
    return s;
  }

  async function resolveTicket() {
    if (!state.detail) return;
    const id = state.detail.id;
    try {
      await api('/v1/tickets/' + q(id) + '/resolve', { method: 'POST', body: {} });
      state.tickets.delete(id);
      closeTicket();
      state.selectedId = sortedTickets()[0]?.id || null;
      renderQueue();
      $('queue').focus();
    } catch (e) { toast(e.message); }
  }

  // ---------- quick phrases ----------
  async function loadPhrases() {
    const shop = state.shop;
    try {
      const data = await api('/v1/shops/' + q(shop) + '/quick-phrases');
      if (shop === state.shop) state.phrases = (data && data.phrases) || [];
    } catch (e) {
      state.phrases = [];
    }
  }

  function phraseLang() {
    const l = state.detail && state.detail.lang;
    return l === 'zh' || l === 'en' ? l : I.lang;
  }
  function phraseText(p) { return p[phraseLang()] || p.en || p.zh || ''; }

  function updatePhrases() {
    const box = $('reply-text');
    const caret = box.selectionStart;
    if (caret !== box.selectionEnd) return hidePhrases();
    const before = box.value.slice(0, caret);
    const m = /(^|\s)\/([^\s/]{0,24})$/.exec(before);
    if (!m || !state.phrases.length) return hidePhrases();
    const word = m[2].toLowerCase();
    const starts = [], contains = [];
    for (const p of state.phrases) {
      const key = String(p.key || '').toLowerCase();
      if (key.startsWith(word)) starts.push(p);
      else if (word && (key.includes(word) || phraseText(p).toLowerCase().includes(word))) contains.push(p);
    }
    const items = starts.concat(contains).slice(0, 8);
    if (!items.length) return hidePhrases();
    const prevKey = state.popup.items[state.popup.index] && state.popup.items[state.popup.index].key;
    state.popup = { items, index: Math.max(0, items.findIndex((p) => p.key === prevKey)), start: caret - word.length - 1 };
    renderPhrases();
  }

  function renderPhrases() {
    const list = $('phrases');
    clear(list);
    state.popup.items.forEach((p, i) => {
      const li = el('li', { role: 'option', id: 'phrase-' + i, class: 'phrase', 'aria-selected': i === state.popup.index ? 'true' : 'false', dataset: { index: String(i) } },
        el('span', { class: 'pkey', text: '/' + p.key }),
        el('span', { class: 'ptext', text: phraseText(p) }));
      li.addEventListener('mousedown', (ev) => { ev.preventDefault(); state.popup.index = i; insertPhrase(); });
      list.append(li);
    });
    list.hidden = false;
    $('reply-text').setAttribute('aria-expanded', 'true');
    $('reply-text').setAttribute('aria-activedescendant', 'phrase-' + state.popup.index);
    const sel = list.querySelector('[aria-selected="true"]');
    if (sel) sel.scrollIntoView({ block: 'nearest' });
  }

  function hidePhrases() {
    $('phrases').hidden = true;
    state.popup = { items: [], index: 0, start: -1 };
    $('reply-text').setAttribute('aria-expanded', 'false');
    $('reply-text').removeAttribute('aria-activedescendant');
  }

  function insertPhrase() {
    const p = state.popup.items[state.popup.index];
    if (!p) return;
    const box = $('reply-text');
    const start = state.popup.start, end = box.selectionStart;
    const text = phraseText(p);
    box.setRangeText(text, start, end, 'end');
    hidePhrases();
    updateDraftState();
    box.focus();
  }

  function onReplyKeydown(ev) {
    const open = !$('phrases').hidden;
    if (open) {
      const n = state.popup.items.length;
      if (ev.key === 'ArrowDown') { ev.preventDefault(); state.popup.index = (state.popup.index + 1) % n; renderPhrases(); return; }
      if (ev.key === 'ArrowUp') { ev.preventDefault(); state.popup.index = (state.popup.index - 1 + n) % n; renderPhrases(); return; }
      if ((ev.key === 'Enter' && !ev.ctrlKey && !ev.metaKey) || ev.key === 'Tab') { ev.preventDefault(); insertPhrase(); return; }
      if (ev.key === 'Escape') { ev.preventDefault(); hidePhrases(); return; }
    }
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); sendReply(false); return; }
    if (ev.key === 'Escape') { ev.preventDefault(); $('reply-text').blur(); $('queue').focus(); }
  }

  // ---------- live events ----------
  function setLive(stateName) {
    const live = $('live');
    live.dataset.state = stateName;
    $('live-text').textContent = t('live.' + stateName);
    $('live-text').dataset.i18n = 'live.' + stateName;
  }

  function connectStream() {
    if (state.stream) state.stream.abort();
    const ctl = new AbortController();
    state.stream = ctl;
    state.lastEventId = null;
    runStream(ctl, state.shop);
  }

  async function runStream(ctl, shop) {
    let first = true;
    while (!ctl.signal.aborted) {
      setLive('connecting');
      try {
        const headers = { Accept: 'text/event-stream', Authorization: 'Bearer ' + state.token };
        if (state.lastEventId) headers['Last-Event-ID'] = state.lastEventId;
        const res = await fetch('/v1/events?shop=' + q(shop), { headers, signal: ctl.signal, cache: 'no-store' });
        if (res.status === 401) { signOut(); return; }
        if (!res.ok || !res.body) throw new Error('stream ' + res.status);
        setLive('on');
        state.retry = 1000;
        if (!first) loadQueue();
        first = false;
        await readEvents(res.body, ctl, handleEvent);
      } catch (e) {
        if (ctl.signal.aborted) return;
      }
      setLive('off');
      await new Promise((r) => setTimeout(r, state.retry));
      state.retry = Math.min(state.retry * 2, 15000);
    }
  }

  // Reads a text/event-stream body and calls onEvent(name, data, id) per event.
  async function readEvents(body, ctl, onEvent) {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    ctl.signal.addEventListener('abort', () => reader.cancel().catch(() => {}));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        let name = 'message', data = [], id = null;
        for (const line of block.split('\n')) {
          if (!line || line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'event') name = val;
          else if (field === 'data') data.push(val);
          else if (field === 'id') id = val;
        }
        if (id !== null) state.lastEventId = id;
        if (!data.length) continue;
        let parsed;
        try { parsed = JSON.parse(data.join('\n')); } catch (e) { continue; }
        onEvent(name, parsed, id);
      }
    }
  }

  function handleEvent(name, data) {
    // ratings and votes change the inspection sample: keep the inspector's count fresh
    if (hasRole('inspector')) {
      clearTimeout(handleEvent.inspTimer);
      handleEvent.inspTimer = setTimeout(() => (state.view === 'inspection' ? loadInspections() : refreshInspectionCount()), 800);
    }
    if (name === 'ticket') {
      if (data.shop && data.shop !== state.shop) return;
      const known = state.tickets.has(data.id);
      if (data.status === 'resolved') {
        state.tickets.delete(data.id);
        if (state.openId === data.id && state.detail) {
          state.detail.status = 'resolved';
          renderTicketHead();
          renderDetails();
        }
      } else if (!inTier(data)) {
        // moved to the other line than the one the queue shows
        state.tickets.delete(data.id);
        if (state.openId === data.id && state.detail) {
          Object.assign(state.detail, summaryOf(data));
          renderTicketHead();
          renderDetails();
        }
      } else {
        state.tickets.set(data.id, Object.assign(state.tickets.get(data.id) || {}, summaryOf(data)));
        if (!known) toast(t('toast.new') + ': ' + (data.last_message || data.customer_id || data.id));
        if (!state.selectedId) state.selectedId = data.id;
        if (state.openId === data.id && state.detail) {
          // priority, reason, deadline, tier: live; a later message may have drafted a case
          Object.assign(state.detail, summaryOf(data));
          renderTicketHead();
          renderDetails();
          if (!state.caseDirty && !state.caseBusy) loadCase(data.id, false);
        }
      }
      renderQueue();
    } else if (name === 'message') {
      const tid = data.ticket_id;
      if (!tid) return;
      if (tid === state.openId) appendMessage(data);
      const tk = state.tickets.get(tid);
      if (tk && data.role === 'customer') {
        tk.last_message = data.text;
        if (tid !== state.openId) state.unread.add(tid);
        renderQueue();
      }
    }
  }

  // ---------- stats ----------
  async function loadStats() {
    const shop = state.shop;
    const hours = $('stats-hours').value;
    const cards = $('stat-cards'), charts = $('charts');
    let stats = null, series = null;
    try {
      [stats, series] = await Promise.all([
        api('/v1/stats?shop=' + q(shop)),
        api('/v1/stats/timeseries?shop=' + q(shop) + '&hours=' + q(hours))
      ]);
    } catch (e) { toast(e.message); }
    if (shop !== state.shop) return;
    clear(cards);
    if (stats) {
      const d = stats.drafts || {};
      const total = (d.accepted || 0) + (d.edited || 0) + (d.rejected || 0);
      const frt = stats.first_response_ms || {};
      const pct = (x) => (typeof x === 'number' ? Math.round(x * 1000) / 10 + '%' : '—');
      const dur = (ms) => (typeof ms === 'number' ? fmtDuration(ms) : '—');
      const card = (key, value, sub) => el('div', { class: 'card' },
        el('div', { class: 'card-label', text: t(key) }), el('div', { class: 'card-value', text: value }),
        sub ? el('div', { class: 'card-sub muted small', text: sub }) : null);
      cards.append(
        card('s.messages', String(stats.messages ?? 0), t('s.answered') + ' ' + (stats.answered ?? 0) + ' · ' + t('s.escalated') + ' ' + (stats.escalated ?? 0)),
        card('s.auto', pct(stats.auto_answer_rate)),
        card('s.frt', dur(frt.p50) + ' / ' + dur(frt.p95)),
        card('s.acceptance', total ? pct((d.accepted || 0) / total) : '—', t('s.drafts') + ': ' + (d.accepted || 0) + ' / ' + (d.edited || 0) + ' / ' + (d.rejected || 0)),
        card('s.breaches', String(stats.sla_breaches ?? 0)),
        card('s.open', String(stats.open_tickets ?? 0)));
    }
    clear(charts);
    const buckets = (series && series.buckets) || [];
    const C = window.SmartreplyCharts;
    const times = buckets.map((b) => b.start);
    const num = (k) => buckets.map((b) => (typeof b[k] === 'number' ? b[k] : 0));
    const opt = (k) => buckets.map((b) => (typeof b[k] === 'number' ? b[k] : null));
    // the service reports 0 for an hour without messages; that is no rate at all, so a gap
    const rate = buckets.map((b) => (b.messages > 0 && typeof b.auto_answer_rate === 'number' ? b.auto_answer_rate : null));
    const lang = I.lang;
    charts.append(
      C.chart({ title: t('c.messages'), times, lang, type: 'bar', stacked: true, integer: true, empty: t('c.nodata'),
        series: [{ name: t('l.answered'), values: num('answered'), cls: 's1' }, { name: t('l.escalated'), values: num('escalated'), cls: 's2' }] }),
      C.chart({ title: t('c.auto'), times, lang, type: 'line', max: 1, format: (v) => Math.round(v * 100) + '%', empty: t('c.nodata'),
        note: t('c.auto.gaps'), gapLabel: t('c.nomessages'), series: [{ name: t('s.auto'), values: rate, cls: 's1' }] }),
      C.chart({ title: t('c.frt'), times, lang, type: 'line', format: (v) => fmtDuration(v), empty: t('c.nodata'),
        series: [{ name: 'p50', values: opt('first_response_ms_p50'), cls: 's3' }] }),
      C.chart({ title: t('c.drafts'), times, lang, type: 'bar', stacked: true, integer: true, empty: t('c.nodata'),
        series: [{ name: t('l.accepted'), values: num('drafts_accepted'), cls: 's1' }, { name: t('l.edited'), values: num('drafts_edited'), cls: 's4' }, { name: t('l.rejected'), values: num('drafts_rejected'), cls: 's2' }] }),
      C.chart({ title: t('c.breaches'), times, lang, type: 'bar', integer: true, empty: t('c.nodata'),
        series: [{ name: t('s.breaches'), values: num('sla_breaches'), cls: 's2' }] }));
  }

  function showView(view) {
    if (!VIEWS.includes(view) || (view === 'inspection' && !hasRole('inspector'))) view = 'queue';
    state.view = view;
    for (const v of VIEWS) {
      $('view-' + v).hidden = v !== view;
      $('tab-' + v).setAttribute('aria-selected', String(v === view));
    }
    loadView();
    if (view === 'queue') $('queue').focus();
  }

  function loadView() {
    if (state.view === 'stats') loadStats();
    else if (state.view === 'scorecard') loadScorecard();
    else if (state.view === 'cases') loadCases();
    else if (state.view === 'inspection') loadInspections();
  }

  // ---------- second line ----------
  function showTransfer() {
    if (!state.detail) return;
    $('transfer-form').hidden = false;
    $('transfer-error').textContent = '';
    $('transfer-note').focus();
  }
  function hideTransfer() {
    $('transfer-form').hidden = true;
    $('transfer-note').value = '';
    $('transfer-error').textContent = '';
  }
  async function transferTicket() {
    if (!state.detail) return;
    const id = state.detail.id;
    const note = $('transfer-note').value.trim();
    if (!note) { $('transfer-error').textContent = t('transfer.empty'); $('transfer-note').focus(); return; }
    $('transfer-go').disabled = true;
    try {
      await api('/v1/tickets/' + q(id) + '/transfer', { method: 'POST', body: { note } });
      hideTransfer();
      toast(t('transfer.done'));
      const keep = $('reply-text').value, rejected = state.rejected;
      await refreshOpenTicket();
      $('reply-text').value = keep;
      state.rejected = rejected;
      updateDraftState();
      if (state.detail && !inTier(state.detail)) { state.tickets.delete(id); renderQueue(); }
    } catch (e) {
      $('transfer-error').textContent = e.message;
    } finally {
      $('transfer-go').disabled = false;
    }
  }

  // ---------- the after-sales case of the open ticket ----------
  function caseControl(field) { return $('case-' + field); }

  // The service's rule for required fields (the one submission checks), so the form marks
  // them without a copy of it; until it arrives nothing is marked and the service still decides.
  async function loadCaseRules() {
    try {
      state.caseRules = await api('/v1/cases/requirements');
    } catch (e) {
      state.caseRules = null;
    }
    if (state.caseTicket) renderCaseMeta();
  }

  function requiredCaseFields(type, evidenceRequested) {
    const r = state.caseRules;
    if (!r) return [];
    return [].concat(r.always || [], (r.by_type && r.by_type[type]) || [], evidenceRequested ? r.when_evidence_requested || [] : []);
  }

  // The order numbers the ticket's messages gave, as suggestions for the case's field.
  function ticketOrderNumbers() {
    const x = (state.detail && state.detail.extracted) || {};
    return Array.isArray(x.order_numbers) ? x.order_numbers.filter((o) => typeof o === 'string' && o) : [];
  }

  function fillOrderSuggestions() {
    const list = $('case-order-suggestions');
    clear(list);
    for (const o of ticketOrderNumbers()) list.append(el('option', { value: o }));
  }

  async function loadCase(ticketId, fresh) {
    if (fresh) {
      state.caseData = null;
      state.caseTicket = ticketId;
      state.caseDirty = false;
      $('case-panel').hidden = true;
    }
    let c = null;
    try {
      c = await api('/v1/tickets/' + q(ticketId) + '/case');
    } catch (e) {
      if (e.status !== 404) { if (state.openId === ticketId) toast(e.message); return; }
    }
    // a live reload never overwrites what the agent typed or the errors on screen
    if (state.openId !== ticketId || (!fresh && (state.caseDirty || state.caseBusy || state.caseErrors))) return;
    state.caseTicket = ticketId;
    state.caseData = c && (c.case || c);
    $('case-panel').hidden = false;
    if (state.caseData) {
      $('case-none').hidden = true;
      $('case-form').hidden = false;
      fillCase(state.caseData);
    } else {
      $('case-none').hidden = false;
      $('case-form').hidden = true;
      fillCase({});
    }
  }

  function setSelectValue(select, value) {
    if (value && ![...select.options].some((o) => o.value === value)) {
      select.append(el('option', { value, text: String(value) })); // a value this page does not know yet
    }
    select.value = value || '';
  }

  function fillCase(c) {
    for (const f of CASE_FIELDS) {
      const ctl = caseControl(f);
      const v = c[f];
      const text = v === null || v === undefined ? '' : Array.isArray(v) ? v.join('\n') : String(v);
      if (ctl.tagName === 'SELECT') setSelectValue(ctl, text);
      else ctl.value = text;
    }
    state.caseDirty = false;
    clearCaseErrors();
    fillOrderSuggestions();
    renderCaseMeta();
  }

  function caseStatus() {
    const c = state.caseData;
    return c ? c.status || 'draft' : 'new';
  }

  function renderCaseMeta() {
    const c = state.caseData || {};
    const status = caseStatus();
    const badge = $('case-status');
    badge.textContent = t('case.status.' + status);
    badge.className = 'badge case-' + status;
    badge.dataset.status = status;
    const readOnly = status === 'submitted';
    $('case-form').classList.toggle('readonly', readOnly);
    for (const f of CASE_FIELDS) {
      const ctl = caseControl(f);
      ctl.disabled = readOnly;
      if (ctl.tagName !== 'SELECT') ctl.readOnly = readOnly;
    }
    $('case-actions').hidden = readOnly;
    // required marks for the chosen type
    const requested = Array.isArray(c.evidence_requested) ? c.evidence_requested : [];
    const need = requiredCaseFields(caseControl('type').value, requested.length > 0);
    const hint = $('case-evidence-hint');
    hint.textContent = requested.length ? t('case.requested', { what: requested.map((r) => label('evid', r)).join(', ') }) : '';
    for (const f of CASE_FIELDS) {
      const req = need.includes(f);
      caseControl(f).setAttribute('aria-required', String(req));
      caseControl(f).closest('.field').classList.toggle('required', req);
    }
    const meta = $('case-meta');
    clear(meta);
    const row = (key, value) => { if (value) meta.append(el('dt', { text: t(key) }), el('dd', { text: String(value) })); };
    row('case.f.submitted_by', c.submitted_by);
    row('case.f.submitted_at', c.submitted_at ? fmtTime(c.submitted_at) : '');
  }

  function clearCaseErrors() {
    for (const node of $('case-panel').querySelectorAll('[data-field-error]')) node.textContent = '';
    for (const f of CASE_FIELDS) caseControl(f).removeAttribute('aria-invalid');
    $('case-error').textContent = '';
    state.caseErrors = false;
  }

  function showCaseErrors(e) {
    clearCaseErrors();
    const fields = (e.error && e.error.fields) || {};
    for (const [f, msg] of Object.entries(fields)) {
      const slot = $('case-panel').querySelector('[data-field-error="' + CSS.escape(f) + '"]');
      if (slot) slot.textContent = String(msg);
      if (CASE_FIELDS.includes(f)) caseControl(f).setAttribute('aria-invalid', 'true');
    }
    // the first flagged field in the form's order, not the order the service listed them in
    const firstField = CASE_FIELDS.find((f) => f in fields);
    const first = firstField ? caseControl(firstField) : null;
    $('case-error').textContent = Object.keys(fields).length ? t('case.invalid') : e.message;
    state.caseErrors = true;
    if (first) first.focus();
  }

  function onCaseInput(ev) {
    state.caseDirty = true;
    const f = ev.target && ev.target.name;
    if (f) {
      const slot = $('case-panel').querySelector('[data-field-error="' + CSS.escape(f) + '"]');
      // editing a field (a select's choice fires input too) takes its error and its mark away
      if (slot && ev.type === 'input') {
        slot.textContent = '';
        ev.target.removeAttribute('aria-invalid');
      }
    }
    if (f === 'type') renderCaseMeta();
  }

  function caseBody() {
    // every field, empty ones as null; the amount as written ("59.00"), the service checks it
    const body = {};
    for (const f of CASE_FIELDS) {
      const v = caseControl(f).value.trim();
      body[f] = v === '' ? null : v;
    }
    return body; // what the rule asked the customer for (evidence_requested) stays with the case
  }

  function createCase() {
    state.caseData = null;
    $('case-none').hidden = true;
    $('case-form').hidden = false;
    // the order number the customer already gave (the first, as the router's drafts take it;
    // the others are offered as suggestions)
    fillCase({ order_number: ticketOrderNumbers()[0] || null });
    state.caseDirty = true;
    caseControl('type').focus();
  }

  // PUT the form; returns the stored case, or null (errors shown next to the fields).
  async function saveCase(announce) {
    const id = state.caseTicket;
    if (!id || state.caseBusy) return null;
    state.caseBusy = true;
    $('case-save').disabled = true;
    $('case-submit').disabled = true;
    try {
      const c = await api('/v1/tickets/' + q(id) + '/case', { method: 'PUT', body: caseBody() });
      if (state.caseTicket !== id) return null;
      state.caseData = (c && (c.case || c)) || state.caseData;
      state.caseDirty = false;
      clearCaseErrors();
      renderCaseMeta();
      if (announce) toast(t('case.saved'));
      return state.caseData;
    } catch (e) {
      if (state.caseTicket === id) showCaseErrors(e);
      return null;
    } finally {
      state.caseBusy = false;
      $('case-save').disabled = false;
      $('case-submit').disabled = false;
    }
  }

  async function submitCase() {
    const id = state.caseTicket;
    if (!id) return;
    if (state.caseDirty || !state.caseData) {
      if (!(await saveCase(false))) return;
    }
    state.caseBusy = true;
    $('case-save').disabled = true;
    $('case-submit').disabled = true;
    try {
      const c = await api('/v1/tickets/' + q(id) + '/case/submit', { method: 'POST', body: {} });
      if (state.caseTicket !== id) return;
      state.caseData = (c && (c.case || c)) || state.caseData;
      if (state.caseData && !state.caseData.status) state.caseData.status = 'submitted';
      fillCase(state.caseData);
      toast(t('case.submitted'));
    } catch (e) {
      if (state.caseTicket === id) showCaseErrors(e); // the form keeps what the agent typed
    } finally {
      state.caseBusy = false;
      $('case-save').disabled = false;
      $('case-submit').disabled = false;
    }
  }

  // ---------- formatting of rates ----------
  const pct = (x) => (typeof x === 'number' && Number.isFinite(x) ? Math.round(x * 1000) / 10 + '%' : '—');
  const dur = (ms) => (typeof ms === 'number' && Number.isFinite(ms) ? fmtDuration(ms) : '—');
  const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? String(Math.round(x * 10) / 10) : '—');

  // ---------- scorecard ----------
  function scorecardQuery() {
    const parts = ['shop=' + q(state.shop), 'period=' + q($('sc-period').value)];
    if ($('sc-date').value) parts.push('date=' + q($('sc-date').value));
    return parts.join('&');
  }

  // The score's parts: the weight's name and the row's rate it multiplies (docs/aftersales.md).
  const SCORE_PARTS = [['satisfaction', 'csat'], ['speed', 'speed'], ['resolution', 'resolution_rate'], ['compliance', 'compliance']];

  // The score, with the parts that had no data named (their weight is left out and the others
  // scaled up, so a score from fewer parts reads differently) and the sum in the tooltip.
  function scoreCell(r, w) {
    const td = el('td', { dataset: { col: 'score' } }, el('span', { class: 'score-value', dataset: { testid: 'score-value' }, text: num(r.score) }));
    if (typeof r.score !== 'number') return td;
    const weighted = SCORE_PARTS.filter(([k]) => typeof w[k] === 'number' && w[k] > 0);
    const kept = weighted.filter(([, f]) => typeof r[f] === 'number');
    const dropped = weighted.filter(([, f]) => typeof r[f] !== 'number');
    const total = kept.reduce((a, [k]) => a + w[k], 0);
    td.title = t('sc.formula', { terms: kept.map(([k, f]) => w[k] + ' × ' + pct(r[f])).join(' + '), total, score: num(r.score) });
    if (dropped.length) {
      td.append(el('span', { class: 'score-note muted small', dataset: { testid: 'score-note', dropped: dropped.map(([k]) => k).join(' ') },
        text: t('sc.dropped', { parts: dropped.map(([k]) => t('sc.p.' + k)).join(', ') }) }));
    }
    return td;
  }

  function scoreRow(name, r, team, w) {
    const frt = r.first_response_ms || {};
    const cell = (col, text) => el('td', { dataset: { col }, text });
    return el('tr', { class: team ? 'team' : '', dataset: { agent: team ? '' : name, row: team ? 'team' : 'agent' } },
      el('th', { scope: 'row', dataset: { col: 'agent' }, text: team ? t('sc.team') : name }),
      cell('tickets', typeof r.tickets === 'number' ? String(r.tickets) : '—'),
      cell('frt_p50', dur(frt.p50)),
      cell('frt_p90', dur(frt.p90)),
      cell('resolution_rate', pct(r.resolution_rate)),
      cell('ratings', typeof r.ratings === 'number' ? String(r.ratings) : '—'),
      cell('csat', pct(r.csat)),
      cell('compliance', pct(r.compliance)),
      cell('sla_breaches', typeof r.sla_breaches === 'number' ? String(r.sla_breaches) : '—'),
      cell('draft_acceptance', pct(r.draft_acceptance)),
      scoreCell(r, w));
  }

  async function loadScorecard() {
    const shop = state.shop;
    let data = null;
    try { data = await api('/v1/scorecard?' + scorecardQuery()); } catch (e) { toast(e.message); }
    if (shop !== state.shop || state.view !== 'scorecard') return;
    const body = $('scorecard-body');
    clear(body);
    const agents = (data && data.agents) || [];
    const nameOf = (a) => a.agent || a.name || '';
    const w = (data && data.weights) || {};
    for (const a of agents) body.append(scoreRow(nameOf(a), a, false, w));
    if (data && data.team) body.append(scoreRow('', data.team, true, w));
    $('sc-empty').hidden = agents.length > 0;
    const wparts = ['satisfaction', 'speed', 'resolution', 'compliance'].filter((k) => typeof w[k] === 'number').map((k) => t('sc.w.' + k) + ' ' + w[k]);
    $('sc-weights').textContent = wparts.length ? t('sc.weights') + ': ' + wparts.join(' · ') : '';
    const bot = (data && data.team && data.team.bot) || (data && data.bot);
    $('sc-bot').textContent = bot ? t('sc.bot') + ': ' + (bot.answers ?? 0) + ' ' + t('sc.bot.answers') + ' · ' + t('sc.bot.helpful') + ' ' + (bot.helpful ?? 0) +
      ' · ' + t('sc.bot.not_helpful') + ' ' + (bot.not_helpful ?? 0) +
      (bot.first_response_ms && typeof bot.first_response_ms.p50 === 'number' ? ' · p50 ' + bot.first_response_ms.p50 + ' ms' : '') : '';
    const chart = $('sc-chart');
    clear(chart);
    chart.append(window.SmartreplyCharts.chart({
      title: t('sc.chart'), labels: agents.map(nameOf), lang: I.lang, type: 'bar', max: 100, empty: t('c.nodata'),
      format: (v) => String(Math.round(v)), series: [{ name: t('sc.score'), values: agents.map((a) => (typeof a.score === 'number' ? a.score : 0)), cls: 's1' }]
    }));
  }

  // ---------- after-sales cases ----------
  function casesQuery(withStatus) {
    const parts = ['shop=' + q(state.shop)];
    if (withStatus && $('cases-status').value) parts.push('status=' + q($('cases-status').value));
    if ($('cases-from').value) parts.push('from=' + q($('cases-from').value));
    if ($('cases-to').value) parts.push('to=' + q($('cases-to').value));
    return parts.join('&');
  }

  async function loadCases() {
    const shop = state.shop;
    let data = null;
    try { data = await api('/v1/cases?' + casesQuery(true)); } catch (e) { toast(e.message); }
    if (shop !== state.shop || state.view !== 'cases') return;
    const body = $('cases-body');
    clear(body);
    const cases = (data && data.cases) || [];
    for (const c of cases) {
      const cell = (col, text) => el('td', { dataset: { col }, text: text === null || text === undefined || text === '' ? '—' : String(text) });
      body.append(el('tr', { dataset: { id: c.id || c.case_id || '', ticket: c.ticket_id || '' } },
        cell('created_at', fmtTime(c.created_at || c.submitted_at)),
        cell('status', t('case.status.' + (c.status || 'draft'))),
        cell('type', label('ctype', c.type)),
        cell('reason', label('creason', c.reason)),
        cell('responsibility', label('cresp', c.responsibility)),
        cell('order_number', c.order_number),
        cell('items', c.items),
        cell('refund_amount', c.refund_amount),
        cell('tracking_number', c.tracking_number),
        cell('submitted_by', c.submitted_by)));
    }
    $('cases-empty').hidden = cases.length > 0;
  }

  // ---------- inspection ----------
  const INSPECTION_CHECKS = ['correct', 'polite', 'compliant', 'no_blind_canned'];
  function textOf(v) { return v && typeof v === 'object' ? v.text : v; }

  async function loadInspections() {
    if (!hasRole('inspector')) return;
    const shop = state.shop, status = $('insp-status').value;
    let data = null;
    try { data = await api('/v1/inspections?shop=' + q(shop) + '&status=' + q(status)); } catch (e) { if (state.view === 'inspection') toast(e.message); }
    if (shop !== state.shop || status !== $('insp-status').value) return;
    state.inspections = (data && (data.inspections || data.items)) || [];
    if (status === 'pending') $('inspection-count').textContent = String(state.inspections.length);
    renderInspections();
  }

  async function refreshInspectionCount() {
    const shop = state.shop;
    try {
      const data = await api('/v1/inspections?shop=' + q(shop) + '&status=pending');
      if (shop === state.shop) $('inspection-count').textContent = String(((data && data.inspections) || []).length);
    } catch (e) { /* the count waits for the next event */ }
  }

  function renderInspections() {
    const list = $('inspections');
    clear(list);
    const scoredView = $('insp-status').value === 'scored';
    for (const it of state.inspections) {
      const msg = it.message && typeof it.message === 'object' ? it.message : {};
      const role = it.author_type === 'bot' || it.author_type === 'agent' ? it.author_type : (it.agent ? 'agent' : 'bot');
      const author = role === 'bot' ? t('role.bot') : (it.agent || it.author || t('role.agent'));
      const why = it.why || it.reason || 'sampled';
      const rating = typeof it.rating === 'number' ? it.rating : null;
      const id = String(it.id);
      const form = el('form', { class: 'insp-form', dataset: { id } });
      const checks = el('div', { class: 'insp-checks' });
      for (const c of INSPECTION_CHECKS) {
        const prior = !!(it.checklist && it.checklist[c] === true);
        checks.append(el('label', { class: 'check' },
          el('input', { type: 'checkbox', name: c, checked: prior, disabled: scoredView, dataset: { testid: 'insp-' + c } }),
          el('span', { text: t('insp.' + c) })));
      }
      form.append(checks,
        el('label', { class: 'small muted', for: 'insp-note-' + id, text: t('insp.note') }),
        el('textarea', { id: 'insp-note-' + id, name: 'note', rows: '2', maxlength: '1000', disabled: scoredView, dataset: { testid: 'insp-note' } }),
        el('p', { class: 'error', role: 'alert' }),
        scoredView ? el('p', { class: 'small ' + (it.passed ? 'ok' : 'bad'), text: it.passed ? t('insp.passed') : t('insp.failed') })
          : el('div', { class: 'row-actions' }, el('button', { type: 'submit', class: 'btn small primary', dataset: { testid: 'insp-score' }, text: t('insp.score') })));
      if (scoredView && it.note) form.querySelector('textarea').value = it.note;
      const li = el('li', { class: 'insp-item', dataset: { id, why, role, agent: it.agent || '', messageId: it.message_id || msg.id || '' } },
        el('div', { class: 'insp-top' },
          el('span', { class: 'chip why ' + why, dataset: { testid: 'insp-why' }, text: label('why', why) }),
          el('span', { class: 'insp-author', dataset: { testid: 'insp-author' }, text: author }),
          el('span', { class: 'insp-rating', dataset: { testid: 'insp-rating', rating: rating === null ? '' : String(rating) },
            text: rating === null ? (it.helpful === false ? t('sc.bot.not_helpful') : '') : '★'.repeat(rating) + '☆'.repeat(Math.max(0, 5 - rating)) + ' ' + rating + '/5' }),
          el('span', { class: 'spacer' }),
          el('time', { class: 'muted small', text: fmtTime(it.created_at || msg.created_at) })),
        el('div', { class: 'insp-q' }, el('span', { class: 'muted small', text: t('insp.customer') }),
          el('div', { class: 'bubble customer', dataset: { testid: 'insp-customer' }, text: textOf(it.customer_message) || it.customer_text || '—' })),
        el('div', { class: 'insp-a' }, el('span', { class: 'muted small', text: t('insp.reply') }),
          el('div', { class: 'bubble ' + (role === 'bot' ? 'bot' : 'agent'), dataset: { testid: 'insp-text' }, text: it.text || msg.text || '' })),
        // the rating's comment is customer text: textContent only, like every message
        it.rating_comment ? el('div', { class: 'insp-comment' }, el('span', { class: 'muted small', text: t('insp.comment') }),
          el('blockquote', { class: 'bubble customer comment', dataset: { testid: 'insp-comment' }, text: it.rating_comment })) : null,
        form);
      list.append(li);
    }
    $('insp-empty').hidden = state.inspections.length > 0;
  }

  async function onInspectionSubmit(ev) {
    ev.preventDefault();
    const form = ev.target.closest('form.insp-form');
    if (!form) return;
    const id = form.dataset.id;
    const body = {};
    for (const c of INSPECTION_CHECKS) body[c] = form.elements[c].checked;
    const note = form.elements.note.value.trim();
    body.note = note || null;
    const button = form.querySelector('button[type="submit"]');
    if (button) button.disabled = true;
    try {
      await api('/v1/inspections/' + q(id), { method: 'POST', body });
      toast(t('insp.done'));
      state.inspections = state.inspections.filter((it) => String(it.id) !== id);
      $('inspection-count').textContent = String(state.inspections.length);
      renderInspections();
    } catch (e) {
      form.querySelector('.error').textContent = e.message;
      if (button) button.disabled = false;
    }
  }

  // ---------- keyboard ----------
  function onGlobalKey(ev) {
    if ($('app').hidden || ev.defaultPrevented) return;
    if ($('help').open) return;
    const tag = (ev.target && ev.target.tagName) || '';
    if (tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || ev.target.isContentEditable) return;
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    if (state.pendingG) {
      state.pendingG = false;
      if (ev.key === 's') { showView('stats'); ev.preventDefault(); return; }
      if (ev.key === 'q') { showView('queue'); ev.preventDefault(); return; }
      if (ev.key === 'p') { showView('scorecard'); ev.preventDefault(); return; }
      if (ev.key === 'a') { showView('cases'); ev.preventDefault(); return; }
      if (ev.key === 'i' && hasRole('inspector')) { showView('inspection'); ev.preventDefault(); return; }
    }
    const inQueue = state.view === 'queue';
    switch (ev.key) {
      case 'j': case 'ArrowDown': if (inQueue) { moveSelection(1); ev.preventDefault(); } break;
      case 'k': case 'ArrowUp': if (inQueue) { moveSelection(-1); ev.preventDefault(); } break;
      case 'Enter': case 'o':
        if (inQueue && state.selectedId && (ev.target === $('queue') || ev.target === document.body || ev.key === 'o')) { openTicket(state.selectedId); ev.preventDefault(); }
        break;
      case 'r': if (inQueue && state.detail) { $('reply-text').focus(); ev.preventDefault(); } break;
      case 'c': if (inQueue && state.detail) { claimTicket(); ev.preventDefault(); } break;
      case 'x': if (inQueue && state.detail) { resolveTicket(); ev.preventDefault(); } break;
      case 'g': state.pendingG = true; setTimeout(() => { state.pendingG = false; }, 1200); break;
      case '?': $('help').showModal(); ev.preventDefault(); break;
      default:
    }
  }

  // ---------- wiring ----------
  function init() {
    I.apply();
    for (const b of document.querySelectorAll('[data-lang-toggle]')) {
      b.addEventListener('click', () => {
        I.set(I.lang === 'zh' ? 'en' : 'zh');
        if (!$('app').hidden) {
          renderQueue();
          if (state.detail) { renderTicketHead(); renderMessages(); renderDetails(); updateDraftState(); }
          if (state.caseTicket) renderCaseMeta();
          if (state.view !== 'queue') loadView();
          setLive($('live').dataset.state);
        }
      });
    }
    $('signin-form').addEventListener('submit', async (ev) => {
      ev.preventDefault();
      $('signin-error').textContent = '';
      const token = $('token').value.trim();
      if (!token) return;
      try { await signIn(token); } catch (e) {
        state.token = null;
        $('signin-error').textContent = e.status === 401 || e.status === 403 ? t('signin.bad') : e.message;
      }
    });
    $('signout').addEventListener('click', signOut);
    $('shop').addEventListener('change', (ev) => selectShop(ev.target.value));
    for (const tab of document.querySelectorAll('[data-view]')) tab.addEventListener('click', () => showView(tab.dataset.view));
    $('queue').addEventListener('click', (ev) => {
      const li = ev.target.closest('li[data-id]');
      if (li) openTicket(li.dataset.id);
    });
    $('queue').addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && state.selectedId) { ev.preventDefault(); openTicket(state.selectedId); }
    });
    const box = $('reply-text');
    box.addEventListener('input', () => { updatePhrases(); updateDraftState(); });
    box.addEventListener('keydown', onReplyKeydown);
    box.addEventListener('click', updatePhrases);
    box.addEventListener('blur', () => setTimeout(hidePhrases, 150));
    $('composer').addEventListener('submit', (ev) => { ev.preventDefault(); sendReply(false); });
    $('accept').addEventListener('click', () => sendReply(true));
    $('reject').addEventListener('click', toggleReject);
    $('claim').addEventListener('click', claimTicket);
    $('resolve').addEventListener('click', resolveTicket);
    $('help-btn').addEventListener('click', () => $('help').showModal());
    $('help-close').addEventListener('click', () => $('help').close());
    $('stats-refresh').addEventListener('click', loadStats);
    $('stats-hours').addEventListener('change', loadStats);
    $('tier').addEventListener('change', (ev) => { state.tier = ev.target.value; loadQueue(); });
    $('transfer').addEventListener('click', showTransfer);
    $('transfer-cancel').addEventListener('click', hideTransfer);
    $('transfer-form').addEventListener('submit', (ev) => { ev.preventDefault(); transferTicket(); });
    $('case-create').addEventListener('click', createCase);
    $('case-save').addEventListener('click', () => saveCase(true));
    $('case-form').addEventListener('submit', (ev) => { ev.preventDefault(); submitCase(); });
    $('case-form').addEventListener('input', onCaseInput);
    $('case-form').addEventListener('change', onCaseInput);
    $('sc-refresh').addEventListener('click', loadScorecard);
    $('sc-period').addEventListener('change', loadScorecard);
    $('sc-date').addEventListener('change', loadScorecard);
    $('sc-export').addEventListener('click', () => download('/v1/scorecard/export?' + scorecardQuery(), 'scorecard-' + state.shop + '.csv'));
    $('cases-refresh').addEventListener('click', loadCases);
    for (const id of ['cases-status', 'cases-from', 'cases-to']) $(id).addEventListener('change', loadCases);
    $('cases-export').addEventListener('click', () => download('/v1/cases/export?' + casesQuery(false), 'cases-' + state.shop + '.csv'));
    $('insp-refresh').addEventListener('click', loadInspections);
    $('insp-status').addEventListener('change', loadInspections);
    $('inspections').addEventListener('submit', onInspectionSubmit);
    document.addEventListener('keydown', onGlobalKey);
    setInterval(tickSla, 1000);

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) {
      signIn(saved).catch(() => { sessionStorage.removeItem(TOKEN_KEY); $('signin').hidden = false; $('token').focus(); });
    } else {
      $('signin').hidden = false;
      $('token').focus();
    }
  }

  init();
})();
