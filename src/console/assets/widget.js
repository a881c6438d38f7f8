/*! smartreply chat widget. Embed with one tag:
 *  <script src="https://SERVICE/widget.js" data-shop="SHOP" data-key="PUBLIC_WIDGET_KEY" defer></script>
 * Optional attributes: data-lang="zh|en", data-title="...".
 * Talks to the service's public widget channel only (docs/widget.md); holds no secret.
 * Bot answers carry 👍/👎; a resolved conversation's satisfaction survey arrives as a
 * `survey` event and is answered with stars and an optional comment.
 * Every text is put on the page with textContent: nothing is parsed as HTML.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  if (!script || window.__smartreplyWidget) return;
  window.__smartreplyWidget = true;

  var shop = script.getAttribute('data-shop') || '';
  var widgetKey = script.getAttribute('data-key') || '';
  var base = new URL(script.src, location.href).origin;
  var lang = script.getAttribute('data-lang') ||
    ((navigator.language || 'en').toLowerCase().indexOf('zh') === 0 ? 'zh' : 'en');
  var STORE_KEY = 'smartreply.visitor.' + shop;

  var TEXT = {
    en: {
      open: 'Chat with us', close: 'Close chat', title: 'Customer service', subtitle: 'Answers right away, a person when needed',
      welcome: 'Hi! Ask us about orders, shipping, returns or our products.', placeholder: 'Type your message…',
      send: 'Send', you: 'You', bot: 'Assistant', agent: 'Agent', failed: 'Not sent. Please try again.',
      slow: 'You are sending messages too quickly. Please wait a moment.', offline: 'Connection lost, reconnecting…',
      unread: 'new messages', helpful: 'Helpful', notHelpful: 'Not helpful', feedbackThanks: 'Thanks for your feedback',
      star: '{n} of {max} stars', comment: 'Comment (optional)', rate: 'Send rating',
      surveyThanks: 'Thank you for rating our service!', surveyFailed: 'The rating was not sent. Please try again.',
      surveyPrompt: 'How did we do?'
    },
    zh: {
      open: '在线客服', close: '关闭', title: '在线客服', subtitle: '机器人即时回答，需要时转人工',
      welcome: '您好！订单、物流、退换货或商品问题，都可以问我们。', placeholder: '请输入消息…',
      send: '发送', you: '我', bot: '智能助手', agent: '客服', failed: '发送失败，请重试。',
      slow: '发送太频繁了，请稍候再试。', offline: '连接已断开，正在重连…', unread: '条新消息',
      helpful: '有帮助', notHelpful: '没帮助', feedbackThanks: '感谢您的反馈',
      star: '{n} 星（满分 {max} 星）', comment: '留言（选填）', rate: '提交评分',
      surveyThanks: '感谢您对本次服务的评价！', surveyFailed: '评分未发送，请重试。',
      surveyPrompt: '请为本次服务打分'
    }
  };
  var T = TEXT[lang] || TEXT.en;

  // ---------- DOM ----------
  var SVGNS = 'http://www.w3.org/2000/svg';
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function icon(paths) {
    var svg = document.createElementNS(SVGNS, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('width', '24');
    svg.setAttribute('height', '24');
    svg.setAttribute('aria-hidden', 'true');
    paths.forEach(function (d) {
      var p = document.createElementNS(SVGNS, 'path');
      p.setAttribute('d', d);
      svg.appendChild(p);
    });
    return svg;
  }

  var host = el('div');
  host.id = 'smartreply-widget';
  host.hidden = true; // shown once the stylesheet has loaded
  var root = host.attachShadow({ mode: 'open' });
  var css = document.createElement('link');
  css.rel = 'stylesheet';
  css.href = base + '/assets/widget.css';
  css.addEventListener('load', function () { host.hidden = false; });
  css.addEventListener('error', function () { host.hidden = false; });
  root.appendChild(css);

  var bubble = el('button', 'sr-bubble');
  bubble.type = 'button';
  bubble.setAttribute('aria-label', T.open);
  bubble.setAttribute('aria-expanded', 'false');
  bubble.appendChild(icon(['M4 5.5A2.5 2.5 0 0 1 6.5 3h11A2.5 2.5 0 0 1 20 5.5v8a2.5 2.5 0 0 1-2.5 2.5H10l-4.5 4v-4A2.5 2.5 0 0 1 4 13.5z']));
  var badge = el('span', 'sr-badge');
  badge.hidden = true;
  bubble.appendChild(badge);

  var panel = el('section', 'sr-panel');
  panel.setAttribute('role', 'dialog');
  panel.setAttribute('aria-label', T.title);
  panel.hidden = true;
  var head = el('header', 'sr-head');
  var titles = el('div', 'sr-titles');
  titles.appendChild(el('div', 'sr-title', script.getAttribute('data-title') || T.title));
  titles.appendChild(el('div', 'sr-subtitle', T.subtitle));
  var closeBtn = el('button', 'sr-close');
  closeBtn.type = 'button';
  closeBtn.setAttribute('aria-label', T.close);
  closeBtn.appendChild(icon(['M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12l5.6 5.6-1.4 1.4-5.6-5.6L6.4 19 5 17.6 10.6 12 5 6.4z']));
  head.appendChild(titles);
  head.appendChild(closeBtn);
  var log = el('ol', 'sr-log');
  log.setAttribute('aria-live', 'polite');
  var status = el('div', 'sr-status');
  status.setAttribute('role', 'status');
  var form = el('form', 'sr-form');
  var input = el('textarea', 'sr-input');
  input.rows = 1;
  input.maxLength = 4000;
  input.placeholder = T.placeholder;
  input.setAttribute('aria-label', T.placeholder);
  var sendBtn = el('button', 'sr-send');
  sendBtn.type = 'submit';
  sendBtn.setAttribute('aria-label', T.send);
  sendBtn.appendChild(icon(['M3.4 20.4 21 12 3.4 3.6 3.4 10l12.6 2-12.6 2z']));
  form.appendChild(input);
  form.appendChild(sendBtn);
  panel.appendChild(head);
  panel.appendChild(log);
  panel.appendChild(status);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(bubble);

  // ---------- state ----------
  var visitor = null; // {visitor_id, visitor_token, conversation_id}
  try { visitor = JSON.parse(localStorage.getItem(STORE_KEY) || 'null'); } catch (e) { visitor = null; }
  var seen = {}; // message ids already on screen
  var shown = []; // recent bubbles: {role, text, id, source, matched}
  var unread = 0;
  var streamCtl = null;
  var lastEventId = null;
  var historyLoaded = false;

  function setStatus(text) { status.textContent = text || ''; }

  function addBubble(m, source) {
    var role = m.role || 'bot';
    var text = String(m.text || '');
    if (m.id && seen[m.id]) return null;
    // The same message can arrive twice: from the POST answer (no id for the bot reply) and
    // from the event stream. Match them by role and text.
    var other = source === 'local' ? 'event' : 'local';
    for (var i = 0; i < shown.length; i++) {
      var s = shown[i];
      if (!s.matched && s.source === other && s.role === role && s.text === text.trim()) {
        s.matched = true;
        if (m.id) { seen[m.id] = true; s.id = m.id; }
        if (m.kind && !s.kind) s.kind = m.kind;
        if (source === 'event' && s.node) s.node.classList.remove('sr-pending');
        if (s.id && s.kind === 'answer' && s.role === 'bot') addFeedback(s);
        return s;
      }
    }
    if (m.id) seen[m.id] = true;
    var li = el('li', 'sr-msg sr-' + role);
    if (role !== 'customer') {
      var who = role === 'agent' ? (m.author ? m.author + ' · ' + T.agent : T.agent) : T.bot;
      li.appendChild(el('div', 'sr-who', who));
    }
    li.appendChild(el('div', 'sr-text', text));
    log.appendChild(li);
    log.scrollTop = log.scrollHeight;
    var rec = { role: role, text: text.trim(), id: m.id || null, kind: m.kind || null, source: source, matched: false, node: li };
    shown.push(rec);
    if (rec.id && rec.kind === 'answer' && role === 'bot') addFeedback(rec);
    if (shown.length > 60) shown.shift();
    if (panel.hidden && role !== 'customer' && source === 'event' && historyLoaded) {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
      bubble.setAttribute('aria-label', T.open + ' (' + unread + ' ' + T.unread + ')');
    }
    return rec;
  }

  // ---------- API ----------
  function call(method, path, body) {
    var headers = { 'X-Widget-Key': widgetKey, Accept: 'application/json' };
    if (visitor && visitor.visitor_token) headers.Authorization = 'Bearer ' + visitor.visitor_token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    return fetch(base + path, {
      method: method, headers: headers, mode: 'cors', credentials: 'omit', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (res) {
      return res.json().catch(function () { return null; }).then(function (data) {
        if (!res.ok) {
          var err = new Error((data && data.error && data.error.message) || ('HTTP ' + res.status));
          err.status = res.status;
          err.retryAfter = res.headers.get('Retry-After');
          throw err;
        }
        return data;
      });
    });
  }
  var shopPath = '/v1/widget/' + encodeURIComponent(shop);

  var creating = null;
  function ensureVisitor() {
    if (visitor && visitor.visitor_id && visitor.visitor_token) return Promise.resolve(visitor);
    if (!creating) {
      creating = call('POST', shopPath + '/visitors', {}).then(function (v) {
        visitor = { visitor_id: v.visitor_id, visitor_token: v.visitor_token, conversation_id: v.conversation_id };
        try { localStorage.setItem(STORE_KEY, JSON.stringify(visitor)); } catch (e) { /* private mode */ }
        creating = null;
        return visitor;
      }, function (e) { creating = null; throw e; });
    }
    return creating;
  }

  function forgetVisitor() {
    visitor = null;
    try { localStorage.removeItem(STORE_KEY); } catch (e) { /* ignore */ }
  }

  function loadHistory() {
    if (!visitor) return Promise.resolve();
    return call('GET', shopPath + '/messages?visitor_id=' + encodeURIComponent(visitor.visitor_id)).then(function (data) {
      ((data && data.messages) || []).forEach(function (m) { addBubble(m, 'history'); });
      historyLoaded = true;
    }, function (e) {
      if (e.status === 401 || e.status === 403 || e.status === 404) forgetVisitor();
      historyLoaded = true;
    });
  }

  // ---------- live events (fetch + stream reader; the token stays in a header) ----------
  function connect() {
    if (!visitor || streamCtl) return;
    var ctl = new AbortController();
    streamCtl = ctl;
    var delay = 1000;
    function loop() {
      if (ctl.signal.aborted) return;
      var headers = { 'X-Widget-Key': widgetKey, Accept: 'text/event-stream', Authorization: 'Bearer ' + visitor.visitor_token };
      if (lastEventId) headers['Last-Event-ID'] = lastEventId;
      fetch(base + shopPath + '/events?visitor_id=' + encodeURIComponent(visitor.visitor_id), {
        headers: headers, signal: ctl.signal, mode: 'cors', credentials: 'omit', cache: 'no-store'
      }).then(function (res) {
        if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
        setStatus('');
        delay = 1000;
        return read(res.body.getReader(), ctl);
      }).catch(function () { /* retried below */ }).then(function () {
        if (ctl.signal.aborted) return;
        if (!panel.hidden) setStatus(T.offline);
        setTimeout(loop, delay);
        delay = Math.min(delay * 2, 15000);
      });
    }
    loop();
  }

  function read(reader, ctl) {
    var decoder = new TextDecoder();
    var buf = '';
    ctl.signal.addEventListener('abort', function () { reader.cancel().catch(function () {}); });
    function pump() {
      return reader.read().then(function (r) {
        if (r.done) return;
        buf += decoder.decode(r.value, { stream: true }).replace(/\r\n?/g, '\n');
        var cut;
        while ((cut = buf.indexOf('\n\n')) >= 0) {
          dispatch(buf.slice(0, cut));
          buf = buf.slice(cut + 2);
        }
        return pump();
      });
    }
    return pump();
  }

  function dispatch(block) {
    var name = 'message', data = [], id = null;
    block.split('\n').forEach(function (line) {
      if (!line || line.charAt(0) === ':') return;
      var c = line.indexOf(':');
      var field = c < 0 ? line : line.slice(0, c);
      var val = c < 0 ? '' : line.slice(c + 1);
      if (val.charAt(0) === ' ') val = val.slice(1);
      if (field === 'event') name = val;
      else if (field === 'data') data.push(val);
      else if (field === 'id') id = val;
    });
    if (id !== null) lastEventId = id;
    if ((name !== 'message' && name !== 'survey') || !data.length) return;
    var m;
    try { m = JSON.parse(data.join('\n')); } catch (e) { return; }
    if (name === 'survey') showSurvey(m);
    else addBubble(m, 'event');
  }

  // ---------- 👍 / 👎 under bot answers ----------
  function fill(text, vars) {
    Object.keys(vars).forEach(function (k) { text = text.split('{' + k + '}').join(String(vars[k])); });
    return text;
  }

  function addFeedback(rec) {
    if (!rec.node || rec.feedback) return;
    var box = el('div', 'sr-feedback');
    box.setAttribute('data-testid', 'answer-feedback');
    box.setAttribute('data-message-id', rec.id);
    var note = el('span', 'sr-feedback-note');
    note.setAttribute('role', 'status');
    function button(helpful) {
      var b = el('button', 'sr-vote', helpful ? '👍' : '👎');
      b.type = 'button';
      b.setAttribute('aria-label', helpful ? T.helpful : T.notHelpful);
      b.title = helpful ? T.helpful : T.notHelpful;
      b.setAttribute('aria-pressed', 'false');
      b.setAttribute('data-testid', helpful ? 'feedback-up' : 'feedback-down');
      b.addEventListener('click', function () { vote(rec, helpful, up, down, note); });
      return b;
    }
    var up = button(true), down = button(false);
    box.appendChild(up);
    box.appendChild(down);
    box.appendChild(note);
    rec.node.appendChild(box);
    rec.feedback = box;
  }

  function vote(rec, helpful, up, down, note) {
    if (!rec.id || !visitor) return;
    up.disabled = true;
    down.disabled = true;
    call('POST', shopPath + '/answers/' + encodeURIComponent(rec.id) + '/feedback', { visitor_id: visitor.visitor_id, helpful: helpful }).then(function () {
      up.setAttribute('aria-pressed', String(helpful));
      down.setAttribute('aria-pressed', String(!helpful));
      note.textContent = T.feedbackThanks;
    }, function () {
      note.textContent = T.failed;
    }).then(function () {
      up.disabled = false; // the last vote counts: the shopper may change their mind
      down.disabled = false;
    });
  }

  // ---------- satisfaction survey ----------
  var SURVEY_KEY = 'smartreply.surveys.' + shop;
  var surveysShown = {};
  function ratedSurveys() {
    try { return JSON.parse(localStorage.getItem(SURVEY_KEY) || '[]') || []; } catch (e) { return []; }
  }
  function rememberRated(id) {
    try {
      var done = ratedSurveys();
      if (done.indexOf(id) < 0) done.push(id);
      localStorage.setItem(SURVEY_KEY, JSON.stringify(done.slice(-50)));
    } catch (e) { /* private mode */ }
  }

  function showSurvey(sv) {
    var id = sv && sv.survey_id;
    if (!id || surveysShown[id] || ratedSurveys().indexOf(String(id)) >= 0) return;
    surveysShown[id] = true;
    var scale = sv.scale || {};
    var min = typeof scale.min === 'number' ? scale.min : 1;
    var max = typeof scale.max === 'number' ? scale.max : 5;
    var prompt = (sv.prompt && (sv.prompt[lang] || sv.prompt.en || sv.prompt.zh)) || T.surveyPrompt;
    var li = el('li', 'sr-msg sr-bot sr-survey');
    li.setAttribute('data-testid', 'survey');
    li.setAttribute('data-survey-id', id);
    var card = el('div', 'sr-survey-card');
    var title = el('div', 'sr-survey-prompt', prompt);
    title.id = 'sr-survey-' + String(id).replace(/[^A-Za-z0-9_-]/g, '');
    var stars = el('div', 'sr-stars');
    stars.setAttribute('role', 'radiogroup');
    stars.setAttribute('aria-labelledby', title.id);
    var chosen = 0;
    var buttons = [];
    function paint() {
      buttons.forEach(function (b) {
        var n = Number(b.getAttribute('data-value'));
        b.textContent = n <= chosen ? '★' : '☆';
        b.setAttribute('aria-checked', String(n === chosen));
        b.classList.toggle('sr-on', n <= chosen);
      });
      submit.disabled = chosen < min;
    }
    for (var n = min; n <= max; n++) {
      var b = el('button', 'sr-star', '☆');
      b.type = 'button';
      b.setAttribute('role', 'radio');
      b.setAttribute('data-value', String(n));
      b.setAttribute('data-testid', 'survey-star-' + n);
      b.setAttribute('aria-label', fill(T.star, { n: n, max: max }));
      b.addEventListener('click', (function (v) { return function () { chosen = v; paint(); }; })(n));
      buttons.push(b);
      stars.appendChild(b);
    }
    var comment = el('textarea', 'sr-survey-comment');
    comment.rows = 2;
    comment.maxLength = 1000;
    comment.placeholder = T.comment;
    comment.setAttribute('aria-label', T.comment);
    comment.setAttribute('data-testid', 'survey-comment');
    var submit = el('button', 'sr-survey-submit', T.rate);
    submit.type = 'button';
    submit.setAttribute('data-testid', 'survey-submit');
    var err = el('div', 'sr-survey-error');
    err.setAttribute('role', 'alert');
    submit.addEventListener('click', function () {
      if (chosen < min || !visitor) return;
      submit.disabled = true;
      err.textContent = '';
      var text = comment.value.trim();
      var body = { visitor_id: visitor.visitor_id, rating: chosen };
      if (text) body.comment = text;
      call('POST', shopPath + '/surveys/' + encodeURIComponent(id), body).then(thanks, function (e) {
        if (e.status === 409) { thanks(); return; } // rated already (another tab)
        err.textContent = T.surveyFailed;
        submit.disabled = false;
      });
    });
    function thanks() {
      rememberRated(String(id));
      while (card.firstChild) card.removeChild(card.firstChild);
      var done = el('div', 'sr-survey-thanks', T.surveyThanks);
      done.setAttribute('data-testid', 'survey-thanks');
      done.setAttribute('role', 'status');
      card.appendChild(done);
      if (chosen) {
        var given = el('div', 'sr-stars sr-given', '★★★★★★★★★★'.slice(0, chosen) + '☆☆☆☆☆☆☆☆☆☆'.slice(0, Math.max(0, max - chosen)));
        given.setAttribute('aria-label', fill(T.star, { n: chosen, max: max }));
        card.appendChild(given);
      }
    }
    card.appendChild(title);
    card.appendChild(stars);
    card.appendChild(comment);
    card.appendChild(submit);
    card.appendChild(err);
    li.appendChild(card);
    log.appendChild(li);
    paint();
    log.scrollTop = log.scrollHeight;
    if (panel.hidden) {
      unread += 1;
      badge.textContent = String(unread);
      badge.hidden = false;
      bubble.setAttribute('aria-label', T.open + ' (' + unread + ' ' + T.unread + ')');
    }
  }

  // ---------- sending ----------
  function randomId() {
    var a = new Uint8Array(12);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }

  function send(text) {
    var rec = addBubble({ role: 'customer', text: text }, 'local');
    if (rec && rec.node) rec.node.classList.add('sr-pending');
    setStatus('');
    var clientId = randomId();
    return ensureVisitor().then(function (v) {
      connect();
      return call('POST', shopPath + '/messages', { visitor_id: v.visitor_id, client_message_id: clientId, text: text });
    }).then(function (res) {
      if (rec && rec.node) rec.node.classList.remove('sr-pending');
      if (rec && res && res.message_id) { seen[res.message_id] = true; rec.id = res.message_id; }
      if (res && res.reply && res.reply.text) {
        addBubble({ role: 'bot', text: res.reply.text, kind: res.reply.kind, id: res.reply.message_id }, 'local');
      }
    }, function (e) {
      if (rec && rec.node) { rec.node.classList.remove('sr-pending'); rec.node.classList.add('sr-failed'); }
      if (e.status === 401) forgetVisitor();
      setStatus(e.status === 429 ? T.slow : T.failed);
    });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    input.value = '';
    autosize();
    send(text);
    input.focus();
  });
  input.addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
      ev.preventDefault();
      if (typeof form.requestSubmit === 'function') form.requestSubmit();
      else form.dispatchEvent(new Event('submit', { cancelable: true }));
    }
  });
  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight, 120) + 'px';
  }
  input.addEventListener('input', autosize);

  // ---------- open / close ----------
  function open() {
    panel.hidden = false;
    bubble.setAttribute('aria-expanded', 'true');
    host.classList.add('sr-open');
    unread = 0;
    badge.hidden = true;
    bubble.setAttribute('aria-label', T.open);
    log.scrollTop = log.scrollHeight;
    input.focus();
  }
  function close() {
    panel.hidden = true;
    bubble.setAttribute('aria-expanded', 'false');
    host.classList.remove('sr-open');
    bubble.focus();
  }
  bubble.addEventListener('click', function () { if (panel.hidden) open(); else close(); });
  closeBtn.addEventListener('click', close);
  panel.addEventListener('keydown', function (ev) { if (ev.key === 'Escape') close(); });

  // A returning visitor gets the conversation so far and live replies (with an unread count
  // on the bubble) even before opening the panel.
  log.appendChild(el('li', 'sr-msg sr-bot sr-welcome')).appendChild(el('div', 'sr-text', T.welcome));
  if (visitor) loadHistory().then(connect);
  else historyLoaded = true;

  function mount() { document.body.appendChild(host); }
  if (document.body) mount(); else document.addEventListener('DOMContentLoaded', mount);

  window.SmartreplyWidget = { open: open, close: close };
})();
