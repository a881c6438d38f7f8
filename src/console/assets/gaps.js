// The knowledge gaps page of the console, for leads (docs/knowledge-loop.md): topics the bot
// could not answer, grouped by meaning; for each, an entry proposed from agents' replies that
// the lead edits, replays against the period (what it would have answered, what it would
// change) and approves into the knowledge base or rejects; template changes agents keep
// making by hand; and the outcome measures on the stats page.
//
// Its own file and its own tab: it reads the signed-in token and shop the console keeps in
// sessionStorage and builds its view with DOM APIs. Every text from the service is set with
// textContent or as a form value, never parsed as HTML.
'use strict';
(function () {
  const TOKEN_KEY = 'smartreply.agentToken';
  const SHOP_KEY = 'smartreply.shop';
  const $ = (id) => document.getElementById(id);

  const STRINGS = {
    en: {
      tab: 'Knowledge gaps', title: 'Knowledge gaps', days: 'Period', refresh: 'Refresh', loading: 'Mining the queue…',
      none: 'No gaps in this period: every question had an answer.', messages: 'messages', trend: 'trend',
      rising: 'rising', falling: 'falling', steady: 'steady', review: 'Review proposal', id: 'Entry id', intent: 'Intent',
      qzh: 'Chinese phrasings (one per line)', qen: 'English phrasings (one per line)', azh: 'Chinese answer', aen: 'English answer',
      needs: 'Still to write: ', replay: 'Replay the period', approve: 'Approve', reject: 'Reject', replaying: 'Replaying…',
      gained: (n) => `${n} more message(s) would have been answered automatically`, changed: (n) => `${n} earlier answer(s) would change`,
      lost: (n) => `${n} earlier answer(s) would be lost`, approved: 'Approved: written to the knowledge base and live now.',
      rejected: 'Rejected: these messages will not be proposed again.', replies: (n) => `from ${n} agent repl(ies)`,
      templates: 'Draft templates agents keep editing', edits: (n) => `the same edit ${n} times`, proposed: 'Template with the change',
      summary: (r) => `${r.messages} customer messages, ${r.unanswered} not answered well, ${r.topics.length} topic(s)`,
      outcomes: 'Outcomes', autoRes: 'Automatic resolution', reopen: 'Reopen rate', botSat: 'Bot answers 👍', peopleSat: 'People CSAT',
      handoff: 'Hand-off rate by reason',
    },
    zh: {
      tab: '知识缺口', title: '知识缺口', days: '时间范围', refresh: '刷新', loading: '正在分析队列…',
      none: '这段时间没有缺口：每个问题都有答案。', messages: '条消息', trend: '趋势',
      rising: '上升', falling: '下降', steady: '平稳', review: '查看建议', id: '条目 ID', intent: '意图',
      qzh: '中文问法（每行一个）', qen: '英文问法（每行一个）', azh: '中文答案', aen: '英文答案',
      needs: '还需填写：', replay: '回放这段时间', approve: '批准', reject: '拒绝', replaying: '回放中…',
      gained: (n) => `将多自动回答 ${n} 条消息`, changed: (n) => `${n} 条原有自动回答会改变`,
      lost: (n) => `${n} 条原有自动回答会丢失`, approved: '已批准：已写入知识库并立即生效。',
      rejected: '已拒绝：这些消息不会再被建议。', replies: (n) => `来自 ${n} 条客服回复`,
      templates: '客服反复修改的草稿模板', edits: (n) => `同样的修改 ${n} 次`, proposed: '修改后的模板',
      summary: (r) => `${r.messages} 条客户消息，${r.unanswered} 条未答好，${r.topics.length} 个主题`,
      outcomes: '结果指标', autoRes: '自动解决率', reopen: '重开率', botSat: '机器人回答 👍', peopleSat: '人工满意度',
      handoff: '按原因的转人工率',
    },
  };
  const lang = () => (document.documentElement.lang || 'en').startsWith('zh') ? 'zh' : 'en';
  const t = (key, ...args) => {
    const v = STRINGS[lang()][key] ?? STRINGS.en[key];
    return typeof v === 'function' ? v(...args) : v;
  };
  const token = () => sessionStorage.getItem(TOKEN_KEY);
  const shop = () => ($('shop') && $('shop').value) || sessionStorage.getItem(SHOP_KEY);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'text') node.textContent = v;
      else if (k === 'testid') node.dataset.testid = v;
      else if (k === 'class') node.className = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v);
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  async function api(path, body) {
    const init = { method: body ? 'POST' : 'GET', cache: 'no-store', headers: { Accept: 'application/json', Authorization: 'Bearer ' + token() } };
    if (body) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const data = await res.json().catch(() => null);
    if (!res.ok) throw new Error((data && data.error && data.error.message) || res.status + ' ' + res.statusText);
    return data;
  }

  // ---------- the tab and the view ----------
  let view = null;
  function ensureView() {
    if (view) return view;
    view = el('main', { id: 'view-gaps', class: 'stats', hidden: '' });
    const days = el('select', { id: 'gaps-days', testid: 'gaps-days' },
      ...[7, 30, 90].map((d) => el('option', { value: String(d), text: d + ' d' })));
    days.value = '30';
    days.addEventListener('change', load);
    view.append(
      el('div', { class: 'pane-head' }, el('h2', { text: t('title') }),
        el('label', { class: 'small' }, el('span', { text: t('days') + ' ' }), days),
        el('button', { type: 'button', class: 'btn small', text: t('refresh'), onclick: load })),
      el('p', { id: 'gaps-summary', class: 'muted small', testid: 'gaps-summary' }),
      el('div', { id: 'gaps-topics', class: 'gaps-topics' }),
      el('div', { id: 'gaps-templates', class: 'gaps-templates' }));
    $('app').append(view);
    return view;
  }

  function showGaps() {
    ensureView();
    for (const main of document.querySelectorAll('#app > main')) main.hidden = main !== view;
    for (const tab of document.querySelectorAll('.tabs [role="tab"]')) tab.setAttribute('aria-selected', String(tab.id === 'tab-gaps'));
    load();
  }

  function hideGaps() {
    if (view) view.hidden = true;
    const tab = $('tab-gaps');
    if (tab) tab.setAttribute('aria-selected', 'false');
  }

  // The tab (in console.html) is shown to leads only.
  async function showTabForLeads() {
    const tab = $('tab-gaps');
    if (!tab || !token()) return;
    const me = await api('/v1/me').catch(() => null);
    tab.textContent = t('tab');
    tab.hidden = !(me && (me.roles || []).includes('lead'));
  }

  // ---------- topics and proposals ----------
  async function load() {
    ensureView();
    const list = $('gaps-topics');
    list.replaceChildren(el('p', { class: 'muted', text: t('loading') }));
    $('gaps-templates').replaceChildren();
    let report;
    try {
      report = await api('/v1/gaps?shop=' + encodeURIComponent(shop()) + '&days=' + encodeURIComponent($('gaps-days').value));
    } catch (e) {
      list.replaceChildren(el('p', { class: 'error', role: 'alert', text: e.message }));
      return;
    }
    $('gaps-summary').textContent = t('summary', report);
    list.replaceChildren(...(report.topics.length ? report.topics.map(topicCard) : [el('p', { class: 'empty', text: t('none') })]));
    if (report.templates.length) {
      $('gaps-templates').append(el('h3', { text: t('templates') }), ...report.templates.map(templateCard));
    }
  }

  function topicCard(topic) {
    const langs = Object.entries(topic.languages).map(([k, v]) => `${k} ${v}`).join(' · ');
    const card = el('section', { class: 'card gap-topic', testid: 'gaps-topic', 'data-topic': topic.id },
      el('h3', { text: topic.examples[0] || topic.id }),
      el('p', { class: 'muted small', text: `${topic.size} ${t('messages')} · ${langs} · ${t('trend')} ${t(topic.trend)} (${topic.halves[0]} → ${topic.halves[1]}) · ${t('replies', topic.proposal.replies)}` }),
      el('ul', { class: 'small' }, ...topic.examples.map((x) => el('li', { text: x }))));
    const open = el('button', { type: 'button', class: 'btn small', testid: 'gaps-review', text: t('review') });
    open.addEventListener('click', () => { open.remove(); card.append(editor(topic)); });
    card.append(open);
    return card;
  }

  function field(label, testid, value, rows) {
    const input = rows ? el('textarea', { rows: String(rows), testid, maxlength: '4000' }) : el('input', { type: 'text', testid, maxlength: '64' });
    input.value = value;
    return [input, el('label', { class: 'gap-field' }, el('span', { class: 'small', text: label }), input)];
  }

  const lines = (text) => text.split('\n').map((s) => s.trim()).filter(Boolean);

  function editor(topic) {
    const e = topic.proposal.entry;
    const [id, idRow] = field(t('id'), 'gaps-entry-id', e.id);
    const [intent, intentRow] = field(t('intent'), 'gaps-intent', e.intents.join(', '));
    const [qzh, qzhRow] = field(t('qzh'), 'gaps-questions-zh', e.questions_zh.join('\n'), 4);
    const [qen, qenRow] = field(t('qen'), 'gaps-questions-en', e.questions_en.join('\n'), 4);
    const [azh, azhRow] = field(t('azh'), 'gaps-answer-zh', e.answer_zh, 3);
    const [aen, aenRow] = field(t('aen'), 'gaps-answer-en', e.answer_en, 3);
    const entry = () => ({
      id: id.value.trim(), intents: intent.value.split(',').map((s) => s.trim()).filter(Boolean),
      questions_zh: lines(qzh.value), questions_en: lines(qen.value), answer_zh: azh.value.trim(), answer_en: aen.value.trim(),
    });
    const result = el('div', { class: 'gap-replay', testid: 'gaps-replay-result', 'aria-live': 'polite' });
    const status = el('p', { class: 'small', testid: 'gaps-status', role: 'status' });
    const busy = async (button, work) => {
      button.disabled = true;
      status.textContent = '';
      status.className = 'small';
      try { await work(); } catch (err) { status.className = 'error'; status.textContent = err.message; } finally { button.disabled = false; }
    };
    const replay = el('button', { type: 'button', class: 'btn small', testid: 'gaps-replay', text: t('replay') });
    replay.addEventListener('click', () => busy(replay, async () => {
      result.replaceChildren(el('p', { class: 'muted small', text: t('replaying') }));
      const r = await api('/v1/gaps/replay', { shop: shop(), days: Number($('gaps-days').value), entry: entry() });
      result.replaceChildren(
        el('p', { testid: 'gaps-gained', text: t('gained', r.gained_count) }),
        el('ul', { class: 'small' }, ...r.gained.map((g) => el('li', { text: g.text }))),
        el('p', { class: r.changed_count ? 'error' : 'muted small', text: t('changed', r.changed_count) }),
        el('p', { class: r.lost_count ? 'error' : 'muted small', text: t('lost', r.lost_count) }));
    }));
    const approve = el('button', { type: 'button', class: 'btn small primary', testid: 'gaps-approve', text: t('approve') });
    approve.addEventListener('click', () => busy(approve, async () => {
      await api('/v1/gaps/approve', { shop: shop(), entry: entry(), message_ids: topic.message_ids });
      status.textContent = t('approved');
    }));
    const reject = el('button', { type: 'button', class: 'btn small danger-ghost', testid: 'gaps-reject', text: t('reject') });
    reject.addEventListener('click', () => busy(reject, async () => {
      await api('/v1/gaps/reject', { shop: shop(), id: topic.id, evidence: topic.message_ids });
      status.textContent = t('rejected');
    }));
    const needs = topic.proposal.needs.length ? el('p', { class: 'small', text: t('needs') + topic.proposal.needs.join(', ') }) : null;
    return el('div', { class: 'gap-editor' }, idRow, intentRow, qzhRow, qenRow, azhRow, aenRow, needs,
      el('div', { class: 'row-actions' }, replay, reject, approve), result, status);
  }

  function templateCard(p) {
    const [proposed, row] = field(t('proposed'), 'gaps-template-proposed', p.proposed, 3);
    const status = el('p', { class: 'small', role: 'status', testid: 'gaps-template-status' });
    const approve = el('button', { type: 'button', class: 'btn small primary', testid: 'gaps-template-approve', text: t('approve') });
    approve.addEventListener('click', async () => {
      try {
        await api('/v1/gaps/templates/approve', { shop: shop(), intent: p.intent, sentiment: p.sentiment, lang: p.lang, current: p.current, proposed: proposed.value, ticket_ids: p.ticket_ids });
        status.textContent = t('approved');
      } catch (err) { status.className = 'error'; status.textContent = err.message; }
    });
    return el('section', { class: 'card gap-template', testid: 'gaps-template' },
      el('p', { text: `${p.intent} / ${p.sentiment} (${p.lang}) · ${t('edits', p.edits)}` }),
      p.removed ? el('p', { class: 'small' }, el('del', { text: p.removed })) : null,
      el('p', { class: 'small' }, el('ins', { text: p.added })),
      ...p.examples.map(([draft, sent]) => el('p', { class: 'muted small', text: `${draft} → ${sent}` })),
      row, approve, status);
  }

  // ---------- outcome measures on the stats page ----------
  async function showOutcomes() {
    const statsView = $('view-stats');
    if (!statsView || !token() || !shop()) return;
    let box = $('outcome-cards');
    if (!box) {
      box = el('section', { id: 'outcome-cards', class: 'cards', testid: 'outcome-cards' });
      statsView.append(box);
    }
    const stats = await api('/v1/stats?shop=' + encodeURIComponent(shop())).catch(() => null);
    const o = stats && stats.outcomes;
    if (!o) return;
    const pct = (v) => (v === null || v === undefined ? '–' : Math.round(v * 100) + '%');
    const card = (label, value) => el('div', { class: 'card' }, el('div', { class: 'muted small', text: label }), el('div', { class: 'big', text: value }));
    box.replaceChildren(el('h3', { text: t('outcomes') }),
      card(t('autoRes'), pct(o.automatic_resolution_rate)), card(t('reopen'), pct(o.reopen_rate)),
      card(t('botSat'), pct(o.satisfaction.bot_helpful_rate)), card(t('peopleSat'), pct(o.satisfaction.people_csat)),
      card(t('handoff'), Object.entries(o.handoff_rate_by_reason).map(([k, v]) => `${k} ${pct(v)}`).join(' · ') || '–'));
  }

  document.addEventListener('click', (ev) => {
    const tab = ev.target.closest && ev.target.closest('[data-view]');
    if (tab) {
      hideGaps();
      if (tab.dataset.view === 'stats') showOutcomes();
    }
    if (ev.target.id === 'stats-refresh') showOutcomes();
  });
  // The console signs in asynchronously: the tab follows the app being shown or hidden.
  const app = $('app');
  const tab = $('tab-gaps');
  if (app && tab) {
    tab.addEventListener('click', showGaps);
    const follow = () => {
      if (app.hidden) { tab.hidden = true; hideGaps(); } else showTabForLeads();
    };
    new MutationObserver(follow).observe(app, { attributes: true, attributeFilter: ['hidden'] });
    follow();
  }
})();
